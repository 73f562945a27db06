"""The chains pages in-process: the wizard's validation and pre-start checks, roles, remote registration,
switching the chain shown, the audit log, and the registry page against the session's real node.

No local network is started here (test_console_chains_e2e.py does that): a creation the checks refuse
writes nothing, and remote registration talks to the session's node (`chain`).
"""

from __future__ import annotations

import asyncio
import datetime
import re
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from console_helpers import Chain, find_free_port
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from test_console_access import Console

from gusu.console.access import AccessInputError
from gusu.console.accounts import ensure_first_operator
from gusu.console.chain_store import ChainStore, NewChain
from gusu.console.chains import (
    LocalChainPlan,
    find_plan_problems,
    parse_ca_certificate,
    parse_endpoint,
    parse_local_chain_form,
    parse_remote_chain_form,
)
from gusu.console.server import create_app
from gusu.console.settings import ConsoleSettings
from gusu.console.store import open_store
from gusu.errors import ConfigError
from gusu.eval.network import find_free_base_port

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_ERROR = re.compile(r'<p class="error" role="alert">([^<]+)</p>')

Scenario = Callable[[Console], Awaitable[None]]


def _run(tmp_path: Path, scenario: Scenario, endpoint: str | None = None, **overrides: Any) -> None:
    async def main() -> None:
        settings = ConsoleSettings(
            endpoint=endpoint or f"http://127.0.0.1:{find_free_port()}",
            port=0,
            scrypt_log2_n=10,
            alert_interval_s=3600,
            data_directory=str(tmp_path / "console"),
            node_timeout_s=3,
            **overrides,
        )
        store = await open_store(None, tmp_path / "console")
        first = await ensure_first_operator(store, settings)
        assert first is not None
        try:
            async with TestClient(TestServer(create_app(settings, store=store))) as client:
                console = Console(client, store, first[1])
                await console.login("admin", first[1])
                await scenario(console)
        finally:
            await store.close()

    asyncio.run(main())


def _wizard(**fields: str) -> dict[str, str]:
    return {
        "name": "demo",
        "organisations": "4",
        "organisation_names": "",
        "suite": "sm",
        "consensus": "tendermint",
        "chain_id": "",
        "host": "127.0.0.1",
        "base_port": "20000",
        **fields,
    }


async def _post(console: Console, path: str, fields: dict[str, str], status: int) -> str:
    token = await console.token("/chains")
    response = await console.client.post(path, data={"csrf_token": token, **fields}, allow_redirects=False)
    text = await response.text()
    assert response.status == status, text
    return text


async def _audit(console: Console) -> list[tuple[str, str | None, str]]:
    return [(entry.action, entry.target, entry.outcome) for entry in await console.store.list_audit(None, 100)]


def _ca_pem(*, ca: bool = True, days: int = 365, start_days: int = -1) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(days=start_days))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(Encoding.PEM).decode("ascii")


# --- validation ----------------------------------------------------------------------------------


def test_the_wizard_form_is_validated_field_by_field() -> None:
    plan = parse_local_chain_form(_wizard(), 16)
    assert plan == LocalChainPlan(
        "demo", ("org0", "org1", "org2", "org3"), "sm", "tendermint", "gusu-demo", "127.0.0.1", 20000
    )
    named = parse_local_chain_form(_wizard(organisation_names="acme, bank，port", organisations="x"), 16)
    assert named.organisations == ("acme", "bank", "port")
    hostile = {
        "name": ["", "Demo", "../etc", "a" * 33, "demo<script>", "de mo", "-demo"],
        "organisations": ["0", "17", "-1", "4.5", "４", "1" * 10, ""],
        "organisation_names": ["a/b", "a,A", "<b>", ",".join(f"o{index}" for index in range(17))],
        "suite": ["rsa", ""],
        "consensus": ["pbft"],
        "chain_id": ["-x", "a b", "x" * 65, "链"],
        "host": ["localhost", "0.0.0.0", "::", "224.0.0.1", "127.0.0.1; rm -rf /", "999.1.1.1"],
        "base_port": ["80", "1023", "65536", "0x2000", "", "9545 "],
    }
    for field, values in hostile.items():
        for value in values:
            if field == "base_port" and value == "9545 ":
                assert parse_local_chain_form(_wizard(base_port=value), 16).base_port == 9545  # spaces trimmed
                continue
            with pytest.raises(AccessInputError) as caught:
                parse_local_chain_form(_wizard(**{field: value}), 16)
            assert caught.value.key.startswith("error.chain"), (field, value)


