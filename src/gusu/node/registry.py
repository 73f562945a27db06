"""The transport's trust, from the chain's governance registry: whom a node accepts as a peer, after each commit.

`P2PNetwork` asks three questions (docs/network.md); the node answers them
from its committed state, so governance decides them:

* which organisations' CAs are trusted (`get_registry_trust`): the active
  organisations with a CA certificate. The implicit organisation of a
  single-operator chain has an empty one and vouches for nothing: when no
  organisation has a CA the answer is empty and the transport trusts
  ``[p2p] tls_ca`` as before. A node whose own organisation is not (yet, or
  any more) a member keeps trusting its own CA, taken from its own
  certificate file, so that it can start and dial before it is admitted; no
  peer of that organisation gets in through it, because the peer lookup
  below names only registered nodes, and a node is registered only under an
  active organisation.
* who may connect (`get_registry_lookup`): the registered nodes, validators
  and observers, with their organisation and consensus key; a chain
  without governance state keeps genesis's validators.
* which certificates are revoked (`get_revocation_check`).

The node calls `P2PNetwork.enforce_trust()` after every commit, which
re-asks all three: a revocation decided in block H cuts the peer at H's
commit, and its reconnection is refused from then on; a removed validator
stays until the set without it is in force at the next height (H + 1's
commit), since it still votes at H + 1.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gusu.errors import CodecError
from gusu.execution.encoding import decode_value
from gusu.execution.governance import get_organizations, is_certificate_revoked, read_config_schedule
from gusu.execution.governance.registry import NODE_PREFIX, NODES_KEY, SYSTEM_CONTRACT, decode_node
from gusu.execution.state import StateReader, compute_state_key
from gusu.ledger.chainconfig import CONFIG_CHANGE_DELAY_BLOCKS, get_config_at
from gusu.ledger.genesis import Genesis
from gusu.ledger.types import ADDRESS_SIZE, Address, Height
from gusu.network.errors import PeerIdentityError
from gusu.network.handshake import ValidatorCredential, ValidatorLookup, get_validator_lookup
from gusu.network.identity import get_node_identity_from_certificate
from gusu.network.trust import get_trusted_organizations_from_certificates
from gusu.node.pki import PkiError, load_certificates

_NODES_FULL_KEY = compute_state_key(SYSTEM_CONTRACT, NODES_KEY)


def read_own_anchor(certificate_path: Path) -> tuple[str, bytes] | None:
    """(organisation, DER CA) from the node's certificate file (the node certificate, then its CA), or None."""
    try:
        certificates = load_certificates(certificate_path)
        organization = get_node_identity_from_certificate(certificates[0]).organization
    except (PkiError, IndexError, PeerIdentityError):
        return None  # the transport itself reports an unusable certificate file, naming it
    anchors = get_trusted_organizations_from_certificates(certificates[1:])
    der = anchors.get(organization)
    return None if der is None else (organization, der)


def compute_registry_trust(reader: StateReader, own_anchor: tuple[str, bytes] | None) -> dict[str, bytes]:
    """The trusted organisations now: name -> DER CA of each active member that has a CA (see the docstring)."""
    trusted = {item.name: item.ca_certificate for item in get_organizations(reader) if item.ca_certificate}
    if trusted and own_anchor is not None and own_anchor[0] not in trusted:
        trusted[own_anchor[0]] = own_anchor[1]
    return trusted


def get_registry_trust(reader: StateReader, own_anchor: tuple[str, bytes] | None) -> Callable[[], dict[str, bytes]]:
    return lambda: compute_registry_trust(reader, own_anchor)


def get_registry_lookup(
    reader: StateReader, genesis: Genesis, get_tip_height: Callable[[], int] | None = None
) -> ValidatorLookup:
    """address -> (organisation, consensus key) of a node that may connect; genesis's validators without governance.

    A registered node may connect, and so may a validator still in force at the next two heights even if
    its registration is already gone: `remove_node` deregisters at once (H + 1) but the validator set
    changes only at H + 2, and cutting the node early would cost its votes, or a round where it proposes,
    at the height it still validates.
    """
    genesis_lookup = get_validator_lookup(genesis)

    def lookup_scheduled(address: Address) -> ValidatorCredential | None:
        if get_tip_height is None:
            return None
        try:
            schedule = read_config_schedule(reader)
        except CodecError:
            return None  # a corrupt schedule admits no one; the block rules report it
        if schedule is None:
            return None
        tip = get_tip_height()
        for height in (tip + 1, tip + CONFIG_CHANGE_DELAY_BLOCKS):
            for validator in get_config_at(schedule, Height(height)).validators:
                if validator.address == address:
                    return ValidatorCredential(validator.organization, validator.public_key)
        return None

    def lookup(address: Address) -> ValidatorCredential | None:
        if reader.get(_NODES_FULL_KEY) is None:
            return genesis_lookup(address)
        if len(address) != ADDRESS_SIZE:
            return None
        raw = reader.get(compute_state_key(SYSTEM_CONTRACT, NODE_PREFIX + address))
        if raw is None:
            return lookup_scheduled(address)
        try:
            node = decode_node(decode_value(raw))
        except CodecError:
            return None  # a corrupt record admits no one
        return ValidatorCredential(node.organization, node.public_key)

    return lookup


def get_revocation_check(reader: StateReader) -> Callable[[bytes], bool]:
    """sha256 of a DER certificate -> whether governance revoked it (in the committed state)."""
    return lambda sha256: is_certificate_revoked(reader, sha256)
