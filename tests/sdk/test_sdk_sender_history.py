"""`get_transactions_by_sender` (blocking and async) against the fake node, and the checks on its answers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sdk_fake_node import CHAIN_ID, FakeNode

from gusu.crypto import CryptoSuite, PrivateKey
from gusu.errors import ClientError, CodecError
from gusu.ledger.jsonview import JSON, JSONObject, bytes_to_hex, transaction_to_json
from gusu.ledger.types import Address, Hash, Height
from gusu.sdk import AsyncClient, Client, SenderTransactionsPage, build_transaction
from gusu.sdk.views import parse_sender_transactions

RECIPIENT = b"\x01" * 20
WAIT_S = 5.0


@pytest.fixture
def client(node: FakeNode) -> Iterator[Client]:
    with Client(node.url) as client:
        yield client


def _send_rounds(node: FakeNode, client: Client, key: PrivateKey, counts: tuple[int, ...]) -> list[Hash]:
    """Rounds of transfers, each committed before the next is sent: the history spans several blocks."""
    sent: list[Hash] = []
    for count in counts:
        raws = [
            build_transaction(key, CHAIN_ID, "account", "transfer", [RECIPIENT, 1], Height(node.height + 50)).raw
            for _ in range(count)
        ]
        ids = client.send_raw_batch(raws)
        for transaction_id in ids:
            assert isinstance(transaction_id, bytes), transaction_id
            client.wait_for_receipt(transaction_id, timeout_s=WAIT_S)
            sent.append(transaction_id)
    return sent


def _page_all(client: Client, address: bytes | str, limit: int) -> list[SenderTransactionsPage]:
    pages = [client.get_transactions_by_sender(address, limit)]
    while pages[-1].next is not None:
        pages.append(client.get_transactions_by_sender(address, limit, pages[-1].next))
    return pages


def test_pages_back_through_the_history(node: FakeNode, client: Client, key: PrivateKey) -> None:
    address = Address(node.suite.compute_address(key.public_key))
    sent = _send_rounds(node, client, key, (3, 2, 1))
    other = node.suite.generate_private_key()
    _send_rounds(node, client, other, (1,))

    everything = client.get_transactions_by_sender(address)  # default limit: 50
    assert everything.next is None
    assert {view.transaction_id for view in everything.transactions} == set(sent)
    positions = [(view.height, view.index) for view in everything.transactions]
    assert positions == sorted(positions, reverse=True)
    assert len({height for height, _ in positions}) >= 3
    for view in everything.transactions:
        assert view.is_committed and view.sender == address and view.transaction is not None
        assert view == client.get_transaction(view.transaction_id)

    for limit in (1, 2, 4):
        pages = _page_all(client, bytes_to_hex(address), limit)
        assert [view for page in pages for view in page.transactions] == list(everything.transactions)
        assert all(len(page.transactions) <= limit for page in pages)
        last = pages[0].transactions[-1]
        if len(pages) > 1:
            assert pages[0].next == (last.height, last.index)

    unknown = client.get_transactions_by_sender(b"\x77" * 20, 5)
    assert unknown == SenderTransactionsPage(transactions=(), next=None)


def test_bad_arguments_fail_before_sending(node: FakeNode, client: Client) -> None:
    for address, limit, before in [
        ("0x1234", 5, None),
        (b"\x01" * 19, 5, None),
        (b"\x01" * 20, 0, None),
        (b"\x01" * 20, True, None),
        (b"\x01" * 20, 5, (-1, 0)),
    ]:
        with pytest.raises(ClientError):
            client.get_transactions_by_sender(address, limit, before)  # type: ignore[arg-type]
    assert "gusu_getTransactionsBySender" not in node.methods


def test_async_client_pages_the_same_way(node: FakeNode, client: Client, key: PrivateKey) -> None:
    address = Address(node.suite.compute_address(key.public_key))
    sent = _send_rounds(node, client, key, (2, 1))

    async def main() -> list[Hash]:
        async with AsyncClient(node.url) as async_client:
            ids: list[Hash] = []
            before: tuple[int, int] | None = None
            while True:
                page = await async_client.get_transactions_by_sender(address, 1, before)
                ids += [view.transaction_id for view in page.transactions]
                if page.next is None:
                    return ids
                before = page.next

    paged = asyncio.run(main())
    assert sorted(paged) == sorted(sent) and len(paged) == len(sent)
    assert paged == [view.transaction_id for view in client.get_transactions_by_sender(address).transactions]


# --- what a page must promise --------------------------------------------------------------


def _record(signer: tuple[CryptoSuite, PrivateKey], height: int, index: int, nonce: int) -> JSONObject:
    suite, key = signer
    signed = build_transaction(key, CHAIN_ID, "account", "transfer", [RECIPIENT, 1], Height(1000), nonce)
    sender = Address(suite.compute_address(key.public_key))
    return {
        "id": bytes_to_hex(signed.transaction_id),
        "status": "committed",
        "transaction": transaction_to_json(signed.transaction, signed.transaction_id, sender),
        "height": height,
        "index": index,
    }


def test_pages_that_break_the_promises_are_refused(node: FakeNode, key: PrivateKey) -> None:
    signer = (node.suite, key)
    sender = Address(node.suite.compute_address(key.public_key))
    newer, older = _record(signer, 5, 1, 1), _record(signer, 3, 0, 2)
    good = parse_sender_transactions(
        {"transactions": [newer, older], "next": {"height": 3, "index": 0}}, sender, 2, None
    )
    assert good.next == (3, 0) and [view.height for view in good.transactions] == [5, 3]

    def refused(data: JSON, match: str, *, limit: int = 10, before: tuple[Height, int] | None = None) -> None:
        with pytest.raises(CodecError, match=match):
            parse_sender_transactions(data, sender, limit, before)

    refused({"transactions": [older, newer], "next": None}, "newest first")
    refused({"transactions": [newer, newer], "next": None}, "newest first")
    refused({"transactions": [newer], "next": None}, "newest first", before=(Height(5), 1))
    refused({"transactions": [newer, older], "next": None}, "the limit is 1", limit=1)
    refused({"transactions": [newer], "next": {"height": 6, "index": 0}}, "next cursor")
    refused({"transactions": [], "next": {"height": 2, "index": 0}}, "next cursor")
    refused({"transactions": [newer]}, "lacks the field 'next'")
    stranger = _record((node.suite, node.suite.generate_private_key()), 2, 0, 3)
    refused({"transactions": [stranger], "next": None}, "was not sent by")
    pending = {**older, "status": "pending"}
    refused({"transactions": [pending], "next": None}, "is pending")