@pytest.mark.parametrize(
    "endpoint",
    [
        "",
        "ftp://10.0.0.5:8545",
        "javascript:alert(1)",
        "http://user:pw@10.0.0.5:8545",
        "http://10.0.0.5:8545/?x=1",
        "http://10.0.0.5:8545/#x",
        "http://10.0.0.5:8545/admin",
        "http://10.0.0.5:99999",
        "http://",
        "http://10.0.0.5:85\n45",
        "http://10.0.0.5\x00:8545",
        "http://" + "a" * 260,
    ],
)
def test_hostile_endpoints_are_refused(endpoint: str) -> None:
    with pytest.raises(AccessInputError) as caught:
        parse_endpoint(endpoint)
    assert caught.value.key == "error.chain_endpoint_invalid"


def test_endpoints_are_normalised() -> None:
    assert parse_endpoint(" http://10.0.0.5:8545/rpc ") == "http://10.0.0.5:8545"
    assert parse_endpoint("https://chain.example") == "https://chain.example"


def test_ca_certificates_are_checked() -> None:
    assert parse_ca_certificate("") is None
    assert parse_ca_certificate(_ca_pem()) is not None
    for text, key in (
        ("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----", "error.chain_certificate_invalid"),
        ("中文", "error.chain_certificate_invalid"),
        (_ca_pem(days=-1, start_days=-10), "error.chain_certificate_expired"),
        (_ca_pem(ca=False), "error.chain_certificate_not_ca"),
    ):
        with pytest.raises(AccessInputError) as caught:
            parse_ca_certificate(text)
        assert caught.value.key == key
    with pytest.raises(AccessInputError) as caught:
        parse_remote_chain_form({"name": "far", "endpoint": "http://10.0.0.5:8545", "ca_certificate": _ca_pem()})
    assert caught.value.key == "error.chain_certificate_needs_https"


def test_settings_of_chains_are_validated() -> None:
    cases: tuple[tuple[str, Any], ...] = (
        ("chains_max", 0),
        ("chain_organisations_max", 65),
        ("chain_scrypt_n", 1000),
        ("chain_start_timeout_s", 0),
        ("chain_certificate_length_max", 10),
    )
    for field, value in cases:
        with pytest.raises(ConfigError):
            ConsoleSettings(**{field: value})


# --- checks before creation ----------------------------------------------------------------------


def test_checks_list_every_problem_before_anything_is_written(tmp_path: Path) -> None:
    directory = tmp_path / "chains" / "demo"
    base = find_free_base_port(4)
    plan = LocalChainPlan("demo", ("a", "b", "c", "d"), "sm", "tendermint", "gusu-demo", "127.0.0.1", base)
    assert find_plan_problems(plan, directory, [], 0) == []
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", base + 101))  # node1's P2P port
        holder.listen()
        directory.mkdir(parents=True)
        (directory / "genesis.json").write_text("{}", encoding="utf-8")
        problems = find_plan_problems(plan, directory, [], 1 << 60)
    keys = {problem.key: problem for problem in problems}
    assert set(keys) == {"chains.problem.port_taken", "chains.problem.directory_exists", "chains.problem.disk_low"}
    assert keys["chains.problem.port_taken"].params["port"] == base + 101
    foreign = LocalChainPlan("demo", ("a",), "sm", "tendermint", "gusu-demo", "192.0.2.7", base)  # TEST-NET-1
    assert [problem.key for problem in find_plan_problems(foreign, tmp_path / "x", [], 0)] == [
        "chains.problem.host_not_local"
    ]
    high = LocalChainPlan("demo", ("a", "b"), "sm", "tendermint", "gusu-demo", "127.0.0.1", 65500)
    assert "chains.problem.port_range" in [problem.key for problem in find_plan_problems(high, tmp_path / "y", [], 0)]


