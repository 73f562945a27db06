"""What travels between peers: frames, channel messages, and the control protocol.

On the wire, after TLS, every unit is a *frame*: a 4-byte big-endian length
followed by that many bytes of payload. The payload is the canonical
encoding (gusu.codec) of a two-item list ``[channel, body]``: the channel a
str, the body bytes that the channel's subscribers decode themselves. A
payload that is not canonical, not such a list, or names a channel this
node does not know is a protocol violation and the peer is disconnected.

The channel ``"p2p"`` is the transport's own: its bodies are tagged
records (canonical lists) for the handshake (`Hello`, then `KeyProof`),
liveness (`Ping`, `Pong`) and an orderly goodbye with a reason (`Bye`).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import TypeAlias

from gusu.codec import decode, encode, expect_bytes, expect_str, expect_uint
from gusu.errors import CodecError
from gusu.ledger.types import ADDRESS_SIZE, CHAIN_ID_LENGTH_MAX, HASH_SIZE, Address, Hash

PROTOCOL_VERSION = 2
"""Bumped whenever peers of different versions could misread each other; the handshake refuses a mismatch.

Version 2 added the handshake nonce and the consensus-key proof (`KeyProof`).
"""

LENGTH_PREFIX_SIZE = 4
CONTROL_CHANNEL = "p2p"
CHANNEL_PATTERN = re.compile(r"[a-z][a-z0-9_.-]{0,31}")
MESSAGE_OVERHEAD_MAX = 64
"""Bytes a `[channel, body]` encoding adds to its body at most (list, str and bin headers; channel ≤ 32 chars)."""

HELLO_BYTES_MAX = 1024
"""A handshake frame (hello or key proof) is a few hundred bytes; anything larger is refused before it is read."""
HANDSHAKE_NONCE_SIZE = 32
"""Bytes of the fresh random nonce each side puts in its hello (256 bits: never repeats by chance)."""
KEY_PROOF_SIGNATURE_BYTES_MAX = 128
"""Bound on a key proof's signature field (suite signatures are 64 bytes; the suite's verify checks exactly)."""
REASON_LENGTH_MAX = 64
DETAIL_LENGTH_MAX = 512

TAG_HELLO = "gusu.p2p.hello.v2"
TAG_HELLO_V1 = "gusu.p2p.hello.v1"
"""The hello of protocol version 1 (no nonce), recognised only to say why it is refused."""
TAG_KEY_PROOF = "gusu.p2p.keyproof.v1"
TAG_PING = "gusu.p2p.ping.v1"
TAG_PONG = "gusu.p2p.pong.v1"
TAG_BYE = "gusu.p2p.bye.v1"


class Delivery(enum.StrEnum):
    """What happens to a channel's messages when a peer's send queue is full."""

    RELIABLE = "reliable"
    """Never dropped silently: the sender waits for room, and a peer that stays full is disconnected."""
    DROP_OLDEST = "drop_oldest"
    """Gossip: the oldest queued message of such a channel makes room, counted in `gossip_dropped`."""


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    delivery: Delivery
    body_bytes_max: int | None = None
    """Largest body on this channel; None: whatever fits in a frame. A peer exceeding it is disconnected."""


CHANNEL_CONSENSUS = "consensus"
CHANNEL_SYNC = "sync"
CHANNEL_TRANSACTIONS = "tx"
CHANNEL_STATE_SYNC = "statesync"

DEFAULT_CHANNELS: dict[str, ChannelSpec] = {
    CHANNEL_CONSENSUS: ChannelSpec(Delivery.RELIABLE),
    CHANNEL_SYNC: ChannelSpec(Delivery.RELIABLE),
    CHANNEL_TRANSACTIONS: ChannelSpec(Delivery.DROP_OLDEST),
    CHANNEL_STATE_SYNC: ChannelSpec(Delivery.RELIABLE),
}
"""Proposals and votes, block sync, transaction gossip, and snapshots for state sync (gusu.node.statesync)."""


class DisconnectReason(enum.StrEnum):
    """Why a connection ended; the keys of `NetworkMetrics.disconnects` and of every disconnect log line."""

    SHUTDOWN = "shutdown"
    CONNECTION_LOST = "connection_lost"
    REMOTE_CLOSED = "remote_closed"
    TLS_FAILED = "tls_failed"
    HANDSHAKE_TIMEOUT = "handshake_timeout"
    BAD_CERTIFICATE = "bad_certificate"
    BAD_HELLO = "bad_hello"
    PROTOCOL_VERSION = "protocol_version"
    WRONG_CHAIN = "wrong_chain"
    WRONG_GENESIS = "wrong_genesis"
    ADDRESS_MISMATCH = "address_mismatch"
    NOT_ALLOWED = "not_allowed"
    WRONG_ORGANIZATION = "wrong_organization"
    """The certificate's organisation is not the one genesis assigns to the claimed validator address."""
    UNTRUSTED_CERTIFICATE = "untrusted_certificate"
    """The certificate is not issued by the CA the chain trusts for the organisation it names."""
    CERTIFICATE_REVOKED = "certificate_revoked"
    """The peer's certificate, or its organisation CA, is revoked on chain."""
    BAD_KEY_PROOF = "bad_key_proof"
    """The peer did not prove it holds the claimed validator's consensus key (docs/network.md)."""
    SIGNING_FAILED = "signing_failed"
    """This node's own signer failed while making its key proof (logged with the traceback)."""
    SELF_CONNECTION = "self_connection"
    DUPLICATE = "duplicate"
    REPLACED = "replaced"
    TOO_MANY_PEERS = "too_many_peers"
    TOO_MANY_HANDSHAKES = "too_many_handshakes"
    FRAME_TOO_LARGE = "frame_too_large"
    MALFORMED_MESSAGE = "malformed_message"
    UNKNOWN_CHANNEL = "unknown_channel"
    BODY_TOO_LARGE = "body_too_large"
    INVALID_MESSAGE = "invalid_message"
    PEER_TIMEOUT = "peer_timeout"
    SEND_TIMEOUT = "send_timeout"


