"""ApiSettings: the documented defaults, and a ConfigError naming any bad setting."""

from __future__ import annotations

from typing import Any

import pytest

from gusu.api.settings import ApiSettings
from gusu.errors import ConfigError


def test_defaults_match_the_documentation() -> None:
    settings = ApiSettings()
    assert (settings.host, settings.port) == ("127.0.0.1", 8545)
    assert settings.body_bytes_max == 8 * 1024 * 1024
    assert settings.batch_requests_max == 1000
    assert settings.transactions_per_request_max == 5000
    assert settings.connections_max == 1024
    assert settings.websocket_subscriptions_max == 32
    assert settings.websocket_queue_messages_max == 10_000
    assert settings.request_timeout_s == 30
    assert settings.cors_origins == ()


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"host": ""}, "api.host"),
        ({"port": 70000}, "api.port"),
        ({"port": -1}, "api.port"),
        ({"port": "8545"}, "api.port"),
        ({"body_bytes_max": 0}, "api.body_bytes_max"),
        ({"batch_requests_max": True}, "api.batch_requests_max"),
        ({"transactions_per_request_max": 1.5}, "api.transactions_per_request_max"),
        ({"connections_max": 0}, "api.connections_max"),
        ({"websocket_subscriptions_max": -3}, "api.websocket_subscriptions_max"),
        ({"websocket_queue_messages_max": 0}, "api.websocket_queue_messages_max"),
        ({"websocket_requests_in_flight_max": 0}, "api.websocket_requests_in_flight_max"),
        ({"request_timeout_s": 0}, "api.request_timeout_s"),
        ({"request_timeout_s": float("inf")}, "api.request_timeout_s"),
        ({"websocket_heartbeat_s": "30"}, "api.websocket_heartbeat_s"),
        ({"shutdown_timeout_s": -1.0}, "api.shutdown_timeout_s"),
        ({"json_depth_max": 5000}, "api.json_depth_max"),
        ({"cors_origins": ["https://a.example"]}, "api.cors_origins"),
        ({"cors_origins": ("a.example",)}, "api.cors_origins"),
    ],
)
def test_invalid_settings_are_refused_by_name(changes: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        ApiSettings(**changes)


def test_from_mapping() -> None:
    settings = ApiSettings.from_mapping({"port": 9000, "cors_origins": ["*"]})
    assert settings.port == 9000 and settings.cors_origins == ("*",)
    with pytest.raises(ConfigError, match=r"unknown api setting.*bodybytes_max"):
        ApiSettings.from_mapping({"bodybytes_max": 5})