# --- routes --------------------------------------------------------------------------------------


def test_a_port_conflict_refuses_the_wizard_in_chinese_and_is_audited(tmp_path: Path) -> None:
    async def scenario(console: Console) -> None:
        base = find_free_base_port(4)
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", base + 2))  # node2's API port
            holder.listen()
            text = await _post(console, "/chains", _wizard(base_port=str(base)), 400)
        assert "无法创建，请先解决以下问题" in text and f"端口 {base + 2}（API node2）已被占用" in text
        assert not (tmp_path / "console" / "chains" / "demo").exists()
        assert await ChainStore(console.store.backend).list_chains() == []
        assert ("chain.create", f"demo: port {base + 2} (API node2) is in use", "refused") in [
            (action, (target or "").split(" by ")[0], outcome) for action, target, outcome in await _audit(console)
        ]
        text = await _post(console, "/chains", _wizard(name="<b>x</b>"), 400)
        assert _ERROR.findall(text) == ["链名称须为 1–32 个小写字母、数字、“_”或“-”，以字母或数字开头。"]
        assert "&lt;b&gt;x&lt;/b&gt;" in text and "<b>x</b>" not in text  # the refused value is shown escaped
        console.client.session.cookie_jar.update_cookies({"gusu_language": "en"})
        text = await _post(console, "/chains", _wizard(base_port="80"), 400)
        assert _ERROR.findall(text) == ["The base port is a whole number from 1024 to 65535."]

    _run(tmp_path, scenario)


def test_roles_anonymous_and_csrf_are_refused(tmp_path: Path) -> None:
    async def scenario(console: Console) -> None:
        password = await console.create_user("audrey", "auditor")
        store = ChainStore(console.store.backend)
        local = await store.create_chain(
            NewChain(
                "lab",
                "local",
                "http://127.0.0.1:1",
                None,
                str(tmp_path / "none"),
                "127.0.0.1",
                1,
                1,
                "org0",
                "tendermint",
                "gusu-lab",
                "sm",
                "stopped",
            ),
            1,
        )
        await console.logout()
        for path in ("/chains", f"/chains/{local.chain_id}", "/organisations"):
            response = await console.client.get(path, allow_redirects=False)
            assert response.status == 303 and response.headers["Location"] == "/login", path
        for path in ("/api/chains", "/api/registry"):
            assert (await console.client.get(path)).status == 401
        await console.login("audrey", password)
        page = await (await console.client.get("/chains")).text()
        assert "lab" in page and 'id="create-chain-form"' not in page and 'id="chains-read-only"' in page
        token = await console.token("/chains")
        for path in (
            "/chains",
            "/chains/register",
            f"/chains/{local.chain_id}/start",
            f"/chains/{local.chain_id}/stop",
        ):
            response = await console.client.post(path, data={"csrf_token": token, **_wizard()})
            assert response.status == 403, path
        response = await console.client.post("/chains", data=_wizard())  # no token at all
        assert response.status == 403
        outcomes = [(action, outcome) for action, _, outcome in await _audit(console)]
        assert outcomes.count(("access.refused", "denied")) == 4 and ("csrf.refused", "denied") in outcomes
        assert (await console.client.get("/chains/99")).status == 404
        assert (await console.client.get("/chains/x%27")).status == 404
        listed = await (await console.client.get("/api/chains")).json()
        assert [chain["name"] for chain in listed["chains"]] == ["lab"] and listed["selected"] is None

    _run(tmp_path, scenario)


