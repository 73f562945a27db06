"""The JSON-RPC plumbing both clients share: requests, answers, errors, retries.

Everything here is free of I/O so that the synchronous and the asynchronous
client differ only in how they move bytes and how they sleep.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import orjson

from gusu.codec import Value
from gusu.errors import ClientError, CodecError, RemoteError
from gusu.ledger.jsonview import JSON, bytes_to_hex, hex_to_bytes, state_proof_from_json, value_to_json
from gusu.ledger.stateproof import STATE_PROOF_KEY_BYTES_MAX, CertifiedStateProof
from gusu.ledger.types import ADDRESS_SIZE, HASH_SIZE, Address, Hash, Height, Receipt
from gusu.sdk.views import (
    BlockView,
    ContractEventsView,
    EvidencePage,
    NodeStatus,
    PeerView,
    ReceiptProof,
    ReceiptView,
    SenderTransactionsPage,
    TransactionProof,
    TransactionView,
    parse_block,
    parse_call_value,
    parse_contract_events,
    parse_error_object,
    parse_evidence_page,
    parse_height,
    parse_peers,
    parse_receipt,
    parse_receipt_proof,
    parse_sender_transactions,
    parse_status,
    parse_submission_results,
    parse_transaction,
    parse_transaction_id,
    parse_transaction_proof,
)

T = TypeVar("T")

JSONRPC_VERSION = "2.0"
ERROR_PREVIEW_LENGTH = 200
"""How much of an unexpected HTTP body an error message quotes."""

# Names for the standard JSON-RPC codes, for answers that lack Gusu's error.data.
_STANDARD_ERROR_CODES = {
    -32700: "parse_error",
    -32600: "request_invalid",
    -32601: "method_not_found",
    -32602: "params_invalid",
    -32603: "internal_error",
}
# HTTP statuses that say "not now" rather than "never" when no JSON error explains them.
_RETRYABLE_HTTP_STATUSES = frozenset({429, 502, 503, 504})
_HTTP_STATUS_CODES = {413: "request_too_large", 429: "rate_limited", 503: "unavailable"}


class TransactionDroppedError(ClientError):
    """The node dropped the transaction (for example: it expired in the pool); it will never commit."""

    code = "tx_dropped"

    def __init__(self, transaction_id: Hash, reason: str) -> None:
        super().__init__(
            f"transaction {bytes_to_hex(transaction_id)} was dropped by the node"
            f"{': ' + reason if reason else ''}; build and send a new transaction"
        )
        self.transaction_id = transaction_id
        self.reason = reason


# --- endpoints ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a node serves JSON-RPC (``/rpc``) and WebSocket (``/ws``)."""

    scheme: str
    host: str
    port: int
    base_path: str

    @property
    def is_tls(self) -> bool:
        return self.scheme == "https"

    @property
    def rpc_path(self) -> str:
        return self.base_path + "/rpc"

    @property
    def rpc_url(self) -> str:
        return f"{self.scheme}://{self._netloc}{self.rpc_path}"

    @property
    def ws_url(self) -> str:
        return f"{'wss' if self.is_tls else 'ws'}://{self._netloc}{self.base_path}/ws"

    @property
    def _netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_endpoint(url: str) -> Endpoint:
    """Read a node URL such as ``http://127.0.0.1:8545`` (a trailing ``/rpc`` is allowed)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise ClientError(f"node URL {url!r} is invalid: {error}") from error
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ClientError(f"node URL {url!r} must look like http://host:port or https://host:port")
    base_path = parts.path.rstrip("/")
    if base_path.endswith("/rpc"):
        base_path = base_path[: -len("/rpc")]
    default_port = 443 if parts.scheme == "https" else 80
    return Endpoint(parts.scheme, parts.hostname, port or default_port, base_path)


# --- calls ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RpcCall(Generic[T]):
    """One JSON-RPC method invocation and how to read its result."""

    method: str
    params: list[JSON]
    parse: Callable[[JSON], T]


def to_hash(value: bytes | str, what: str = "transaction id") -> Hash:
    """A 32-byte hash given as bytes or as ``0x`` hex."""
    try:
        data = hex_to_bytes(value, HASH_SIZE, what=what) if isinstance(value, str) else value
    except CodecError as error:
        raise ClientError(str(error)) from error
    if not isinstance(data, bytes) or len(data) != HASH_SIZE:
        raise ClientError(f"{what} must be {HASH_SIZE} bytes (or 0x hex)")
    return Hash(data)


def status_call() -> RpcCall[NodeStatus]:
    return RpcCall("gusu_status", [], parse_status)


def peers_call() -> RpcCall[list[PeerView]]:
    return RpcCall("gusu_peers", [], parse_peers)


def evidence_call(limit: int, before_height: int | None) -> RpcCall[EvidencePage]:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ClientError(f"limit must be a positive integer, found {limit!r}")
    params: list[JSON] = [limit]
    cursor: Height | None = None
    if before_height is not None:
        if isinstance(before_height, bool) or not isinstance(before_height, int) or before_height < 0:
            raise ClientError(f"before_height must be a non-negative integer, found {before_height!r}")
        cursor = Height(before_height)
        params.append(before_height)
    return RpcCall("gusu_evidence", params, partial(parse_evidence_page, limit=limit, before_height=cursor))


def block_number_call() -> RpcCall[Height]:
    return RpcCall("gusu_blockNumber", [], parse_height)


def block_call(height_or_hash: int | bytes | str, full_transactions: bool) -> RpcCall[BlockView]:
    if isinstance(height_or_hash, int) and not isinstance(height_or_hash, bool):
        if height_or_hash < 0:
            raise ClientError(f"block height must be non-negative, found {height_or_hash}")
        return RpcCall("gusu_getBlockByHeight", [height_or_hash, full_transactions], parse_block)
    if isinstance(height_or_hash, (bytes, str)):
        block_hash = to_hash(height_or_hash, "block hash")
        return RpcCall("gusu_getBlockByHash", [bytes_to_hex(block_hash), full_transactions], parse_block)
    raise ClientError(f"a block is named by its height (int) or hash (bytes or 0x hex), not {height_or_hash!r}")


def transaction_call(transaction_id: bytes | str) -> RpcCall[TransactionView]:
    tid = to_hash(transaction_id)
    return RpcCall("gusu_getTransaction", [bytes_to_hex(tid)], partial(parse_transaction, transaction_id=tid))


def sender_transactions_call(
    address: bytes | str, limit: int, before: tuple[int, int] | None
) -> RpcCall[SenderTransactionsPage]:
    sender = _to_address(address, "address")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ClientError(f"limit must be a positive integer, found {limit!r}")
    params: list[JSON] = [bytes_to_hex(sender), limit]
    cursor: tuple[Height, int] | None = None
    if before is not None:
        height, index = before
        if height < 0 or index < 0:
            raise ClientError(f"before must be a (height, index) position, found {before!r}")
        cursor = (Height(height), index)
        params.append({"height": height, "index": index})
    return RpcCall(
        "gusu_getTransactionsBySender",
        params,
        partial(parse_sender_transactions, sender=sender, limit=limit, before=cursor),
    )


def _to_address(value: bytes | str, what: str) -> Address:
    """A 20-byte address given as bytes or as ``0x`` hex."""
    try:
        data = hex_to_bytes(value, ADDRESS_SIZE, what=what) if isinstance(value, str) else value
    except CodecError as error:
        raise ClientError(str(error)) from error
    if not isinstance(data, bytes) or len(data) != ADDRESS_SIZE:
        raise ClientError(f"{what} must be a {ADDRESS_SIZE}-byte address (bytes or 0x hex)")
    return Address(data)


def contract_events_call(
    contract: str, from_height: int | None, to_height: int | None, name: str | None
) -> RpcCall[ContractEventsView]:
    """gusu_getEvents: `contract`'s events in blocks `from_height` to `to_height` (None: the node's defaults)."""
    if not isinstance(contract, str) or not contract:
        raise ClientError(f"contract must be a contract's name, found {contract!r}")
    if name is not None and (not isinstance(name, str) or not name):
        raise ClientError(f"name must be an event's name or None, found {name!r}")
    for label, height in (("from_height", from_height), ("to_height", to_height)):
        if height is not None and (isinstance(height, bool) or not isinstance(height, int) or height < 0):
            raise ClientError(f"{label} must be a block height (a non-negative integer) or None, found {height!r}")
    if from_height is not None and to_height is not None and from_height > to_height:
        raise ClientError(f"from_height {from_height} is above to_height {to_height}; give the lower height first")
    params: list[JSON] = [contract, from_height, to_height, name]
    while params and params[-1] is None:
        params.pop()
    return RpcCall("gusu_getEvents", params, partial(parse_contract_events, contract=contract, name=name))


ETH_LOGS_RESULTS_MAX = 10_000
"""Most logs accepted in one eth_getLogs answer: the node's default ``[eth] logs_results_max``."""


