"""The OpenAPI 3.1 document of the REST routes, served at /openapi.json.

Written out by hand rather than generated so that it states the contract
of docs/api.md, not whatever the handlers happen to do; a test checks
that every REST route the server registers is described here.
"""

from __future__ import annotations

from typing import Any, Final

import gusu
from gusu.api.params import EVIDENCE_RECORDS_DEFAULT, FLAG_TEXTS, HEIGHT_MAX, SENDER_TRANSACTIONS_DEFAULT
from gusu.api.settings import ApiSettings
from gusu.ledger.genesis import VALIDATORS_MAX
from gusu.ledger.stateproof import STATE_PROOF_KEY_BYTES_MAX
from gusu.ledger.types import ADDRESS_SIZE, BLOCK_TRANSACTIONS_MAX, HASH_SIZE, NAME_LENGTH_MAX
from gusu.node.service import EVIDENCE_KINDS
from gusu.node.versions import CONSENSUS_VERSION_KEYS

OPENAPI_VERSION: Final = "3.1.0"

_INT64_MIN: Final = -(2**63)
_UINT64_MAX: Final = 2**64 - 1


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _hex(description: str, size: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "description": description}
    if size is None:
        schema["pattern"] = "^0x([0-9a-fA-F]{2})*$"
    else:
        schema["pattern"] = f"^0x[0-9a-fA-F]{{{2 * size}}}$"
    return schema


def _uint(description: str) -> dict[str, Any]:
    return {"type": "integer", "minimum": 0, "maximum": _UINT64_MAX, "description": description}


def _name(description: str) -> dict[str, Any]:
    """A contract, method or event name as requests must give it: non-empty, within the ledger's limit."""
    return {"type": "string", "minLength": 1, "maxLength": NAME_LENGTH_MAX, "description": description}


def _duration(description: str) -> dict[str, Any]:
    return {"type": "number", "minimum": 0, "description": description}


def _object(properties: dict[str, Any], required: list[str] | None = None, description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }
    if description:
        schema["description"] = description
    return schema


def _json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error_responses(*statuses: str) -> dict[str, Any]:
    names = {
        "400": "BadRequest",
        "404": "NotFound",
        "413": "TooLarge",
        "429": "TooManyRequests",
        "500": "Internal",
        "501": "Unsupported",
        "503": "Unavailable",
        "504": "Timeout",
    }
    return {status: {"$ref": f"#/components/responses/{names[status]}"} for status in statuses}


_FULL_PARAMETER: Final = {
    "name": "full",
    "in": "query",
    "required": False,
    "description": "true (or 1) to list the block's transactions in full rather than as ids; false (or 0) by default",
    "schema": {"type": "string", "enum": list(FLAG_TEXTS), "default": "false"},
}

_HEIGHT_PARAMETER: Final = {
    "name": "height",
    "in": "path",
    "required": True,
    "description": "Block height (decimal digits)",
    "schema": {"type": "integer", "minimum": 0, "maximum": HEIGHT_MAX},
}

_ID_PARAMETER: Final = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "Transaction id",
    "schema": _ref("Hash"),
}

_COMMON_ERRORS: Final = ("500", "503", "504")


def _get(summary: str, response: dict[str, Any], parameters: list[Any], errors: tuple[str, ...]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "responses": {"200": response, **_error_responses(*errors, *_COMMON_ERRORS)},
    }
    if parameters:
        operation["parameters"] = parameters
    return {"get": operation}