def test_a_remote_chain_is_registered_shown_and_chosen(tmp_path: Path, chain: Chain) -> None:
    async def scenario(console: Console) -> None:
        closed = f"http://127.0.0.1:{find_free_port()}"
        text = await _post(console, "/chains/register", {"name": "far", "endpoint": closed}, 400)
        assert _ERROR.findall(text)[0].startswith(f"{closed} 的节点无应答")
        text = await _post(console, "/chains/register", {"name": "far", "endpoint": "javascript:alert(1)"}, 400)
        assert "接口地址须为" in _ERROR.findall(text)[0]
        text = await _post(
            console, "/chains/register", {"name": "far", "endpoint": "http://x", "ca_certificate": "x" * 9000}, 400
        )
        assert "CA 证书超过 8192 个字符" in text
        response = await console.client.post(
            "/chains/register",
            data={"csrf_token": await console.token("/chains"), "name": "session", "endpoint": chain.endpoint + "/rpc"},
            allow_redirects=False,
        )
        assert response.status == 303, await response.text()
        page = await (await console.client.get(response.headers["Location"])).text()
        assert 'data-reachable="1"' in page and "已登记" in page
        chains = (await (await console.client.get("/api/chains")).json())["chains"]
        assert [(item["name"], item["kind"], item["endpoint"], item["state"]) for item in chains] == [
            ("session", "remote", chain.endpoint, "registered")
        ]
        assert chains[0]["chain_id"]
        text = await _post(console, "/chains/register", {"name": "session", "endpoint": chain.endpoint}, 400)
        assert "已有同名的链" in text
        # The console's own endpoint is a closed port: the dashboard's API fails until the chain is chosen.
        assert (await console.client.get("/api/status")).status == 502
        await _post(console, "/chains/select", {"chain": str(chains[0]["id"])}, 303)
        status = await (await console.client.get("/api/status")).json()
        assert status["chain_id"] == chains[0]["chain_id"] and status["height"] >= chain.evidence_height
        assert (await (await console.client.get("/api/chains")).json())["selected"] == chains[0]["id"]
        await _post(console, "/chains/select", {"chain": "12345"}, 404)
        await _post(console, "/chains/select", {"chain": ""}, 303)
        assert (await console.client.get("/api/status")).status == 502
        assert ("chain.register", f"session ({chain.endpoint}, {chains[0]['chain_id']})", "ok") in await _audit(console)
        text = await _post(console, f"/chains/{chains[0]['id']}/start", {}, 400)
        assert "只有本控制台创建的链" in text
        # Without a session the cookie is ignored: anonymous pages show the console's own endpoint.
        await console.logout()
        console.client.session.cookie_jar.update_cookies({"gusu_chain": str(chains[0]["id"])})
        assert (await console.client.get("/api/status")).status == 502

    _run(tmp_path, scenario)


def test_the_registry_page_reads_the_governance_registry(tmp_path: Path, chain: Chain) -> None:
    async def scenario(console: Console) -> None:
        password = await console.create_user("dev1", "developer")
        await console.logout()
        await console.login("dev1", password)
        page = await (await console.client.get("/organisations")).text()
        assert "机构、节点与证书" in page and 'data-organisation="org0"' in page
        assert 'data-certificate="none"' in page  # a single-operator chain's implicit organisation has no CA
        assert 'id="join-requests-empty"' in page
        registry = await (await console.client.get("/api/registry")).json()
        assert [organisation["name"] for organisation in registry["organisations"]] == ["org0"]
        assert registry["join_requests"] == [] and registry["height"] >= chain.evidence_height
        console.client.session.cookie_jar.update_cookies({"gusu_language": "en"})
        page = await (await console.client.get("/organisations")).text()
        assert "Organisations, nodes and certificates" in page and "No pending join request." in page

    _run(tmp_path, scenario, endpoint=chain.endpoint)


def test_the_registry_page_says_when_the_node_is_down(tmp_path: Path) -> None:
    async def scenario(console: Console) -> None:
        response = await console.client.get("/organisations")
        assert response.status == 502
        assert "无法读取治理登记" in await response.text()

    _run(tmp_path, scenario)
