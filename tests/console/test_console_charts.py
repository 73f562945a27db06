"""The dashboard's live charts: per-block throughput and interval, the per-endpoint block cache, /api/chart."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import pytest
from console_helpers import COMMAND_TIMEOUT_S, Chain
from test_console_server import Client, get_json, run_console

from gusu.console.charts import BlockSample, BlockSampleCache, compute_chart, compute_summary, get_chart, parse_blocks
from gusu.console.settings import ConsoleSettings
from gusu.errors import ConfigError, ConsoleInputError
from gusu.ledger.types import Address, BlockHeader, Hash, Height
from gusu.sdk import BlockView

PAYEE = "0x" + "43" * 20
"""Where these tests send money: not the session chain's RECIPIENT, whose balance other tests assert."""


def _hash(chain_tag: int, height: int) -> Hash:
    return Hash(bytes([chain_tag]) + max(0, height).to_bytes(31, "big"))


def _sample(height: int, timestamp_ms: int, count: int) -> BlockSample:
    return BlockSample(Height(height), _hash(1, height), _hash(1, height - 1), timestamp_ms, count)


def test_points_time_each_block_from_its_parent() -> None:
    samples = [_sample(0, 0, 0), _sample(1, 5_000, 3), _sample(2, 5_500, 10), _sample(3, 7_500, 4)]
    samples.append(_sample(5, 9_000, 1))
    points = compute_chart(list(reversed(samples)))
    assert [point["height"] for point in points] == [0, 1, 2, 3, 5]
    # Genesis has no real time, so block 1 has no interval; block 5's parent is missing.
    assert [point["interval_ms"] for point in points] == [None, None, 500, 2_000, None]
    assert [point["tps"] for point in points] == [None, None, 20.0, 2.0, None]
    assert compute_summary(points) == {"tps": 5.6, "interval_mean_ms": 1250.0}
    # A clock that did not move gives no interval rather than a division by zero.
    assert compute_chart([_sample(4, 100, 1), _sample(5, 100, 1)])[1]["interval_ms"] is None
    assert compute_summary([]) == {"tps": 0.0, "interval_mean_ms": None}


@pytest.mark.parametrize("text", ["0", "241", "-1", "1e3", "", "１２", "99999999999"])
def test_blocks_parameter_is_validated(text: str) -> None:
    with pytest.raises(ConsoleInputError, match="blocks must be a whole number from 1 to 240"):
        parse_blocks(text, 60, 240)
    assert parse_blocks(None, 60, 240) == 60 and parse_blocks("240", 60, 240) == 240


@pytest.mark.parametrize(
    "settings", [{"chart_blocks_max": 0}, {"chart_blocks_default": 300}, {"chart_blocks_max": 10**5}]
)
def test_chart_settings_are_validated(settings: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="chart_blocks"):
        ConsoleSettings(**settings)


@dataclass
class FakeStatus:
    chain_id: str
    height: int
    latest_block_hash: Hash


@dataclass
class FakeNode:
    """A node whose chain can be replaced under the same endpoint; counts block reads."""

    height: int
    chain_tag: int = 1
    reads: list[int] = field(default_factory=list)

    async def status(self) -> FakeStatus:
        return FakeStatus("c", self.height, _hash(self.chain_tag, self.height))

    async def get_block(self, height: int) -> BlockView:
        assert 0 <= height <= self.height
        self.reads.append(height)
        header = BlockHeader(
            chain_id="c",
            height=Height(height),
            parent_hash=_hash(self.chain_tag, height - 1) if height else Hash(b"\0" * 32),
            timestamp_ms=0 if height == 0 else 1_000 * height * self.chain_tag,
            proposer=Address(b"\0" * 20),
            transactions_root=Hash(b"\0" * 32),
            receipts_root=Hash(b"\0" * 32),
            state_root=Hash(b"\0" * 32),
            validators_hash=Hash(b"\0" * 32),
            next_validators_hash=Hash(b"\0" * 32),
            transaction_count=height % 3,
        )
        return BlockView(_hash(self.chain_tag, height), header, (), (), None)


