"""The wizard end to end: an operator creates a four-organisation network of real node processes, it
commits a transfer, the registry page shows its organisations and a pending join request, one node and
then all are stopped from the chain's page. The console runs in-process; the nodes are processes.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from test_console_access import Console

from gusu.console.accounts import ensure_first_operator
from gusu.console.chains import wait_jobs
from gusu.console.server import create_app
from gusu.console.settings import ConsoleSettings
from gusu.console.store import open_store
from gusu.crypto import get_suite
from gusu.crypto.keyfile import decrypt_key_file
from gusu.eval.network import LocalNetwork, find_free_base_port
from gusu.ledger.types import ReceiptStatus
from gusu.sdk import AsyncClient, AsyncGovernance

pytestmark = pytest.mark.e2e

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
JOB_TIMEOUT_S = 120


async def _post(console: Console, path: str, fields: dict[str, str]) -> str:
    token = await console.token("/chains")
    response = await console.client.post(path, data={"csrf_token": token, **fields}, allow_redirects=False)
    assert response.status == 303, await response.text()
    return response.headers["Location"]


def test_the_wizard_creates_a_four_organisation_network_that_commits(tmp_path: Path) -> None:
    directory = tmp_path / "console" / "chains" / "four"

    async def main() -> None:
        settings = ConsoleSettings(
            port=0,
            scrypt_log2_n=10,
            alert_interval_s=3600,
            data_directory=str(tmp_path / "console"),
            chain_scrypt_n=1024,
            chain_verifier_workers=1,
        )
        store = await open_store(None, tmp_path / "console")
        first = await ensure_first_operator(store, settings)
        assert first is not None
        try:
            app = create_app(settings, store=store)
            async with TestClient(TestServer(app)) as client:
                console = Console(client, store, first[1])
                await console.login("admin", first[1])
                await scenario(console, app)
        finally:
            await store.close()

    async def scenario(console: Console, app: web.Application) -> None:
        base = find_free_base_port(4)
        location = await _post(
            console,
            "/chains",
            {
                "name": "four",
                "organisations": "4",
                "suite": "sm",
                "consensus": "tendermint",
                "host": "127.0.0.1",
                "base_port": str(base),
            },
        )
        page = await (await console.client.get(location)).text()
        assert "data-refresh-s" in page  # the page reloads itself while the network starts
        token = await console.token("/chains")
        busy = await console.client.post(f"{location}/start", data={"csrf_token": token})
        assert busy.status == 400 and "此链正有操作进行中" in await busy.text()  # one job per chain
        await asyncio.wait_for(wait_jobs(app), JOB_TIMEOUT_S)
        page = await (await console.client.get(location)).text()
        assert 'data-state="running"' in page, page.split("<main")[1]
        assert page.count('data-process="running"') == 4 and 'data-healthy="1"' in page
        nodes = await (await console.client.get("/api/chains/" + location.rsplit("/", 1)[1])).json()
        assert nodes["state"] == "running" and [node["process"] for node in nodes["nodes"]] == ["running"] * 4

        network = LocalNetwork.open(directory)
        assert [node.organization for node in network.nodes] == ["org0", "org1", "org2", "org3"]
        async with AsyncClient(network.nodes[1].api_url, timeout_s=10) as node1:
            receipt = await node1.send_and_wait(
                network.load_dev_key(), "account", "transfer", [b"\x5e" * 20, 5], timeout_s=60
            )
            assert receipt.status == ReceiptStatus.SUCCESS
            height = int(await node1.block_number())
            assert height >= 1
            admin_path = directory / "pki" / "org0" / "admin_key.json"
            admin = decrypt_key_file(
                admin_path.read_bytes(), admin_path.with_suffix(".pass").read_text(encoding="utf-8").strip()
            )
            joining = get_suite("sm").generate_private_key()
            address = get_suite("sm").compute_address(joining.public_key)
            submitted = await AsyncGovernance(node1, timeout_s=60).propose_add_node(
                admin, "node9", address, joining.public_key, "org0"
            )
            assert submitted.receipt.status == ReceiptStatus.SUCCESS
            proposal_height = int(await node1.block_number())
        # Every node has the proposal's block before the console (node0) is asked.
        await asyncio.to_thread(network.wait_for_height, proposal_height, None, 30)

        # The console shows this chain once chosen: dashboard API and registry.
        await _post(console, "/chains/select", {"chain": location.rsplit("/", 1)[1]})
        status = await (await console.client.get("/api/status")).json()
        assert status["chain_id"] == "gusu-four" and status["height"] >= proposal_height
        registry = await (await console.client.get("/api/registry")).json()
        assert [item["name"] for item in registry["organisations"]] == ["org0", "org1", "org2", "org3"]
        assert {item["ca_certificate"]["status"] for item in registry["organisations"]} == {"valid"}
        assert all(item["ca_certificate"]["days_left"] > 300 for item in registry["organisations"])
        assert [(item["kind"], item["subject"], item["proposer"]) for item in registry["join_requests"]] == [
            ("add_node", "node9 (org0, observer)", "org0")
        ]
        page = await (await console.client.get("/organisations")).text()
        assert page.count('data-certificate="valid"') >= 4 and "加入节点" in page

        # One node, then every node, stopped from the page.
        token = await console.token("/chains")
        unknown = await console.client.post(f"{location}/stop", data={"csrf_token": token, "node": "node9<"})
        assert unknown.status == 400 and "此链没有该节点" in await unknown.text()
        await _post(console, f"{location}/stop", {"node": "node3"})
        await asyncio.wait_for(wait_jobs(app), JOB_TIMEOUT_S)
        page = await (await console.client.get(location)).text()
        assert page.count('data-process="running"') == 3 and 'data-node="node3" data-process="not running"' in page
        await _post(console, f"{location}/stop", {})
        await asyncio.wait_for(wait_jobs(app), JOB_TIMEOUT_S)
        page = await (await console.client.get(location)).text()
        assert 'data-state="stopped"' in page and 'data-process="running"' not in page
        actions = [(entry.action, entry.outcome) for entry in await console.store.list_audit(None, 100)]
        assert actions.count(("chain.stop", "ok")) == 2 and ("chain.create", "ok") in actions
        assert ("chain.start", "refused") in actions and ("chain.stop", "refused") in actions

    try:
        asyncio.run(main())
    finally:
        if LocalNetwork.exists(directory):
            LocalNetwork.open(directory).stop(timeout_s=5)
