"""A node's address can change: a registered chain is moved to its node's new address, once the node
there answers as the same chain; a chain the console created keeps its planned addresses."""

from __future__ import annotations

from pathlib import Path

from console_helpers import Chain, find_free_port
from test_console_chains import _ERROR, Console, _audit, _post, _run

from gusu.console.chain_store import ChainStore, NewChain


def _remote(name: str, endpoint: str, network_chain_id: str) -> NewChain:
    return NewChain(name, "remote", endpoint, None, None, None, None, 0, "", "", network_chain_id, "sm", "registered")


def test_a_registered_chain_follows_its_node_to_a_new_address(tmp_path: Path, chain: Chain) -> None:
    async def scenario(console: Console) -> None:
        store = ChainStore(console.store.backend)
        old = f"http://127.0.0.1:{find_free_port()}"  # where the node was: nothing answers there now
        moved = await store.create_chain(_remote("moved", old, "gusu-local"), 1)
        other = await store.create_chain(_remote("other", old, "gusu-elsewhere"), 1)
        local = await store.create_chain(
            NewChain(
                "lab",
                "local",
                old,
                None,
                str(tmp_path / "x"),
                "127.0.0.1",
                1,
                1,
                "org0",
                "",
                "gusu-lab",
                "sm",
                "stopped",
            ),
            1,
        )
        page = await (await console.client.get(f"/chains/{moved.chain_id}")).text()
        assert 'data-reachable="0"' in page and 'id="endpoint-form"' in page
        await _post(console, "/chains/select", {"chain": str(moved.chain_id)}, 303)
        assert (await console.client.get("/api/status")).status == 502

        closed = f"http://127.0.0.1:{find_free_port()}"
        text = await _post(console, f"/chains/{moved.chain_id}/endpoint", {"endpoint": closed}, 400)
        assert _ERROR.findall(text)[0].startswith(f"{closed} 的节点无应答")
        text = await _post(console, f"/chains/{moved.chain_id}/endpoint", {"endpoint": "ftp://x"}, 400)
        assert "接口地址须为" in _ERROR.findall(text)[0]
        text = await _post(console, f"/chains/{other.chain_id}/endpoint", {"endpoint": chain.endpoint}, 400)
        assert _ERROR.findall(text) == [
            f"{chain.endpoint} 的节点运行的是链 gusu-local，而不是 gusu-elsewhere：请检查地址。"
        ]
        console.client.session.cookie_jar.update_cookies({"gusu_language": "en"})
        text = await _post(console, f"/chains/{local.chain_id}/endpoint", {"endpoint": chain.endpoint}, 400)
        assert _ERROR.findall(text)[0].startswith("A chain this console created keeps the addresses")
        assert (await store.get_chain(other.chain_id)).endpoint == old  # type: ignore[union-attr]

        await _post(console, f"/chains/{moved.chain_id}/endpoint", {"endpoint": chain.endpoint + "/rpc"}, 303)
        record = await store.get_chain(moved.chain_id)
        assert record is not None and record.endpoint == chain.endpoint
        page = await (await console.client.get(f"/chains/{moved.chain_id}")).text()
        assert 'data-reachable="1"' in page
        # The chosen chain's pages now read the node at its new address.
        status = await (await console.client.get("/api/status")).json()
        assert status["chain_id"] == "gusu-local" and status["height"] >= chain.evidence_height
        audit = await _audit(console)
        assert ("chain.endpoint", f"moved ({old} -> {chain.endpoint})", "ok") in audit
        assert len([entry for entry in audit if entry[0] == "chain.endpoint" and entry[2] == "refused"]) == 4

        password = await console.create_user("audrey", "auditor")
        await console.logout()
        await console.login("audrey", password)
        page = await (await console.client.get(f"/chains/{moved.chain_id}")).text()
        assert 'id="endpoint-form"' not in page
        token = await console.token("/chains")
        response = await console.client.post(
            f"/chains/{moved.chain_id}/endpoint", data={"csrf_token": token, "endpoint": old}
        )
        assert response.status == 403

    _run(tmp_path, scenario)
