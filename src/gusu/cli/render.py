"""JSON documents and rich tables for what the node returns.

The JSON forms are the node API's own (docs/api.md, via
`gusu.ledger.jsonview`), so `gusu ... --json` output can be fed to any
tool that reads the API.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Mapping

from rich.table import Table

from gusu.codec import Value, decode
from gusu.errors import CodecError
from gusu.ledger.ethtx import EthTransaction
from gusu.ledger.jsonview import (
    JSON,
    JSONObject,
    block_to_json,
    bytes_to_hex,
    receipt_to_json,
    transaction_to_json,
    value_to_json,
)
from gusu.ledger.types import Receipt, Transaction
from gusu.sdk import (
    BlockView,
    EvidencePage,
    EvidenceView,
    NodeStatus,
    PeerView,
    ReceiptView,
    SenderTransactionsPage,
    TransactionView,
)


def format_value(value: JSON) -> str:
    """A compact one-line rendering of a JSON value for tables."""
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def format_time_ms(timestamp_ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp_ms / 1000, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def decode_value(encoded: bytes) -> JSON:
    try:
        return value_to_json(decode(encoded))
    except CodecError:
        return {"hex": bytes_to_hex(encoded)}


def status_to_json(status: NodeStatus) -> JSONObject:
    return {
        "chain_id": status.chain_id,
        "suite": status.suite,
        "height": status.height,
        "latest_block_hash": bytes_to_hex(status.latest_block_hash),
        "latest_block_time_ms": status.latest_block_time_ms,
        "node_address": bytes_to_hex(status.node_address),
        "consensus": status.consensus,
        "mempool": {"transactions": status.mempool_transactions, "bytes": status.mempool_bytes},
        "version": status.version,
        "transaction_window_blocks": status.transaction_window_blocks,
        "versions": dict(status.versions),
    }


def format_versions(versions: Mapping[str, str]) -> str:
    """``name version`` pairs on one line each, sorted; "n/a" from a node that does not report them."""
    if not versions:
        return "n/a (the node does not report them)"
    return "\n".join(f"{name} {version}" for name, version in sorted(versions.items()))


def evidence_view_to_json(view: EvidenceView) -> JSONObject:
    return {
        "height": view.height,
        "round": view.round,
        "kind": view.kind,
        "validator": bytes_to_hex(view.validator),
        "first": bytes_to_hex(view.first),
        "second": bytes_to_hex(view.second),
        "recorded_at_height": view.recorded_at_height,
    }


def evidence_table(page: EvidencePage, title: str) -> Table:
    """One row per record: where, what kind, who, and the sizes of the two conflicting messages."""
    table = Table(title=title, title_justify="left")
    table.add_column("height", justify="right")
    table.add_column("round", justify="right")
    table.add_column("kind")
    table.add_column("validator")
    table.add_column("messages")
    table.add_column("recorded at", justify="right")
    for view in page.evidence:
        table.add_row(
            f"{view.height:,}",
            str(view.round),
            view.kind,
            bytes_to_hex(view.validator),
            f"{len(view.first):,} B / {len(view.second):,} B",
            f"{view.recorded_at_height:,}",
        )
    return table


def peer_view_to_json(peer: PeerView) -> JSONObject:
    """A peer as `gusu_peers` lists it: the view's fields, the address in hex."""
    return {**dataclasses.asdict(peer), "address": bytes_to_hex(peer.address)}


