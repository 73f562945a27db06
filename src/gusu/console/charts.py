"""The dashboard's live charts: transactions per second and block interval, block by block.

`GET /api/chart?blocks=N` answers the last N blocks of the shown chain with, for each, its
transaction count, the time since its parent (the block interval: how long the chain took to
commit it, the commit latency a user sees) and its throughput (transactions over that interval).

The dashboard asks every poll, so the blocks already read are kept in a small cache per
endpoint: a poll costs one status call plus one call per new block. Committed blocks never
change (BFT finality), but the chain behind an endpoint can (a network made again on the same
port): the cache is dropped when a new block's parent hash is not the cached tip's hash, or when
the chain's id changes, its tip is below the cached blocks, or its tip's hash is not the cached one.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Final

from aiohttp import web

from gusu.console.chains import get_client, get_endpoint
from gusu.errors import ConsoleInputError, RemoteError
from gusu.ledger.jsonview import JSONObject
from gusu.ledger.types import Hash, Height
from gusu.sdk import AsyncClient, BlockView

BLOCK_FETCHES_IN_FLIGHT_MAX: Final = 16
"""Block calls one chart request has outstanding at once (a first load of a long window is chunked)."""


@dataclass(frozen=True, slots=True)
class BlockSample:
    """What the charts need of one block."""

    height: Height
    block_hash: Hash
    parent_hash: Hash
    timestamp_ms: int
    transaction_count: int


@dataclass(slots=True)
class _ChainSamples:
    """The samples of one endpoint's chain: consecutive heights ending at the highest read."""

    chain_id: str
    samples: dict[Height, BlockSample] = field(default_factory=dict)


@dataclass(slots=True)
class BlockSampleCache:
    """Samples per endpoint, at most `samples_per_chain_max` each and `chains_max` endpoints (least recent dropped)."""

    samples_per_chain_max: int
    chains_max: int
    _chains: OrderedDict[str, _ChainSamples] = field(default_factory=OrderedDict)

    def get_chain(self, endpoint: str, chain_id: str) -> _ChainSamples:
        found = self._chains.get(endpoint)
        if found is None or found.chain_id != chain_id:
            found = _ChainSamples(chain_id)
            self._chains[endpoint] = found
        self._chains.move_to_end(endpoint)
        while len(self._chains) > self.chains_max:
            self._chains.popitem(last=False)
        return found

    def forget(self, endpoint: str) -> None:
        self._chains.pop(endpoint, None)


def compute_sample(block: BlockView) -> BlockSample:
    header = block.header
    return BlockSample(
        height=header.height,
        block_hash=block.block_hash,
        parent_hash=header.parent_hash,
        timestamp_ms=header.timestamp_ms,
        transaction_count=header.transaction_count,
    )


def compute_chart(samples: list[BlockSample]) -> list[JSONObject]:
    """One point per sample (oldest first): height, time, transactions, interval since the parent, throughput.

    The interval and throughput are null when the parent is not among the samples, when the parent is
    genesis (its timestamp is not a real time) or when the clock did not advance.
    """
    by_height = {sample.height: sample for sample in samples}
    points: list[JSONObject] = []
    for sample in sorted(samples, key=lambda item: item.height):
        parent = by_height.get(Height(sample.height - 1))
        interval_ms: int | None = None
        tps: float | None = None
        if parent is not None and parent.height > 0 and sample.timestamp_ms > parent.timestamp_ms:
            interval_ms = sample.timestamp_ms - parent.timestamp_ms
            tps = round(sample.transaction_count * 1000 / interval_ms, 2)
        points.append(
            {
                "height": sample.height,
                "timestamp_ms": sample.timestamp_ms,
                "transaction_count": sample.transaction_count,
                "interval_ms": interval_ms,
                "tps": tps,
            }
        )
    return points