# --- frames and channel messages ---------------------------------------------------


def frame(payload: bytes) -> bytes:
    """Length-prefix `payload`."""
    return len(payload).to_bytes(LENGTH_PREFIX_SIZE, "big") + payload


def encode_message(channel: str, body: bytes) -> bytes:
    """The frame payload carrying `body` on `channel`."""
    return encode([channel, body])


def decode_message(payload: bytes) -> tuple[str, bytes]:
    """`(channel, body)` from a frame payload; CodecError unless it is exactly a canonical [str, bytes]."""
    value = decode(payload)
    if not isinstance(value, list) or len(value) != 2:
        raise CodecError("a message is a two-item list [channel, body]")
    channel = expect_str(value[0], "channel", 32)
    if not CHANNEL_PATTERN.fullmatch(channel):
        raise CodecError(f"channel name {channel!r} is not valid")
    return channel, expect_bytes(value[1], "body")


def check_channel_name(channel: str) -> None:
    if not isinstance(channel, str) or not CHANNEL_PATTERN.fullmatch(channel) or channel == CONTROL_CHANNEL:
        raise ValueError(
            f"channel name {channel!r} must be 1 to 32 of a-z, 0-9, '_', '.', '-', start with a letter, "
            f"and not be {CONTROL_CHANNEL!r} (reserved for the transport)"
        )


# --- the control protocol ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello:
    """The application handshake each side sends right after TLS."""

    protocol_version: int
    chain_id: str
    genesis_hash: Hash
    address: Address
    nonce: bytes
    """`HANDSHAKE_NONCE_SIZE` fresh random bytes: the other side's key proof must sign them."""


@dataclass(frozen=True, slots=True)
class KeyProof:
    """The second handshake message: a signature by the claimed validator's consensus key.

    It signs `gusu.network.handshake.encode_key_proof_statement`: both
    nonces, both certificates' hashes, the chain and the signer's role.
    """

    signature: bytes


@dataclass(frozen=True, slots=True)
class Ping:
    nonce: int


@dataclass(frozen=True, slots=True)
class Pong:
    nonce: int


@dataclass(frozen=True, slots=True)
class Bye:
    """Sent before closing a connection on purpose, so the other side can log why."""

    reason: str
    detail: str = ""


ControlMessage: TypeAlias = Hello | KeyProof | Ping | Pong | Bye


def encode_control(message: ControlMessage) -> bytes:
    """The frame payload of a control message (its body travels on the control channel)."""
    if isinstance(message, Hello):
        body = encode(
            [
                TAG_HELLO,
                message.protocol_version,
                message.chain_id,
                message.genesis_hash,
                message.address,
                message.nonce,
            ]
        )
    elif isinstance(message, KeyProof):
        body = encode([TAG_KEY_PROOF, message.signature])
    elif isinstance(message, Ping):
        body = encode([TAG_PING, message.nonce])
    elif isinstance(message, Pong):
        body = encode([TAG_PONG, message.nonce])
    else:
        body = encode([TAG_BYE, message.reason[:REASON_LENGTH_MAX], message.detail[:DETAIL_LENGTH_MAX]])
    return encode_message(CONTROL_CHANNEL, body)


def decode_control(body: bytes) -> ControlMessage:
    """Parse a control-channel body; CodecError for anything else, with every field bounded."""
    value = decode(body)
    if not isinstance(value, list) or not value or not isinstance(value[0], str):
        raise CodecError("a control message is a tagged list")
    tag = value[0]
    if tag == TAG_HELLO and len(value) == 6:
        return Hello(
            protocol_version=expect_uint(value[1], "protocol_version", 2**32),
            chain_id=expect_str(value[2], "chain_id", CHAIN_ID_LENGTH_MAX),
            genesis_hash=Hash(expect_bytes(value[3], "genesis_hash", size=HASH_SIZE)),
            address=Address(expect_bytes(value[4], "address", size=ADDRESS_SIZE)),
            nonce=expect_bytes(value[5], "nonce", size=HANDSHAKE_NONCE_SIZE),
        )
    if tag == TAG_HELLO_V1:
        raise CodecError(
            f"a protocol version 1 hello (no key proof); this node speaks version {PROTOCOL_VERSION}: "
            "upgrade the peer's gusu"
        )
    if tag == TAG_KEY_PROOF and len(value) == 2:
        return KeyProof(expect_bytes(value[1], "signature", size_max=KEY_PROOF_SIGNATURE_BYTES_MAX))
    if tag == TAG_PING and len(value) == 2:
        return Ping(expect_uint(value[1], "nonce"))
    if tag == TAG_PONG and len(value) == 2:
        return Pong(expect_uint(value[1], "nonce"))
    if tag == TAG_BYE and len(value) == 3:
        return Bye(expect_str(value[1], "reason", REASON_LENGTH_MAX), expect_str(value[2], "detail", DETAIL_LENGTH_MAX))
    raise CodecError(f"unknown control message {tag[:40]!r} with {len(value)} fields")
