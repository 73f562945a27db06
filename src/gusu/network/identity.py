"""How a TLS certificate names a node: the binding the transport relies on.

A node certificate carries the node's consensus address as the URI
``gusu://node/<40 lowercase hex digits>`` in its subject alternative name
and its organisation as the subject's O attribute. The issuing
organisation CA (each organisation's own root) has the same O, and the
transport requires the certificate to be issued by the CA that genesis (or
governance) lists for that very organisation (`gusu.network.trust`), so
the pair (organisation, address) read here is vouched for by that
organisation.

What a certificate says is only half of a peer's identity: the transport
also requires the organisation to be the one genesis assigns to the
address, and the peer to prove it holds the address's consensus key
(`gusu.network.handshake`).

This module lives in the network layer, the consumer of the binding;
`gusu.node.pki`, which issues certificates, imports the constants from
here so the two sides cannot drift apart. Organisation names follow
`gusu.ledger.genesis.ORGANIZATION_PATTERN`, the rule genesis applies to
the same names.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from cryptography import x509
from cryptography.x509.oid import NameOID

from gusu.ledger.genesis import ORGANIZATION_PATTERN
from gusu.ledger.types import ADDRESS_SIZE, Address
from gusu.network.errors import PeerIdentityError

NODE_URI_PREFIX = "gusu://node/"
"""Prefix of the SAN URI that carries a node's consensus address."""
ADMIN_URI_PREFIX = "gusu://admin/"
"""Prefix of the SAN URI of an organisation administrator (never admitted as a peer)."""

__all__ = [
    "ADMIN_URI_PREFIX",
    "NODE_URI_PREFIX",
    "ORGANIZATION_PATTERN",
    "NodeIdentity",
    "get_node_identity_from_certificate",
    "get_node_identity_from_der",
    "node_uri",
]

_ADDRESS_HEX = re.compile(f"[0-9a-f]{{{2 * ADDRESS_SIZE}}}")


class NodeIdentity(NamedTuple):
    """Who a node certificate names: its organisation and its consensus address."""

    organization: str
    address: Address


def node_uri(address: bytes) -> str:
    """The SAN URI binding `address` into a node certificate."""
    if not isinstance(address, bytes) or len(address) != ADDRESS_SIZE:
        raise PeerIdentityError(f"a node address is {ADDRESS_SIZE} bytes (the consensus key's address)")
    return NODE_URI_PREFIX + address.hex()


def _single_attribute(name: x509.Name, what: str) -> str | None:
    values = name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    if not values:
        return None
    if len(values) > 1:
        raise PeerIdentityError(f"the certificate's {what} names more than one organisation")
    value = values[0].value
    return value if isinstance(value, str) else None


def get_node_identity_from_certificate(certificate: x509.Certificate) -> NodeIdentity:
    """The (organisation, address) a node certificate binds; PeerIdentityError if it binds none.

    This reads the certificate only; it does not verify its signature chain,
    which the TLS handshake (or `gusu.node.pki.verify_certificate_chain`) does.
    """
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        raise PeerIdentityError(
            "the certificate has no subject alternative name, so it names no node; "
            "issue node certificates with gusu.node.pki.issue_node_certificate"
        ) from None
    except ValueError as error:  # a malformed extension in a peer's certificate
        raise PeerIdentityError(f"the certificate's extensions cannot be parsed: {error}") from None
    uris = [uri for uri in extension.value.get_values_for_type(x509.UniformResourceIdentifier)]
    node_uris = [uri for uri in uris if uri.startswith(NODE_URI_PREFIX)]
    if len(node_uris) != 1:
        raise PeerIdentityError(
            f"a node certificate carries exactly one {NODE_URI_PREFIX}<address> URI; this one has {len(node_uris)}"
        )
    address_hex = node_uris[0][len(NODE_URI_PREFIX) :]
    if not _ADDRESS_HEX.fullmatch(address_hex):
        raise PeerIdentityError(
            f"the node URI must end in {2 * ADDRESS_SIZE} lowercase hex digits (the consensus address)"
        )
    organization = _single_attribute(certificate.subject, "subject")
    if organization is None or not ORGANIZATION_PATTERN.fullmatch(organization):
        raise PeerIdentityError("the node certificate's subject has no valid organisation (O=)")
    issuer_organization = _single_attribute(certificate.issuer, "issuer")
    if issuer_organization != organization:
        raise PeerIdentityError(
            f"the node certificate claims organisation {organization!r} but was issued by "
            f"{issuer_organization!r}; only an organisation's own CA may issue its node certificates"
        )
    return NodeIdentity(organization, Address(bytes.fromhex(address_hex)))


def get_node_identity_from_der(der: bytes) -> NodeIdentity:
    """Like `get_node_identity_from_certificate`, from DER bytes (what a TLS stack hands over)."""
    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError as error:
        raise PeerIdentityError(f"the peer's certificate cannot be parsed: {error}") from None
    return get_node_identity_from_certificate(certificate)