def test_the_cache_reads_each_block_once_and_notices_a_replaced_chain() -> None:
    async def scenario() -> None:
        node = FakeNode(height=10)
        cache = BlockSampleCache(samples_per_chain_max=6, chains_max=2)
        client: Any = node
        first = await get_chart(client, cache, "http://a", 5)
        assert [point["height"] for point in first["blocks"]] == [6, 7, 8, 9, 10]
        assert sorted(node.reads) == [5, 6, 7, 8, 9, 10]  # the parent of the oldest, to time it
        assert first["blocks"][0]["interval_ms"] == 1_000 and first["height"] == 10
        node.reads.clear()
        node.height = 12
        second = await get_chart(client, cache, "http://a", 5)
        assert [point["height"] for point in second["blocks"]] == [8, 9, 10, 11, 12]
        assert sorted(node.reads) == [11, 12]  # only the new blocks
        # A smaller window, then the larger again: everything is cached (windows share the blocks).
        node.reads.clear()
        assert [point["height"] for point in (await get_chart(client, cache, "http://a", 2))["blocks"]] == [11, 12]
        assert len((await get_chart(client, cache, "http://a", 5))["blocks"]) == 5 and node.reads == []
        # Another chain behind the same endpoint: block 13's parent is not the cached block 12.
        node.reads.clear()
        node.chain_tag, node.height = 2, 13
        third = await get_chart(client, cache, "http://a", 5)
        assert sorted(node.reads) == [8, 9, 10, 11, 12, 13, 13]  # the new block, then the window afresh
        assert third["blocks"][-1]["interval_ms"] == 2_000  # read afresh from the new chain
        # Another chain again, at the same height: no new block to compare, but the tip's hash differs.
        node.reads.clear()
        node.chain_tag = 3
        same_height = await get_chart(client, cache, "http://a", 5)
        assert sorted(node.reads) == [8, 9, 10, 11, 12, 13]
        assert same_height["blocks"][-1]["interval_ms"] == 3_000
        # A shorter chain: nothing cached above its tip survives.
        node.reads.clear()
        node.height = 4
        fourth = await get_chart(client, cache, "http://a", 5)
        assert [point["height"] for point in fourth["blocks"]] == [0, 1, 2, 3, 4]
        assert [point["interval_ms"] for point in fourth["blocks"]] == [None, None, 3_000, 3_000, 3_000]
        # Endpoints are bounded too.
        for endpoint in ("http://b", "http://c"):
            await get_chart(client, cache, endpoint, 2)
        assert list(cache._chains) == ["http://b", "http://c"]

    asyncio.run(scenario())


def test_api_chart_tracks_the_real_node(chain: Chain) -> None:
    async def scenario(client: Client) -> None:
        before = await get_json(client, "/api/chart?blocks=5")
        assert before["chain_id"] == "gusu-local" and 1 <= len(before["blocks"]) <= 5
        assert before["blocks"][-1]["height"] == before["height"]
        assert {"height", "timestamp_ms", "transaction_count", "interval_ms", "tps"} == set(before["blocks"][-1])
        await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "gusu.cli.main", "account", "transfer", PAYEE, "1", "--key", str(chain.dev_key)],
            env=chain.environment,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=True,
            timeout=COMMAND_TIMEOUT_S,
        )
        after = await get_json(client, "/api/chart?blocks=5")
        assert after["height"] > before["height"] and after["blocks"][-1]["height"] == after["height"]
        assert sum(point["transaction_count"] for point in after["blocks"]) >= 1
        timed = [point for point in after["blocks"] if point["interval_ms"] is not None]
        assert all(point["interval_ms"] > 0 and point["tps"] >= 0 for point in timed)
        error = await get_json(client, "/api/chart?blocks=0", status=400)
        assert error["error"]["code"] == "input_invalid"

    run_console(chain.endpoint, scenario, chart_blocks_max=10, chart_blocks_default=5)
