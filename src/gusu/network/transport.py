"""`P2PNetwork`: authenticated, framed, bounded connections between a chain's nodes.

Life of a connection (docs/network.md has the full protocol):

1. TCP connect (dialing a configured peer, or accepting one), then TLS 1.3
   with mutual authentication under the trusted organisations' own CAs
   (`gusu.network.tls`); the peer's certificate must be issued by the CA of
   the organisation its O= names, and neither it nor that CA may be revoked
   (`gusu.network.trust`).
2. Each side sends a `Hello` (protocol version, chain id, genesis hash, its
   consensus address, a fresh nonce) and checks the other's: same version,
   chain and genesis; the claimed address equals the one in the peer's
   certificate; the address is a validator's (the node passes a lookup
   address -> (organisation, consensus public key), normally genesis's),
   and the certificate's organisation is that validator's. Then each side
   sends a `KeyProof`, a signature by its consensus key over both nonces and
   both certificates (`gusu.network.handshake`), and verifies the other's
   against the claimed validator's public key. All of 1 and 2 must finish
   within ``handshake_timeout_s``.
3. Registration: one connection per pair of nodes. When both dialed at
   once, the connection dialed by the node with the lower address wins on
   both sides; the other is *retired*: each side says `Bye` after its last
   frame and reads until the other's `Bye`, so nothing sent on it is lost.
4. Session: a reader (frames → checks → handlers), a writer (per-peer
   queues → socket) and a pinger run until something ends the connection.
   Whatever a peer sends that breaks the protocol ends its connection with
   a logged, counted `DisconnectReason`; it never raises into the node.

Send queues belong to the peer (not the connection) and are bounded in
messages and bytes. Channels are reliable (consensus, sync: the sender
waits for room up to ``send_timeout_s``, then the peer is disconnected) or
drop-oldest (transaction gossip: the oldest queued gossip makes room and is
counted). Reliable traffic is written before gossip.

Trust changes (`enforce_trust`, which the node calls after every commit):
the trusted organisations are re-read from `get_trusted_organizations`;
when they changed, new connections use TLS contexts rebuilt for them and
peers of a removed (or re-keyed) organisation are disconnected; peers whose
certificate or CA is revoked (`is_revoked`) are disconnected; peers no
longer validators are disconnected (`enforce_allowed`).

Certificate renewal: every ``certificate_check_interval_s`` the TLS
certificate and key files are checked; when they changed (and still name
this node), new connections present the new certificate while existing
connections keep theirs. The same pass logs a warning when a watched
certificate (this node's, a trusted CA, a peer's) has 30, 7 or 1 days left,
once per threshold.

Everything runs on one event loop; nothing here is thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
import itertools
import logging
import random
import secrets
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from gusu.crypto import CryptoSuite
from gusu.errors import CodecError, ConfigError, GusuError
from gusu.ledger.types import Address, Hash
from gusu.network.connection import ConnectionEnded, FrameProtocol
from gusu.network.errors import (
    MessageTooLargeError,
    NetworkError,
    PeerIdentityError,
    PeerUnavailableError,
    UnknownChannelError,
)
from gusu.network.handshake import (
    HandshakeTranscript,
    NonceSource,
    Role,
    Signer,
    ValidatorCredential,
    ValidatorLookup,
    compute_certificate_hash,
    create_key_proof,
    is_valid_key_proof,
)
from gusu.network.identity import NodeIdentity, get_node_identity_from_der
from gusu.network.messages import (
    CONTROL_CHANNEL,
    DEFAULT_CHANNELS,
    HANDSHAKE_NONCE_SIZE,
    LENGTH_PREFIX_SIZE,
    MESSAGE_OVERHEAD_MAX,
    PROTOCOL_VERSION,
    Bye,
    ChannelSpec,
    ControlMessage,
    Delivery,
    DisconnectReason,
    Hello,
    KeyProof,
    Ping,
    Pong,
    check_channel_name,
    decode_control,
    decode_message,
    encode_control,
    encode_message,
    frame,
)
from gusu.network.metrics import NetworkMetrics
from gusu.network.pacing import TokenBucket, compute_backoff_ms
from gusu.network.settings import P2PSettings, format_endpoint, parse_endpoint
from gusu.network.tls import TlsContexts, TlsFiles, build_tls_contexts
from gusu.network.trust import (
    CertificateExpiry,
    GetTrustedOrganizations,
    IsRevoked,
    TrustAnchor,
    TrustedOrganizations,
    compute_certificate_sha256,
    format_remaining,
    get_certificate_expiry,
    get_expiry_warning_days,
    get_organization_name,
    is_issued_by_anchor,
    now_s,
)

logger = logging.getLogger("gusu.network")
_DER = Encoding.DER

Handler = Callable[[Address, bytes], Awaitable[None] | None]
"""A subscriber: called with the sending peer's address and the message body.

