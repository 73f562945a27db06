"""Gusu network layer: the authenticated peer-to-peer transport between a chain's nodes.

TLS 1.3 with mutual authentication under the chain's root CA, a handshake
that binds each connection to a validator's consensus key and genesis
organisation, length-prefixed canonical frames, bounded per-peer queues
with a backpressure policy per channel, redial with capped jittered
backoff, and ping liveness. See docs/network.md.

    network = P2PNetwork(settings, local=LocalIdentity(chain_id, genesis_hash, address),
                         tls=TlsFiles.from_settings(settings, node_directory),
                         suite=suite, sign=make_key_signer(suite, node_key),
                         get_validator=get_validator_lookup(genesis))
    network.subscribe("consensus", handler)        # handler(peer_address, body), sync or async
    await network.start()
    await network.broadcast("consensus", body)
    await network.send(peer_address, "sync", body)
    await network.stop()
"""

from gusu.network.errors import (
    MessageTooLargeError,
    NetworkError,
    PeerIdentityError,
    PeerUnavailableError,
    UnknownChannelError,
)
from gusu.network.handshake import (
    Signer,
    ValidatorCredential,
    ValidatorLookup,
    get_validator_lookup,
    make_key_signer,
)
from gusu.network.identity import NodeIdentity, get_node_identity_from_certificate, get_node_identity_from_der
from gusu.network.messages import (
    CHANNEL_CONSENSUS,
    CHANNEL_SYNC,
    CHANNEL_TRANSACTIONS,
    DEFAULT_CHANNELS,
    PROTOCOL_VERSION,
    ChannelSpec,
    Delivery,
    DisconnectReason,
)
from gusu.network.metrics import NetworkMetrics
from gusu.network.settings import P2PSettings, render_p2p_section
from gusu.network.tls import TlsContexts, TlsFiles, build_tls_contexts
from gusu.network.transport import Handler, LocalIdentity, P2PNetwork, PeerInfo

__all__ = [
    "CHANNEL_CONSENSUS",
    "CHANNEL_SYNC",
    "CHANNEL_TRANSACTIONS",
    "DEFAULT_CHANNELS",
    "PROTOCOL_VERSION",
    "ChannelSpec",
    "Delivery",
    "DisconnectReason",
    "Handler",
    "LocalIdentity",
    "MessageTooLargeError",
    "NetworkError",
    "NetworkMetrics",
    "NodeIdentity",
    "P2PNetwork",
    "P2PSettings",
    "PeerIdentityError",
    "PeerInfo",
    "PeerUnavailableError",
    "Signer",
    "TlsContexts",
    "TlsFiles",
    "UnknownChannelError",
    "ValidatorCredential",
    "ValidatorLookup",
    "build_tls_contexts",
    "get_node_identity_from_certificate",
    "get_node_identity_from_der",
    "get_validator_lookup",
    "make_key_signer",
    "render_p2p_section",
]