def _schemas(settings: ApiSettings) -> dict[str, Any]:
    return {
        "Hex": _hex("Bytes as 0x-prefixed hex (lowercase in answers; either case accepted)"),
        "Hash": _hex("A 32-byte hash", HASH_SIZE),
        "Address": _hex("A 20-byte account address", ADDRESS_SIZE),
        "Bytes": {
            "type": "object",
            "description": "A byte string inside a contract value",
            "properties": {"hex": _ref("Hex")},
            "required": ["hex"],
            "additionalProperties": False,
        },
        "Value": {
            "description": (
                "A canonical contract value (docs/codec.md); at most 32 levels deep. Integers are written "
                "without a fraction or exponent (1, not 1.0); floats are refused"
            ),
            "oneOf": [
                {"type": "null"},
                {"type": "boolean"},
                {"type": "integer", "minimum": _INT64_MIN, "maximum": _UINT64_MAX},
                {"type": "string"},
                {"type": "array", "items": _ref("Value")},
                _ref("Bytes"),
            ],
        },
        "Error": _object({"error": _error_body()}),
        "Transaction": _object(
            {
                "id": _ref("Hash"),
                "chain_id": {"type": "string"},
                "nonce": _uint("Client-chosen random replay guard"),
                "valid_until_height": _uint("Last height at which the transaction may commit"),
                "sender_public_key": _ref("Hex"),
                "sender": _ref("Address"),
                "contract": {"type": "string"},
                "method": {"type": "string"},
                "args": {"type": "array", "items": _ref("Value")},
                "signature": _ref("Hex"),
            }
        ),
        "TransactionLookup": _object(
            {
                "id": _ref("Hash"),
                "status": {"type": "string", "enum": ["pending", "committed", "dropped"]},
                "transaction": {"oneOf": [_ref("Transaction"), {"type": "null"}]},
                "height": _uint("Block height, once committed"),
                "index": _uint("Position in the block, once committed"),
                "reason": {"type": "string", "description": "Why a dropped transaction was dropped"},
            },
            required=["id", "status", "transaction"],
        ),
        "Position": _object(
            {"height": _uint("Block height"), "index": _uint("Position in the block")},
            description="A place in the chain; a history page lists only transactions strictly before it",
        ),
        "SenderTransactions": _object(
            {
                "transactions": {
                    "type": "array",
                    "items": _ref("TransactionLookup"),
                    "description": "Committed transactions of the account, newest first (pending ones are not listed)",
                },
                "next": {
                    "oneOf": [_ref("Position"), {"type": "null"}],
                    "description": "Pass as before_height/before_index for the next, older page; null at the end",
                },
            }
        ),
        "Event": _object({"contract": {"type": "string"}, "name": {"type": "string"}, "data": _ref("Value")}),
        "Receipt": _object(
            {
                "transaction_id": _ref("Hash"),
                "status": {"type": "string", "enum": ["success", "failed"]},
                "return_value": _ref("Value"),
                "events": {"type": "array", "items": _ref("Event")},
                "gas_used": _uint("Gas the transaction used"),
                "error_code": {"type": "string", "description": "Empty on success"},
                "error_message": {"type": "string"},
                "height": _uint("Block height"),
                "index": _uint("Position in the block"),
                "block_hash": _ref("Hash"),
            }
        ),
        "Header": _object(
            {
                "chain_id": {"type": "string"},
                "height": _uint("Block height"),
                "parent_hash": _ref("Hash"),
                "timestamp_ms": _uint("Milliseconds since the Unix epoch"),
                "proposer": _ref("Address"),
                "transactions_root": _ref("Hash"),
                "receipts_root": _ref("Hash"),
                "state_root": _ref("Hash"),
                "validators_hash": _ref("Hash"),
                "next_validators_hash": _ref("Hash"),
                "transaction_count": _uint("Transactions in the block"),
            }
        ),
        "Certificate": _object(
            {
                "height": _uint("Block height"),
                "round": _uint("Consensus round"),
                "block_hash": _ref("Hash"),
                "signatures": {
                    "type": "array",
                    "items": _object(
                        {
                            "validator": _ref("Address"),
                            "timestamp_ms": _uint("Milliseconds since the Unix epoch"),
                            "signature": _ref("Hex"),
                        }
                    ),
                },
            }
        ),
        "Block": _object(
            {
                "hash": _ref("Hash"),
                "header": _ref("Header"),
                "transactions": {
                    "description": "Transaction ids, or full transactions with ?full=true",
                    "type": "array",
                    "maxItems": BLOCK_TRANSACTIONS_MAX,
                    # Items, not arrays, are the alternatives: an empty list is both kinds of array.
                    "items": {"oneOf": [_ref("Hash"), _ref("Transaction")]},
                },
                "certificate": {"oneOf": [_ref("Certificate"), {"type": "null"}]},
            }
        ),
        "TransactionProof": _object(
            {
                "height": _uint("Block height"),
                "index": _uint("Leaf position"),
                "leaf_count": _uint("Leaves in the tree"),
                "path": {"type": "array", "items": _ref("Hash"), "description": "Sibling hashes, leaf to root"},
                "transactions_root": _ref("Hash"),
                "header": _ref("Header"),
                "block_hash": _ref("Hash"),
            },
            description="Merkle inclusion proof; the leaf is the transaction id",
        ),
        "ReceiptProof": _object(
            {
                "height": _uint("Block height"),
                "index": _uint("Leaf position"),
                "leaf_count": _uint("Leaves in the tree"),
                "path": {"type": "array", "items": _ref("Hash"), "description": "Sibling hashes, leaf to root"},
                "receipts_root": _ref("Hash"),
                "header": _ref("Header"),
                "block_hash": _ref("Hash"),
            },
            description="Merkle inclusion proof; the leaf is the hash of the encoded receipt",
        ),
        "StateProof": _object(
            {
                "contract": _name("The contract whose state is read"),
                "key": _hex("The key in the contract's namespace"),
                "height": _uint("The block whose state root the proof leads to (the state after it)"),
                "exists": {"type": "boolean", "description": "Whether the key holds a value at that height"},
                "value": {"oneOf": [_hex("The stored bytes"), {"type": "null"}]},
                "value_decoded": {
                    "description": "The value as JSON when the bytes are a canonical encoding, else null",
                },
                "proof": _hex("The state proof's canonical encoding (docs/state.md, Proofs)"),
                "state_root": _ref("Hash"),
                "header": _ref("Header"),
                "block_hash": _ref("Hash"),
                "certificate": {"oneOf": [_ref("Certificate"), {"type": "null"}]},
            },
            description=(
                "A contract key's value (or its absence) at a height, with its state-tree proof, the header it "
                "leads to and the block's commit certificate; clients verify it against a trusted block hash or "
                "validator set"
            ),
        ),
        "Status": _object(
            {
                "chain_id": {"type": "string"},
                "suite": {"type": "string", "enum": ["sm", "ecdsa"]},
                "height": _uint("Latest committed height"),
                "latest_block_hash": _ref("Hash"),
                "latest_block_time_ms": _uint("Timestamp of the latest block"),
                "node_address": _ref("Address"),
                "consensus": {"type": "string"},
                "mempool": _object({"transactions": _uint("Pending transactions"), "bytes": _uint("Pending bytes")}),
                "version": {"type": "string"},
                "transaction_window_blocks": _uint("How far ahead valid_until_height may be"),
                "versions": {
                    "type": "object",
                    "description": (
                        "Versions of what encodes, hashes or executes blocks; validators whose versions differ "
                        "can disagree about a block"
                    ),
                    "properties": {name: {"type": "string"} for name in CONSENSUS_VERSION_KEYS},
                    "required": list(CONSENSUS_VERSION_KEYS),
                    "additionalProperties": {"type": "string"},
                },
            }
        ),
        "Evidence": _object(
            {
                "height": _uint("Height of the two conflicting messages"),
                "round": _uint("Round of the two conflicting messages"),
                "kind": {"type": "string", "enum": list(EVIDENCE_KINDS)},
                "validator": _ref("Address"),
                "first": _hex("Canonical encoding of the first signed message"),
                "second": _hex("Canonical encoding of the second, conflicting signed message"),
                "recorded_at_height": _uint("The node's committed height when it recorded the evidence"),
            },
            description="A validator signed two different messages for one height, round and kind",
        ),
        "EvidencePage": _object(
            {
                "evidence": {
                    "type": "array",
                    "items": _ref("Evidence"),
                    "maxItems": settings.evidence_records_max,
                    "description": "Newest height first",
                },
                "next_before_height": {
                    "oneOf": [_uint("Pass as before_height for the next, older page"), {"type": "null"}],
                    "description": "null at the end",
                },
            }
        ),
        "ContractEvent": _object(
            {
                "height": _uint("Height of the block holding the transaction"),
                "block_hash": _ref("Hash"),
                "transaction_id": _ref("Hash"),
                "index": _uint("The transaction's position in its block"),
                "event_index": _uint("The event's position among its transaction's events"),
                "contract": {"type": "string"},
                "name": {"type": "string"},
                "data": _ref("Value"),
            },
            description="An event a committed transaction emitted",
        ),
        "ContractEvents": _object(
            {
                "contract": {"type": "string"},
                "name": {"oneOf": [{"type": "string"}, {"type": "null"}], "description": "The name filter, if any"},
                "from_height": _uint("The first block searched"),
                "to_height": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": HEIGHT_MAX,
                    "description": (
                        "The last block searched: the tip when the range asked reaches beyond it; below from_height "
                        "when the whole range is above the tip (nothing was searched)"
                    ),
                },
                "events": {
                    "type": "array",
                    "items": _ref("ContractEvent"),
                    "maxItems": settings.events_results_max,
                    "description": "Oldest first",
                },
            }
        ),
        "Health": _object({"ok": {"type": "boolean"}, "height": _uint("Latest committed height")}),
        "Peer": _object(
            {
                "address": _ref("Address"),
                "organization": {"type": "string", "description": "Organisation named in the peer's TLS certificate"},
                "endpoint": {"type": "string", "description": "Remote host:port of the connection in use"},
                "outbound": {"type": "boolean", "description": "true if this node dialed the connection"},
                "connected_for_s": _duration("Seconds since the connection passed its handshake"),
                "rtt_ms": {
                    "oneOf": [_duration("Round trip of the last answered ping, in milliseconds"), {"type": "null"}],
                    "description": "null until a ping is answered",
                },
                "queued_messages": _uint("Messages waiting to be sent to the peer"),
                "queued_bytes": _uint("Bytes waiting to be sent to the peer"),
                "messages_in": _uint("Messages received from the peer"),
                "messages_out": _uint("Messages sent to the peer"),
                "bytes_in": _uint("Bytes received from the peer"),
                "bytes_out": _uint("Bytes sent to the peer"),
                "gossip_dropped": _uint("Transaction gossip dropped because the peer's queue was full"),
            },
            description="A validator this node is connected to",
        ),
        "Peers": _object(
            {
                "peers": {
                    "type": "array",
                    "items": _ref("Peer"),
                    "maxItems": VALIDATORS_MAX,
                    "description": "Connected validators, by address; empty on a one-validator chain",
                }
            }
        ),
        "RawTransaction": {
            "type": "string",
            "description": "A signed, encoded transaction as 0x-prefixed hex; never empty",
            "pattern": "^0x([0-9a-fA-F]{2})+$",
        },
        "SubmitRequest": {
            **_object(
                {
                    "raw": {
                        "oneOf": [
                            _ref("RawTransaction"),
                            {
                                "type": "array",
                                "items": _ref("RawTransaction"),
                                "maxItems": settings.transactions_per_request_max,
                                "description": "Several signed transactions (413 beyond the server's limit)",
                            },
                        ],
                        "description": "Signed, encoded transaction(s)",
                    }
                },
            ),
            "additionalProperties": False,
        },
        "Submitted": _object({"id": _ref("Hash")}),
        "SubmitEntry": {
            "oneOf": [
                _ref("Submitted"),
                _object({"error": _error_body()}),
            ]
        },
        "CallRequest": {
            **_object(
                {
                    "contract": _name("The contract's name"),
                    "method": _name("The view method's name"),
                    "args": {"type": "array", "items": _ref("Value")},
                    "sender": _ref("Address"),
                },
                required=["contract", "method", "args"],
            ),
            "additionalProperties": False,
        },
        "CallResult": _object(
            {
                "return_value": _ref("Value"),
                "gas_used": _uint("Gas the call used"),
                "events": {"type": "array", "items": _ref("Event")},
            }
        ),
    }