def compute_summary(points: list[JSONObject]) -> JSONObject:
    """Throughput over the window (its transactions over the time it spans) and the mean block interval."""
    timed = [point for point in points if isinstance(point["interval_ms"], int)]
    span_ms = sum(point["interval_ms"] for point in timed if isinstance(point["interval_ms"], int))
    transactions = sum(point["transaction_count"] for point in timed if isinstance(point["transaction_count"], int))
    return {
        "tps": round(transactions * 1000 / span_ms, 2) if span_ms > 0 else 0.0,
        "interval_mean_ms": round(span_ms / len(timed), 1) if timed else None,
    }


async def _fetch_samples(client: AsyncClient, heights: list[Height]) -> list[BlockSample]:
    samples: list[BlockSample] = []
    for start in range(0, len(heights), BLOCK_FETCHES_IN_FLIGHT_MAX):
        chunk = heights[start : start + BLOCK_FETCHES_IN_FLIGHT_MAX]
        blocks = await asyncio.gather(*(client.get_block(height) for height in chunk))
        samples.extend(compute_sample(block) for block in blocks)
    return samples


def _is_consistent(known: dict[Height, BlockSample], fetched: list[BlockSample]) -> bool:
    """Every fetched block whose parent is cached names that parent's hash (same chain as the cache)."""
    everything = {**known, **{sample.height: sample for sample in fetched}}
    return all(
        sample.parent_hash == parent.block_hash
        for sample in fetched
        if (parent := everything.get(Height(sample.height - 1))) is not None
    )


async def get_chart(client: AsyncClient, cache: BlockSampleCache, endpoint: str, blocks: int) -> JSONObject:
    """The last `blocks` blocks' points (plus their parent, to time the oldest), read through `cache`."""
    status = await client.status()
    tip = status.height
    low = Height(max(0, tip - blocks))
    entry = cache.get_chain(endpoint, status.chain_id)
    cached_tip = entry.samples.get(tip)
    if any(height > tip for height in entry.samples) or (
        cached_tip is not None and cached_tip.block_hash != status.latest_block_hash
    ):
        entry.samples.clear()  # the chain behind the endpoint is shorter, or its tip differs: another chain
    wanted = [Height(height) for height in range(low, tip + 1)]
    missing = [height for height in wanted if height not in entry.samples]
    fetched = await _fetch_samples(client, missing)
    if not _is_consistent(entry.samples, fetched):
        entry.samples.clear()
        fetched = await _fetch_samples(client, wanted)
    for sample in fetched:
        entry.samples[sample.height] = sample
    # The newest blocks are kept (not only this window's), so requests for windows of different sizes share them.
    while len(entry.samples) > cache.samples_per_chain_max:
        del entry.samples[min(entry.samples)]
    points = compute_chart([entry.samples[height] for height in wanted if height in entry.samples])
    # The window's oldest block is there only to time the next one.
    shown = points[1:] if len(points) > blocks else points
    return {"chain_id": status.chain_id, "height": tip, "blocks": [*shown], **compute_summary(shown)}


CACHE_KEY: Final = web.AppKey("chart_cache", BlockSampleCache)


def parse_blocks(text: str | None, default: int, maximum: int) -> int:
    if text is not None and not (text.isascii() and text.isdigit() and len(text) <= 7 and 1 <= int(text) <= maximum):
        raise ConsoleInputError(f"blocks must be a whole number from 1 to {maximum}, found {text[:80]!r}")
    return default if text is None else int(text)


def add_chart_routes(app: web.Application, blocks_default: int, blocks_max: int, chains_max: int) -> None:
    """`GET /api/chart?blocks=N` (1 to `blocks_max`, default `blocks_default`), public like the dashboard."""
    app[CACHE_KEY] = BlockSampleCache(samples_per_chain_max=blocks_max + 1, chains_max=chains_max + 1)

    async def api_chart(request: web.Request) -> web.StreamResponse:
        blocks = parse_blocks(request.query.get("blocks"), blocks_default, blocks_max)
        endpoint = get_endpoint(request)
        try:
            document = await get_chart(get_client(request), request.app[CACHE_KEY], endpoint, blocks)
        except RemoteError as error:
            if error.code == "not_found":  # a block vanished under us: another chain; read it afresh next time
                request.app[CACHE_KEY].forget(endpoint)
            raise
        return web.json_response(document)

    app.router.add_get("/api/chart", api_chart)