def format_duration_s(seconds: float) -> str:
    """A coarse, human duration: ``42s``, ``3m 05s``, ``2h 10m``, ``3d 4h``."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def peers_table(peers: list[PeerView], title: str) -> Table:
    """One row per connected validator: who, where, how long, round trip, queue and traffic."""
    table = Table(title=title, title_justify="left")
    table.add_column("address")
    table.add_column("org")
    table.add_column("endpoint")
    table.add_column("dir")
    table.add_column("up", justify="right")
    table.add_column("rtt", justify="right")
    table.add_column("queued", justify="right")
    table.add_column("msgs in/out", justify="right")
    table.add_column("bytes in/out", justify="right")
    table.add_column("gossip dropped", justify="right")
    for peer in peers:
        table.add_row(
            bytes_to_hex(peer.address),
            peer.organization,
            peer.endpoint,
            "out" if peer.outbound else "in",
            format_duration_s(peer.connected_for_s),
            "-" if peer.rtt_ms is None else f"{peer.rtt_ms:.2f} ms",
            f"{peer.queued_messages:,} ({peer.queued_bytes:,} B)",
            f"{peer.messages_in:,} / {peer.messages_out:,}",
            f"{peer.bytes_in:,} / {peer.bytes_out:,}",
            f"{peer.gossip_dropped:,}",
        )
    return table


def receipt_view_to_json(view: ReceiptView) -> JSONObject:
    return receipt_to_json(view.receipt, (view.height, view.index, view.block_hash))


def transaction_view_to_json(view: TransactionView) -> JSONObject:
    document: JSONObject = {"id": bytes_to_hex(view.transaction_id), "status": view.status}
    if view.transaction is not None and view.sender is not None:
        document["transaction"] = transaction_to_json(view.transaction, view.transaction_id, view.sender)
    if view.height is not None:
        document["height"] = view.height
        document["index"] = view.index
    if view.reason:
        document["reason"] = view.reason
    return document


def block_view_to_json(view: BlockView) -> JSONObject:
    if view.transactions:
        entries = [
            (item.transaction, item.transaction_id, item.sender)
            for item in view.transactions
            if item.transaction is not None and item.sender is not None
        ]
        return block_to_json(view.header, view.block_hash, entries, view.certificate)
    return block_to_json(view.header, view.block_hash, list(view.transaction_ids), view.certificate)


def key_value_table(title: str | None = None) -> Table:
    table = Table(title=title, show_header=False, box=None, title_justify="left", pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    return table


def receipt_table(receipt: Receipt, view: ReceiptView | None = None) -> Table:
    table = key_value_table("receipt")
    status = "[green]success[/green]" if receipt.is_success else "[red]failed[/red]"
    table.add_row("status", status)
    table.add_row("transaction", bytes_to_hex(receipt.transaction_id))
    if view is not None:
        table.add_row("block", f"{view.height} (index {view.index}, {bytes_to_hex(view.block_hash)})")
    table.add_row("gas used", f"{receipt.gas_used:,}")
    table.add_row("return value", format_value(decode_value(receipt.return_value)))
    if receipt.events:
        lines = [f"{event.contract}.{event.name} {format_value(decode_value(event.data))}" for event in receipt.events]
        table.add_row("events", "\n".join(lines))
    else:
        table.add_row("events", "none")
    if not receipt.is_success:
        table.add_row("error", f"[red]{receipt.error_code}[/red]: {receipt.error_message}")
    return table


def transaction_table(view: TransactionView) -> Table:
    table = key_value_table("transaction")
    table.add_row("id", bytes_to_hex(view.transaction_id))
    colour = {"committed": "green", "pending": "yellow", "dropped": "red"}[view.status]
    status = f"[{colour}]{view.status}[/{colour}]"
    if view.height is not None:
        status += f" at height {view.height}, index {view.index}"
    if view.reason:
        status += f" ({view.reason})"
    table.add_row("status", status)
    if view.sender is not None:
        table.add_row("sender", bytes_to_hex(view.sender))
    transaction = view.transaction
    if isinstance(transaction, EthTransaction):
        table.add_row("kind", f"ethereum (type {int(transaction.transaction_type)})")
        table.add_row("to", describe_eth_target(transaction))
        table.add_row("value", f"{transaction.value:,}")
        table.add_row("nonce", str(transaction.nonce))
        table.add_row("gas limit", f"{transaction.gas_limit:,}")
        table.add_row("max fee per gas", f"{transaction.max_fee_per_gas:,}")
        table.add_row("data", bytes_to_hex(transaction.data) if transaction.data else "none")
        table.add_row("chain", "none (unprotected)" if transaction.chain_id is None else str(transaction.chain_id))
    elif transaction is not None:
        args = decode_value(transaction.args)
        table.add_row("call", f"{transaction.contract}.{transaction.method}")
        table.add_row("args", format_value(args))
        table.add_row("nonce", str(transaction.nonce))
        table.add_row("valid until", f"height {transaction.valid_until_height}")
        table.add_row("chain", transaction.chain_id)
    return table


def block_table(view: BlockView) -> Table:
    header = view.header
    table = key_value_table(f"block {header.height}")
    table.add_row("hash", bytes_to_hex(view.block_hash))
    table.add_row("parent", bytes_to_hex(header.parent_hash))
    table.add_row("time", f"{format_time_ms(header.timestamp_ms)} ({header.timestamp_ms})")
    table.add_row("proposer", bytes_to_hex(header.proposer))
    table.add_row("transactions", str(header.transaction_count))
    table.add_row("transactions root", bytes_to_hex(header.transactions_root))
    table.add_row("receipts root", bytes_to_hex(header.receipts_root))
    table.add_row("state root", bytes_to_hex(header.state_root))
    table.add_row("validators hash", bytes_to_hex(header.validators_hash))
    certificate = view.certificate
    if certificate is None:
        table.add_row("certificate", "none")
    else:
        table.add_row("certificate", f"round {certificate.round}, {len(certificate.signatures)} signature(s)")
    return table


def block_transactions_table(view: BlockView) -> Table:
    table = Table(title="transactions", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("id")
    if view.transactions:
        table.add_column("sender")
        table.add_column("call")
        table.add_column("args", overflow="fold")
        for index, item in enumerate(view.transactions):
            transaction = item.transaction
            arguments = ""
            if isinstance(transaction, EthTransaction):
                arguments = f"value {transaction.value:,}, {len(transaction.data):,} data bytes"
            elif transaction is not None:
                arguments = format_value(decode_value(transaction.args))
            table.add_row(
                str(index),
                bytes_to_hex(item.transaction_id),
                bytes_to_hex(item.sender) if item.sender is not None else "",
                describe_call(transaction) if transaction is not None else "",
                arguments,
            )
    else:
        for index, transaction_id in enumerate(view.transaction_ids):
            table.add_row(str(index), bytes_to_hex(transaction_id))
    return table


def sender_history_to_json(address: bytes, page: SenderTransactionsPage) -> JSONObject:
    following: JSON = None if page.next is None else {"height": page.next[0], "index": page.next[1]}
    return {
        "address": bytes_to_hex(address),
        "transactions": [transaction_view_to_json(view) for view in page.transactions],
        "next": following,
    }


def sender_history_table(address: bytes, page: SenderTransactionsPage) -> Table:
    table = Table(title=f"transactions sent by {bytes_to_hex(address)}, newest first", title_justify="left")
    table.add_column("height", justify="right")
    table.add_column("#", justify="right")
    table.add_column("id")
    table.add_column("call")
    for view in page.transactions:
        transaction = view.transaction
        table.add_row(
            str(view.height),
            str(view.index),
            bytes_to_hex(view.transaction_id),
            describe_call(transaction) if transaction is not None else "",
        )
    return table


def describe_eth_target(transaction: EthTransaction) -> str:
    return "contract creation" if transaction.to is None else bytes_to_hex(transaction.to)


def describe_call(transaction: Transaction | EthTransaction) -> str:
    """What a transaction calls, for listings: ``contract.method``, or ``ethereum -> 0x..`` for an Ethereum one."""
    if isinstance(transaction, EthTransaction):
        return f"ethereum -> {describe_eth_target(transaction)}"
    return f"{transaction.contract}.{transaction.method}"


def value_document(value: Value) -> JSON:
    return value_to_json(value)
