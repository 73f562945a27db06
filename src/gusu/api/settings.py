"""Settings of the API server (the ``[api]`` section of the node config).

Every limit the server enforces is a field here, so an operator can see
and tune all of them in one place. Validation happens on construction:
a server never starts with a setting it would misread.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from gusu.errors import ConfigError
from gusu.ledger.types import BLOCK_TRANSACTIONS_MAX

MIB = 1024 * 1024
PORT_MAX = 65535
GATEWAY_WORKERS_MAX = 64


@dataclass(frozen=True, slots=True)
class ApiSettings:
    host: str = "127.0.0.1"
    port: int = 8545
    """0 picks a free port (tests); `ApiServer.url` then tells which."""
    body_bytes_max: int = 8 * MIB
    """Largest HTTP request body, and largest WebSocket message."""
    batch_requests_max: int = 1000
    """Longest JSON-RPC batch."""
    transactions_per_request_max: int = 5000
    """Most raw transactions one HTTP request or WebSocket message may submit."""
    connections_max: int = 1024
    """Most requests in progress plus open WebSockets; beyond it the server answers 503."""
    websocket_subscriptions_max: int = 32
    """Per WebSocket connection."""
    websocket_queue_messages_max: int = 10_000
    """Messages waiting to be sent on one WebSocket; a subscriber that lets it fill is disconnected."""
    websocket_requests_in_flight_max: int = 64
    """Requests one WebSocket may have running at once; reading pauses beyond it."""
    websocket_heartbeat_s: float = 30.0
    """Ping interval that detects WebSocket peers which vanished without closing."""
    websocket_close_timeout_s: float = 5.0
    """How long closing a WebSocket may wait for the peer (a stalled one is then cut off)."""
    request_timeout_s: float = 30.0
    """Longest time one request (or one batch) may take before it is answered with a timeout."""
    shutdown_timeout_s: float = 5.0
    """How long stopping the server waits for requests in progress to finish."""
    json_depth_max: int = 64
    """Deepest JSON nesting accepted in a request (contract values nest at most 32 levels)."""
    sender_transactions_max: int = 1000
    """Most transactions one page of an account's history may ask for (gusu_getTransactionsBySender)."""
    evidence_records_max: int = 100
    """Most equivocation evidence records one page may ask for (gusu_evidence, GET /v1/evidence)."""
    events_block_range_max: int = 1_000
    """Blocks one gusu_getEvents (GET /v1/contracts/{contract}/events) may search."""
    events_results_max: int = 10_000
    """Events one gusu_getEvents may return; beyond it the request is refused and the client narrows the range."""
    events_receipts_max: int = BLOCK_TRANSACTIONS_MAX
    """Receipts one gusu_getEvents may read (about 15 µs each); a range holding more is refused, so one request's
    work is bounded. At least the most transactions a block holds, so that any one block can be searched."""
    cors_origins: tuple[str, ...] = ()
    """Origins browsers may call from; ``"*"`` allows any. Empty: no CORS headers."""
    gateway_workers: int = 0
    """RPC gateway processes serving POST /rpc on `gateway_port` from other cores (`gusu.api.gateway`): they
    read requests and recover the senders of Ethereum transactions, the node answers. 0: no gateway."""
    gateway_port: int = 8547
    """The RPC gateway's port, when `gateway_workers` > 0; 0 picks a free one (the ready record tells)."""
    gateway_restarts_max: int = 10
    """Times a gateway process that exited is started again before the node leaves it stopped."""

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host.strip():
            raise ConfigError("api.host must be a non-empty host name or IP address, e.g. 127.0.0.1")
        _check_int("port", self.port, 0, PORT_MAX)
        _check_int("gateway_port", self.gateway_port, 0, PORT_MAX)
        _check_int("gateway_workers", self.gateway_workers, 0, GATEWAY_WORKERS_MAX)
        _check_int("gateway_restarts_max", self.gateway_restarts_max, 0, None)
        if self.gateway_workers and self.gateway_port != 0 and self.gateway_port == self.port:
            raise ConfigError(f"api.gateway_port and api.port are both {self.port}; give the gateway a port of its own")
        for name in (
            "body_bytes_max",
            "batch_requests_max",
            "transactions_per_request_max",
            "connections_max",
            "websocket_subscriptions_max",
            "websocket_queue_messages_max",
            "websocket_requests_in_flight_max",
            "json_depth_max",
            "sender_transactions_max",
            "evidence_records_max",
            "events_block_range_max",
            "events_results_max",
        ):
            _check_int(name, getattr(self, name), 1, None)
        for name in ("request_timeout_s", "websocket_heartbeat_s", "websocket_close_timeout_s", "shutdown_timeout_s"):
            _check_seconds(name, getattr(self, name))
        _check_int("events_receipts_max", self.events_receipts_max, BLOCK_TRANSACTIONS_MAX, None)
        if self.json_depth_max > _JSON_PARSER_DEPTH_MAX:
            raise ConfigError(
                f"api.json_depth_max is {self.json_depth_max}; the JSON parser stops at "
                f"{_JSON_PARSER_DEPTH_MAX} levels, so use at most that"
            )
        if not isinstance(self.cors_origins, tuple) or not all(
            isinstance(origin, str) and origin for origin in self.cors_origins
        ):
            raise ConfigError('api.cors_origins must be a list of origins such as "https://app.example" or "*"')
        for origin in self.cors_origins:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ConfigError(
                    f'api.cors_origins has {origin!r}; an origin is "*" or starts with http:// or https://'
                )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ApiSettings:
        """Build settings from a parsed config section, rejecting unknown keys (likely typos)."""
        known = {field.name for field in fields(cls)}
        unknown = sorted(str(key) for key in values if key not in known)
        if unknown:
            raise ConfigError(f"unknown api setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        arguments = dict(values)
        if isinstance(arguments.get("cors_origins"), list):
            # TOML has arrays, not tuples.
            arguments["cors_origins"] = tuple(arguments["cors_origins"])
        return cls(**arguments)


_JSON_PARSER_DEPTH_MAX = 1024
"""orjson's own nesting limit."""


def _check_int(name: str, value: object, minimum: int, maximum: int | None) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"api.{name} must be an integer, found {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise ConfigError(f"api.{name} must be {bound}, found {value}")


def _check_seconds(name: str, value: object) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ConfigError(f"api.{name} must be a number of seconds, found {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"api.{name} must be a positive number of seconds, found {value}")