def eth_logs_call(log_filter: dict[str, JSON]) -> RpcCall[list[JSON]]:
    """eth_getLogs with an Ethereum filter object; the answer's log objects, unparsed (gusu.sdk.evm reads them)."""
    return RpcCall("eth_getLogs", [log_filter], _parse_eth_logs)


def _parse_eth_logs(data: JSON) -> list[JSON]:
    if not isinstance(data, list):
        raise CodecError("eth_getLogs must answer a list of logs")
    if len(data) > ETH_LOGS_RESULTS_MAX:
        raise CodecError(f"eth_getLogs answered {len(data)} logs; at most {ETH_LOGS_RESULTS_MAX} are read")
    return data


def receipt_call(transaction_id: bytes | str) -> RpcCall[ReceiptView]:
    return RpcCall("gusu_getReceipt", [bytes_to_hex(to_hash(transaction_id))], parse_receipt)


def transaction_proof_call(transaction_id: bytes | str) -> RpcCall[TransactionProof]:
    tid = to_hash(transaction_id)
    return RpcCall(
        "gusu_getTransactionProof", [bytes_to_hex(tid)], partial(parse_transaction_proof, transaction_id=tid)
    )


def receipt_proof_call(transaction_id: bytes | str) -> RpcCall[ReceiptProof]:
    tid = to_hash(transaction_id)
    return RpcCall("gusu_getReceiptProof", [bytes_to_hex(tid)], partial(parse_receipt_proof, transaction_id=tid))