def _error_body() -> dict[str, Any]:
    return _object(
        {
            "code": {"type": "string", "description": "Stable Gusu error code, e.g. not_found"},
            "message": {"type": "string", "description": "What went wrong and what to do"},
            "retryable": {"type": "boolean", "description": "Whether the same request may succeed later"},
        }
    )


def _paths(settings: ApiSettings) -> dict[str, Any]:
    block = _json_response("The block", _ref("Block"))
    return {
        "/v1/status": _get("The node's status (as gusu_status)", _json_response("Status", _ref("Status")), [], ()),
        "/v1/peers": _get(
            "The validators this node is connected to (as gusu_peers)",
            _json_response("Connected peers", _ref("Peers")),
            [],
            (),
        ),
        "/v1/blocks/latest": _get("The latest committed block", block, [_FULL_PARAMETER], ("400",)),
        "/v1/blocks/{height}": _get(
            "A block by height",
            block,
            [_HEIGHT_PARAMETER, _FULL_PARAMETER],
            ("400", "404"),
        ),
        "/v1/blocks/hash/{hash}": _get(
            "A block by hash",
            block,
            [{"name": "hash", "in": "path", "required": True, "schema": _ref("Hash")}, _FULL_PARAMETER],
            ("400", "404"),
        ),
        "/v1/transactions/{id}": _get(
            "A transaction and its status (as gusu_getTransaction)",
            _json_response("The transaction", _ref("TransactionLookup")),
            [_ID_PARAMETER],
            ("400", "404"),
        ),
        "/v1/transactions/{id}/receipt": _get(
            "A committed transaction's receipt",
            _json_response("The receipt", _ref("Receipt")),
            [_ID_PARAMETER],
            ("400", "404"),
        ),
        "/v1/transactions/{id}/proof": _get(
            "Inclusion proof of a committed transaction id",
            _json_response("The proof", _ref("TransactionProof")),
            [_ID_PARAMETER],
            ("400", "404"),
        ),
        "/v1/transactions/{id}/receipt/proof": _get(
            "Inclusion proof of a committed transaction's receipt",
            _json_response("The proof", _ref("ReceiptProof")),
            [_ID_PARAMETER],
            ("400", "404"),
        ),
        "/v1/state/{contract}/{key}/proof": _get(
            "A contract key's value with its state proof (as gusu_getStateProof)",
            _json_response("The value and its proof", _ref("StateProof")),
            [
                {"name": "contract", "in": "path", "required": True, "schema": _name("The contract's name")},
                {
                    "name": "key",
                    "in": "path",
                    "required": True,
                    "schema": _hex(f"The key in the contract's namespace, at most {STATE_PROOF_KEY_BYTES_MAX} bytes"),
                },
                {
                    "name": "height",
                    "in": "query",
                    "required": False,
                    "description": "The block height (the state after it); the latest block when absent",
                    "schema": {"type": "integer", "minimum": 0, "maximum": HEIGHT_MAX},
                },
            ],
            ("400", "404"),
        ),
        "/v1/accounts/{address}/transactions": _get(
            "Committed transactions an account sent, newest first, a page at a time (as gusu_getTransactionsBySender)",
            _json_response("One page of the history", _ref("SenderTransactions")),
            [
                {"name": "address", "in": "path", "required": True, "schema": _ref("Address")},
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "description": (
                        f"Page size: 1 to the server's sender_transactions_max ({settings.sender_transactions_max})"
                    ),
                    "schema": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": settings.sender_transactions_max,
                        "default": min(SENDER_TRANSACTIONS_DEFAULT, settings.sender_transactions_max),
                    },
                },
                {
                    # One object parameter, exploded into two query parameters: both or neither.
                    "name": "before",
                    "in": "query",
                    "required": False,
                    "style": "form",
                    "explode": True,
                    "description": (
                        "The cursor: before_height and before_index together (the next of the previous page), "
                        "or neither; lists only transactions strictly before that position"
                    ),
                    "schema": {
                        "type": "object",
                        "properties": {
                            "before_height": {"type": "integer", "minimum": 0, "maximum": HEIGHT_MAX},
                            "before_index": {"type": "integer", "minimum": 0, "maximum": BLOCK_TRANSACTIONS_MAX},
                        },
                        "required": ["before_height", "before_index"],
                        "additionalProperties": False,
                    },
                },
            ],
            ("400",),
        ),
        "/v1/evidence": _get(
            "Equivocation evidence the node recorded, newest height first, a page at a time (as gusu_evidence)",
            _json_response("One page of evidence", _ref("EvidencePage")),
            [
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "description": f"Page size: 1 to evidence_records_max ({settings.evidence_records_max})",
                    "schema": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": settings.evidence_records_max,
                        "default": min(EVIDENCE_RECORDS_DEFAULT, settings.evidence_records_max),
                    },
                },
                {
                    "name": "before_height",
                    "in": "query",
                    "required": False,
                    "description": "List only evidence of heights strictly below this (next_before_height of a page)",
                    "schema": {"type": "integer", "minimum": 0, "maximum": HEIGHT_MAX},
                },
            ],
            ("400", "501"),
        ),
        "/v1/contracts/{contract}/events": _get(
            (
                "Events a contract emitted in a range of committed blocks, oldest first (as gusu_getEvents); "
                "refused with request_too_large beyond events_block_range_max blocks, events_results_max events "
                "or events_receipts_max receipts to read; 404 contract_unknown for a contract that runs nothing"
            ),
            _json_response("The range searched and its events", _ref("ContractEvents")),
            [
                {"name": "contract", "in": "path", "required": True, "schema": _name("The contract's name")},
                {
                    "name": "from_height",
                    "in": "query",
                    "required": False,
                    "description": (
                        "The first block to search; when absent, the widest range allowed "
                        f"(events_block_range_max, {settings.events_block_range_max} blocks) ending at to_height"
                    ),
                    "schema": {"type": "integer", "minimum": 0, "maximum": HEIGHT_MAX},
                },
                {
                    "name": "to_height",
                    "in": "query",
                    "required": False,
                    "description": "The last block to search (the tip when absent); blocks above the tip are not",
                    "schema": {"type": "integer", "minimum": 0, "maximum": HEIGHT_MAX},
                },
                {"name": "name", "in": "query", "required": False, "schema": _name("List only events of this name")},
            ],
            ("400", "404"),
        ),
        "/v1/transactions": {
            "post": {
                "summary": "Submit one signed transaction, or several",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("SubmitRequest")}},
                },
                "responses": {
                    "202": _json_response(
                        "One transaction (raw was a string) acknowledged into the pool", _ref("Submitted")
                    ),
                    "200": _json_response(
                        "Several transactions (raw was an array): one entry each, in order",
                        {"type": "array", "items": _ref("SubmitEntry")},
                    ),
                    **_error_responses("400", "413", "429", *_COMMON_ERRORS),
                },
            }
        },
        "/v1/call": {
            "post": {
                "summary": "Run a read-only contract method against the latest state (as gusu_call)",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("CallRequest")}},
                },
                "responses": {
                    "200": _json_response("The call's result", _ref("CallResult")),
                    **_error_responses("400", "413", *_COMMON_ERRORS),
                },
            }
        },
        "/health": {
            "get": {
                "summary": "Whether the node is serving",
                "responses": {
                    "200": _json_response("Serving", _ref("Health")),
                    "503": _json_response("Not serving", _ref("Health")),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Metrics in the Prometheus text format",
                "responses": {
                    "200": {"description": "Metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}
                },
            }
        },
    }


def build_openapi(settings: ApiSettings | None = None) -> dict[str, Any]:
    """The document for a server with `settings` (its limits appear in the document)."""
    settings = settings or ApiSettings()
    error = _json_response
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Gusu node REST API",
            "version": gusu.__version__,
            "description": (
                "REST view of a Gusu Chain node. The same operations, and subscriptions, are offered as "
                "JSON-RPC 2.0 at POST /rpc and over WebSocket at /ws (see docs/api.md)."
            ),
        },
        "paths": _paths(settings),
        "components": {
            "schemas": _schemas(settings),
            "responses": {
                "BadRequest": error("Malformed request or rejected transaction", _ref("Error")),
                "NotFound": error("No such block, transaction or receipt (yet)", _ref("Error")),
                "TooLarge": error("The body or the number of transactions exceeds a limit", _ref("Error")),
                "TooManyRequests": error("The pool is full; retry later (retryable is true)", _ref("Error")),
                "Internal": error("The node failed; its log has details", _ref("Error")),
                "Unsupported": error("The node is older than the API and does not offer this", _ref("Error")),
                "Unavailable": error("The server is at its connection limit; retry later", _ref("Error")),
                "Timeout": error("The request took longer than the server allows", _ref("Error")),
            },
        },
    }