Handlers run on the peer's reader, one message at a time, so a slow handler
slows down (only) that peer; hand long work to a queue. A handler that
raises a `GusuError` declares the message invalid and the peer is
disconnected (``invalid_message``), except a `NetworkError` (the transport
failing inside the handler, not the sender's fault); any other exception
is a bug: it is logged with its traceback and counted, and the connection
stays.
"""

# Reasons a peer gives in its Bye that mean "I keep another connection with you": the
# peer's queue then lingers briefly for that connection instead of being discarded.
_SWITCHING_REASONS = frozenset({DisconnectReason.DUPLICATE.value, DisconnectReason.REPLACED.value})
# Routine endings, logged at info; every other reason is a fault worth a warning.
_QUIET_REASONS = frozenset(
    {
        DisconnectReason.SHUTDOWN,
        DisconnectReason.REMOTE_CLOSED,
        DisconnectReason.CONNECTION_LOST,
        DisconnectReason.DUPLICATE,
        DisconnectReason.REPLACED,
    }
)


@dataclass(frozen=True, slots=True)
class LocalIdentity:
    """Who this node is on the network; the handshake sends it and expects the same chain back."""

    chain_id: str
    genesis_hash: Hash
    address: Address


@dataclass(frozen=True, slots=True)
class PeerInfo:
    address: Address
    organization: str
    endpoint: str
    """Remote host:port of the connection in use."""
    outbound: bool
    """True if this node dialed the connection."""
    connected_for_s: float
    rtt_ms: float | None
    """Round trip of the last answered ping; None until one is answered."""
    queued_messages: int
    queued_bytes: int
    messages_in: int
    messages_out: int
    bytes_in: int
    bytes_out: int
    gossip_dropped: int


def get_certificate_expiry_seconds(network: P2PNetwork | None) -> tuple[tuple[str, str, float], ...]:
    """(kind, subject, seconds left) per watched certificate, one per (kind, subject): the metric's samples."""
    if network is None:
        return ()
    moment = now_s()
    samples: dict[tuple[str, str], float] = {}
    for expiry in network.get_certificate_expiries():
        key = (expiry.kind, expiry.subject)
        remaining = expiry.get_remaining_s(moment)
        samples[key] = min(remaining, samples.get(key, remaining))
    return tuple((kind, subject, remaining) for (kind, subject), remaining in sorted(samples.items()))


class _State:
    HANDSHAKE = "handshake"
    ACTIVE = "active"
    RETIRING = "retiring"
    CLOSED = "closed"


class _Link:
    """A connection that passed the handshake."""

    def __init__(
        self,
        protocol: FrameProtocol,
        identity: NodeIdentity,
        credential: ValidatorCredential,
        *,
        certificate: x509.Certificate,
        outbound: bool,
        preferred: bool,
        clock: Callable[[], float],
        settings: P2PSettings,
    ) -> None:
        self.protocol = protocol
        self.address = identity.address
        self.organization = identity.organization
        self.certificate = certificate
        """The peer's TLS certificate on this connection (revocation, trust and expiry are checked on it)."""
        self.credential = credential
        """What the peer was authenticated against; `enforce_allowed` compares it with the lookup's."""
        self.outbound = outbound
        self.preferred = preferred
        self.endpoint = protocol.peer_endpoint()
        self.state = _State.HANDSHAKE
        self.peer: _Peer | None = None
        self.predecessor: _Link | None = None
        self.closing: asyncio.Future[tuple[DisconnectReason, str]] = asyncio.get_running_loop().create_future()
        self.closed = asyncio.Event()
        self.bye_sent = False
        self.retire_reason: DisconnectReason | None = None
        self.retire_timer: asyncio.TimerHandle | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.connected_at = clock()
        self.ping_outstanding: tuple[int, float] | None = None
        self.rtt_ms: float | None = None
        self.message_bucket = TokenBucket(settings.receive_messages_per_s, settings.receive_burst_s, clock)
        self.byte_bucket = TokenBucket(settings.receive_bytes_per_s, settings.receive_burst_s, clock)

    @property
    def label(self) -> str:
        direction = "to" if self.outbound else "from"
        return f"peer {self.address.hex()[:12]} ({self.organization}, {direction} {self.endpoint})"


class _Peer:
    """A connected (or briefly switching) peer: its send queues outlive any one connection."""

    def __init__(self, identity: NodeIdentity, credential: ValidatorCredential, settings: P2PSettings) -> None:
        self.address = identity.address
        self.organization = identity.organization
        self.credential = credential
        self.active: _Link | None = None
        self.control: deque[bytes] = deque()
        self.reliable: deque[tuple[str, bytes]] = deque()
        self.lossy: deque[tuple[str, bytes]] = deque()
        self.queued_messages = 0
        self.queued_bytes = 0
        self.messages_max = settings.peer_queue_messages_max
        self.bytes_max = settings.peer_queue_bytes_max
        self.control_max = settings.control_queue_messages_max
        self.has_data = asyncio.Event()
        self.space = asyncio.Event()
        self.gone = asyncio.Event()
        self.linger: asyncio.TimerHandle | None = None
        self.messages_in = 0
        self.messages_out = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.gossip_dropped = 0

    def fits(self, size: int) -> bool:
        return self.queued_messages < self.messages_max and self.queued_bytes + size <= self.bytes_max

    def push_control(self, data: bytes) -> None:
        self.control.append(data)
        while len(self.control) > self.control_max:
            self.control.popleft()  # pings and pongs are superseded by newer ones
        self.has_data.set()

    def pop(self) -> tuple[str, bytes] | None:
        if self.control:
            return CONTROL_CHANNEL, self.control.popleft()
        queue = self.reliable if self.reliable else self.lossy
        if not queue:
            return None
        channel, data = queue.popleft()
        self.queued_messages -= 1
        self.queued_bytes -= len(data)
        self.space.set()
        return channel, data

    def evict_oldest_gossip(self) -> bool:
        if not self.lossy:
            return False
        _, data = self.lossy.popleft()
        self.queued_messages -= 1
        self.queued_bytes -= len(data)
        self.gossip_dropped += 1
        return True

    def discard_queues(self) -> int:
        count = self.queued_messages
        self.control.clear()
        self.reliable.clear()
        self.lossy.clear()
        self.queued_messages = 0
        self.queued_bytes = 0
        return count


class _Queued(enum.Enum):
    QUEUED = "queued"
    DROPPED = "dropped"
    """A drop-oldest message that found the queue full of reliable traffic (counted)."""
    NO_ROOM = "no_room"
    """A reliable message that must wait for room."""


class _HandshakeFailed(Exception):
    def __init__(self, reason: DisconnectReason, detail: str, *, is_self: bool = False) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.is_self = is_self
        """The peer is this very node (its certificate is ours): the endpoint is not dialed again."""


_M = TypeVar("_M", Hello, KeyProof)


class P2PNetwork:
    """The node's peer-to-peer transport. Build it, `await start()`, and `await stop()` when done."""

    def __init__(
        self,
        settings: P2PSettings,
        *,
        local: LocalIdentity,
        tls: TlsFiles | TlsContexts,
        suite: CryptoSuite,
        sign: Signer,
        get_validator: ValidatorLookup,
        channels: Mapping[str, ChannelSpec] = DEFAULT_CHANNELS,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        nonce_source: NonceSource = secrets.token_bytes,
        get_trusted_organizations: GetTrustedOrganizations | None = None,
        is_revoked: IsRevoked | None = None,
    ) -> None:
        """`tls`: the node's certificate files (or contexts already built from them: then neither a
        renewal nor a change of the trusted organisations can rebuild them).

        `get_trusted_organizations` returns the organisations whose CAs are
        trusted now (name -> DER CA certificate; genesis's, later the chain
        registry's); None or an empty answer trusts the CA file ``tls_ca``
        (a chain whose genesis lists no organisation). `is_revoked(sha256)`
        says whether the certificate with that SHA-256 (of its DER) is
        revoked; it is asked about each peer's certificate and its
        organisation CA at the handshake and in `enforce_trust`.

        `suite` is the chain's crypto suite (hashes and verifies key proofs);
        `sign` signs a suite digest with this node's consensus key
        (`gusu.network.handshake.make_key_signer`). `get_validator` is asked
        at each handshake for the claimed address's organisation and
        consensus public key (normally genesis's validators:
        `get_validator_lookup`); None refuses the peer (``not_allowed``).
        `rng` supplies the redial jitter (a seeded one makes tests
        reproducible); `clock` the monotonic time of rate limits and RTTs;
        `nonce_source` the handshake nonces (the OS CSPRNG; tests may inject
        another).
        """
        self._settings = settings
        self._local = local
        self._get_trusted_organizations = get_trusted_organizations
        self._is_revoked = is_revoked
        self._trusted: TrustedOrganizations = self._read_trusted() or {}
        self._tls_files = tls if isinstance(tls, TlsFiles) else None
        self._tls = tls if isinstance(tls, TlsContexts) else build_tls_contexts(tls, self._trusted)
        self._tls_files_signature = self._get_tls_files_signature()
        self._expiry_warned: dict[bytes, frozenset[int]] = {}
        if self._tls.identity.address != local.address:
            raise ConfigError(
                f"the TLS certificate names node {self._tls.identity.address.hex()} but this node's consensus "
                f"address is {local.address.hex()}; use the certificate issued for this node's key"
            )
        self._suite = suite
        self._sign = sign
        self._get_validator = get_validator
        self._nonce_source = nonce_source
        self._check_own_credential()
        for name, spec in channels.items():
            check_channel_name(name)
            if spec.body_bytes_max is not None and not 0 < spec.body_bytes_max <= self._body_bytes_max:
                raise ConfigError(
                    f"channel {name!r} body_bytes_max must be between 1 and {self._body_bytes_max} "
                    "([p2p] frame_bytes_max less the message overhead)"
                )
        self._channels = dict(channels)
        self._rng = rng if rng is not None else random.Random()
        self._clock = clock
        self.metrics = NetworkMetrics()
        self._handlers: dict[str, list[Handler]] = {}
        self._connected_listeners: list[Callable[[Address], None]] = []
        self._peers: dict[Address, _Peer] = {}
        self._links: set[_Link] = set()
        self._endpoints: list[str] = list(settings.peers)
        self._endpoint_addresses: dict[str, Address] = {}
        self._dialers: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._handshake_tasks: set[asyncio.Task[None]] = set()
        self._log_windows: dict[DisconnectReason, tuple[float, int, int]] = {}
        self._inbound_handshakes = 0
        self._server: asyncio.AbstractServer | None = None
        self._certificate_task: asyncio.Task[None] | None = None
        self._listen_port: int | None = None
        self._running = False
        self._stopping = False
        self._nonces = itertools.count(1)

    def _check_own_credential(self) -> None:
        """Fail at start-up where every peer would otherwise refuse us, one handshake at a time."""
        own = self._lookup(self._local.address)
        if own is None:
            logger.warning(
                "p2p: this node's address %s is not a validator's, so validators will not accept its connections",
                self._local.address.hex(),
            )
            return
        if own.organization != self._tls.identity.organization:
            raise ConfigError(
                f"this node's TLS certificate names organisation {self._tls.identity.organization!r} but genesis "
                f"assigns validator {self._local.address.hex()} to {own.organization!r}; use a certificate "
                f"issued by {own.organization!r}'s CA"
            )
        probe = self._suite.hash(b"gusu p2p start-up check of the consensus key")
        try:
            signature = self._sign(probe)
        except GusuError as error:
            raise ConfigError(f"this node cannot sign with its consensus key: {error}") from error
        if not self._suite.verify(own.public_key, probe, signature):
            raise ConfigError(
                f"this node's consensus key does not sign as validator {self._local.address.hex()}'s genesis "
                "public key; start the node with that validator's key"
            )

    # --- public API ----------------------------------------------------------------------------

    @property
    def address(self) -> Address:
        return self._local.address

    @property
    def listen_port(self) -> int:
        """The port listened on (the OS's choice when ``listen_port`` is 0); valid after `start`."""
        if self._listen_port is None:
            raise PeerUnavailableError("the network is not started; call start() first")
        return self._listen_port

    @property
    def listen_endpoint(self) -> str:
        return format_endpoint(self._settings.listen_host, self.listen_port)

    async def start(self) -> None:
        """Listen, and dial every configured peer. ConfigError if the address cannot be bound."""
        if self._running:
            return
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                self._accept, self._settings.listen_host, self._settings.listen_port, reuse_address=True
            )
        except OSError as error:
            raise ConfigError(
                f"cannot listen on {self._settings.listen_host}:{self._settings.listen_port} ([p2p] listen_host, "
                f"listen_port): {error}; choose a free port or stop what uses it"
            ) from error
        sockets = self._server.sockets
        self._listen_port = int(sockets[0].getsockname()[1]) if sockets else self._settings.listen_port
        self._running = True
        self._stopping = False
        for endpoint in self._endpoints:
            self._start_dialer(endpoint)
        self._certificate_task = loop.create_task(self._certificate_loop())
        logger.info("p2p listening on %s as %s", self.listen_endpoint, self.address.hex())

    async def stop(self) -> None:
        """Say goodbye to every peer, close every connection and stop dialing. Idempotent."""
        if not self._running:
            return
        self._stopping = True
        self._running = False
        if self._server is not None:
            self._server.close()
        if self._certificate_task is not None:
            self._certificate_task.cancel()
            self._certificate_task = None
        for task in [*self._dialers.values(), *self._handshake_tasks]:
            task.cancel()  # a handshake in progress is cut (its socket aborted), not waited for
        for link in list(self._links):
            self._close_link(link, DisconnectReason.SHUTDOWN, "the node is stopping")
        pending = list(self._tasks) + list(self._dialers.values())
        if pending:
            _, still = await asyncio.wait(pending, timeout=self._settings.close_timeout_s * 2 + 1)
            for task in still:
                task.cancel()
            if still:
                await asyncio.wait(still, timeout=1)
        for peer in list(self._peers.values()):
            self._drop_peer(peer)
        self._dialers.clear()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), timeout=1)
            self._server = None

    def add_peer(self, endpoint: str) -> None:
        """Dial `endpoint` (host:port) and keep it connected, like an entry of ``[p2p] peers``."""
        parse_endpoint(endpoint, "add_peer")
        if endpoint in self._endpoints:
            return
        self._endpoints.append(endpoint)
        if self._running:
            self._start_dialer(endpoint)

    def subscribe(self, channel: str, handler: Handler) -> None:
        """Call `handler(peer_address, body)` for every message received on `channel`."""
        self._channel_spec(channel)
        self._handlers.setdefault(channel, []).append(handler)

    def on_connected(self, listener: Callable[[Address], None]) -> None:
        """Call `listener(address)` whenever a connection to a peer becomes the one in use."""
        self._connected_listeners.append(listener)

    def connected_peers(self) -> list[PeerInfo]:
        now = self._clock()
        infos = []
        for peer in self._peers.values():
            link = peer.active
            if link is None:
                continue
            infos.append(
                PeerInfo(
                    address=peer.address,
                    organization=peer.organization,
                    endpoint=link.endpoint,
                    outbound=link.outbound,
                    connected_for_s=now - link.connected_at,
                    rtt_ms=link.rtt_ms,
                    queued_messages=peer.queued_messages,
                    queued_bytes=peer.queued_bytes,
                    messages_in=peer.messages_in,
                    messages_out=peer.messages_out,
                    bytes_in=peer.bytes_in,
                    bytes_out=peer.bytes_out,
                    gossip_dropped=peer.gossip_dropped,
                )
            )
        return sorted(infos, key=lambda info: info.address)

    def is_connected(self, address: Address) -> bool:
        peer = self._peers.get(address)
        return peer is not None and peer.active is not None

    async def wait_connected(self, addresses: Iterable[Address], timeout_s: float) -> None:
        """Wait until every address in `addresses` is connected; PeerUnavailableError after `timeout_s`."""
        wanted = set(addresses)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            missing = [address for address in wanted if not self.is_connected(address)]
            if not missing:
                return
            if loop.time() >= deadline:
                raise PeerUnavailableError(
                    f"{len(missing)} peer(s) not connected after {timeout_s} s: "
                    f"{', '.join(sorted(address.hex()[:12] for address in missing))}; check [p2p] peers and the logs"
                )
            await asyncio.sleep(0.02)

    async def send(self, peer_address: Address, channel: str, body: bytes) -> None:
        """Queue `body` for one peer.

        On a reliable channel this waits while the peer's queue is full; if
        it stays full for ``send_timeout_s`` the peer is disconnected
        (``send_timeout``) and PeerUnavailableError is raised. On a
        drop-oldest channel it never waits. PeerUnavailableError also if the
        peer is not connected; MessageTooLargeError / UnknownChannelError
        for a body the channel cannot carry.
        """
        spec = self._channel_spec(channel)
        data = self._frame_for(channel, spec, body)
        peer = self._peers.get(peer_address)
        if peer is None:
            raise PeerUnavailableError(
                f"peer {bytes(peer_address).hex()} is not connected; the network redials configured peers on its own"
            )
        if self._enqueue_now(peer, channel, data, spec.delivery) is _Queued.NO_ROOM:
            await self._enqueue_waiting(peer, channel, data)

    async def broadcast(self, channel: str, body: bytes) -> int:
        """Queue `body` for every connected peer; returns how many peers it was queued for.

        Peers whose queue stays full on a reliable channel are disconnected
        (and logged), as in `send`; they do not fail the broadcast.
        """
        spec = self._channel_spec(channel)
        data = self._frame_for(channel, spec, body)
        queued = 0
        waiting: list[Awaitable[None]] = []
        for peer in list(self._peers.values()):
            outcome = self._enqueue_now(peer, channel, data, spec.delivery)
            if outcome is _Queued.QUEUED:
                queued += 1
            elif outcome is _Queued.NO_ROOM:
                waiting.append(self._enqueue_waiting(peer, channel, data))
        if waiting:
            for result in await asyncio.gather(*waiting, return_exceptions=True):
                if result is None:
                    queued += 1
                elif not isinstance(result, PeerUnavailableError):
                    raise result
        return queued

    def enforce_allowed(self) -> int:
        """Disconnect peers whose credential the lookup no longer gives (call after a validator-set change).

        A peer is cut if its address is no longer a validator's, or if its
        organisation or consensus key changed since it proved it (it may
        reconnect and prove the new one).
        """
        count = 0
        for peer in list(self._peers.values()):
            credential = self._lookup(peer.address)
            if credential != peer.credential:
                count += 1
                detail = "no longer a validator" if credential is None else "its organisation or key changed"
                self._disconnect_peer(peer, DisconnectReason.NOT_ALLOWED, detail)
        return count

    def enforce_trust(self) -> int:
        """Apply the chain's current trust to connected peers; how many were disconnected.

        The node calls it after every commit: it re-reads the trusted
        organisations (`refresh_trust`), then cuts peers whose certificate or
        organisation CA is revoked (`enforce_revocations`) and peers that are
        no longer validators (`enforce_allowed`).
        """
        return self.refresh_trust() + self.enforce_revocations() + self.enforce_allowed()

    def refresh_trust(self) -> int:
        """Re-read the trusted organisations; on a change, rebuild TLS trust and cut peers no longer trusted.

        New connections verify against the new CAs; a connected peer whose
        organisation was removed, or whose certificate its organisation's
        (new) CA did not issue, is disconnected. Returns how many were.
        """
        trusted = self._read_trusted()
        if trusted is None or dict(trusted) == dict(self._trusted):
            return 0
        if self._tls_files is None:
            logger.warning("p2p: the trusted organisations changed; ready-made TLS contexts cannot be rebuilt")
            return 0
        try:
            tls = build_tls_contexts(self._tls_files, trusted)
        except GusuError as error:
            # Keep the contexts in force (this node's own organisation may be the one removed).
            logger.error("p2p: cannot apply the new trusted organisations: %s", error)
            return 0
        added = sorted(set(tls.anchors) - set(self._tls.anchors))
        removed = sorted(set(self._tls.anchors) - set(tls.anchors))
        self._trusted = dict(trusted)
        self._tls = tls
        logger.info("p2p: trusted organisations now %s (added %s, removed %s)", sorted(tls.anchors), added, removed)
        return self._disconnect_untrusted()

    def enforce_revocations(self) -> int:
        """Disconnect peers whose certificate or organisation CA `is_revoked` now names; how many."""
        if self._is_revoked is None:
            return 0
        return self._disconnect_untrusted()

    def _disconnect_untrusted(self) -> int:
        count = 0
        for peer in list(self._peers.values()):
            link = peer.active
            if link is None:
                continue
            problem = self._get_certificate_problem(link.certificate, self._tls.anchors)
            if problem is not None:
                count += 1
                self._disconnect_peer(peer, *problem)
        return count

    def _read_trusted(self) -> TrustedOrganizations | None:
        if self._get_trusted_organizations is None:
            return None
        try:
            trusted = self._get_trusted_organizations()
        except Exception:
            logger.exception("p2p: reading the trusted organisations failed; keeping the ones in force")
            return None
        return trusted if isinstance(trusted, Mapping) else None

    # --- certificate renewal and expiry ------------------------------------------------------------

    def _get_tls_files_signature(self) -> tuple[tuple[int, int], ...] | None:
        if self._tls_files is None:
            return None
        signature = []
        for path in (self._tls_files.certificate, self._tls_files.key):
            try:
                status = Path(path).stat()
            except OSError:
                return None
            signature.append((status.st_mtime_ns, status.st_size))
        return tuple(signature)

    def reload_certificate(self) -> bool:
        """Present the certificate now in the TLS files to new connections; True if it changed.

        Existing connections keep the certificate they were made with. A
        certificate that names another node or organisation, or does not
        load (say, a half-written renewal), is refused with a logged error
        and the one in force is kept.
        """
        if self._tls_files is None:
            return False
        self._tls_files_signature = self._get_tls_files_signature()
        try:
            tls = build_tls_contexts(self._tls_files, self._trusted)
        except GusuError as error:
            logger.error("p2p: the renewed TLS certificate is not used: %s", error)
            return False
        if tls.certificate_der == self._tls.certificate_der:
            return False
        if tls.identity != self._tls.identity:
            logger.error(
                "p2p: the renewed TLS certificate names %s of %r, not this node (%s of %r); it is not used",
                tls.identity.address.hex(),
                tls.identity.organization,
                self._tls.identity.address.hex(),
                self._tls.identity.organization,
            )
            return False
        self._tls = tls
        expiry = get_certificate_expiry("node", tls.certificate)
        logger.info(
            "p2p: new TLS certificate %s in use for new connections (valid %s more)",
            expiry.sha256.hex()[:16],
            format_remaining(expiry.get_remaining_s(now_s())),
        )
        return True

    def get_certificate_expiries(self) -> list[CertificateExpiry]:
        """Every certificate this node depends on: its own (``node``), the trusted CAs (``ca``), its peers'."""
        expiries = [get_certificate_expiry("node", self._tls.certificate)]
        expiries.extend(get_certificate_expiry("ca", anchor.certificate) for anchor in self._tls.anchors.values())
        for peer in self._peers.values():
            if peer.active is not None:
                expiries.append(get_certificate_expiry("peer", peer.active.certificate))
        return expiries

    def check_certificates(self, now: float | None = None) -> list[tuple[CertificateExpiry, int]]:
        """Pick up a renewed certificate, and warn about certificates near their end (once per threshold).

        Returns the (certificate, days threshold) warned about in this call.
        """
        if self._get_tls_files_signature() != self._tls_files_signature:
            self.reload_certificate()
        moment = now_s() if now is None else now
        warnings = []
        for expiry in self.get_certificate_expiries():
            remaining = expiry.get_remaining_s(moment)
            warned = self._expiry_warned.get(expiry.sha256, frozenset())
            days = get_expiry_warning_days(remaining, warned)
            if days is None:
                continue
            self._expiry_warned[expiry.sha256] = warned | {days}
            warnings.append((expiry, days))
            logger.warning(
                "p2p: %s certificate %s expires in %s (under %d days); renew it (gusu node renew-cert)",
                expiry.kind,
                expiry.subject,
                format_remaining(remaining),
                days,
            )
        return warnings

    async def _certificate_loop(self) -> None:
        while self._running:
            try:
                self.check_certificates()
            except Exception:
                logger.exception("p2p: the certificate check failed")
            await asyncio.sleep(self._settings.certificate_check_interval_s)

    # --- sending --------------------------------------------------------------------------------

    @property
    def _body_bytes_max(self) -> int:
        return self._settings.frame_bytes_max - MESSAGE_OVERHEAD_MAX

    def _channel_spec(self, channel: str) -> ChannelSpec:
        spec = self._channels.get(channel)
        if spec is None:
            raise UnknownChannelError(
                f"channel {channel!r} is not one of this network's channels ({', '.join(sorted(self._channels))})"
            )
        return spec

    def _frame_for(self, channel: str, spec: ChannelSpec, body: bytes) -> bytes:
        if not isinstance(body, bytes):
            raise TypeError(f"a message body is bytes, not {type(body).__name__}")
        limit = spec.body_bytes_max if spec.body_bytes_max is not None else self._body_bytes_max
        if len(body) > limit:
            raise MessageTooLargeError(
                f"a {len(body)}-byte body exceeds channel {channel!r}'s limit of {limit} bytes; "
                "split it, or raise [p2p] frame_bytes_max on every node"
            )
        return frame(encode_message(channel, body))

    def _enqueue_now(self, peer: _Peer, channel: str, data: bytes, delivery: Delivery) -> _Queued:
        """Queue without waiting, evicting the oldest gossip to make room if needed."""
        size = len(data)
        while not peer.fits(size) and peer.evict_oldest_gossip():
            self.metrics.gossip_dropped += 1
        if not peer.fits(size):
            if delivery is Delivery.RELIABLE:
                return _Queued.NO_ROOM
            peer.gossip_dropped += 1  # the queue is all reliable traffic: this gossip gives way
            self.metrics.gossip_dropped += 1
            return _Queued.DROPPED
        (peer.reliable if delivery is Delivery.RELIABLE else peer.lossy).append((channel, data))
        peer.queued_messages += 1
        peer.queued_bytes += size
        peer.has_data.set()
        return _Queued.QUEUED

    async def _enqueue_waiting(self, peer: _Peer, channel: str, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.send_timeout_s
        while True:
            if peer.gone.is_set():
                raise PeerUnavailableError(f"peer {peer.address.hex()} disconnected before the message could be queued")
            if self._enqueue_now(peer, channel, data, Delivery.RELIABLE) is _Queued.QUEUED:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                self._disconnect_peer(
                    peer,
                    DisconnectReason.SEND_TIMEOUT,
                    f"its send queue stayed full ({peer.queued_messages} messages, {peer.queued_bytes} bytes) "
                    f"for {self._settings.send_timeout_s} s",
                )
                raise PeerUnavailableError(
                    f"peer {peer.address.hex()} took no messages for {self._settings.send_timeout_s} s "
                    "([p2p] send_timeout_s) and was disconnected"
                )
            peer.space.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await peer.space.wait()

    def _write(self, link: _Link, channel: str, data: bytes) -> bool:
        if not link.protocol.write(data):
            return False
        self.metrics.bytes_out += len(data)
        self.metrics.messages_out += 1
        self.metrics.messages_out_by_channel[channel] += 1
        if link.peer is not None:
            link.peer.bytes_out += len(data)
            link.peer.messages_out += 1
        return True

    def _send_control(self, link: _Link, message: ControlMessage) -> None:
        if link.peer is not None:
            link.peer.push_control(frame(encode_control(message)))

    async def _write_loop(self, link: _Link) -> None:
        peer = link.peer
        assert peer is not None
        while link.state == _State.ACTIVE:
            item = peer.pop()
            if item is None:
                peer.has_data.clear()
                await peer.has_data.wait()
                continue
            channel, data = item
            if not self._write(link, channel, data):
                # The socket is gone; put it back for a successor connection (the peer may be switching).
                self._requeue_front(peer, channel, data)
                return
            await link.protocol.drain()

    def _requeue_front(self, peer: _Peer, channel: str, data: bytes) -> None:
        if channel == CONTROL_CHANNEL:
            return
        spec = self._channels[channel]
        (peer.reliable if spec.delivery is Delivery.RELIABLE else peer.lossy).appendleft((channel, data))
        peer.queued_messages += 1
        peer.queued_bytes += len(data)

    async def _ping_loop(self, link: _Link) -> None:
        while link.state == _State.ACTIVE:
            await asyncio.sleep(self._settings.ping_interval_s)
            if link.state != _State.ACTIVE:
                return
            nonce = next(self._nonces)
            link.ping_outstanding = (nonce, self._clock())
            self._send_control(link, Ping(nonce))

    # --- receiving ------------------------------------------------------------------------------

    async def _read_loop(self, link: _Link) -> None:
        if link.predecessor is not None:
            # Frames on the connection this one replaced were sent earlier: hand them over first.
            await link.predecessor.closed.wait()
        try:
            while True:
                try:
                    async with asyncio.timeout(self._settings.peer_timeout_s):
                        payload = await link.protocol.read_frame()
                except TimeoutError:
                    raise ConnectionEnded(
                        DisconnectReason.PEER_TIMEOUT,
                        f"no complete frame for {self._settings.peer_timeout_s} s ([p2p] peer_timeout_s)",
                    ) from None
                await self._account_received(link, len(payload) + LENGTH_PREFIX_SIZE)
                try:
                    channel, body = decode_message(payload)
                except CodecError as error:
                    raise ConnectionEnded(DisconnectReason.MALFORMED_MESSAGE, str(error)) from None
                if channel == CONTROL_CHANNEL:
                    self.metrics.messages_in_by_channel[channel] += 1
                    self._handle_control(link, body)
                    continue
                spec = self._channels.get(channel)
                if spec is None:
                    raise ConnectionEnded(DisconnectReason.UNKNOWN_CHANNEL, f"a message on channel {channel!r}")
                # Counted only now: a peer must not grow the per-channel counters with names of its choosing.
                self.metrics.messages_in_by_channel[channel] += 1
                limit = spec.body_bytes_max if spec.body_bytes_max is not None else self._body_bytes_max
                if len(body) > limit:
                    raise ConnectionEnded(
                        DisconnectReason.BODY_TOO_LARGE,
                        f"a {len(body)}-byte body on channel {channel!r}; the limit is {limit}",
                    )
                await self._dispatch(link, channel, body)
        except ConnectionEnded as ended:
            if link.state == _State.RETIRING and ended.reason in (
                DisconnectReason.REMOTE_CLOSED,
                DisconnectReason.CONNECTION_LOST,
            ):
                self._close_link(link, link.retire_reason or DisconnectReason.REPLACED, "retired")
            else:
                self._close_link(link, ended.reason, ended.detail)

    async def _account_received(self, link: _Link, size: int) -> None:
        self.metrics.bytes_in += size
        self.metrics.messages_in += 1
        if link.peer is not None:
            link.peer.bytes_in += size
            link.peer.messages_in += 1
        delay = max(link.message_bucket.delay_for(1), link.byte_bucket.delay_for(size))
        if delay > 0:
            # Over the receive rate: stop reading this peer for a while (TCP pushes back on it).
            self.metrics.receive_throttled_s += delay
            await asyncio.sleep(delay)

    def _handle_control(self, link: _Link, body: bytes) -> None:
        try:
            message = decode_control(body)
        except CodecError as error:
            raise ConnectionEnded(DisconnectReason.MALFORMED_MESSAGE, f"control message: {error}") from None
        if isinstance(message, Ping):
            if link.state == _State.ACTIVE:
                self._send_control(link, Pong(message.nonce))
        elif isinstance(message, Pong):
            if link.ping_outstanding is not None and link.ping_outstanding[0] == message.nonce:
                link.rtt_ms = (self._clock() - link.ping_outstanding[1]) * 1000
                link.ping_outstanding = None
        elif isinstance(message, Bye):
            if message.reason in _SWITCHING_REASONS and link.state == _State.ACTIVE:
                self._retire(link, DisconnectReason.REPLACED, linger=True)
                detail = f"the peer keeps another connection ({message.reason})"
                self._close_link(link, DisconnectReason.REPLACED, detail)
                return
            raise ConnectionEnded(DisconnectReason.REMOTE_CLOSED, f"{message.reason}: {message.detail}")
        else:
            kind = type(message).__name__
            raise ConnectionEnded(DisconnectReason.MALFORMED_MESSAGE, f"a {kind} message after the handshake")

    async def _dispatch(self, link: _Link, channel: str, body: bytes) -> None:
        for handler in self._handlers.get(channel, ()):
            try:
                result = handler(link.address, body)
                if inspect.isawaitable(result):
                    await result
            except NetworkError as error:
                # Our own transport failed inside the handler (say, relaying to a peer that just
                # left): not the sender's fault.
                self.metrics.handler_errors += 1
                logger.info("p2p handler for channel %r could not finish: %s", channel, error)
            except GusuError as error:
                raise ConnectionEnded(
                    DisconnectReason.INVALID_MESSAGE, f"channel {channel!r}: {type(error).__name__}: {error}"
                ) from None
            except Exception:
                self.metrics.handler_errors += 1
                logger.exception("p2p handler for channel %r failed on a message from %s", channel, link.label)

    # --- connection set-up ------------------------------------------------------------------------

    def _accept(self) -> FrameProtocol:
        # The contexts in force now serve this connection to its end, even if a renewal replaces them.
        tls = self._tls
        return FrameProtocol(
            self._settings.receive_buffer_bytes_max,
            tls.server,
            server_side=True,
            on_connection_made=lambda protocol: self._on_accepted(protocol, tls),
        )

    def _on_accepted(self, protocol: FrameProtocol, tls: TlsContexts) -> None:
        self.metrics.connections_accepted += 1
        if self._stopping or self._inbound_handshakes >= self._settings.handshakes_max:
            self._count_disconnect(
                DisconnectReason.TOO_MANY_HANDSHAKES,
                f"connection from {protocol.peer_endpoint()}",
                f"{self._inbound_handshakes} inbound handshakes in progress ([p2p] handshakes_max)",
            )
            protocol.abort()
            return
        # Counted here, synchronously, so a burst of accepts in one loop turn cannot exceed the cap.
        self._inbound_handshakes += 1
        task = self._spawn(self._run_inbound(protocol, tls))
        self._handshake_tasks.add(task)
        task.add_done_callback(self._handshake_tasks.discard)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run_inbound(self, protocol: FrameProtocol, tls: TlsContexts) -> None:
        try:
            link = await self._handshake(protocol, tls, outbound=False)
        finally:
            self._inbound_handshakes -= 1
        if link is not None:
            self._register(link)

    async def _handshake(
        self, protocol: FrameProtocol, tls: TlsContexts, *, outbound: bool, endpoint_name: str = ""
    ) -> _Link | None:
        """TLS and hello exchange; the link if the peer passed every check.

        `tls` is the contexts `protocol` was made with: its certificate is the one the key proof names.
        """
        endpoint = protocol.peer_endpoint()
        tls_up = False
        try:
            async with asyncio.timeout(self._settings.handshake_timeout_s):
                await protocol.tls_handshake()
                tls_up = True
                identity, certificate_der, certificate = self._certificate_identity(protocol)
                nonce = self._new_nonce()
                local = self._local
                hello = Hello(PROTOCOL_VERSION, local.chain_id, local.genesis_hash, local.address, nonce)
                protocol.write(frame(encode_control(hello)))
                peer_hello = await self._read_handshake_message(protocol, Hello)
                credential = self._check_hello(identity, peer_hello, certificate_der, tls)
                await self._exchange_key_proofs(
                    protocol,
                    tls,
                    identity,
                    credential,
                    outbound=outbound,
                    nonces=(nonce, peer_hello.nonce),
                    peer_der=certificate_der,
                )
                if endpoint_name:
                    # Learnt only from an authenticated peer, so a rogue endpoint cannot make us stop dialing it.
                    self._endpoint_addresses[endpoint_name] = identity.address
        except _HandshakeFailed as failure:
            if failure.is_self and endpoint_name:
                self._endpoint_addresses[endpoint_name] = self.address
            await self._fail_handshake(protocol, endpoint, failure.reason, failure.detail, say_bye=tls_up)
            return None
        except TimeoutError:
            await self._fail_handshake(
                protocol,
                endpoint,
                DisconnectReason.HANDSHAKE_TIMEOUT,
                f"not done within {self._settings.handshake_timeout_s} s ([p2p] handshake_timeout_s)",
                say_bye=tls_up,
            )
            return None
        except ConnectionEnded as ended:
            # Before TLS is up, any loss is a failed TLS handshake (the peer hung up on our certificate).
            reason = ended.reason if tls_up else DisconnectReason.TLS_FAILED
            await self._fail_handshake(protocol, endpoint, reason, ended.detail, say_bye=False)
            return None
        except (ssl.SSLError, OSError) as error:
            await self._fail_handshake(
                protocol, endpoint, DisconnectReason.TLS_FAILED, f"{type(error).__name__}: {error}", say_bye=False
            )
            return None
        except asyncio.CancelledError:
            protocol.abort()  # stopping: never leave a half-open socket behind
            raise
        # Trust may have changed while the handshake awaited the peer (`enforce_trust` ran after a commit that
        # revoked this very certificate): check again now, with no await left before the link is registered.
        problem = self._get_certificate_problem(certificate, self._tls.anchors)
        if problem is not None:
            await self._fail_handshake(protocol, endpoint, *problem, say_bye=True)
            return None
        if self._stopping:
            await self._fail_handshake(protocol, endpoint, DisconnectReason.SHUTDOWN, "stopping", say_bye=True)
            return None
        self.metrics.handshakes_completed += 1
        protocol.start_session(self._settings.frame_bytes_max)
        preferred = (self.address if outbound else identity.address) == min(self.address, identity.address)
        return _Link(
            protocol,
            identity,
            credential,
            certificate=certificate,
            outbound=outbound,
            preferred=preferred,
            clock=self._clock,
            settings=self._settings,
        )

    def _certificate_identity(self, protocol: FrameProtocol) -> tuple[NodeIdentity, bytes, x509.Certificate]:
        der = protocol.peer_certificate_der()
        if der is None:
            raise _HandshakeFailed(DisconnectReason.BAD_CERTIFICATE, "the peer presented no certificate")
        try:
            identity = get_node_identity_from_der(der)
        except PeerIdentityError as error:
            raise _HandshakeFailed(DisconnectReason.BAD_CERTIFICATE, str(error)) from None
        certificate = x509.load_der_x509_certificate(der)  # parsed once already, by the identity check
        problem = self._get_certificate_problem(certificate, self._tls.anchors)
        if problem is not None:
            raise _HandshakeFailed(*problem)
        return identity, der, certificate

    def _get_certificate_problem(
        self, certificate: x509.Certificate, anchors: Mapping[str, TrustAnchor]
    ) -> tuple[DisconnectReason, str] | None:
        """Why a peer certificate (already through TLS) is not trusted now, or None."""
        organization = get_organization_name(certificate)
        if not is_issued_by_anchor(certificate, anchors):
            return (
                DisconnectReason.UNTRUSTED_CERTIFICATE,
                f"the certificate names organisation {organization!r} but is not issued by the CA this chain "
                "trusts for it (or that organisation is not a member)",
            )
        anchor = anchors[organization or ""]
        for sha256, what in ((compute_certificate_sha256(certificate.public_bytes(_DER)), "certificate"),
                             (anchor.sha256, f"organisation CA of {organization}")):  # fmt: skip
            if self._is_revoked_safely(sha256):
                return DisconnectReason.CERTIFICATE_REVOKED, f"the peer's {what} ({sha256.hex()[:16]}…) is revoked"
        return None

    def _is_revoked_safely(self, sha256: bytes) -> bool:
        if self._is_revoked is None:
            return False
        try:
            return bool(self._is_revoked(sha256))
        except Exception:
            # Failing closed would cut every peer on a bug in the lookup; failing open is logged loudly.
            logger.exception("p2p revocation lookup failed for %s; treating it as not revoked", sha256.hex())
            return False

    def _new_nonce(self) -> bytes:
        nonce = self._nonce_source(HANDSHAKE_NONCE_SIZE)
        assert isinstance(nonce, bytes) and len(nonce) == HANDSHAKE_NONCE_SIZE, "the nonce source returned a bad nonce"
        return nonce

    async def _read_handshake_message(self, protocol: FrameProtocol, kind: type[_M]) -> _M:
        what = "a hello" if kind is Hello else "a key proof"
        payload = await protocol.read_frame()
        try:
            channel, body = decode_message(payload)
            if channel != CONTROL_CHANNEL:
                raise CodecError(f"expected {what}, got a message on channel {channel!r}")
            message = decode_control(body)
        except CodecError as error:
            raise _HandshakeFailed(DisconnectReason.BAD_HELLO, str(error)) from None
        if isinstance(message, Bye):
            raise _HandshakeFailed(
                DisconnectReason.REMOTE_CLOSED, f"the peer refused us: {message.reason}: {message.detail}"
            )
        if not isinstance(message, kind):
            raise _HandshakeFailed(DisconnectReason.BAD_HELLO, f"expected {what}, got {type(message).__name__}")
        return message

    def _check_hello(
        self, identity: NodeIdentity, hello: Hello, certificate_der: bytes, tls: TlsContexts
    ) -> ValidatorCredential:
        """Every check of the peer's hello against its certificate and genesis; the validator's credential."""
        local = self._local
        if hello.protocol_version != PROTOCOL_VERSION:
            raise _HandshakeFailed(
                DisconnectReason.PROTOCOL_VERSION,
                f"the peer speaks protocol version {hello.protocol_version}, this node {PROTOCOL_VERSION}",
            )
        if hello.chain_id != local.chain_id:
            raise _HandshakeFailed(
                DisconnectReason.WRONG_CHAIN, f"the peer is on chain {hello.chain_id!r}, not {local.chain_id!r}"
            )
        if hello.genesis_hash != local.genesis_hash:
            raise _HandshakeFailed(
                DisconnectReason.WRONG_GENESIS,
                f"the peer's genesis hash is {hello.genesis_hash.hex()[:16]}…, ours {local.genesis_hash.hex()[:16]}…",
            )
        if hello.address != identity.address:
            raise _HandshakeFailed(
                DisconnectReason.ADDRESS_MISMATCH,
                f"the peer claims address {hello.address.hex()} but its certificate names {identity.address.hex()}",
            )
        if identity.address == local.address:
            if certificate_der in (tls.certificate_der, self._tls.certificate_der):
                raise _HandshakeFailed(DisconnectReason.SELF_CONNECTION, "this node dialed itself", is_self=True)
            # Our address under another certificate: another process with our identity, or a forgery.
            raise _HandshakeFailed(
                DisconnectReason.SELF_CONNECTION,
                f"a certificate of {identity.organization!r} other than ours names this node's address",
            )
        credential = self._lookup(identity.address)
        if credential is None:
            raise _HandshakeFailed(
                DisconnectReason.NOT_ALLOWED,
                f"{identity.address.hex()} ({identity.organization}) is not a validator of this chain",
            )
        if credential.organization != identity.organization:
            raise _HandshakeFailed(
                DisconnectReason.WRONG_ORGANIZATION,
                f"the certificate for validator {identity.address.hex()} was issued by organisation "
                f"{identity.organization!r}, but genesis assigns that validator to {credential.organization!r}",
            )
        return credential

    async def _exchange_key_proofs(
        self,
        protocol: FrameProtocol,
        tls: TlsContexts,
        identity: NodeIdentity,
        credential: ValidatorCredential,
        *,
        outbound: bool,
        nonces: tuple[bytes, bytes],
        peer_der: bytes,
    ) -> None:
        """Prove we hold our consensus key, and check that the peer holds the claimed validator's.

        `nonces` is (ours, the peer's). docs/network.md ("The key proof")
        argues why a proof cannot be replayed, relayed or reflected.
        """
        own_nonce, peer_nonce = nonces
        if peer_nonce == own_nonce:
            # Only a peer reflecting our own hello does this (by chance: 2^-256).
            raise _HandshakeFailed(DisconnectReason.BAD_HELLO, "the peer's handshake nonce is ours")
        peer_hash = compute_certificate_hash(self._suite, peer_der)
        own_hash = compute_certificate_hash(self._suite, tls.certificate_der)
        role = Role.DIALER if outbound else Role.ACCEPTOR
        if outbound:
            transcript = HandshakeTranscript(
                self._local.chain_id, self._local.genesis_hash, own_nonce, peer_nonce, own_hash, peer_hash
            )
        else:
            transcript = HandshakeTranscript(
                self._local.chain_id, self._local.genesis_hash, peer_nonce, own_nonce, peer_hash, own_hash
            )
        # The dialer proves first and the acceptor answers only a valid proof: a node never signs
        # for a stranger who dialed it, and the dialer, finishing last, is connected only once the
        # acceptor is too (so a dialer's first messages never meet a half-finished handshake).
        if outbound:
            self._send_key_proof(protocol, transcript, role)
            await self._check_key_proof(protocol, transcript, identity, credential, role.other)
        else:
            await self._check_key_proof(protocol, transcript, identity, credential, role.other)
            self._send_key_proof(protocol, transcript, role)

    def _send_key_proof(self, protocol: FrameProtocol, transcript: HandshakeTranscript, role: Role) -> None:
        try:
            signature = create_key_proof(self._suite, self._sign, transcript, role, self.address)
        except Exception as error:
            logger.exception("p2p: signing the handshake key proof failed")
            raise _HandshakeFailed(
                DisconnectReason.SIGNING_FAILED, f"this node could not sign its key proof: {type(error).__name__}"
            ) from None
        protocol.write(frame(encode_control(KeyProof(signature))))

    async def _check_key_proof(
        self,
        protocol: FrameProtocol,
        transcript: HandshakeTranscript,
        identity: NodeIdentity,
        credential: ValidatorCredential,
        peer_role: Role,
    ) -> None:
        proof = await self._read_handshake_message(protocol, KeyProof)
        if not is_valid_key_proof(
            self._suite, credential.public_key, transcript, peer_role, identity.address, proof.signature
        ):
            raise _HandshakeFailed(
                DisconnectReason.BAD_KEY_PROOF,
                f"the peer presents a valid certificate of {identity.organization!r} for validator "
                f"{identity.address.hex()} but did not prove it holds that validator's consensus key",
            )

    def _lookup(self, address: Address) -> ValidatorCredential | None:
        try:
            credential = self._get_validator(address)
        except Exception:
            logger.exception("p2p validator lookup failed; refusing %s", address.hex())
            return None
        return credential if isinstance(credential, ValidatorCredential) else None

    async def _fail_handshake(
        self, protocol: FrameProtocol, endpoint: str, reason: DisconnectReason, detail: str, *, say_bye: bool
    ) -> None:
        self._count_disconnect(reason, f"handshake with {endpoint}", detail)
        if say_bye and not protocol.is_closed:
            data = frame(encode_control(Bye(reason.value, detail)))
            if protocol.write(data):
                self.metrics.bytes_out += len(data)
            await protocol.wait_closed(self._settings.close_timeout_s)
        else:
            protocol.abort()

    # --- dialing ----------------------------------------------------------------------------------------

    def _start_dialer(self, endpoint: str) -> None:
        if endpoint not in self._dialers or self._dialers[endpoint].done():
            self._dialers[endpoint] = asyncio.get_running_loop().create_task(self._dial_loop(endpoint))

    def _backoff_s(self, failures: int) -> float:
        low, high = self._settings.reconnect_backoff_min_ms, self._settings.reconnect_backoff_max_ms
        return compute_backoff_ms(failures, low, high, self._rng) / 1000

    async def _dial_loop(self, endpoint: str) -> None:
        host, port = parse_endpoint(endpoint)
        failures = 0
        while self._running:
            known = self._endpoint_addresses.get(endpoint)
            if known == self.address:
                logger.warning("p2p peer endpoint %s is this node itself; not dialing it again", endpoint)
                return
            peer = self._peers.get(known) if known is not None else None
            if peer is not None:
                await peer.gone.wait()
                await asyncio.sleep(self._backoff_s(0))
                continue
            if await self._dial(endpoint, host, port):
                failures = 0
                continue
            failures += 1
            await asyncio.sleep(self._backoff_s(failures))

    async def _dial(self, endpoint: str, host: str, port: int) -> bool:
        """One attempt; True if it connected (or found the peer already connected)."""
        loop = asyncio.get_running_loop()
        self.metrics.connections_dialed += 1
        tls = self._tls
        try:
            async with asyncio.timeout(self._settings.handshake_timeout_s):
                _, protocol = await loop.create_connection(
                    lambda: FrameProtocol(self._settings.receive_buffer_bytes_max, tls.client, server_side=False),
                    host,
                    port,
                )
        except (OSError, TimeoutError) as error:
            logger.debug("p2p dial %s failed: %s", endpoint, error)
            return False
        link = await self._handshake(protocol, tls, outbound=True, endpoint_name=endpoint)
        if link is None:
            return False
        return self._register(link)

    # --- registration, retirement, closing ------------------------------------------------------------------

    def _register(self, link: _Link) -> bool:
        """Make `link` its peer's connection, or retire it as a duplicate (the tie-break).

        False if the peer cannot be taken at all (``peers_max``).
        """
        peer = self._peers.get(link.address)
        if peer is None:
            if len(self._peers) >= self._settings.peers_max:
                self._spawn(
                    self._fail_handshake(
                        link.protocol,
                        link.endpoint,
                        DisconnectReason.TOO_MANY_PEERS,
                        f"{len(self._peers)} peers connected ([p2p] peers_max)",
                        say_bye=True,
                    )
                )
                return False
            peer = _Peer(NodeIdentity(link.organization, link.address), link.credential, self._settings)
            self._peers[link.address] = peer
        current = peer.active
        if current is not None and current.preferred and not link.preferred:
            # The connection dialed by the lower address wins on both sides; this one goes.
            self._start_link(link, peer)
            self._retire(link, DisconnectReason.DUPLICATE)
            return True
        if peer.linger is not None:
            peer.linger.cancel()
            peer.linger = None
        link.peer = peer
        link.state = _State.ACTIVE
        peer.active = link
        peer.credential = link.credential
        if current is not None:
            link.predecessor = current
            self._retire(current, DisconnectReason.REPLACED)
        self._start_link(link, peer)
        logger.info("p2p connected %s", link.label)
        for listener in self._connected_listeners:
            try:
                listener(link.address)
            except Exception:
                logger.exception("a p2p connection listener failed")
        return True

    def _start_link(self, link: _Link, peer: _Peer) -> None:
        link.peer = peer
        self._links.add(link)
        if link.state == _State.HANDSHAKE:
            link.state = _State.RETIRING  # a duplicate: it only reads until the peer's goodbye
        loop = asyncio.get_running_loop()
        link.tasks.append(loop.create_task(self._read_loop(link)))
        if link.state == _State.ACTIVE:
            link.tasks.append(loop.create_task(self._write_loop(link)))
            link.tasks.append(loop.create_task(self._ping_loop(link)))
        self._spawn(self._supervise(link))

    def _retire(self, link: _Link, reason: DisconnectReason, *, linger: bool = False) -> None:
        """Stop writing on `link`, say Bye, and keep reading until the peer's Bye (bounded)."""
        if link.state in (_State.RETIRING, _State.CLOSED) and link.retire_reason is not None:
            return
        peer = link.peer
        if peer is not None and peer.active is link:
            peer.active = None
            if linger:
                peer.linger = asyncio.get_running_loop().call_later(
                    self._settings.handshake_timeout_s, self._linger_expired, peer
                )
        link.state = _State.RETIRING
        link.retire_reason = reason
        for task in link.tasks[1:]:
            task.cancel()  # the writer and pinger; frames are written whole, so none is cut
        if peer is not None:
            peer.has_data.set()
        if not link.bye_sent:
            link.bye_sent = True
            self._write(link, CONTROL_CHANNEL, frame(encode_control(Bye(reason.value, "another connection is kept"))))
        link.retire_timer = asyncio.get_running_loop().call_later(
            self._settings.close_timeout_s, self._close_link, link, reason, "the peer did not answer our goodbye"
        )

    def _linger_expired(self, peer: _Peer) -> None:
        peer.linger = None
        if peer.active is None and self._peers.get(peer.address) is peer:
            logger.info("p2p peer %s did not come back on another connection", peer.address.hex()[:12])
            self._drop_peer(peer)

    def _close_link(self, link: _Link, reason: DisconnectReason, detail: str) -> None:
        """Decide to end `link` (counted and logged now); its supervisor does the closing."""
        if not link.closing.done():
            link.closing.set_result((reason, detail))
            self._count_disconnect(reason, link.label, detail)

    def _disconnect_peer(self, peer: _Peer, reason: DisconnectReason, detail: str) -> None:
        if peer.active is not None:
            link = peer.active
            peer.active = None
            self._close_link(link, reason, detail)
        self._drop_peer(peer)

    def _drop_peer(self, peer: _Peer) -> None:
        if self._peers.get(peer.address) is peer:
            del self._peers[peer.address]
        if peer.linger is not None:
            peer.linger.cancel()
            peer.linger = None
        self.metrics.messages_discarded += peer.discard_queues()
        peer.gone.set()
        peer.space.set()  # wake reliable senders so they see the peer is gone
        peer.has_data.set()

    async def _supervise(self, link: _Link) -> None:
        """Wait for the decision to end `link` (`_close_link`), then end it: detach, say Bye, close."""
        reason, detail = await link.closing
        peer = link.peer
        was_active = peer is not None and peer.active is link
        link.state = _State.CLOSED
        if link.retire_timer is not None:
            link.retire_timer.cancel()
        current = asyncio.current_task()
        for task in link.tasks:
            if task is not current:
                task.cancel()
        if was_active and peer is not None:
            peer.active = None
            self._drop_peer(peer)
        if not link.bye_sent and reason is not DisconnectReason.CONNECTION_LOST and not link.protocol.is_closed:
            link.bye_sent = True
            self._write(link, CONTROL_CHANNEL, frame(encode_control(Bye(reason.value, detail))))
        await link.protocol.wait_closed(self._settings.close_timeout_s)
        await asyncio.gather(*link.tasks, return_exceptions=True)
        self._links.discard(link)
        link.closed.set()

    def _count_disconnect(self, reason: DisconnectReason, who: str, detail: str) -> None:
        self.metrics.disconnects[reason.value] += 1
        # Every disconnect is counted, but a flood of one kind (a port scanner, a looping bad
        # peer) must not flood the log: a bounded number of lines per reason and second.
        now = self._clock()
        start, lines, suppressed = self._log_windows.get(reason, (now, 0, 0))
        if now - start >= 1.0:
            start, lines = now, 0
        if lines >= self._settings.disconnect_log_lines_per_s:
            self._log_windows[reason] = (start, lines, suppressed + 1)
            return
        self._log_windows[reason] = (start, lines + 1, 0)
        level = logging.INFO if reason in _QUIET_REASONS else logging.WARNING
        more = f" (+{suppressed} more not logged)" if suppressed else ""
        logger.log(level, "p2p disconnected %s: %s (%s)%s", who, reason.value, detail, more)
