"""The console's writes against a real node: signing keys, deploying, calling, proposing and voting.

The node is the session's one-organisation development chain (conftest.py): it requires governance's
approval before code is deployed, and its dev key is the organisation's admin, so an `approve_contract`
proposal decides at once. Every route is also tried with hostile inputs and with the wrong role.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp.test_utils import TestClient, TestServer
from console_helpers import RECIPIENT, Chain

from gusu.console.accounts import ensure_first_operator
from gusu.console.server import create_app
from gusu.console.settings import ConsoleSettings
from gusu.console.store import ConsoleStore, open_store
from gusu.crypto.keyfile import decrypt_key_file
from gusu.devkit.templates import render_template
from gusu.errors import RemoteError
from gusu.ledger.contractcode import compute_code_hash
from gusu.sdk import AsyncClient, AsyncContracts

Client = TestClient[Any, Any]
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_SHOWN = re.compile(r'<code id="shown-password">([^<]+)</code>')
PASSPHRASE = "a long key passphrase"


class Console:
    def __init__(self, client: Client, store: ConsoleStore, admin_password: str, chain: Chain) -> None:
        self.client = client
        self.store = store
        self.admin_password = admin_password
        self.chain = chain

    async def login(self, username: str, password: str) -> None:
        page = await self.client.get("/login")
        token = _TOKEN.findall(await page.text())[-1]
        response = await self.client.post(
            "/login", data={"csrf_token": token, "username": username, "password": password}, allow_redirects=False
        )
        assert response.status == 303, await response.text()

    async def logout(self) -> None:
        response = await self.client.post("/logout", data={"csrf_token": await self.token()}, allow_redirects=False)
        assert response.status == 303

    async def logout_and_login(self, username: str, password: str) -> None:
        await self.logout()
        await self.login(username, password)

    async def token(self, path: str = "/account") -> str:
        page = await self.client.get(path)
        assert page.status == 200, await page.text()
        return _TOKEN.findall(await page.text())[-1]

    async def create_user(self, username: str, role: str, organisation: str = "") -> str:
        token = await self.token("/users")
        fields = {"csrf_token": token, "username": username, "role": role, "organisation": organisation}
        response = await self.client.post("/users", data=fields)
        text = await response.text()
        assert response.status == 200, text
        return _SHOWN.findall(text)[0]

    async def import_dev_key(self) -> None:
        form = aiohttp.FormData()
        form.add_field("csrf_token", await self.token("/keys"))
        form.add_field("key_file", self.chain.dev_key.read_bytes(), filename="dev.json")
        response = await self.client.post("/keys/import", data=form, allow_redirects=False)
        assert response.status == 303, await response.text()

    async def post(self, path: str, fields: dict[str, str], token_path: str = "/keys") -> aiohttp.ClientResponse:
        data = {"csrf_token": await self.token(token_path), **fields}
        return await self.client.post(path, data=data, allow_redirects=False)

    async def deploy(self, fields: dict[str, str], source: bytes | None = None) -> aiohttp.ClientResponse:
        form = aiohttp.FormData()
        form.add_field("csrf_token", await self.token("/contracts"))
        for name, value in fields.items():
            form.add_field(name, value)
        if source is not None:
            form.add_field("source", source, filename="contract.py", content_type="text/x-python")
        return await self.client.post("/contracts/deploy", data=form, allow_redirects=False)

    def signing(self, passphrase: str | None = None) -> dict[str, str]:
        return {
            "key": self.chain.dev_address,
            "passphrase": self.chain.dev_passphrase if passphrase is None else passphrase,
        }

    async def approve(self, code_hash: str) -> str:
        """Proposes approve_contract through the governance form; the page showing the result."""
        response = await self.post(
            "/governance/propose",
            {"kind": "approve_contract", "args": json.dumps([code_hash]), "expiry_blocks": "100", **self.signing()},
        )
        assert response.status == 303, await response.text()
        page = await self.client.get(response.headers["Location"])
        return _main(await page.text())

    async def audit_actions(self) -> list[tuple[str, str | None, str]]:
        entries = await self.store.list_audit(None, 200)
        return [(entry.action, entry.target, entry.outcome) for entry in entries]


Scenario = Callable[[Console], Awaitable[None]]


def _main(page: str) -> str:
    """The page's <main> only: every page embeds the whole message catalogue (as JSON data for its script), so a
    message found anywhere else in the page proves nothing."""
    start, end = page.find("<main"), page.rfind("</main>")
    return page[start:end] if 0 <= start < end else page


def run(tmp_path: Path, chain: Chain, scenario: Scenario, **settings: Any) -> None:
    async def main() -> None:
        configured = ConsoleSettings(
            endpoint=chain.endpoint, port=0, scrypt_log2_n=10, keystore_scrypt_n=1024, **settings
        )
        store = await open_store(None, tmp_path / "console")
        first = await ensure_first_operator(store, configured)
        assert first is not None
        app = create_app(configured, store=store)
        try:
            async with TestClient(TestServer(app)) as client:
                console = Console(client, store, first[1], chain)
                # English messages to match (zh-CN is the default; one test checks it).
                client.session.cookie_jar.update_cookies({"gusu_language": "en"})
                await console.login("admin", first[1])
                await scenario(console)
        finally:
            await store.close()

    asyncio.run(main())


def _unique(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def _code_hash(source: str) -> str:
    return "0x" + compute_code_hash("sm", source).hex()


# --- keys -------------------------------------------------------------------------------------------


def test_keystore_keeps_only_encrypted_keys(tmp_path: Path, chain: Chain) -> None:
    async def scenario(console: Console) -> None:
        client = console.client
        await console.import_dev_key()
        page = _main(await (await client.get("/keys")).text())
        assert chain.dev_address in page
        # Importing it again, a file that is not a key file, or no file at all is refused with a message.
        form = aiohttp.FormData()
        form.add_field("csrf_token", await console.token("/keys"))
        form.add_field("key_file", chain.dev_key.read_bytes(), filename="dev.json")
        again = await client.post("/keys/import", data=form)
        assert again.status == 400 and "You keep this key already." in _main(await again.text())
        for garbage in (b'{"version": 1}', b"\xff\xfe", b"<script>alert(1)</script>"):
            form = aiohttp.FormData()
            form.add_field("csrf_token", await console.token("/keys"))
            form.add_field("key_file", garbage, filename="x.json")
            refused = await client.post("/keys/import", data=form)
            text = _main(await refused.text())
            assert refused.status == 400 and "This is not a Gusu key file" in text, text
            assert "<script>alert" not in text
        # Generating: the passphrase rules, then a key whose stored file opens only with its passphrase.
        short = await console.post("/keys/generate", {"passphrase": "short", "confirm": "short"})
        assert short.status == 400 and "at least 12 characters" in _main(await short.text())
        mismatch = await console.post("/keys/generate", {"passphrase": PASSPHRASE, "confirm": PASSPHRASE + "!"})
        assert mismatch.status == 400 and "differ" in _main(await mismatch.text())
        made = await console.post("/keys/generate", {"passphrase": PASSPHRASE, "confirm": PASSPHRASE})
        assert made.status == 303, await made.text()
        admin = await console.store.get_user("admin")
        assert admin is not None
        keys = await console.store.list_signing_keys(admin.user_id)
        assert len(keys) == 2 and {key.suite for key in keys} == {"sm"}
        generated = next(key for key in keys if key.address != chain.dev_address)
        secret = decrypt_key_file(generated.key_file.encode(), PASSPHRASE).secret
        assert secret.hex() not in generated.key_file and PASSPHRASE not in generated.key_file
        assert "sm4-gcm" in generated.key_file
        # The stored key file can be taken back out, as it was imported (encrypted).
        exported = await client.get(f"/keys/{chain.dev_address}/file")
        assert exported.status == 200 and "attachment" in exported.headers["Content-Disposition"]
        assert await exported.text() == chain.dev_key.read_text()
        assert (await client.get("/keys/0x" + "12" * 20 + "/file")).status == 404
        # Deleting it: only one's own keys, and an unknown address is 404.
        deleted = await console.post(f"/keys/{generated.address}/delete", {})
        assert deleted.status == 303
        assert (await console.post(f"/keys/{generated.address}/delete", {})).status == 404
        assert (await console.post("/keys/not-an-address/delete", {})).status == 404
        actions = await console.audit_actions()
        assert ("key.import", chain.dev_address, "ok") in actions
        assert ("key.generate", generated.address, "ok") in actions
        assert ("key.delete", generated.address, "ok") in actions
        assert ("key.export", chain.dev_address, "ok") in actions
        assert ("key.import", None, "refused") in actions

    run(tmp_path, chain, scenario)


def test_keys_per_user_are_limited(tmp_path: Path, chain: Chain) -> None:
    async def scenario(console: Console) -> None:
        await console.import_dev_key()
        full = await console.post("/keys/generate", {"passphrase": PASSPHRASE, "confirm": PASSPHRASE})
        assert full.status == 400 and "You already keep 1 keys" in _main(await full.text())

    run(tmp_path, chain, scenario, keys_per_user_max=1)


# --- the main path: approve, deploy, query, call ---------------------------------------------------------


def test_deploy_a_template_after_approval_then_query_and_call(tmp_path: Path, chain: Chain) -> None:
    async def scenario(console: Console) -> None:
        client = console.client
        await console.import_dev_key()
        library = _main(await (await client.get("/contracts")).text())
        for kind in ("basic", "evidence", "traceability", "receivables", "data_sharing", "certificates"):
            assert f'data-template="{kind}"' in library
        assert "setup(initial_supply: int)" in library  # the basic template's migration
        name = _unique("coin")
        fields = {"name": name, "template": "basic", "args": "[1000]", **console.signing()}
        # The chain requires approval: the form says so and links to the proposal, filled in.
        first = await console.deploy(fields)
        text = _main(await first.text())
        assert first.status == 200 and 'id="approval-needed"' in text, text
        code_hash = _code_hash(render_template("basic", name).contract_source)
        assert code_hash in text
        link = html.unescape(re.findall(r'id="approval-link" href="([^"]+)"', text)[0])
        query = parse_qs(urlsplit(link).query)
        assert query == {"kind": ["approve_contract"], "args": [json.dumps([code_hash])]}
        prefilled = _main(await (await client.get(link)).text())
        assert '<option value="approve_contract" selected>' in prefilled and html.escape(code_hash) in prefilled
        approved = await console.approve(code_hash)
        assert 'id="transaction-result" data-success="true"' in approved, approved
        assert 'data-status="approved"' in approved
        # A migration that fails (a text where it takes a number) deploys nothing, and the form says why.
        failing_deploy = await console.deploy({**fields, "args": '["a lot"]'})
        text = _main(await failing_deploy.text())
        assert failing_deploy.status == 400 and "failed on chain: arguments_invalid" in text, text[-3000:]
        assert (await client.get(f"/contracts/{name}")).status == 404
        # Deployed now; the page of the contract shows the deployment's receipt and its forms.
        deployed = await console.deploy(fields)
        assert deployed.status == 303, await deployed.text()
        location = deployed.headers["Location"]
        assert location.startswith(f"/contracts/{name}?transaction=0x")
        page = _main(await (await client.get(location)).text())
        assert 'id="transaction-result" data-success="true"' in page
        assert "Deployed" in page  # the deployer's event
        assert 'id="view-balance"' in page and 'id="call-transfer"' in page and 'id="view-total_supply"' in page
        assert "transfer(to: Address, amount: int)" in page
        again = await console.deploy(fields)
        assert again.status == 400 and f"A contract named {name} is deployed already" in _main(await again.text())
        for transaction in ("0xnothex", "0x" + "00" * 32):
            unknown = await client.get(f"/contracts/{name}?transaction={transaction}")
            assert unknown.status == 400 and "No committed transaction has that id." in _main(await unknown.text())
        # A read-only query runs as a call, with typed arguments.
        queried = _main(await (await client.get(f"/contracts/{name}?method=balance&arg0={chain.dev_address}")).text())
        assert '<code id="query-value">1000</code>' in queried
        # A write is a signed transaction; its events are decoded by the declared fields.
        call = await console.post(
            f"/contracts/{name}/call",
            {"method": "transfer", "arg0": RECIPIENT, "arg1": "5", **console.signing()},
            f"/contracts/{name}",
        )
        assert call.status == 303, await call.text()
        transaction_id = parse_qs(urlsplit(call.headers["Location"]).query)["transaction"][0]
        result = _main(await (await client.get(call.headers["Location"])).text())
        assert 'id="transaction-result" data-success="true"' in result
        assert "Transfer" in result and "&quot;amount&quot;: 5" in result
        assert f'href="/transactions/{transaction_id}"' in result
        queried = _main(await (await client.get(f"/contracts/{name}?method=balance&arg0={RECIPIENT}")).text())
        assert '<code id="query-value">5</code>' in queried
        # The explorer has the transaction.
        explorer = await (await client.get(f"/api/transactions/{transaction_id}")).json()
        assert explorer["transaction"]["contract"] == name and explorer["receipt"]["status"] == "success"
        # The history lists both transactions; the console lists the contract.
        history = _main(await (await client.get(f"/contracts/{name}")).text())
        assert history.count('href="/transactions/0x') >= 2
        # The event history is the node's: a transfer sent with the SDK, not through the console, is in it.
        key = decrypt_key_file(console.chain.dev_key.read_bytes(), console.chain.dev_passphrase)
        async with AsyncClient(chain.endpoint) as sdk:
            coin = await AsyncContracts(sdk).at(name)
            outcome = await coin.transfer(key, bytes.fromhex(RECIPIENT.removeprefix("0x")), 7)
        sdk_id = "0x" + outcome.receipt.transaction_id.hex()
        events = _main(await (await client.get(f"/contracts/{name}")).text())
        rows = re.findall(r'<tr class="chain-event" data-block="(\d+)" data-index="(\d+)" data-event-index="(\d+)" '
                          r'data-transaction="(0x[0-9a-f]+)">', events)  # fmt: skip
        transactions = [row[3] for row in rows]
        assert transactions[0] == sdk_id and transaction_id in transactions, rows
        assert "&quot;amount&quot;: 7" in events and 'id="events-older"' not in events
        positions = [(int(height), int(index), int(event)) for height, index, event, _ in rows]
        assert positions == sorted(positions, reverse=True)
        # The cursor of the newest event shows the ones before it.
        newest_height, newest_index, newest_event = positions[0]
        cursor = f"{newest_height}-{newest_index * 1024 + newest_event}"
        before = _main(await (await client.get(f"/contracts/{name}?before={cursor}")).text())
        assert sdk_id not in re.findall(r'data-transaction="(0x[0-9a-f]+)"', before)
        assert transaction_id in re.findall(r'data-transaction="(0x[0-9a-f]+)"', before)
        assert f'href="/contracts/{name}"' in _main(await (await client.get("/contracts")).text())
        # A failing call commits with its reason shown.
        failing = await console.post(
            f"/contracts/{name}/call",
            {"method": "transfer", "arg0": RECIPIENT, "arg1": "999999", **console.signing()},
            f"/contracts/{name}",
        )
        failed = _main(await (await client.get(failing.headers["Location"])).text())
        assert 'data-success="false"' in failed and "insufficient balance" in failed
        actions = await console.audit_actions()
        assert ("contract.deploy", name, "needs_approval") in actions
        assert any(
            a == "contract.deploy" and (t or "").startswith(name + " 0x") and o == "failed" for a, t, o in actions
        )
        assert any(action == "governance.propose" and outcome == "ok" for action, _, outcome in actions)
        assert any(a == "contract.deploy" and (t or "").startswith(name + " 0x") and o == "ok" for a, t, o in actions)
        assert ("contract.call", f"{name}.transfer {transaction_id}", "ok") in actions
        assert any(a == "contract.call" and o == "failed" for a, _, o in actions)
        # The history (with decoded events) is paged: 20 a page, then an "Older" link to the rest.
        for entry in range(20):
            await console.store.append_contract_transaction(
                entry, "admin", name, f"paged{entry}", f"0x{entry:064x}", 1, True, "[]"
            )
        newest = _main(await (await client.get(f"/contracts/{name}")).text())
        assert "paged19" in newest and "paged0" in newest and ">transfer<" not in newest
        older_link = html.unescape(re.findall(r'id="history-older" href="([^"]+)"', newest)[0])
        older = _main(await (await client.get(older_link)).text())
        assert "paged0" not in older and ">transfer<" in older and "Deployed" in older
        assert 'id="history-older"' not in older
        assert (await client.get(f"/contracts/{name}?sent_before=x'")).status == 200  # a bad cursor: the first page
        refused = await client.get(f"/contracts/{name}?before=x'")  # the event history's cursor is checked
        assert refused.status == 400 and "The page number must be a whole number." in _main(await refused.text())

    run(tmp_path, chain, scenario)


def test_deploy_an_uploaded_source_and_wrong_passphrase(tmp_path: Path, chain: Chain) -> None:
    async def scenario(console: Console) -> None:
        await console.import_dev_key()
        name = _unique("upload")
        source = render_template("evidence", name).contract_source.replace("{{name}}", name)
        wrong = await console.deploy({"name": name, "template": "", **console.signing("not the passphrase")}, b"x")
        assert wrong.status == 200  # a 1-byte source is not approved either: approval is checked first
        await console.approve(_code_hash(source))
        refused = await console.deploy(
            {"name": name, "template": "", **console.signing("not the passphrase")}, source.encode()
        )
        text = _main(await refused.text())
        assert refused.status == 400 and "The passphrase does not open this key." in text
        assert ("key.unlock", chain.dev_address, "failed") in await console.audit_actions()
        deployed = await console.deploy({"name": name, "template": "", **console.signing()}, source.encode())
        assert deployed.status == 303, await deployed.text()
        page = _main(await (await console.client.get(f"/contracts/{name}")).text())
        assert 'id="contract-version">1<' in page and "record(digest: bytes, description: str)" in page
        assert 'id="upgrade-form"' in page

        async def upgrade(code: bytes) -> aiohttp.ClientResponse:
            form = aiohttp.FormData()
            form.add_field("csrf_token", await console.token(f"/contracts/{name}"))
            for field, value in {"template": "", "args": "[]", **console.signing()}.items():
                form.add_field(field, value)
            form.add_field("source", code, filename="contract.py", content_type="text/x-python")
            return await console.client.post(f"/contracts/{name}/upgrade", data=form, allow_redirects=False)

        same = await upgrade(source.encode())
        assert same.status == 400 and "The contract runs this code already." in _main(await same.text())
        newer = source + "\n# version 2: the same entry points\n"
        waiting = await upgrade(newer.encode())
        text = _main(await waiting.text())
        assert waiting.status == 200 and 'id="approval-needed"' in text and _code_hash(newer) in text
        await console.approve(_code_hash(newer))
        upgraded = await upgrade(newer.encode())
        assert upgraded.status == 303, await upgraded.text()
        page = _main(await (await console.client.get(upgraded.headers["Location"])).text())
        assert 'id="contract-version">2<' in page and 'data-success="true"' in page
        # A source above body_bytes_max (16 KiB) but within contract_source_bytes_max is accepted; more is not.
        large = await upgrade((newer + "#" * 30_000).encode())
        assert large.status == 200 and 'id="approval-needed"' in _main(await large.text())
        assert (await upgrade(b"#" * (100 * 1024))).status == 413
        missing = await console.post("/contracts/never_deployed_here/upgrade", {"template": "basic"}, "/contracts")
        assert missing.status == 404
        actions = await console.audit_actions()
        assert ("contract.upgrade", name, "needs_approval") in actions
        assert any(a == "contract.upgrade" and (t or "").startswith(name + " 0x") and o == "ok" for a, t, o in actions)

    run(tmp_path, chain, scenario)


def test_governance_page_lists_outcomes_and_refused_votes_say_why(tmp_path: Path, chain: Chain) -> None:
    async def scenario(console: Console) -> None:
        await console.import_dev_key()
        approved = await console.approve("0x" + secrets.token_hex(32))
        proposal_id = max(int(found) for found in re.findall(r'data-proposal="(\d+)" data-status="approved"', approved))
        assert "org" in approved  # the organisations table
        # The proposal was decided at once: a vote on it fails on chain and the page says why.
        vote = await console.post(f"/governance/{proposal_id}/vote", {"approve": "true", **console.signing()})
        if vote.status == 303:
            text = _main(await (await console.client.get(vote.headers["Location"])).text())
            assert 'data-success="false"' in text
        else:
            text = _main(await vote.text())
            assert vote.status == 400 and "The node refused the transaction" in text
        assert any(action == "governance.vote" for action, _, _ in await console.audit_actions())
        # Withdrawing it fails on chain too (it is no longer pending), and says so.
        cancel = await console.post(f"/governance/{proposal_id}/cancel", console.signing())
        assert cancel.status == 303, await cancel.text()
        text = _main(await (await console.client.get(cancel.headers["Location"])).text())
        assert 'data-success="false"' in text and 'id="result-error"' in text
        assert any(a == "governance.cancel" and o == "failed" for a, _, o in await console.audit_actions())
        assert (await console.post("/governance/x/cancel", console.signing())).status == 400
        # A key that is no organisation's admin: the console signs, the chain refuses, the page says why.
        made = await console.post("/keys/generate", {"passphrase": PASSPHRASE, "confirm": PASSPHRASE})
        assert made.status == 303
        admin = await console.store.get_user("admin")
        assert admin is not None
        outsider = next(
            key.address
            for key in await console.store.list_signing_keys(admin.user_id)
            if key.address != chain.dev_address
        )
        proposal = {"kind": "approve_contract", "args": json.dumps(["0x" + "77" * 32]), "expiry_blocks": "50"}
        refused = await console.post("/governance/propose", {**proposal, "key": outsider, "passphrase": PASSPHRASE})
        if refused.status == 303:
            text = _main(await (await console.client.get(refused.headers["Location"])).text())
            assert 'data-success="false"' in text and 'id="result-error"' in text, text[-3000:]
        else:
            text = _main(await refused.text())
            assert refused.status == 400 and "The node refused the transaction" in text
        # In Chinese too.
        console.client.session.cookie_jar.update_cookies({"gusu_language": "zh-CN"})
        chinese = _main(await (await console.client.get("/governance")).text())
        assert "提案" in chinese and "已通过" in chinese

    run(tmp_path, chain, scenario)


# --- hostile inputs -------------------------------------------------------------------------------------


def test_hostile_inputs_are_refused_with_messages(tmp_path: Path, chain: Chain) -> None:
    async def scenario(console: Console) -> None:
        client = console.client
        await console.import_dev_key()
        # Names.
        for bad in ("Coin", "1coin", "coin-x", "a" * 65, "<script>"):
            response = await console.deploy({"name": bad, "template": "basic", **console.signing()})
            text = _main(await response.text())
            assert response.status == 400 and "A contract name is 1 to 64" in text, bad
            assert "<script>" not in text
        assert (await client.get("/contracts/Bad-Name")).status == 400
        missing = await client.get("/contracts/never_deployed_here")
        assert missing.status == 404 and 'id="contract-missing"' in _main(await missing.text())
        opened = await client.get("/contracts/open?name=%3Cb%3E", allow_redirects=False)
        assert opened.status == 400
        # Sources and arguments.
        no_source = await console.deploy({"name": "nosource", "template": "", **console.signing()})
        text = await no_source.text()
        assert no_source.status == 400 and "Choose a template or upload" in _main(text)
        # Switching the language on a page a form answered goes back to that page, not to the form's target.
        assert '<input type="hidden" name="next" value="/contracts">' in text
        # A file input left empty (what browsers send: a part without a file name) is no upload.
        form = aiohttp.FormData()
        form.add_field("csrf_token", await console.token("/contracts"))
        for field, value in {"name": "emptyfile", "template": "basic", **console.signing()}.items():
            form.add_field(field, value)
        form.add_field("source", b"", content_type="application/octet-stream", filename="")
        empty_file = await client.post("/contracts/deploy", data=form)
        assert empty_file.status == 200 and 'id="approval-needed"' in _main(await empty_file.text())
        binary = await console.deploy({"name": "binary", "template": "", **console.signing()}, b"\xff\xfe\x00")
        assert binary.status == 400 and "UTF-8" in _main(await binary.text())
        large = await console.deploy({"name": "large", "template": "", **console.signing()}, b"#" * (70 * 1024))
        assert large.status == 400 and "The file is too large: at most 65536 bytes." in _main(await large.text())
        huge = await console.deploy({"name": "huge", "template": "", **console.signing()}, b"#" * (100 * 1024))
        assert huge.status == 413
        for args in ("[1000", '{"a": 1}', "[1.5]", "[0xZZ]", '["0xabc"]', "[" * 100 + "]" * 100):
            response = await console.deploy({"name": "argsbad", "template": "basic", "args": args, **console.signing()})
            assert response.status == 400 and "must be a JSON array" in _main(await response.text()), args
        long_args = await console.deploy(
            {"name": "argslong", "template": "basic", "args": "[" + "1," * 3000 + "1]", **console.signing()}
        )
        assert long_args.status == 400
        # Typed call arguments, on the basic token deployed once for this test.
        name = _unique("hostile")
        fields = {"name": name, "template": "basic", "args": "[10]", **console.signing()}
        await console.approve(_code_hash(render_template("basic", name).contract_source))
        assert (await console.deploy(fields)).status == 303
        cases = [
            ({"arg0": "0x1234", "arg1": "1"}, "must be an address"),
            ({"arg0": RECIPIENT, "arg1": "one"}, "must be a whole number"),
            ({"arg0": RECIPIENT, "arg1": str(2**64)}, "must be a whole number"),
            ({"arg0": "<img src=x onerror=alert(1)>", "arg1": "1"}, "must be an address"),
        ]
        for arguments, expected in cases:
            response = await console.post(
                f"/contracts/{name}/call",
                {"method": "transfer", **arguments, **console.signing()},
                f"/contracts/{name}",
            )
            text = _main(await response.text())
            assert response.status == 400 and expected in text, (arguments, text[-2000:])
            assert "<img src=x" not in text
        for method in ("balance", "setup", "nope", "__init__"):
            response = await console.post(
                f"/contracts/{name}/call", {"method": method, **console.signing()}, f"/contracts/{name}"
            )
            assert response.status == 400 and "no such entry point" in _main(await response.text()), method
        bad_query = await client.get(f"/contracts/{name}?method=balance&arg0=0xnothex")
        assert bad_query.status == 400 and "must be an address" in _main(await bad_query.text())
        no_key = await console.post(
            f"/contracts/{name}/call",
            {"method": "transfer", "arg0": RECIPIENT, "arg1": "1", "key": "0x" + "11" * 20, "passphrase": "x"},
            f"/contracts/{name}",
        )
        assert no_key.status == 400 and "Choose one of your signing keys." in _main(await no_key.text())
        # Governance inputs.
        for fields_bad, expected in (
            ({"kind": "drop_tables", "args": "[]", "expiry_blocks": "10"}, "Choose a proposal kind"),
            ({"kind": "approve_contract", "args": "[]", "expiry_blocks": "0"}, "whole number of blocks"),
            ({"kind": "approve_contract", "args": "[]", "expiry_blocks": "-5"}, "whole number of blocks"),
            ({"kind": "approve_contract", "args": "nope", "expiry_blocks": "10"}, "must be a JSON array"),
        ):
            response = await console.post("/governance/propose", {**fields_bad, **console.signing()})
            assert response.status == 400 and expected in _main(await response.text()), fields_bad
        for proposal in ("abc", "0", "-1", "9" * 30):
            response = await console.post(f"/governance/{proposal}/vote", {"approve": "true", **console.signing()})
            assert response.status == 400, proposal
        maybe = await console.post("/governance/1/vote", {"approve": "maybe", **console.signing()})
        assert maybe.status == 400 and "must be true or false" in _main(await maybe.text())
        # Without the session's CSRF token nothing is sent.
        forged = await client.post(
            f"/contracts/{name}/call", data={"method": "transfer", "arg0": RECIPIENT, "arg1": "1", **console.signing()}
        )
        assert forged.status == 403
        # Every refusal was audited.
        actions = await console.audit_actions()
        assert any(a == "contract.call" and o == "refused" for a, _, o in actions)
        assert any(a == "governance.propose" and o == "refused" for a, _, o in actions)
        assert any(a == "governance.vote" and o == "refused" for a, _, o in actions)

    run(tmp_path, chain, scenario)


# --- roles -------------------------------------------------------------------------------------------------


def test_roles_auditor_reads_developer_deploys_org_admin_governs(tmp_path: Path, chain: Chain) -> None:
    async def scenario(console: Console) -> None:
        client = console.client
        auditor = await console.create_user("audra", "auditor")
        developer = await console.create_user("devon", "developer")
        await console.logout_and_login("audra", auditor)
        for path in ("/contracts", "/governance", "/contracts/never_deployed_here"):
            assert (await client.get(path)).status in (200, 404), path
        contracts_page = _main(await (await client.get("/contracts")).text())
        assert 'id="deploy-form"' not in contracts_page and 'href="/keys"' not in contracts_page
        assert 'id="propose-form"' not in _main(await (await client.get("/governance")).text())
        token = await console.token("/contracts")
        for path in (
            "/contracts/deploy",
            "/contracts/anything/call",
            "/contracts/anything/upgrade",
            "/governance/propose",
            "/governance/1/vote",
            "/governance/1/cancel",
        ):
            response = await client.post(path, data={"csrf_token": token, "name": "x"})
            assert response.status == 403, path
        assert (await client.get("/keys")).status == 403
        assert (await client.post("/keys/generate", data={"csrf_token": token})).status == 403
        assert (await client.get(f"/keys/{chain.dev_address}/file")).status == 403
        await console.logout_and_login("devon", developer)
        assert 'id="deploy-form"' in _main(await (await client.get("/contracts")).text())
        assert 'id="propose-form"' not in _main(await (await client.get("/governance")).text())
        token = await console.token("/contracts")
        assert (await client.post("/governance/propose", data={"csrf_token": token})).status == 403
        # A developer may deploy: the form is checked (400), not refused (403).
        assert (await client.post("/contracts/deploy", data={"csrf_token": token, "name": "Bad"})).status == 400
        assert (await client.get("/keys")).status == 200
        actions = await console.audit_actions()
        assert ("access.refused", "/governance/propose", "denied") in actions
        # Without a login the pages send to /login.
        await console.logout()
        for path in ("/contracts", "/governance", "/keys"):
            response = await client.get(path, allow_redirects=False)
            assert response.status == 303 and response.headers["Location"] == "/login", path

    run(tmp_path, chain, scenario)


def test_a_chain_without_governance_says_so(tmp_path: Path) -> None:
    class NoSystemClient(AsyncClient):
        async def call(self, contract: str, method: str, args: Any, sender: Any = None) -> Any:
            raise RemoteError("contract_unknown", f"no contract named {contract!r}")

    async def main() -> None:
        settings = ConsoleSettings(endpoint="http://127.0.0.1:9", port=0, scrypt_log2_n=10)
        store = await open_store(None, tmp_path / "console")
        first = await ensure_first_operator(store, settings)
        assert first is not None
        app = create_app(settings, client=NoSystemClient(settings.endpoint), store=store)
        try:
            async with TestClient(TestServer(app)) as client:
                client.session.cookie_jar.update_cookies({"gusu_language": "en"})
                console = Console(client, store, first[1], chain=None)  # type: ignore[arg-type]
                await console.login("admin", first[1])
                page = await client.get("/governance")
                text = _main(await page.text())
                assert page.status == 200 and 'id="governance-unavailable"' in text and "no governance" in text
        finally:
            await store.close()

    asyncio.run(main())


def test_the_page_a_form_belongs_to() -> None:
    from gusu.console.server import compute_page_path

    assert compute_page_path("/contracts/deploy") == "/contracts"
    assert compute_page_path("/contracts/coin/call") == "/contracts/coin"
    assert compute_page_path("/contracts/coin/upgrade") == "/contracts/coin"
    assert compute_page_path("/governance/3/vote") == "/governance"
    assert compute_page_path("/governance/propose") == "/governance"
    assert compute_page_path("/keys/import") == "/keys"
    assert compute_page_path("/users/bob/disable") == "/users"
    assert compute_page_path("/account/password") == "/account"
    assert compute_page_path("/login") == "/login"


def test_wrong_passphrases_are_limited_and_costly_key_files_refused(tmp_path: Path, chain: Chain) -> None:
    async def scenario(console: Console) -> None:
        await console.import_dev_key()
        proposal = {"kind": "approve_contract", "args": json.dumps(["0x" + "99" * 32]), "expiry_blocks": "10"}
        for _ in range(3):
            wrong = await console.post("/governance/propose", {**proposal, **console.signing("guess " * 3)})
            assert wrong.status == 400 and "The passphrase does not open this key." in _main(await wrong.text())
        # Locked now, even with the right passphrase: nothing is signed.
        locked = await console.post("/governance/propose", {**proposal, **console.signing()})
        assert locked.status == 400 and "Too many wrong passphrases" in _main(await locked.text())
        assert ("key.unlock", chain.dev_address, "limited") in await console.audit_actions()
        # A key file whose KDF would cost the server more than it accepts is refused at import.
        document = json.loads(chain.dev_key.read_text())
        document["kdf_params"]["c" if document["kdf"] == "pbkdf2" else "n"] = 2**23
        form = aiohttp.FormData()
        form.add_field("csrf_token", await console.token("/keys"))
        form.add_field("key_file", json.dumps(document).encode(), filename="costly.json")
        costly = await console.client.post("/keys/import", data=form)
        assert costly.status == 400 and "costs more than the console accepts" in _main(await costly.text())

    run(tmp_path, chain, scenario, login_failures_per_account_max=3)


def test_an_organisation_admin_governs_only_with_their_organisation_key(tmp_path: Path, chain: Chain) -> None:
    async def scenario(console: Console) -> None:
        other = await console.create_user("bank-b", "org_admin", "other-bank")
        own = await console.create_user("bank-a", "org_admin", "org0")
        proposal = {
            "kind": "approve_contract",
            "args": json.dumps(["0x" + secrets.token_hex(32)]),
            "expiry_blocks": "9",
        }
        # bank-b's console binding is another organisation: the dev key (org0's admin) is refused before signing.
        await console.logout_and_login("bank-b", other)
        await console.import_dev_key()
        refused = await console.post("/governance/propose", {**proposal, **console.signing()})
        text = _main(await refused.text())
        assert refused.status == 400 and "not an admin key of your organisation other-bank" in text
        # bank-a is bound to org0, whose admin the dev key is: it proposes.
        await console.logout_and_login("bank-a", own)
        await console.import_dev_key()
        accepted = await console.post("/governance/propose", {**proposal, **console.signing()})
        assert accepted.status == 303, _main(await accepted.text())

    run(tmp_path, chain, scenario)
