"""The EVM contracts routes over HTTP against the session's node (conftest.py: governed, no `evm` contract):
hostile uploads and arguments refused with messages, nothing signed before approval, roles, unknown ids.
The full path (approval, deployment, calls, events) runs on an `evm` chain in test_console_evm_browser.py."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
from console_helpers import Chain
from test_console_writes import Console, _main, run

from gusu.sdk.evm import compute_runtime_code_hash, load_artifact

TOKEN = Path(__file__).resolve().parents[1] / "execution" / "evm" / "fixtures" / "Token.json"
_ARTIFACT_PATH = re.compile(r"^/contracts/evm/artifacts/([0-9]+)$")


async def _upload(console: Console, data: bytes, address: str = "") -> aiohttp.ClientResponse:
    form = aiohttp.FormData()
    form.add_field("csrf_token", await console.token("/contracts/evm"))
    form.add_field("address", address)
    form.add_field("artifact", data, filename="Token.json", content_type="application/json")
    return await console.client.post("/contracts/evm/upload", data=form, allow_redirects=False)


def test_uploads_arguments_and_approval_are_checked_before_anything_is_signed(tmp_path: Path, chain: Chain) -> None:
    async def scenario(console: Console) -> None:
        client = console.client
        await console.import_dev_key()
        assert 'href="/contracts/evm"' in _main(await (await client.get("/contracts")).text())
        for hostile, says in (
            (b"\xff\xfe<script>", "not JSON"),
            (b"[" * 50_000, "not JSON"),
            (b'{"abi": [{"type": "function", "name": "f", "inputs": [{"type": "uint7"}]}]}', "not a compiled"),
            (b'{"abi": []}', "ABI only"),
        ):
            response = await _upload(console, hostile)
            assert response.status == 400, hostile[:40]
            assert says in _main(await response.text()), hostile[:40]
        too_big = await _upload(console, b" " * (2 * 1024 * 1024))
        assert too_big.status == 413
        # Registering needs a well-formed address, and a chain that runs `evm` (this one does not).
        bad = await _upload(console, TOKEN.read_bytes(), "0x12")
        assert bad.status == 400 and "40 hex digits" in _main(await bad.text())
        unavailable = await _upload(console, TOKEN.read_bytes(), "0x" + "ab" * 20)
        assert unavailable.status == 400 and "cannot read EVM code" in _main(await unavailable.text())

        uploaded = await _upload(console, TOKEN.read_bytes())
        assert uploaded.status == 303
        matched = _ARTIFACT_PATH.match(uploaded.headers["Location"])
        assert matched is not None
        page = _main(await (await client.get(uploaded.headers["Location"])).text())
        code_hash = "0x" + compute_runtime_code_hash(load_artifact(TOKEN)).hex()
        assert code_hash in page and 'id="approval-needed"' in page and 'id="constructor-arg2"' in page
        deploy = uploaded.headers["Location"] + "/deploy"
        fields = {"arg0": "Gusu", "arg1": "GSU", "arg2": "1000", **console.signing()}
        refused = await console.post(deploy, {**fields, "arg2": str(2**256)}, "/contracts/evm")
        assert refused.status == 400 and "Argument supply (uint256)" in _main(await refused.text())
        # Not approved: the notice with the link to the filled-in proposal, and no transaction.
        waiting = await console.post(deploy, fields, "/contracts/evm")
        text = _main(await waiting.text())
        assert waiting.status == 200 and "approve_contract" in text and code_hash in text
        assert 'id="transaction-result"' not in text
        assert ("contract.deploy", "evm Token", "needs_approval") in await console.audit_actions()
        # Unknown or malformed ids are 404, never an error page from the database.
        for path in ("/contracts/evm/artifacts/99999", "/contracts/evm/artifacts/x1", "/contracts/evm/0xzz",
                     "/contracts/evm/" + "0x" + "cd" * 20, "/contracts/evm/artifacts/" + "9" * 40):  # fmt: skip
            assert (await client.get(path)).status == 404, path

        # An auditor reads, but cannot upload, deploy or send.
        auditor = await console.create_user("audra_evm", "auditor")
        await console.logout_and_login("audra_evm", auditor)
        assert (await client.get("/contracts/evm")).status == 200
        assert 'id="evm-upload-form"' not in _main(await (await client.get("/contracts/evm")).text())
        artifact_page = _main(await (await client.get(uploaded.headers["Location"])).text())
        assert 'id="evm-deploy-form"' not in artifact_page
        token = await console.token("/contracts/evm")
        for path in ("/contracts/evm/upload", deploy, "/contracts/evm/" + "0x" + "ab" * 20 + "/send"):
            assert (await client.post(path, data={"csrf_token": token})).status == 403, path

    run(tmp_path, chain, scenario)
