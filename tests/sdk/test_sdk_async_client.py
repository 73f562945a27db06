"""`AsyncClient` against a fake node: the same calls as `Client`, plus WebSocket subscriptions."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from sdk_fake_node import CHAIN_ID, FakeNode

from gusu.codec import decode
from gusu.crypto import PrivateKey
from gusu.errors import ClientError, MempoolFullError, RemoteError, TimeoutError_
from gusu.ledger.types import Hash, Height
from gusu.sdk import (
    AsyncClient,
    BlockNotification,
    EventNotification,
    TransactionDroppedError,
    build_transaction,
    verify_block_hash,
    verify_transaction_proof,
)

T = TypeVar("T")
RECIPIENT = b"\x01" * 20
WAIT_S = 5.0


def run(node: FakeNode, test: Callable[[AsyncClient], Awaitable[T]], **settings: float) -> T:
    async def main() -> T:
        async with AsyncClient(node.url, retry_backoff_s=0.001, **settings) as client:  # type: ignore[arg-type]
            return await test(client)

    return asyncio.run(main())


def test_reads_and_calls(node: FakeNode) -> None:
    async def test(client: AsyncClient) -> None:
        status = await client.status()
        assert status.chain_id == CHAIN_ID and status.suite == "sm"
        assert await client.block_number() >= 0
        genesis = await client.get_block(0)
        assert verify_block_hash(node.suite, genesis.header, genesis.block_hash)
        assert await client.get_block(genesis.block_hash) == genesis
        assert await client.call("echo", "echo", [b"\x00", 7]) == [b"\x00", 7]
        with pytest.raises(RemoteError) as caught:
            await client.get_receipt(b"\x00" * 32)
        assert caught.value.code == "not_found"

    run(node, test)


def test_peers(node: FakeNode) -> None:
    node.peers = [
        {
            "address": "0x" + "0a" * 20,
            "organization": "acme",
            "endpoint": "10.0.0.2:8646",
            "outbound": False,
            "connected_for_s": 1,
            "rtt_ms": None,
            "queued_messages": 0,
            "queued_bytes": 0,
            "messages_in": 0,
            "messages_out": 0,
            "bytes_in": 0,
            "bytes_out": 0,
            "gossip_dropped": 0,
        }
    ]

    async def test(client: AsyncClient) -> None:
        (peer,) = await client.peers()
        assert (peer.address, peer.endpoint, peer.outbound, peer.rtt_ms) == (b"\x0a" * 20, "10.0.0.2:8646", False, None)

    run(node, test)


def test_send_and_wait_with_proof(node: FakeNode, key: PrivateKey) -> None:
    async def test(client: AsyncClient) -> None:
        receipt = await client.send_and_wait(key, "account", "transfer", [RECIPIENT, 3], timeout_s=WAIT_S)
        assert receipt.is_success and decode(receipt.return_value) is True
        view = await client.get_transaction(receipt.transaction_id)
        assert view.is_committed and view.sender == node.suite.compute_address(key.public_key)
        proof = await client.get_transaction_proof(receipt.transaction_id)
        located = await client.get_receipt(receipt.transaction_id)
        assert verify_block_hash(node.suite, proof.header, located.block_hash)
        assert verify_transaction_proof(node.suite, proof.header, receipt.transaction_id, proof.proof)
        assert (await client.get_receipt_proof(receipt.transaction_id)).block_hash == located.block_hash

    run(node, test)


def test_mempool_full_is_retried(node: FakeNode, key: PrivateKey) -> None:
    node.refusals.extend([MempoolFullError("full")] * 2)

    async def test(client: AsyncClient) -> Hash:
        return await client.send_transaction(key, "account", "transfer", [RECIPIENT, 1])

    assert len(run(node, test)) == 32
    assert node.submissions == 3


def test_retries_stop_at_retries_max(node: FakeNode, key: PrivateKey) -> None:
    node.refusals.extend([MempoolFullError("full")] * 3)
    raw = build_transaction(key, CHAIN_ID, "account", "transfer", [RECIPIENT, 1], Height(node.height + 9)).raw

    async def test(client: AsyncClient) -> None:
        with pytest.raises(RemoteError) as caught:
            await client.send_raw(raw)
        assert (caught.value.code, caught.value.retryable) == ("mempool_full", True)

    run(node, test, retries_max=1)
    assert node.submissions == 2


def test_send_raw_batch(node: FakeNode, key: PrivateKey) -> None:
    raws = [
        build_transaction(key, CHAIN_ID, "account", "transfer", [RECIPIENT, n], Height(node.height + 9)).raw
        for n in range(3)
    ]
    node.refusals.append(MempoolFullError("full"))

    async def test(client: AsyncClient) -> list[Hash | RemoteError]:
        return await client.send_raw_batch([*raws, raws[2]])

    results = run(node, test, batch_transactions_max=2)
    assert all(isinstance(result, bytes) for result in results[:3])
    assert isinstance(results[3], RemoteError) and results[3].code == "tx_duplicate"
    assert node.methods.count("gusu_sendRawTransactions") == 3


def test_wait_reports_drops_and_timeouts(node: FakeNode, key: PrivateKey) -> None:
    async def test(client: AsyncClient) -> None:
        transaction_id = await client.send_transaction(key, "doomed", "x", [])
        with pytest.raises(TransactionDroppedError, match="expired"):
            await client.wait_for_receipt(transaction_id, timeout_s=WAIT_S)
        with pytest.raises(TimeoutError_):
            await client.wait_for_receipt(b"\x00" * 32, timeout_s=0.1, poll_interval_s=0.02)

    run(node, test)


def test_an_unreachable_node_is_a_client_error() -> None:
    async def main() -> None:
        async with AsyncClient("http://127.0.0.1:9", timeout_s=2) as client:
            with pytest.raises(ClientError, match="cannot reach"):
                await client.block_number()
            with pytest.raises(ClientError, match="cannot open a WebSocket"):
                async with client.subscribe_blocks():
                    pass

    asyncio.run(main())


def test_oversized_answers_are_refused(node: FakeNode) -> None:
    async def test(client: AsyncClient) -> None:
        with pytest.raises(ClientError, match="response_bytes_max"):
            await client.get_block(0)

    run(node, test, response_bytes_max=200)


# --- subscriptions ---------------------------------------------------------------------


def test_subscribe_blocks(node: FakeNode, key: PrivateKey) -> None:
    async def test(client: AsyncClient) -> tuple[BlockNotification, str | None]:
        async with client.subscribe_blocks() as blocks:
            transaction_id = await client.send_transaction(key, "account", "transfer", [RECIPIENT, 1])
            async with asyncio.timeout(WAIT_S):
                async for block in blocks:
                    if transaction_id in block.transaction_ids:
                        return block, blocks.subscription_id
        raise AssertionError("the subscription ended")

    block, subscription_id = run(node, test)
    assert block.transaction_count == len(block.transaction_ids) >= 1
    assert block.block_hash == node.run(lambda: node.blocks[block.height].block_hash)
    assert subscription_id is not None and subscription_id in node.unsubscribed
    assert node.run(lambda: len(node.subscribers)) == 0


def test_subscribe_events_filters_and_decodes(node: FakeNode, key: PrivateKey) -> None:
    digest = node.suite.hash(b"evidence")

    async def test(client: AsyncClient) -> list[EventNotification]:
        seen: list[EventNotification] = []
        async with client.subscribe_events(contract="evidence", name="Recorded") as events:
            await client.send_transaction(key, "account", "transfer", [RECIPIENT, 1])
            recorded = await client.send_transaction(key, "evidence", "record", [digest, "scan"])
            async with asyncio.timeout(WAIT_S):
                async for event in events:
                    seen.append(event)
                    if event.transaction_id == recorded:
                        return seen
        raise AssertionError("the subscription ended")

    seen = run(node, test)
    assert all((event.contract, event.name) == ("evidence", "Recorded") for event in seen)
    assert seen[-1].data == [digest, node.suite.compute_address(key.public_key), seen[-1].height]
    assert seen[-1].event_index == 0 and seen[-1].height >= 1


def test_a_subscriber_that_falls_behind_is_told_why(node: FakeNode, key: PrivateKey) -> None:
    async def test(client: AsyncClient) -> None:
        async with client.subscribe_blocks() as blocks:
            node.close_subscribers_with = 1008
            await client.send_transaction(key, "account", "transfer", [RECIPIENT, 1])
            with pytest.raises(ClientError, match=r"could not keep up \(close code 1008\)"):
                async with asyncio.timeout(WAIT_S):
                    async for _ in blocks:
                        pass
            with pytest.raises(StopAsyncIteration):
                await blocks.__anext__()

    run(node, test)


def test_closing_the_client_closes_its_subscriptions(node: FakeNode, key: PrivateKey) -> None:
    async def main() -> None:
        client = AsyncClient(node.url)
        events = client.subscribe_events()
        assert events.subscription_id is None
        async with asyncio.timeout(WAIT_S):
            first = asyncio.ensure_future(anext(events))  # opens the WebSocket lazily
            # Sent once subscribed: a block cut before would carry the event to no one.
            while events.subscription_id is None:
                await asyncio.sleep(0.005)
            await client.send_transaction(key, "account", "transfer", [RECIPIENT, 1])
            event = await first
        assert event.name == "Transfer"
        await client.close()
        with pytest.raises(StopAsyncIteration):
            await anext(events)

    asyncio.run(main())
    assert node.run(lambda: len(node.subscribers)) == 0


def test_a_refused_subscription_raises_the_node_error(node: FakeNode) -> None:
    from gusu.sdk.client import Subscription
    from gusu.sdk.views import parse_block_notification

    async def test(client: AsyncClient) -> None:
        with pytest.raises(RemoteError, match="unknown subscription"):
            async with Subscription(client, ["oldBlocks"], parse_block_notification):
                pass

    run(node, test)
