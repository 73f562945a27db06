"""The transport's pure parts: settings, message codecs, backoff and rate limits."""

from __future__ import annotations

import contextlib
import random
import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gusu.codec import encode
from gusu.errors import CodecError, ConfigError
from gusu.ledger.types import Address, Hash
from gusu.network.messages import (
    MESSAGE_OVERHEAD_MAX,
    Bye,
    Hello,
    KeyProof,
    Ping,
    Pong,
    decode_control,
    decode_message,
    encode_control,
    encode_message,
    frame,
)
from gusu.network.pacing import TokenBucket, compute_backoff_ms
from gusu.network.settings import P2PSettings, parse_endpoint, render_p2p_section
from gusu.node.config import compute_settings

# --- settings -------------------------------------------------------------------------------------


def test_default_settings_are_valid() -> None:
    settings = P2PSettings()
    assert settings.frame_bytes_max == 16 * 1024 * 1024
    assert settings.peer_queue_messages_max == 10_000
    assert settings.peers_max == 64


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"listen_port": 70_000}, "listen_port"),
        ({"listen_host": "bad host!"}, "listen_host"),
        ({"peers": ("nohost",)}, "peers"),
        ({"peers": ("a:1", "a:1")}, "more than once"),
        ({"frame_bytes_max": 100}, "frame_bytes_max"),
        ({"frame_bytes_max": 1 << 30}, "frame_bytes_max"),
        ({"peer_queue_bytes_max": 1024}, "peer_queue_bytes_max"),
        ({"peer_queue_messages_max": 0}, "peer_queue_messages_max"),
        ({"peers_max": 0}, "peers_max"),
        ({"handshake_timeout_s": 0}, "handshake_timeout_s"),
        ({"handshake_timeout_s": float("nan")}, "handshake_timeout_s"),
        ({"reconnect_backoff_max_ms": 10, "reconnect_backoff_min_ms": 20}, "reconnect_backoff_max_ms"),
        ({"ping_interval_s": 30.0, "peer_timeout_s": 20.0}, "peer_timeout_s"),
        ({"receive_messages_per_s": True}, "receive_messages_per_s"),
        ({"tls_key": ""}, "tls_key"),
    ],
)
def test_invalid_settings_name_the_setting(overrides: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        P2PSettings(**overrides)  # type: ignore[arg-type]


def test_settings_from_a_toml_table() -> None:
    settings = compute_settings(
        P2PSettings, {"peers": ["10.0.0.2:26656", "[::1]:26657"], "handshake_timeout_s": 3}, "p2p"
    )
    assert settings.peers == ("10.0.0.2:26656", "[::1]:26657")
    assert settings.handshake_timeout_s == 3.0
    assert settings.peer_endpoints == (("10.0.0.2", 26656), ("::1", 26657))
    with pytest.raises(ConfigError, match="unknown setting"):
        compute_settings(P2PSettings, {"peer": []}, "p2p")
    with pytest.raises(ConfigError, match="wrong type"):
        compute_settings(P2PSettings, {"listen_port": "26656"}, "p2p")
    with pytest.raises(ConfigError, match="wrong type"):
        compute_settings(P2PSettings, {"peers": "a:1"}, "p2p")


def test_rendered_section_reads_back() -> None:
    settings = P2PSettings(listen_port=30_000, peers=("127.0.0.1:30001",), peers_max=8, send_timeout_s=3.5)
    text = render_p2p_section(settings)
    assert "# frame_bytes_max" in text  # defaults are shown commented out
    assert compute_settings(P2PSettings, tomllib.loads(text)["p2p"], "p2p") == settings


@pytest.mark.parametrize("text", ["host", "host:", ":1", "host:0", "host:99999", "a b:1", "[::1]", "h:1x"])
def test_bad_endpoints_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="peers"):
        parse_endpoint(text)


# --- messages ---------------------------------------------------------------------------------------


def test_control_messages_round_trip() -> None:
    for message in (
        Hello(2, "chain", Hash(bytes(32)), Address(bytes(range(20))), bytes(range(32))),
        KeyProof(bytes(64)),
        Ping(7),
        Pong(2**64 - 1),
        Bye("shutdown", "the node is stopping"),
    ):
        channel, body = decode_message(encode_control(message))
        assert channel == "p2p"
        assert decode_control(body) == message


def test_message_overhead_is_bounded() -> None:
    for size in (0, 31, 32, 255, 256, 65_535, 65_536, 1 << 20):
        assert len(encode_message("a" * 32, bytes(size))) - size <= MESSAGE_OVERHEAD_MAX
    assert frame(b"abc") == b"\x00\x00\x00\x03abc"


@pytest.mark.parametrize(
    "value",
    [b"\x91\xa1a", b"\x92\x01\xc4\x00", b"\x92\xa1A\xc4\x00", b"\x92\xa0\xc4\x00", b"\x93\xa1a\xc4\x00\xc0", b"\x80"],
)
def test_malformed_messages_are_codec_errors(value: bytes) -> None:
    with pytest.raises(CodecError):
        decode_message(value)


@given(st.binary(max_size=300))
def test_decoders_raise_only_codec_errors(data: bytes) -> None:
    for decoder in (decode_message, decode_control):
        with contextlib.suppress(CodecError):
            decoder(data)


@given(st.lists(st.one_of(st.integers(-5, 2**64 - 1), st.binary(max_size=40), st.text(max_size=40)), max_size=6))
def test_control_decoder_on_well_formed_lists(items: list[object]) -> None:
    for tag in ("gusu.p2p.hello.v1", "gusu.p2p.ping.v1", "gusu.p2p.bye.v1", "x"):
        with contextlib.suppress(CodecError):
            decode_control(encode([tag, *items]))  # type: ignore[list-item]


# --- pacing -------------------------------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap_with_bounded_jitter() -> None:
    rng = random.Random(1)
    for failures, ceiling in ((0, 100), (1, 200), (2, 400), (5, 3200), (6, 5000), (60, 5000)):
        for _ in range(50):
            delay = compute_backoff_ms(failures, 100, 5000, rng)
            assert ceiling / 2 <= delay <= ceiling


def test_backoff_is_reproducible_from_the_random_source() -> None:
    first = [compute_backoff_ms(n, 250, 15_000, random.Random(42)) for n in range(10)]
    assert first == [compute_backoff_ms(n, 250, 15_000, random.Random(42)) for n in range(10)]


def test_token_bucket_paces_beyond_the_burst() -> None:
    now = [0.0]
    bucket = TokenBucket(100, 1.0, lambda: now[0])  # 100 per second, a burst of 100
    assert all(bucket.delay_for(1) == 0 for _ in range(100))
    assert bucket.delay_for(1) == pytest.approx(0.01)
    now[0] += 1.0
    assert bucket.delay_for(50) == 0
    assert bucket.delay_for(500) == pytest.approx(4.51)  # a large item passes, followed by a pause
