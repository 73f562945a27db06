"""Talking to a node from commands: the SDK client, signing, and waiting for receipts."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

from gusu.cli.context import CliState, CliUsageError
from gusu.cli.keystore import LoadedKey
from gusu.codec import Value
from gusu.errors import ClientError
from gusu.ledger.types import Hash, Height
from gusu.sdk import Client, NodeStatus, ReceiptView, SignedTransaction, build_transaction

REQUEST_TIMEOUT_S = 10.0
RECEIPT_TIMEOUT_S = 60.0
VALID_FOR_BLOCKS = 100


def open_client(state: CliState) -> Client:
    return Client(state.endpoint, timeout_s=REQUEST_TIMEOUT_S)


@dataclass(frozen=True, slots=True)
class Submitted:
    signed: SignedTransaction
    status: NodeStatus
    """The node's status just before signing (chain id, suite, height)."""


def sign_and_send(
    client: Client,
    key: LoadedKey,
    contract: str,
    method: str,
    args: Sequence[Value],
    valid_for_blocks: int = VALID_FOR_BLOCKS,
) -> Submitted:
    """Sign the call for the node's chain and submit it; returns once the node acknowledged it."""
    status = client.status()
    if key.key.suite != status.suite:
        raise CliUsageError(
            f"key {key.label} is for the {key.key.suite!r} suite but chain {status.chain_id!r} uses the "
            f"{status.suite!r} suite; use a {status.suite!r} key (gusu keys new NAME --suite {status.suite})"
        )
    if valid_for_blocks < 1:
        raise CliUsageError("--valid-for must be at least 1 block")
    signed = build_transaction(
        key.key, status.chain_id, contract, method, args, Height(status.height + valid_for_blocks)
    )
    acknowledged = client.send_raw(signed.raw)
    if acknowledged != signed.transaction_id:
        raise ClientError(
            f"the node acknowledged {acknowledged.hex()} for transaction {signed.transaction_id.hex()}; "
            "it may run another chain's rules"
        )
    return Submitted(signed=signed, status=status)


def wait_for_receipt(client: Client, transaction_id: Hash, timeout_s: float) -> ReceiptView:
    client.wait_for_receipt(transaction_id, timeout_s=timeout_s)
    # The receipt alone lacks where it committed; the node's receipt record has the block.
    return client.get_receipt(transaction_id)


def get_health(endpoint: str, timeout_s: float = 5.0) -> dict[str, object]:
    """The node's /health answer; ``{"ok": false, "error": ...}`` when it cannot be had."""
    url = endpoint.rstrip("/")
    if url.endswith("/rpc"):
        url = url[: -len("/rpc")]
    try:
        with urllib.request.urlopen(url + "/health", timeout=timeout_s) as response:
            body = response.read(64 * 1024)
    except urllib.error.HTTPError as error:
        body = error.read(64 * 1024)
    except (urllib.error.URLError, OSError, ValueError) as error:
        return {"ok": False, "error": str(getattr(error, "reason", error))}
    try:
        document = json.loads(body)
    except ValueError:
        return {"ok": False, "error": "the health answer is not JSON"}
    if not isinstance(document, dict):
        return {"ok": False, "error": "the health answer is not a JSON object"}
    return {"ok": document.get("ok") is True, **{k: v for k, v in document.items() if k != "ok"}}