def state_proof_call(contract: str, key: bytes | str, height: int | None) -> RpcCall[CertifiedStateProof]:
    if not isinstance(contract, str) or not contract:
        raise ClientError(f"contract must be a contract name, found {contract!r}")
    try:
        key_bytes = hex_to_bytes(key, what="state key") if isinstance(key, str) else key
    except CodecError as error:
        raise ClientError(str(error)) from error
    if not isinstance(key_bytes, bytes) or len(key_bytes) > STATE_PROOF_KEY_BYTES_MAX:
        raise ClientError(f"key must be at most {STATE_PROOF_KEY_BYTES_MAX} bytes (bytes or 0x hex)")
    params: list[JSON] = [contract, bytes_to_hex(key_bytes)]
    if height is not None:
        if type(height) is not int or height < 0:
            raise ClientError(f"height must be a block height, found {height!r}")
        params.append(height)
    return RpcCall("gusu_getStateProof", params, partial(_parse_state_proof, contract=contract, key=key_bytes))


def _parse_state_proof(data: JSON, contract: str, key: bytes) -> CertifiedStateProof:
    answer = state_proof_from_json(data)
    if answer.contract != contract or answer.key != key:
        raise CodecError("the node answered with a proof of another key than the one asked for")
    return answer


def call_call(contract: str, method: str, args: Sequence[Value], sender: bytes | str | None) -> RpcCall[Value]:
    request: dict[str, JSON] = {
        "contract": contract,
        "method": method,
        "args": [_argument_to_json(arg) for arg in args],
    }
    if sender is not None:
        try:
            address = hex_to_bytes(sender, ADDRESS_SIZE, what="sender") if isinstance(sender, str) else sender
        except CodecError as error:
            raise ClientError(str(error)) from error
        if len(address) != ADDRESS_SIZE:
            raise ClientError(f"sender must be a {ADDRESS_SIZE}-byte address")
        request["sender"] = bytes_to_hex(address)
    return RpcCall("gusu_call", [request], parse_call_value)


def _argument_to_json(arg: Value) -> JSON:
    try:
        return value_to_json(arg)
    except CodecError as error:
        raise ClientError(f"call argument {arg!r} is not a canonical value: {error}") from error


def send_raw_call(raw: bytes) -> RpcCall[Hash]:
    return RpcCall("gusu_sendRawTransaction", [bytes_to_hex(raw)], parse_transaction_id)


def send_raw_batch_call(raws: Sequence[bytes]) -> RpcCall[list[Hash | RemoteError]]:
    return RpcCall(
        "gusu_sendRawTransactions",
        [[bytes_to_hex(raw) for raw in raws]],
        partial(parse_submission_results, expected_count=len(raws)),
    )


# --- wire format ------------------------------------------------------------------


def encode_request(request_id: int, call: RpcCall[Any]) -> dict[str, JSON]:
    return {"jsonrpc": JSONRPC_VERSION, "id": request_id, "method": call.method, "params": call.params}


def dump_json(document: JSON) -> bytes:
    return orjson.dumps(document)


def load_json(body: bytes | str, what: str = "answer") -> JSON:
    try:
        document: JSON = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ClientError(f"the node's {what} is not valid JSON: {error}") from error
    return document


def check_http_status(status: int, body: bytes) -> None:
    """Raise RemoteError for an HTTP failure that carries no JSON-RPC answer.

    A node may send a JSON-RPC error with a 4xx/5xx status; such bodies are
    left for `read_result`, so that the node's own code and message win over
    the bare status.
    """
    if status == 200:
        return
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        document = None
    if isinstance(document, list) or (isinstance(document, dict) and "jsonrpc" in document):
        return
    if isinstance(document, dict) and isinstance(document.get("error"), dict):
        # The REST error shape, which a proxy or a REST-style rejection may use.
        try:
            rest_error = parse_error_object(document["error"])
        except CodecError:
            rest_error = None
        if rest_error is not None:
            raise rest_error
    preview = body[:ERROR_PREVIEW_LENGTH].decode("utf-8", "replace")
    raise RemoteError(
        _HTTP_STATUS_CODES.get(status, f"http_{status}"),
        f"the node answered HTTP {status}: {preview}",
        status in _RETRYABLE_HTTP_STATUSES,
    )


