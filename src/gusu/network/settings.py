"""Settings of the peer-to-peer transport: the ``[p2p]`` section of a node's config.toml.

Every limit the transport enforces is a field here, validated on
construction, so a node never starts with a setting it would misread and
an operator finds all of them in one place. The field types are the ones
TOML has (str, int, float, list of str), so the node's config loader
(`gusu.node.config`) reads the section with its generic settings reader.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass

from gusu.codec import ENCODED_BYTES_MAX
from gusu.errors import ConfigError

MIB = 1024 * 1024
PORT_MAX = 65_535
DEFAULT_P2P_PORT = 26_656

FRAME_BYTES_MIN = 4096
"""The handshake and control messages need a few hundred bytes; nothing smaller makes sense."""

_HOST_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,253}")


def parse_endpoint(text: str, what: str = "[p2p] peers") -> tuple[str, int]:
    """Split ``host:port`` (or ``[v6 address]:port``) and check both parts; ConfigError naming `what`."""
    if not isinstance(text, str):
        raise ConfigError(f"{what}: an endpoint is a string host:port, not {text!r}")
    host, separator, port_text = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not separator or not host or not _HOST_PATTERN.fullmatch(host) or not port_text.isdigit():
        raise ConfigError(f"{what}: {text!r} is not host:port (for example 10.0.0.2:26656 or [::1]:26656)")
    port = int(port_text)
    if not 1 <= port <= PORT_MAX:
        raise ConfigError(f"{what}: the port of {text!r} must be between 1 and {PORT_MAX}")
    return host, port


def format_endpoint(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True, slots=True)
class P2PSettings:
    listen_host: str = "127.0.0.1"
    """Address the transport listens on; 0.0.0.0 for every interface."""
    listen_port: int = DEFAULT_P2P_PORT
    """0 picks a free port (tests); `P2PNetwork.listen_port` then tells which."""
    peers: tuple[str, ...] = ()
    """host:port of the peers to dial and keep connected; others may still dial in if allowed."""
    tls_certificate: str = "tls/node.crt"
    """PEM: this node's certificate followed by its organisation CA's; relative paths are under the node directory."""
    tls_key: str = "tls/node.key"
    """PEM private key (ECDSA P-256) of the TLS certificate, mode 0600."""
    tls_ca: str = "tls/ca.crt"
    """PEM of trusted organisation CAs, used only on chains whose genesis lists no organisation."""
    frame_bytes_max: int = 16 * MIB
    """Largest frame (one encoded message); a peer announcing a larger one is disconnected."""
    receive_buffer_bytes_max: int = 4 * MIB
    """Received, not yet handled bytes per connection beyond which reading pauses (one frame may exceed it)."""
    peer_queue_messages_max: int = 10_000
    """Messages waiting to be sent to one peer."""
    peer_queue_bytes_max: int = 64 * MIB
    """Bytes waiting to be sent to one peer; at least frame_bytes_max."""
    control_queue_messages_max: int = 64
    """Pings, pongs and farewells waiting to be sent to one peer (they jump the queue; the oldest are dropped)."""
    peers_max: int = 64
    """Most connected peers."""
    handshakes_max: int = 32
    """Most connections in their TLS or application handshake at once (bounds slow or idle dialers)."""
    handshake_timeout_s: float = 5.0
    """Time from TCP accept (or dial) to a completed TLS and application handshake."""
    send_timeout_s: float = 10.0
    """How long a reliable (consensus) send waits for room in a full peer queue before disconnecting the peer."""
    close_timeout_s: float = 2.0
    """How long a closing connection may take to flush and say goodbye before it is cut."""
    reconnect_backoff_min_ms: int = 250
    """First delay before redialing a peer; doubles per failure."""
    reconnect_backoff_max_ms: int = 15_000
    """Cap of the redial delay."""
    ping_interval_s: float = 5.0
    """How often a ping is sent to each peer."""
    peer_timeout_s: float = 20.0
    """A peer from which no complete frame arrives for this long is disconnected; above ping_interval_s."""
    receive_messages_per_s: int = 20_000
    """Sustained messages per second read from one peer; beyond it reading from that peer slows down."""
    receive_bytes_per_s: int = 128 * MIB
    """Sustained bytes per second read from one peer; beyond it reading from that peer slows down."""
    receive_burst_s: float = 1.0
    """Seconds of the receive rates a peer may send in one burst."""
    disconnect_log_lines_per_s: int = 10
    """Log lines per disconnect reason and second; the rest are only counted (a flood must not fill the disk)."""
    certificate_check_interval_s: float = 5.0
    """How often the TLS certificate and key files are checked for a renewal (picked up for new connections)
    and certificate expiry is checked for warnings."""

    def __post_init__(self) -> None:
        if not isinstance(self.listen_host, str) or not _HOST_PATTERN.fullmatch(self.listen_host):
            raise ConfigError(f"[p2p] listen_host {self.listen_host!r} must be a host name or IP address")
        _check_int("listen_port", self.listen_port, 0, PORT_MAX)
        if not isinstance(self.peers, tuple):
            raise ConfigError('[p2p] peers must be a list of "host:port" strings')
        for peer in self.peers:
            parse_endpoint(peer)
        if len(set(self.peers)) != len(self.peers):
            raise ConfigError("[p2p] peers lists an endpoint more than once")
        for name in ("tls_certificate", "tls_key", "tls_ca"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"[p2p] {name} must be a file path")
        _check_int("frame_bytes_max", self.frame_bytes_max, FRAME_BYTES_MIN, ENCODED_BYTES_MAX)
        _check_int("receive_buffer_bytes_max", self.receive_buffer_bytes_max, FRAME_BYTES_MIN, 1 << 34)
        _check_int("peer_queue_messages_max", self.peer_queue_messages_max, 1, 10_000_000)
        _check_int("peer_queue_bytes_max", self.peer_queue_bytes_max, self.frame_bytes_max, 1 << 36)
        _check_int("control_queue_messages_max", self.control_queue_messages_max, 4, 10_000)
        _check_int("peers_max", self.peers_max, 1, 10_000)
        _check_int("handshakes_max", self.handshakes_max, 1, 10_000)
        _check_int("reconnect_backoff_min_ms", self.reconnect_backoff_min_ms, 1, 3_600_000)
        _check_int("reconnect_backoff_max_ms", self.reconnect_backoff_max_ms, self.reconnect_backoff_min_ms, 3_600_000)
        _check_int("receive_messages_per_s", self.receive_messages_per_s, 1, 10_000_000)
        _check_int("receive_bytes_per_s", self.receive_bytes_per_s, FRAME_BYTES_MIN, 1 << 40)
        _check_int("disconnect_log_lines_per_s", self.disconnect_log_lines_per_s, 1, 1_000_000)
        for name in (
            "handshake_timeout_s",
            "send_timeout_s",
            "close_timeout_s",
            "ping_interval_s",
            "peer_timeout_s",
            "receive_burst_s",
            "certificate_check_interval_s",
        ):
            _check_seconds(name, getattr(self, name))
        if self.peer_timeout_s <= self.ping_interval_s:
            raise ConfigError(
                f"[p2p] peer_timeout_s ({self.peer_timeout_s}) must exceed ping_interval_s ({self.ping_interval_s}), "
                "or idle but healthy peers are cut off; about 3 pings per timeout is usual"
            )

    @property
    def peer_endpoints(self) -> tuple[tuple[str, int], ...]:
        return tuple(parse_endpoint(peer) for peer in self.peers)


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"[p2p] {name} must be an integer between {low} and {high}, not {value!r}")


def _check_seconds(name: str, value: object) -> None:
    if (
        not isinstance(value, (int, float))
        or isinstance(value, bool)
        or not math.isfinite(value)
        or not 0 < value <= 86_400
    ):
        raise ConfigError(f"[p2p] {name} must be a number of seconds above 0 and at most 86400, not {value!r}")


def render_p2p_section(settings: P2PSettings) -> str:
    """The ``[p2p]`` section `gusu chain init` writes: the node's own values, limits commented with defaults."""
    defaults = P2PSettings()
    peers = ", ".join(json.dumps(peer) for peer in settings.peers)
    lines = [
        "# Peer-to-peer transport (TLS 1.3, mutual authentication); see docs/network.md.",
        "[p2p]",
        f"listen_host = {json.dumps(settings.listen_host)}",
        f"listen_port = {settings.listen_port}",
        f"peers = [{peers}]",
        f"tls_certificate = {json.dumps(settings.tls_certificate)}",
        f"tls_key = {json.dumps(settings.tls_key)}",
        f"tls_ca = {json.dumps(settings.tls_ca)}",
    ]
    for item in dataclasses.fields(P2PSettings):
        if item.name in {"listen_host", "listen_port", "peers", "tls_certificate", "tls_key", "tls_ca"}:
            continue
        value = getattr(settings, item.name)
        line = f"{item.name} = {value!r}"
        # Only values that differ from the defaults are set; the rest are shown for reference.
        lines.append(line if value != getattr(defaults, item.name) else f"# {line}")
    return "\n".join(lines) + "\n"
