"""Expected failures of the peer-to-peer layer.

`gusu.errors` is shared by every layer and is not this layer's to extend, so
the network's own error tree roots here, under `GusuError`. A peer's
misbehaviour is never raised to the node: the transport disconnects the
peer and counts the reason. These errors reach only local callers: a send
to a peer that is gone, a message too large to send, a certificate that
does not name a node.
"""

from __future__ import annotations

from gusu.errors import GusuError


class NetworkError(GusuError):
    """The peer-to-peer transport cannot do what was asked."""

    code = "network_error"


class PeerUnavailableError(NetworkError):
    """The peer is not connected, or was disconnected before the message was queued.

    Retryable: the transport reconnects on its own, so sending again later may succeed.
    """

    code = "peer_unavailable"
    retryable = True


class MessageTooLargeError(NetworkError):
    """A message body exceeds the channel's (or the frame's) size limit."""

    code = "message_too_large"


class UnknownChannelError(NetworkError):
    """A channel name is not one this network was built with."""

    code = "channel_unknown"


class PeerIdentityError(NetworkError):
    """A certificate does not name a node of the chain (no node URI, wrong organisation)."""

    code = "peer_identity_invalid"
