"""API failures and how every failure maps onto JSON-RPC codes and HTTP statuses.

Protocol-level failures (bad JSON, bad params, unknown method, limits) are
`GusuError`s like everything else, so that `error.data.code` is always a
stable Gusu code and a client needs one way to read errors, whichever the
transport.
"""

from __future__ import annotations

from typing import Final

from gusu.errors import (
    ApiError,
    GusuError,
    InvalidRequestError,
    LedgerError,
    MempoolFullError,
    NodeError,
    NotFoundError,
    RateLimitedError,
    RequestTooLargeError,
    SenderQuotaError,
    StorageError,
)
from gusu.ledger.jsonview import JSONObject

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
GUSU_ERROR: Final = -32000


class JsonInvalidError(InvalidRequestError):
    """The request body or message is not a JSON document."""

    code = "json_invalid"


class MethodNotFoundError(InvalidRequestError):
    code = "method_not_found"


class InvalidParamsError(InvalidRequestError):
    """A method's params do not have the documented shape."""

    code = "params_invalid"


class LimitExceededError(InvalidParamsError):
    """Well-formed params asking for more than a limit allows (a range too wide, too many results).

    Invalid params (-32602, HTTP 400) with the code ``request_too_large``, which tells a client to narrow
    the request rather than fix its shape; not `RequestTooLargeError`, which is about the HTTP body (413).
    """

    code = "request_too_large"


class ContractUnknownParamsError(InvalidParamsError, NotFoundError):
    """Well-formed params naming a contract that runs nothing on the chain (gusu_getEvents).

    Invalid params (-32602) over JSON-RPC, 404 over REST (the path names a contract that is not there), with
    the code ``contract_unknown`` (as a call to such a contract): the request is well-formed, its meaning fails.
    """

    code = "contract_unknown"


class RangeInvalidError(InvalidParamsError):
    """Well-formed heights that do not make a range: the first above the last (-32602, HTTP 400)."""

    code = "range_invalid"


class InternalApiError(ApiError):
    """Something failed that should not have; the details are in the node's log only."""

    code = "internal_error"


class ServerBusyError(ApiError):
    """The server has as many requests in progress as it allows."""

    code = "server_busy"
    retryable = True


class RequestTimeoutError(ApiError):
    code = "request_timeout"
    retryable = True


class SubscriptionLimitError(ApiError):
    code = "subscriptions_exceeded"


class UnsupportedError(ApiError):
    """The node behind the API does not offer this operation (it is older than the API)."""

    code = "unsupported"


class EthereumRpcError(ApiError):
    """A failure of an ``eth_*`` method, carrying the JSON-RPC code and data Ethereum clients expect.

    `rpc_code` is Ethereum's (3 for a revert, whose `rpc_data` is the revert data as 0x-hex, which
    ethers and web3.py decode; -32000 for a refused transaction or a failed call; -32004 for a method
    this node does not support; -32005 for a query beyond a limit). `code` stays a Gusu code.
    """

    code = "ethereum_error"

    def __init__(self, message: str, rpc_code: int, *, rpc_data: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.rpc_code = rpc_code
        self.rpc_data = rpc_data
        if code is not None:
            self.code = code


INTERNAL_MESSAGE: Final = "internal error while handling the request; the node's log has the details"


def rpc_code_of(error: GusuError) -> int:
    """The JSON-RPC error code for `error`: a standard one for protocol failures, else -32000."""
    if isinstance(error, EthereumRpcError):
        return error.rpc_code
    if isinstance(error, JsonInvalidError):
        return PARSE_ERROR
    if isinstance(error, MethodNotFoundError):
        return METHOD_NOT_FOUND
    if isinstance(error, InvalidParamsError):
        return INVALID_PARAMS
    if isinstance(error, InternalApiError):
        return INTERNAL_ERROR
    if isinstance(error, (RequestTooLargeError, InvalidRequestError)):
        return INVALID_REQUEST
    return GUSU_ERROR


def http_status_of(error: GusuError) -> int:
    """The HTTP status a REST answer (or a refused HTTP request) carries for `error`."""
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, RequestTooLargeError):
        return 413
    if isinstance(error, (MempoolFullError, SenderQuotaError, RateLimitedError)):
        return 429
    if isinstance(error, ServerBusyError):
        return 503
    if isinstance(error, RequestTimeoutError):
        return 504
    if isinstance(error, UnsupportedError):
        return 501
    # The node's own trouble, not the client's.
    if isinstance(error, (InternalApiError, StorageError, NodeError)) or type(error) is LedgerError:
        return 500
    return 400


def error_message(error: GusuError) -> str:
    # GusuError messages are written for users; an empty one still needs words.
    return str(error) or f"the request failed ({error.code})"


def rpc_error_object(error: GusuError) -> JSONObject:
    if isinstance(error, EthereumRpcError) and error.rpc_data is not None:
        # Ethereum clients read a revert's data as a hex string in error.data.
        return {"code": error.rpc_code, "message": error_message(error), "data": error.rpc_data}
    return {
        "code": rpc_code_of(error),
        "message": error_message(error),
        "data": {"code": error.code, "retryable": error.retryable},
    }


def rest_error_object(error: GusuError) -> JSONObject:
    return {"code": error.code, "message": error_message(error), "retryable": error.retryable}
