"""A Solidity contract's event history on its console page: read from the node's eth_getLogs, newest first.

Without a node: the pager (`get_history_page`) over a fake eth_getLogs, its windows, cursor, scan budget
and the halving of a window the node refuses as too large. With an in-process node running `evm`: a token
deployed and used through the SDK only (never through the console) is registered by address in the console,
and its page lists every Transfer and Approval, decoded, with block and transaction links, a page at a
time. On the session's chain, which does not run `evm`, the section is absent and the page still answers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from console_helpers import Chain
from test_console_writes import Console, _main, run

from gusu.api.server import start_api
from gusu.api.settings import ApiSettings
from gusu.console import contracts_evm
from gusu.console.access import AccessInputError
from gusu.console.accounts import ensure_first_operator
from gusu.console.contracts_evm import (
    LogPosition,
    compute_artifact_json,
    get_history_page,
    parse_history_cursor,
)
from gusu.console.evm_store import EvmStore
from gusu.console.server import create_app
from gusu.console.settings import ConsoleSettings
from gusu.console.store import open_store
from gusu.crypto import PrivateKey, get_suite
from gusu.crypto.keyfile import decrypt_key_file
from gusu.errors import RemoteError
from gusu.ledger.genesis import DEFAULT_CONTRACTS, DEFAULT_PARAMETERS, load_genesis, save_genesis
from gusu.node.chain import initialize_chain, load_node
from gusu.sdk import AsyncClient
from gusu.sdk.evm import AsyncEvmContracts, ChainLog, DecodedLog, EvmLog, load_artifact

TOKEN = Path(__file__).resolve().parents[1] / "execution" / "evm" / "fixtures" / "Token.json"
BOB = "0x" + "0b" * 20
CAROL = "0x" + "0c" * 20
_ROW = re.compile(
    r'<tr class="chain-log" data-block="(\d+)" data-log-index="(\d+)" data-transaction="(0x[0-9a-f]{64})">(.*?)</tr>'
)
_OLDER = re.compile(r'<a id="events-older" href="([^"]+)"')


# --- the pager, without a node ---------------------------------------------------------------------


def _log(height: int, index: int) -> ChainLog:
    empty = DecodedLog(EvmLog("0x" + "ab" * 20, (), b""), None, MappingProxyType({}))
    return ChainLog(height, bytes(32), height.to_bytes(30, "big") + index.to_bytes(2, "big"), 0, index, empty)


class FakeLogs:
    """eth_getLogs over `positions`; refuses a span over `span_max` and an answer over `results_max`."""

    def __init__(self, positions: list[tuple[int, int]], span_max: int = 1_000, results_max: int = 10_000) -> None:
        self.logs = [_log(height, index) for height, index in sorted(positions)]
        self.span_max = span_max
        self.results_max = results_max
        self.calls: list[tuple[int, int]] = []

    async def __call__(self, from_height: int, to_height: int) -> list[ChainLog]:
        self.calls.append((from_height, to_height))
        assert to_height - from_height + 1 <= self.span_max, "the pager asked for more blocks than the node takes"
        found = [log for log in self.logs if from_height <= log.block_height <= to_height]
        if len(found) > self.results_max:
            raise RemoteError("request_too_large", "query returned more than the limit; narrow the block range")
        return found


def _positions(logs: tuple[ChainLog, ...]) -> list[tuple[int, int]]:
    return [(log.block_height, log.log_index) for log in logs]


def test_the_history_pages_back_from_the_tip_newest_first() -> None:
    async def main() -> None:
        fake = FakeLogs([(5, 0), (50, 0), (50, 1), (51, 0), (99, 0), (100, 0)], span_max=10)
        first = await get_history_page(fake, 100, 0, None, page_size=3, window_blocks=10, scan_blocks_max=1_000)
        assert _positions(first.logs) == [(100, 0), (99, 0), (51, 0)]
        assert first.next_before == LogPosition(51, 0)
        second = await get_history_page(fake, 100, 0, first.next_before, 3, 10, 1_000)
        assert _positions(second.logs) == [(50, 1), (50, 0), (5, 0)]
        assert second.next_before is None and second.searched_from_height == 0, "the search reached block 0"
        # A page can end inside a block: the cursor carries the log's index.
        one = await get_history_page(fake, 100, 0, LogPosition(51, 0), 1, 10, 1_000)
        assert _positions(one.logs) == [(50, 1)] and one.next_before == LogPosition(50, 1)
        two = await get_history_page(fake, 100, 0, one.next_before, 1, 10, 1_000)
        assert _positions(two.logs) == [(50, 0)]
        # A floor (the deployment's block): nothing below it is asked for.
        fake.calls.clear()
        floored = await get_history_page(fake, 100, 40, None, 10, 10, 1_000)
        assert _positions(floored.logs) == [(100, 0), (99, 0), (51, 0), (50, 1), (50, 0)]
        assert min(low for low, _ in fake.calls) == 40 and floored.next_before is None

    asyncio.run(main())


def test_a_quiet_stretch_costs_a_bounded_number_of_node_calls_per_page() -> None:
    async def main() -> None:
        fake = FakeLogs([(10, 0)])
        page = await get_history_page(fake, 100_000, 0, None, 20, 1_000, 20_000)
        assert page.logs == () and len(fake.calls) == 20
        assert page.next_before == LogPosition(80_001, 0) and page.searched_from_height == 80_001
        assert page.searched_to_height == 100_000
        found = list(page.logs)
        pages = 1
        while page.next_before is not None:
            page = await get_history_page(fake, 100_000, 0, page.next_before, 20, 1_000, 20_000)
            found.extend(page.logs)
            pages += 1
        # Five pages of 20,000 blocks, then blocks 0 to 5; the one log on the fifth.
        assert _positions(tuple(found)) == [(10, 0)] and pages == 6
        assert len(fake.calls) == 101 and all(high - low < 1_000 for low, high in fake.calls)

    asyncio.run(main())


def test_a_window_with_too_many_logs_is_halved_until_the_node_answers() -> None:
    async def main() -> None:
        dense = [(height, index) for height in range(1, 41) for index in range(3)]  # 3 logs a block
        fake = FakeLogs(dense, results_max=10)
        page = await get_history_page(fake, 40, 1, None, 5, 1_000, 20_000)
        assert _positions(page.logs) == [(40, 2), (40, 1), (40, 0), (39, 2), (39, 1)]
        refused = [(low, high) for low, high in fake.calls if sum(1 for h, _ in dense if low <= h <= high) > 10]
        assert refused, "the first window was refused"
        # Every log comes back once, in order, however the windows were cut.
        seen: list[tuple[int, int]] = []
        before = None
        while True:
            page = await get_history_page(fake, 40, 1, before, 7, 1_000, 20_000)
            seen.extend(_positions(page.logs))
            if page.next_before is None:
                break
            before = page.next_before
        assert seen == sorted(dense, reverse=True)

    asyncio.run(main())


def test_other_node_errors_are_not_swallowed() -> None:
    async def failing(from_height: int, to_height: int) -> list[ChainLog]:
        raise RemoteError("unavailable", "the node is busy")

    with pytest.raises(RemoteError, match="busy"):
        asyncio.run(get_history_page(failing, 10, 0, None, 5, 5, 10))


@pytest.mark.parametrize("text", ["x", "-1", "1-2-3", "1-", "１２", "9" * 19, "5-" + "9" * 10, "0x10"])
def test_a_malformed_history_cursor_is_refused(text: str) -> None:
    with pytest.raises(AccessInputError):
        parse_history_cursor(text)


def test_history_cursors_read_height_and_log_index() -> None:
    assert parse_history_cursor(None) is None and parse_history_cursor("") is None
    assert parse_history_cursor("12") == LogPosition(12, 0)
    assert parse_history_cursor("12-3") == LogPosition(12, 3)


# --- against a node running `evm` -------------------------------------------------------------------


@asynccontextmanager
async def _evm_node(directory: Path) -> AsyncIterator[tuple[str, PrivateKey]]:
    """A one-node `sm` chain whose genesis runs `evm` without code approval, and its API; (URL, dev key)."""
    layout = initialize_chain(directory, suite_name="sm", api_port=0, verifier_workers=0, scrypt_n=2**10)
    genesis = dataclasses.replace(
        layout.genesis,
        contracts=tuple(sorted((*DEFAULT_CONTRACTS, "evm"))),
        parameters=tuple(sorted((*DEFAULT_PARAMETERS, ("contract_deploy_approval_required", 0)))),
    )
    for path in (directory / "genesis.json", layout.node_directories[0] / "genesis.json"):
        assert load_genesis(path) == layout.genesis
        save_genesis(path, genesis)
    keys = directory / "keys"
    key = decrypt_key_file((keys / "dev.json").read_bytes(), (keys / "dev.pass").read_text().strip())
    node = load_node(directory / "node0")
    await node.start()
    try:
        server = await start_api(node, ApiSettings(port=0))
        try:
            yield server.url, key
        finally:
            await server.close()
    finally:
        await node.stop()


async def _register(client: TestClient[Any, Any], address: str) -> aiohttp.ClientResponse:
    page = await client.get("/contracts/evm")
    token = re.findall(r'name="csrf_token" value="([^"]+)"', await page.text())[-1]
    form = aiohttp.FormData()
    form.add_field("csrf_token", token)
    form.add_field("address", address)
    form.add_field("artifact", TOKEN.read_bytes(), filename="Token.json", content_type="application/json")
    return await client.post("/contracts/evm/upload", data=form, allow_redirects=False)


def _rows(page: str) -> list[tuple[int, int, str, str]]:
    """(block, log index, transaction id, row text without tags) of each history row."""
    return [
        (int(block), int(index), transaction, html.unescape(re.sub(r"<[^>]+>", " ", cells)))
        for block, index, transaction, cells in _ROW.findall(page)
    ]


def test_events_sent_outside_the_console_appear_newest_first_a_page_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = load_artifact(TOKEN)
    monkeypatch.setattr(contracts_evm, "EVENTS_PAGE_SIZE", 3)

    async def main() -> None:
        async with _evm_node(tmp_path / "chain") as (url, key), AsyncClient(url) as sdk:
            me = "0x" + get_suite(key.suite).compute_address(key.public_key).hex()
            # Deployed and used through the SDK only: the console sends none of these.
            evm = AsyncEvmContracts(sdk)
            deployed = await evm.deploy(key, token, ["Gusu", "GSU", 10**6])
            address = deployed.address
            sent = [deployed.receipt]
            for arguments in ([BOB, 250], [CAROL, 5]):
                sent.append((await evm.send(key, address, token, "transfer", arguments)).receipt)
            sent.append((await evm.send(key, address, token, "approve", [BOB, 7])).receipt)
            heights = [int((await sdk.get_receipt(receipt.transaction_id)).height) for receipt in sent]

            settings = ConsoleSettings(endpoint=url, port=0, scrypt_log2_n=10, alert_interval_s=3600)
            store = await open_store(None, tmp_path / "console")
            first = await ensure_first_operator(store, settings)
            assert first is not None
            try:
                async with TestClient(TestServer(create_app(settings, store=store))) as client:
                    client.session.cookie_jar.update_cookies({"gusu_language": "en"})
                    console = Console(client, store, first[1], None)  # type: ignore[arg-type]
                    await console.login("admin", first[1])
                    registered = await _register(client, address)
                    assert registered.status == 303 and registered.headers["Location"] == f"/contracts/evm/{address}"

                    page = _main(await (await client.get(f"/contracts/evm/{address}")).text())
                    assert 'id="events"' in page and 'id="events-error"' not in page
                    rows = _rows(page)
                    newest = list(zip(heights, sent, strict=True))[::-1]
                    assert [(block, tx) for block, _, tx, _ in rows] == [
                        (height, "0x" + receipt.transaction_id.hex()) for height, receipt in newest[:3]
                    ]
                    assert (
                        "Approval" in rows[0][3] and f'"spender": "{BOB}"' in rows[0][3] and '"value": 7' in rows[0][3]
                    )
                    assert (
                        "Transfer" in rows[1][3]
                        and f'"to": "{CAROL}"' in rows[1][3]
                        and f'"from": "{me}"' in rows[1][3]
                    )
                    assert f'href="/transactions/{rows[0][2]}"' in page and f'href="/blocks/{rows[0][0]}"' in page
                    older = _OLDER.search(page)
                    assert older is not None
                    second = _main(await (await client.get(html.unescape(older.group(1)).split("#")[0])).text())
                    rows = _rows(second)
                    assert [(block, tx) for block, _, tx, _ in rows] == [
                        (heights[0], "0x" + sent[0].transaction_id.hex())
                    ]
                    assert '"from": "0x' + "00" * 20 in rows[0][3], "the mint, emitted by the constructor"
                    assert _OLDER.search(second) is None, "the search reached block 0"

                    # A malformed cursor is refused with a message; the page still renders.
                    refused = await client.get(f"/contracts/evm/{address}?before=abc")
                    assert refused.status == 400 and "whole number" in _main(await refused.text())
            finally:
                await store.close()

    asyncio.run(main())


def test_on_a_chain_without_evm_the_section_is_absent(tmp_path: Path, chain: Chain) -> None:
    async def scenario(console: Console) -> None:
        address = "0x" + "cd" * 20
        evm_store = EvmStore(console.store.backend)
        artifact_id = await evm_store.add_artifact("Token", "", compute_artifact_json(load_artifact(TOKEN)), "admin", 1)
        await evm_store.put_contract(address, artifact_id, None, "admin", 1)
        response = await console.client.get(f"/contracts/evm/{address}")
        page = _main(await response.text())
        assert response.status == 200 and 'class="error"' not in page
        assert 'id="events"' not in page and 'id="event-history"' not in page
        assert "Transfer(address,address,uint256)" in page, "the rest of the page is there"

    run(tmp_path, chain, scenario)
