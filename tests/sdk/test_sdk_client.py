"""The blocking `Client` against a fake node speaking docs/api.md."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from sdk_fake_node import CHAIN_ID, FakeNode

from gusu.codec import decode, encode
from gusu.crypto import PrivateKey
from gusu.errors import (
    ClientError,
    ExpiredTransactionError,
    MempoolFullError,
    RemoteError,
    SenderQuotaError,
    TimeoutError_,
)
from gusu.ledger.jsonview import bytes_to_hex
from gusu.ledger.types import Hash, Height
from gusu.sdk import (
    Client,
    TransactionDroppedError,
    build_transaction,
    verify_block_hash,
    verify_receipt_proof,
    verify_transaction_proof,
)

RECIPIENT = b"\x01" * 20


@pytest.fixture
def client(node: FakeNode) -> Iterator[Client]:
    with Client(node.url, retry_backoff_s=0.001, retry_backoff_max_s=0.005) as client:
        yield client


def _signed_raw(node: FakeNode, key: PrivateKey, nonce: int | None = None) -> bytes:
    return build_transaction(key, CHAIN_ID, "account", "transfer", [RECIPIENT, 1], Height(node.height + 50), nonce).raw


# --- reads ---------------------------------------------------------------------------


def test_status_and_block_number(node: FakeNode, client: Client) -> None:
    status = client.status()
    assert (status.chain_id, status.suite, status.consensus) == (CHAIN_ID, "sm", "solo")
    assert status.node_address == node.address
    assert status.transaction_window_blocks == 1000
    assert client.block_number() >= status.height >= 0


def test_peers(node: FakeNode, client: Client) -> None:
    assert client.peers() == []
    node.peers = [_peer_json(b"\x02" * 20, "bank"), _peer_json(b"\x03" * 20, "coop")]
    peers = client.peers()
    assert [(peer.address, peer.organization, peer.outbound) for peer in peers] == [
        (b"\x02" * 20, "bank", True),
        (b"\x03" * 20, "coop", True),
    ]
    assert peers[0].rtt_ms == 0.5 and peers[0].connected_for_s == 4.25
    node.peers = [{"address": "0x02"}]
    with pytest.raises(ClientError, match="answer to gusu_peers is malformed"):
        client.peers()


def _peer_json(address: bytes, organization: str) -> dict[str, object]:
    return {
        "address": bytes_to_hex(address),
        "organization": organization,
        "endpoint": "127.0.0.1:8646",
        "outbound": True,
        "connected_for_s": 4.25,
        "rtt_ms": 0.5,
        "queued_messages": 0,
        "queued_bytes": 0,
        "messages_in": 10,
        "messages_out": 11,
        "bytes_in": 1_000,
        "bytes_out": 1_100,
        "gossip_dropped": 0,
    }


def test_get_block_by_height_and_by_hash(node: FakeNode, client: Client) -> None:
    genesis = client.get_block(0)
    assert genesis.height == 0 and genesis.transaction_ids == ()
    assert genesis.certificate is not None and genesis.certificate.block_hash == genesis.block_hash
    assert verify_block_hash(node.suite, genesis.header, genesis.block_hash)
    assert client.get_block(genesis.block_hash) == genesis
    assert client.get_block(bytes_to_hex(genesis.block_hash)) == genesis


def test_unknown_things_are_not_found(client: Client) -> None:
    for read in (lambda: client.get_block(10_000), lambda: client.get_receipt(b"\x00" * 32)):
        with pytest.raises(RemoteError) as caught:
            read()
        assert caught.value.code == "not_found" and not caught.value.retryable


def test_bad_arguments_fail_before_sending(node: FakeNode, client: Client) -> None:
    with pytest.raises(ClientError, match="must be 32 bytes"):
        client.get_transaction(b"\x00" * 31)
    with pytest.raises(ClientError, match="must be 32 bytes"):
        client.get_receipt("0x1234")
    with pytest.raises(ClientError, match="non-negative"):
        client.get_block(-1)
    with pytest.raises(ClientError, match="not a canonical value"):
        client.call("echo", "echo", [1.5])  # type: ignore[list-item]
    assert node.methods == []


def test_call_returns_the_value(client: Client) -> None:
    assert client.call("echo", "echo", [1, b"\x02", ["x", None, True]]) == [1, b"\x02", ["x", None, True]]
    assert client.call("account", "balance", [b"\x03" * 20]) == 1020
    assert client.call("account", "balance", [], sender=b"\x03" * 20) == 1020
    assert client.call("account", "balance", [], sender="0x" + "03" * 20) == 1020
    with pytest.raises(RemoteError) as caught:
        client.call("account", "nope", [])
    assert caught.value.code == "method_unknown"


# --- sending -------------------------------------------------------------------------


def test_send_a_transfer_and_wait_for_its_receipt(node: FakeNode, client: Client, key: PrivateKey) -> None:
    receipt = client.send_and_wait(key, "account", "transfer", [RECIPIENT, 5], timeout_s=5)
    assert receipt.is_success
    assert decode(receipt.return_value) is True
    (event,) = receipt.events
    assert (event.contract, event.name) == ("account", "Transfer")
    sender = node.suite.compute_address(key.public_key)
    assert decode(event.data) == [sender, RECIPIENT, 5]

    view = client.get_transaction(receipt.transaction_id)
    assert view.status == "committed" and view.is_committed
    assert view.sender == sender and view.transaction is not None
    assert view.height is not None
    assert view.height <= view.transaction.valid_until_height <= view.height + 99  # sent at a lower height, + 100
    located = client.get_receipt(receipt.transaction_id)
    assert located.receipt == receipt and located.height == view.height and located.index == view.index
    block = client.get_block(located.height, full_transactions=True)
    assert block.block_hash == located.block_hash
    assert receipt.transaction_id in block.transaction_ids
    assert [t.transaction_id for t in block.transactions] == list(block.transaction_ids)


def test_send_transaction_caches_the_chain_id_and_uses_the_window(
    node: FakeNode, client: Client, key: PrivateKey
) -> None:
    first = client.send_transaction(key, "account", "transfer", [RECIPIENT, 1], valid_for_blocks=7)
    second = client.send_transaction(key, "account", "transfer", [RECIPIENT, 1])
    assert node.methods.count("gusu_status") == 1
    assert node.methods.count("gusu_blockNumber") == 1
    first_view = client.get_transaction(first)
    assert first_view.transaction is not None
    assert first_view.transaction.valid_until_height <= node.height + 7
    assert client.wait_for_receipt(second, timeout_s=5).transaction_id == second


def test_a_key_of_another_suite_is_refused(client: Client) -> None:
    from gusu.crypto import get_suite

    other = get_suite("ecdsa").generate_private_key()
    with pytest.raises(ClientError, match="'ecdsa' key but chain 'gusu-test' uses the 'sm' suite"):
        client.send_transaction(other, "account", "transfer", [RECIPIENT, 1])


def test_a_failed_call_commits_a_failed_receipt(client: Client, key: PrivateKey) -> None:
    receipt = client.send_and_wait(key, "account", "no_such_method", [], timeout_s=5)
    assert not receipt.is_success and receipt.error_code == "method_unknown"


def test_mempool_full_is_retried_with_backoff(node: FakeNode, client: Client, key: PrivateKey) -> None:
    node.refusals.extend([MempoolFullError("the pool is full; retry later")] * 2)
    transaction_id = client.send_transaction(key, "account", "transfer", [RECIPIENT, 1])
    assert node.submissions == 3
    assert client.wait_for_receipt(transaction_id, timeout_s=5).is_success


def test_retries_stop_at_retries_max(node: FakeNode, key: PrivateKey) -> None:
    node.refusals.extend([MempoolFullError("the pool is full; retry later")] * 5)
    with Client(node.url, retries_max=2, retry_backoff_s=0.001) as client, pytest.raises(RemoteError) as caught:
        client.send_raw(_signed_raw(node, key))
    error = caught.value
    assert (error.code, error.retryable, str(error)) == ("mempool_full", True, "the pool is full; retry later")
    assert node.submissions == 3


def test_final_refusals_are_not_retried(node: FakeNode, client: Client, key: PrivateKey) -> None:
    raw = _signed_raw(node, key)
    client.send_raw(raw)
    with pytest.raises(RemoteError) as caught:
        client.send_raw(raw)
    assert (caught.value.code, caught.value.retryable) == ("tx_duplicate", False)
    assert node.submissions == 2


def test_http_failures_map_to_remote_errors(node: FakeNode, client: Client, key: PrivateKey) -> None:
    node.http_failures.append((503, b"node is starting"))
    with pytest.raises(RemoteError) as caught:
        client.block_number()
    assert (caught.value.code, caught.value.retryable) == ("unavailable", True)
    assert "HTTP 503: node is starting" in str(caught.value)

    node.http_failures.append((429, b'{"error": {"code": "mempool_full", "message": "full", "retryable": true}}'))
    assert len(client.send_raw(_signed_raw(node, key))) == 32  # retried after the REST-shaped refusal

    node.http_failures.append((200, b"not json"))
    with pytest.raises(ClientError, match="not valid JSON"):
        client.block_number()


def test_send_raw_batch_reports_each_transaction(node: FakeNode, key: PrivateKey) -> None:
    raws = [_signed_raw(node, key, nonce) for nonce in range(5)]
    with Client(node.url, batch_transactions_max=2, retry_backoff_s=0.001) as client:
        client.send_raw(raws[4])
        node.refusals.append(SenderQuotaError("your share of the pool is used; retry later"))
        node.refusals.append(ExpiredTransactionError("valid_until_height has passed"))
        results = client.send_raw_batch(raws)
    assert isinstance(results[0], bytes)  # refused with sender_quota, then accepted on the retry
    assert isinstance(results[1], RemoteError) and (results[1].code, results[1].retryable) == ("tx_expired", False)
    assert isinstance(results[2], bytes) and isinstance(results[3], bytes)
    assert isinstance(results[4], RemoteError) and results[4].code == "tx_duplicate"
    # 3 requests of at most 2 transactions, then one more for the one refused with sender_quota.
    assert node.methods.count("gusu_sendRawTransactions") == 4
    assert client.send_raw_batch([]) == []


def test_wait_reports_a_dropped_transaction(node: FakeNode, client: Client, key: PrivateKey) -> None:
    transaction_id = client.send_transaction(key, "doomed", "anything", [])
    with pytest.raises(TransactionDroppedError, match="dropped by the node: expired") as caught:
        client.wait_for_receipt(transaction_id, timeout_s=5)
    assert isinstance(caught.value, ClientError)
    assert caught.value.transaction_id == transaction_id and caught.value.reason.startswith("expired")
    assert client.get_transaction(transaction_id).is_dropped


def test_wait_times_out(client: Client) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError_, match="no receipt for transaction 0x0000"):
        client.wait_for_receipt(Hash(b"\x00" * 32), timeout_s=0.2, poll_interval_s=0.02)
    assert 0.2 <= time.monotonic() - started < 2


# --- evidence and proofs ---------------------------------------------------------------


def test_record_evidence_and_verify_it_knowing_only_the_block_hash(
    node: FakeNode, client: Client, key: PrivateKey
) -> None:
    digest = node.suite.hash(b"contract scan, page 1")
    receipt = client.send_and_wait(key, "evidence", "record", [digest, "scan"], timeout_s=5)
    for _ in range(3):  # more transactions in later blocks do not matter
        client.send_transaction(key, "account", "transfer", [RECIPIENT, 1])
    trusted_block_hash = client.get_receipt(receipt.transaction_id).block_hash

    proof = client.get_transaction_proof(receipt.transaction_id)
    assert verify_block_hash(node.suite, proof.header, trusted_block_hash)
    assert verify_transaction_proof(node.suite, proof.header, receipt.transaction_id, proof.proof)
    assert not verify_transaction_proof(node.suite, proof.header, Hash(digest), proof.proof)

    receipt_proof = client.get_receipt_proof(receipt.transaction_id)
    assert verify_block_hash(node.suite, receipt_proof.header, trusted_block_hash)
    assert verify_receipt_proof(node.suite, receipt_proof.header, receipt, receipt_proof.proof)
    forged = dataclasses.replace(receipt, return_value=encode(b"another digest"))
    assert not verify_receipt_proof(node.suite, receipt_proof.header, forged, receipt_proof.proof)


@pytest.mark.parametrize("node", ["ecdsa"], indirect=True)
def test_the_ecdsa_suite_works_end_to_end(node: FakeNode, client: Client, key: PrivateKey) -> None:
    receipt = client.send_and_wait(key, "account", "transfer", [RECIPIENT, 2], timeout_s=5)
    proof = client.get_transaction_proof(receipt.transaction_id)
    assert verify_transaction_proof(node.suite, proof.header, receipt.transaction_id, proof.proof)


# --- transport -------------------------------------------------------------------------


def test_a_node_closing_idle_connections_is_reconnected_to() -> None:
    node = FakeNode(keepalive_timeout_s=0.05)
    node.start()
    try:
        with Client(node.url) as client:
            client.block_number()
            time.sleep(0.3)  # the node has closed our kept-alive connection by now
            client.block_number()
            client.block_number()
    finally:
        node.stop()


def test_an_unreachable_node_is_a_client_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with Client(f"http://127.0.0.1:{port}", timeout_s=2) as client, pytest.raises(ClientError, match="cannot reach"):
        client.block_number()


def test_a_silent_node_times_out() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with Client(f"http://127.0.0.1:{port}", timeout_s=0.2) as client, pytest.raises(TimeoutError_):
            client.block_number()


def test_oversized_answers_are_refused(node: FakeNode) -> None:
    with Client(node.url, response_bytes_max=200) as client:
        with pytest.raises(ClientError, match="response_bytes_max"):
            client.get_block(0)
        assert client.block_number() >= 0  # the connection recovers


def test_one_client_can_be_shared_by_threads(node: FakeNode, client: Client) -> None:
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(20):
                client.block_number()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


@pytest.mark.parametrize(
    ("url", "rpc_url"),
    [
        ("http://127.0.0.1:8545", "http://127.0.0.1:8545/rpc"),
        ("http://node.example/rpc", "http://node.example:80/rpc"),
        ("https://node.example/gusu/", "https://node.example:443/gusu/rpc"),
        ("http://[::1]:9000", "http://[::1]:9000/rpc"),
    ],
)
def test_node_urls(url: str, rpc_url: str) -> None:
    assert Client(url).endpoint.rpc_url == rpc_url


@pytest.mark.parametrize("url", ["127.0.0.1:8545", "ftp://node", "http://", "http://host:port"])
def test_bad_node_urls(url: str) -> None:
    with pytest.raises(ClientError, match="node URL"):
        Client(url)


@pytest.mark.parametrize(
    "settings", [{"timeout_s": 0}, {"retries_max": -1}, {"response_bytes_max": 0}, {"batch_transactions_max": 0}]
)
def test_bad_settings(settings: dict[str, float]) -> None:
    with pytest.raises(ClientError, match="must be"):
        Client("http://127.0.0.1:8545", **settings)  # type: ignore[arg-type]