def parse_rpc_error(error: JSON) -> RemoteError:
    """A JSON-RPC ``error`` member as RemoteError, with the Gusu code from ``error.data``."""
    if not isinstance(error, dict):
        return RemoteError("remote_error", f"the node answered with a malformed error: {error!r}")
    message = error.get("message")
    text = message if isinstance(message, str) else "the node reported an error without a message"
    data = error.get("data")
    if isinstance(data, dict) and isinstance(data.get("code"), str):
        retryable = data.get("retryable")
        return RemoteError(str(data["code"]), text, retryable is True)
    number = error.get("code")
    name = _STANDARD_ERROR_CODES.get(number, "remote_error") if isinstance(number, int) else "remote_error"
    return RemoteError(name, text, False)


def read_result(response: JSON, request_id: int, call: RpcCall[T]) -> T:
    """The parsed result of one JSON-RPC response; RemoteError if it is an error."""
    fields = _expect_response(response)
    if fields.get("id") != request_id and "error" not in fields:
        raise ClientError(f"the node answered request {fields.get('id')!r} when {request_id} was asked")
    if "error" in fields and fields["error"] is not None:
        raise parse_rpc_error(fields["error"])
    if "result" not in fields:
        raise ClientError(f"the node's answer to {call.method} has neither result nor error")
    try:
        return call.parse(fields["result"])
    except CodecError as error:
        raise ClientError(f"the node's answer to {call.method} is malformed: {error}") from error


def read_batch(responses: JSON, request_ids: Sequence[int]) -> dict[int, dict[str, JSON]]:
    """A batch answer indexed by request id (JSON-RPC allows any order)."""
    if isinstance(responses, dict):
        # A batch-level failure (for example the batch is too long) comes back as one error.
        raise parse_rpc_error(responses.get("error"))
    if not isinstance(responses, list):
        raise ClientError("the node answered a batch request with neither a list nor an error")
    by_id: dict[int, dict[str, JSON]] = {}
    for response in responses:
        fields = _expect_response(response)
        answer_id = fields.get("id")
        if isinstance(answer_id, int):
            by_id[answer_id] = fields
    missing = [request_id for request_id in request_ids if request_id not in by_id]
    if missing:
        raise ClientError(f"the node's batch answer lacks requests {missing}")
    return by_id


def _expect_response(response: JSON) -> dict[str, JSON]:
    if not isinstance(response, dict):
        raise ClientError("the node's JSON-RPC answer is not an object")
    return response


def read_outcome(response: dict[str, JSON], call: RpcCall[T]) -> T | RemoteError:
    """Like `read_result` for a batch member, returning a RemoteError instead of raising it."""
    try:
        return read_result(response, _response_id(response), call)
    except RemoteError as error:
        return error


def _response_id(response: dict[str, JSON]) -> int:
    answer_id = response.get("id")
    return answer_id if isinstance(answer_id, int) else -1


# --- retries and polling -----------------------------------------------------------


def compute_backoff_s(attempt: int, base_s: float, maximum_s: float) -> float:
    """Exponential backoff with jitter, so that clients refused together do not retry together."""
    ceiling = min(maximum_s, base_s * 2.0**attempt)
    return ceiling * (0.5 + random.random() / 2)


def get_retry_indexes(results: Sequence[Hash | RemoteError | None]) -> list[int]:
    """Positions whose outcome is a retryable refusal (or that were not sent yet)."""
    return [index for index, result in enumerate(results) if result is None or is_retryable_result(result)]


def is_retryable_result(result: Hash | RemoteError) -> bool:
    return isinstance(result, RemoteError) and result.retryable


def split_chunks(indexes: Sequence[int], size: int) -> list[list[int]]:
    return [list(indexes[start : start + size]) for start in range(0, len(indexes), size)]


def get_poll_outcome(
    transaction_id: Hash,
    receipt: ReceiptView | RemoteError,
    transaction: TransactionView | RemoteError,
) -> Receipt | None:
    """The receipt if one poll found it, None to keep polling; raises when it never will come."""
    if isinstance(receipt, ReceiptView):
        return receipt.receipt
    if receipt.code != "not_found" and not receipt.retryable:
        raise receipt
    if isinstance(transaction, TransactionView):
        if transaction.is_dropped:
            raise TransactionDroppedError(transaction_id, transaction.reason)
        return None
    # not_found: the node has not seen it (yet); a load balancer may have sent us elsewhere.
    if transaction.code != "not_found" and not transaction.retryable:
        raise transaction
    return None
