"""Consortium governance from Python: propose, vote, cancel, and read the registry (docs/governance.md).

`Governance(client)` wraps a blocking `Client`, `AsyncGovernance(client)` an
`AsyncClient`; both have the same methods. Writes sign a transaction to the
`system` contract with an organisation admin's key and wait for its receipt:
a refused change raises `TransactionFailedError` carrying the contract's
reason. Reads call the `system` contract's views and return frozen
dataclasses; a node answer of the wrong shape raises CodecError.

A proposal's arguments are built by the `make_*` functions (one per kind,
typed and checked here so that a mistake fails before anything is signed),
or given raw to `propose(key, ProposalRequest(kind, args))`.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from gusu.codec import Value, decode, encode
from gusu.crypto import PrivateKey
from gusu.errors import ClientError, CodecError, TransactionFailedError
from gusu.ledger.types import ADDRESS_SIZE, Address, Height, Receipt
from gusu.sdk.client import AsyncClient, Client

SYSTEM_CONTRACT = "system"
EXPIRY_BLOCKS_DEFAULT = 10_000
"""How many blocks past the current height a proposal stays open when no expiry height is given."""
PROPOSALS_PAGE_MAX = 64
"""Proposals one `list_proposals` call returns at most (the view's own limit)."""
SHA256_SIZE = 32
ORGANIZATIONS_PAGE_MAX = 64
NODES_PAGE_MAX = 256
REVOCATIONS_PAGE_MAX = 256
"""The most records one page of `get_organizations`, `get_nodes`, `get_revocations` holds (the views' limits)."""
PAGES_MAX = 1025
"""Pages a registry listing reads at most: more than the registry can hold (1,024 nodes or revocations), so a
node that never ends its listing cannot keep the client reading."""

KINDS = (
    "add_organization",
    "remove_organization",
    "add_node",
    "remove_node",
    "set_validator_power",
    "set_parameters",
    "set_consensus",
    "set_account",
    "freeze_account",
    "unfreeze_account",
    "freeze_contract",
    "unfreeze_contract",
    "approve_contract",
    "set_permission",
    "revoke_certificate",
    "set_policy",
    "update_organization",
)
NODE_ROLES = ("validator", "observer")
ACCOUNT_ROLES = ("client", "auditor", "none")
POLICY_RULES = ("ANY", "ALL", "MAJORITY", "N_OF_M", "WEIGHTED", "SELF", "FORBIDDEN")

R = TypeVar("R")


# --- typed records --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProposalRequest:
    """A proposal to make: its kind and its canonically encoded argument list."""

    kind: str
    args: bytes


@dataclass(frozen=True, slots=True)
class ProposalView:
    id: int
    kind: str
    args: Value
    """The decoded argument list (see docs/governance.md's table of kinds)."""
    organization: str
    """The proposing organisation."""
    proposer: Address
    created_height: Height
    expiry_height: Height
    status: str
    """pending, approved, rejected, failed, cancelled or expired."""
    votes: tuple[tuple[str, bool], ...]
    """(organisation, approve), sorted by organisation."""
    decided_height: Height
    effective_height: Height
    reason: str

    def get_vote(self, organization: str) -> bool | None:
        """How `organization` voted, or None if it has not."""
        return next((approve for name, approve in self.votes if name == organization), None)


@dataclass(frozen=True, slots=True)
class OrganizationView:
    name: str
    ca_certificate: bytes
    """DER; empty for the implicit organisation of a single-operator chain."""
    admins: tuple[Address, ...]
    weight: int
    status: str


@dataclass(frozen=True, slots=True)
class NodeRecordView:
    name: str
    address: Address
    public_key: bytes
    organization: str
    role: str
    """validator or observer."""
    power: int


@dataclass(frozen=True, slots=True)
class AccountView:
    address: Address
    organization: str
    role: str
    """admin, client, auditor (or public for a frozen address no organisation registered)."""
    frozen: bool


@dataclass(frozen=True, slots=True)
class PolicyView:
    kind: str
    rule: str
    threshold_a: int
    threshold_b: int


@dataclass(frozen=True, slots=True)
class PermissionView:
    contract: str
    method: str
    """A method name, or "*" for every method of the contract."""
    roles: tuple[str, ...]
    organizations: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RevocationView:
    certificate_sha256: bytes
    reason: str
    height: Height


@dataclass(frozen=True, slots=True)
class ScheduledValidator:
    name: str
    address: Address
    public_key: bytes
    power: int
    organization: str


@dataclass(frozen=True, slots=True)
class ConfigChangeView:
    """One entry of the configuration schedule: the configuration in force from `effective_height`."""

    effective_height: Height
    validators: tuple[ScheduledValidator, ...]
    parameters: tuple[tuple[str, int], ...]
    engine: str


@dataclass(frozen=True, slots=True)
class ProposalSubmitted:
    """A proposal the chain accepted: its id, its status right after (approved at once if one vote decides)."""

    proposal_id: int
    receipt: Receipt


@dataclass(frozen=True, slots=True)
class VoteCast:
    proposal_id: int
    status: str
    """The proposal's status after the vote."""
    receipt: Receipt


# --- building proposals ------------------------------------------------------------------------


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ClientError(message)


def _address(value: bytes, what: str) -> bytes:
    _check(isinstance(value, bytes) and len(value) == ADDRESS_SIZE, f"{what} must be a {ADDRESS_SIZE}-byte address")
    return bytes(value)


def make_proposal(kind: str, args: Sequence[Value]) -> ProposalRequest:
    """A proposal of `kind` with the argument list `args` (encoded canonically)."""
    _check(kind in KINDS, f"unknown proposal kind {kind!r}; kinds: {', '.join(KINDS)}")
    return ProposalRequest(kind, encode(list(args)))


def make_add_organization(
    name: str, ca_certificate: bytes, admins: Sequence[bytes], weight: int = 1
) -> ProposalRequest:
    """A new member organisation: its CA certificate (DER), its admin addresses, its weight."""
    _check(bool(ca_certificate), "an organisation's CA certificate (DER) must not be empty")
    _check(bool(admins), "an organisation needs at least one admin")
    checked = sorted({_address(admin, "an admin") for admin in admins})
    return make_proposal("add_organization", [name, bytes(ca_certificate), list(checked), weight])


def make_update_organization(name: str, ca_certificate: bytes, admins: Sequence[bytes], weight: int) -> ProposalRequest:
    """A member's new CA certificate (DER), admins and weight, each replacing the one it has.

    Admins it no longer lists lose the role; new ones gain it. The organisation itself must approve, besides
    the kind's policy (docs/governance.md says in which order to rotate a CA).
    """
    _check(bool(admins), "an organisation keeps at least one admin")
    _check(weight >= 1, "an organisation's weight is 1 or more")
    checked = sorted({_address(admin, "an admin") for admin in admins})
    return make_proposal("update_organization", [name, bytes(ca_certificate), list(checked), weight])


def make_remove_organization(name: str) -> ProposalRequest:
    return make_proposal("remove_organization", [name])


def make_add_node(name: str, address: bytes, public_key: bytes, organization: str, power: int = 0) -> ProposalRequest:
    """A node of `organization`: an observer (power 0) or a validator (power 1 or more)."""
    _check(power >= 0, "a node's power is 0 (observer) or more (validator)")
    role = "validator" if power > 0 else "observer"
    return make_proposal(
        "add_node", [name, _address(address, "the node address"), public_key, organization, role, power]
    )


def make_remove_node(address: bytes) -> ProposalRequest:
    return make_proposal("remove_node", [_address(address, "the node address")])


def make_set_validator_power(address: bytes, power: int) -> ProposalRequest:
    """A node's voting power; 0 makes a validator an observer."""
    return make_proposal("set_validator_power", [_address(address, "the node address"), power])


def make_set_parameters(parameters: Sequence[tuple[str, int]]) -> ProposalRequest:
    _check(bool(parameters), "give at least one parameter to set")
    return make_proposal("set_parameters", [[[name, value] for name, value in parameters]])


def make_set_consensus(engine: str, effective_height: int) -> ProposalRequest:
    return make_proposal("set_consensus", [engine, effective_height])


def make_set_account(address: bytes, organization: str, role: str) -> ProposalRequest:
    """Register (or change) an account of `organization` as a client or auditor; role "none" removes it."""
    _check(role in ACCOUNT_ROLES, f"an account's role is one of: {', '.join(ACCOUNT_ROLES)}")
    return make_proposal("set_account", [_address(address, "the account"), organization, role])


def make_freeze_account(address: bytes, frozen: bool = True) -> ProposalRequest:
    return make_proposal("freeze_account" if frozen else "unfreeze_account", [_address(address, "the account")])


def make_freeze_contract(name: str, frozen: bool = True) -> ProposalRequest:
    return make_proposal("freeze_contract" if frozen else "unfreeze_contract", [name])


def make_approve_contract(code_hash: bytes) -> ProposalRequest:
    return make_proposal("approve_contract", [bytes(code_hash)])


def make_set_permission(
    contract: str, method: str, roles: Sequence[str] = (), organizations: Sequence[str] = ()
) -> ProposalRequest:
    """Who may call `contract.method` ("*": every method); no roles and no organisations removes the entry."""
    roles_value: list[Value] = list(sorted(set(roles)))
    organizations_value: list[Value] = list(sorted(set(organizations)))
    return make_proposal("set_permission", [contract, method, roles_value, organizations_value])


def make_revoke_certificate(certificate_sha256: bytes, reason: str) -> ProposalRequest:
    """Revoke the certificate whose DER encoding has this SHA-256 (transport and admission refuse it)."""
    _check(len(certificate_sha256) == SHA256_SIZE, f"a certificate digest is {SHA256_SIZE} bytes (SHA-256 of its DER)")
    return make_proposal("revoke_certificate", [bytes(certificate_sha256), reason])


def make_set_policy(kind: str, rule: str, threshold_a: int = 0, threshold_b: int = 0) -> ProposalRequest:
    _check(kind in KINDS, f"unknown proposal kind {kind!r}")
    _check(rule in POLICY_RULES, f"a policy rule is one of: {', '.join(POLICY_RULES)}")
    return make_proposal("set_policy", [kind, rule, threshold_a, threshold_b])


# --- parsing the views --------------------------------------------------------------------------


def _fields(value: Value, count: int, what: str) -> list[Value]:
    if not isinstance(value, list) or len(value) != count:
        raise CodecError(f"a {what} record must be a list of {count} fields")
    return value


def _str(value: Value, what: str) -> str:
    if not isinstance(value, str):
        raise CodecError(f"{what} must be a string")
    return value


def _bytes(value: Value, what: str, size: int | None = None) -> bytes:
    if not isinstance(value, bytes) or (size is not None and len(value) != size):
        raise CodecError(f"{what} must be {'bytes' if size is None else f'{size} bytes'}")
    return value


def _uint(value: Value, what: str) -> int:
    if type(value) is not int or value < 0:
        raise CodecError(f"{what} must be a non-negative integer")
    return value


def _bool(value: Value, what: str) -> bool:
    if type(value) is not bool:
        raise CodecError(f"{what} must be true or false")
    return value


def _list(value: Value, what: str) -> list[Value]:
    if not isinstance(value, list):
        raise CodecError(f"{what} must be a list")
    return value


def parse_proposal(value: Value) -> ProposalView:
    fields = _fields(value, 12, "proposal")
    raw_args = _bytes(fields[2], "proposal args")
    try:
        args = decode(raw_args)
    except CodecError:
        args = raw_args  # the chain keeps what was proposed, even an undecodable one (it was refused)
    votes = tuple(
        (_str(item[0], "vote organisation"), _bool(item[1], "vote"))
        for item in (_fields(vote, 2, "vote") for vote in _list(fields[8], "votes"))
    )
    return ProposalView(
        id=_uint(fields[0], "proposal id"),
        kind=_str(fields[1], "proposal kind"),
        args=args,
        organization=_str(fields[3], "proposal organisation"),
        proposer=Address(_bytes(fields[4], "proposer", ADDRESS_SIZE)),
        created_height=Height(_uint(fields[5], "created height")),
        expiry_height=Height(_uint(fields[6], "expiry height")),
        status=_str(fields[7], "proposal status"),
        votes=votes,
        decided_height=Height(_uint(fields[9], "decided height")),
        effective_height=Height(_uint(fields[10], "effective height")),
        reason=_str(fields[11], "proposal reason"),
    )


def parse_organization(value: Value) -> OrganizationView:
    fields = _fields(value, 5, "organisation")
    return OrganizationView(
        name=_str(fields[0], "organisation name"),
        ca_certificate=_bytes(fields[1], "CA certificate"),
        admins=tuple(Address(_bytes(admin, "admin", ADDRESS_SIZE)) for admin in _list(fields[2], "admins")),
        weight=_uint(fields[3], "weight"),
        status=_str(fields[4], "organisation status"),
    )


def parse_node_record(value: Value) -> NodeRecordView:
    fields = _fields(value, 6, "node")
    return NodeRecordView(
        name=_str(fields[0], "node name"),
        address=Address(_bytes(fields[1], "node address", ADDRESS_SIZE)),
        public_key=_bytes(fields[2], "node public key"),
        organization=_str(fields[3], "node organisation"),
        role=_str(fields[4], "node role"),
        power=_uint(fields[5], "node power"),
    )


def parse_account(address: bytes, value: Value) -> AccountView | None:
    if value is None:
        return None
    fields = _fields(value, 3, "account")
    return AccountView(
        address=Address(bytes(address)),
        organization=_str(fields[0], "account organisation"),
        role=_str(fields[1], "account role"),
        frozen=_bool(fields[2], "account frozen"),
    )


def parse_policy(value: Value) -> PolicyView:
    fields = _fields(value, 4, "policy")
    return PolicyView(
        kind=_str(fields[0], "policy kind"),
        rule=_str(fields[1], "policy rule"),
        threshold_a=_uint(fields[2], "threshold_a"),
        threshold_b=_uint(fields[3], "threshold_b"),
    )


def parse_permission(contract: str, value: Value) -> PermissionView:
    fields = _fields(value, 3, "permission")
    return PermissionView(
        contract=contract,
        method=_str(fields[0], "permission method"),
        roles=tuple(_str(role, "role") for role in _list(fields[1], "roles")),
        organizations=tuple(_str(name, "organisation") for name in _list(fields[2], "organisations")),
    )


def parse_revocation(value: Value) -> RevocationView:
    fields = _fields(value, 3, "revocation")
    return RevocationView(
        certificate_sha256=_bytes(fields[0], "certificate digest", SHA256_SIZE),
        reason=_str(fields[1], "revocation reason"),
        height=Height(_uint(fields[2], "revocation height")),
    )


def parse_config_change(value: Value) -> ConfigChangeView:
    fields = _fields(value, 4, "configuration change")
    validators = []
    for item in _list(fields[1], "validators"):
        validator = _fields(item, 5, "scheduled validator")
        validators.append(
            ScheduledValidator(
                name=_str(validator[0], "validator name"),
                address=Address(_bytes(validator[1], "validator address", ADDRESS_SIZE)),
                public_key=_bytes(validator[2], "validator public key"),
                power=_uint(validator[3], "validator power"),
                organization=_str(validator[4], "validator organisation"),
            )
        )
    parameters = tuple(
        (_str(pair[0], "parameter name"), _uint(pair[1], "parameter value"))
        for pair in (_fields(item, 2, "parameter") for item in _list(fields[2], "parameters"))
    )
    return ConfigChangeView(
        effective_height=Height(_uint(fields[0], "effective height")),
        validators=tuple(validators),
        parameters=parameters,
        engine=_str(fields[3], "engine"),
    )


def _parse_list(value: Value, what: str) -> list[Value]:
    return _list(value, what)


def get_receipt_value(receipt: Receipt, what: str) -> Value:
    """The decoded return value of a successful governance transaction; TransactionFailedError otherwise."""
    if not receipt.is_success:
        raise TransactionFailedError(
            f"{what} was refused: {receipt.error_code}: {receipt.error_message}", receipt.error_code
        )
    return decode(receipt.return_value)


def _proposal_submitted(receipt: Receipt) -> ProposalSubmitted:
    return ProposalSubmitted(_uint(get_receipt_value(receipt, "the proposal"), "proposal id"), receipt)


def _vote_cast(proposal_id: int, receipt: Receipt) -> VoteCast:
    return VoteCast(proposal_id, _str(get_receipt_value(receipt, "the vote"), "proposal status"), receipt)


# --- the clients -------------------------------------------------------------------------------


class _ProposalHelpers(ABC, Generic[R]):
    """The typed `propose_*` helpers, shared by the blocking and the async wrapper (R: what `propose` returns)."""

    @abstractmethod
    def propose(self, key: PrivateKey, request: ProposalRequest, expiry_height: int | None = None) -> R: ...

    def propose_add_organization(
        self,
        key: PrivateKey,
        name: str,
        ca_certificate: bytes,
        admins: Sequence[bytes],
        weight: int = 1,
        *,
        expiry_height: int | None = None,
    ) -> R:
        return self.propose(key, make_add_organization(name, ca_certificate, admins, weight), expiry_height)

    def propose_update_organization(
        self,
        key: PrivateKey,
        name: str,
        ca_certificate: bytes,
        admins: Sequence[bytes],
        weight: int,
        *,
        expiry_height: int | None = None,
    ) -> R:
        return self.propose(key, make_update_organization(name, ca_certificate, admins, weight), expiry_height)

    def propose_remove_organization(self, key: PrivateKey, name: str, *, expiry_height: int | None = None) -> R:
        return self.propose(key, make_remove_organization(name), expiry_height)

    def propose_add_node(
        self,
        key: PrivateKey,
        name: str,
        address: bytes,
        public_key: bytes,
        organization: str,
        power: int = 0,
        *,
        expiry_height: int | None = None,
    ) -> R:
        return self.propose(key, make_add_node(name, address, public_key, organization, power), expiry_height)

    def propose_remove_node(self, key: PrivateKey, address: bytes, *, expiry_height: int | None = None) -> R:
        return self.propose(key, make_remove_node(address), expiry_height)

    def propose_set_validator_power(
        self, key: PrivateKey, address: bytes, power: int, *, expiry_height: int | None = None
    ) -> R:
        return self.propose(key, make_set_validator_power(address, power), expiry_height)

    def propose_set_parameters(
        self, key: PrivateKey, parameters: Sequence[tuple[str, int]], *, expiry_height: int | None = None
    ) -> R:
        return self.propose(key, make_set_parameters(parameters), expiry_height)

    def propose_set_consensus(
        self, key: PrivateKey, engine: str, effective_height: int, *, expiry_height: int | None = None
    ) -> R:
        return self.propose(key, make_set_consensus(engine, effective_height), expiry_height)

    def propose_set_account(
        self, key: PrivateKey, address: bytes, organization: str, role: str, *, expiry_height: int | None = None
    ) -> R:
        return self.propose(key, make_set_account(address, organization, role), expiry_height)

    def propose_freeze_account(
        self, key: PrivateKey, address: bytes, frozen: bool = True, *, expiry_height: int | None = None
    ) -> R:
        return self.propose(key, make_freeze_account(address, frozen), expiry_height)

    def propose_freeze_contract(
        self, key: PrivateKey, name: str, frozen: bool = True, *, expiry_height: int | None = None
    ) -> R:
        return self.propose(key, make_freeze_contract(name, frozen), expiry_height)

    def propose_approve_contract(self, key: PrivateKey, code_hash: bytes, *, expiry_height: int | None = None) -> R:
        return self.propose(key, make_approve_contract(code_hash), expiry_height)

    def propose_set_permission(
        self,
        key: PrivateKey,
        contract: str,
        method: str,
        roles: Sequence[str] = (),
        organizations: Sequence[str] = (),
        *,
        expiry_height: int | None = None,
    ) -> R:
        return self.propose(key, make_set_permission(contract, method, roles, organizations), expiry_height)

    def propose_revoke_certificate(
        self, key: PrivateKey, certificate_sha256: bytes, reason: str, *, expiry_height: int | None = None
    ) -> R:
        return self.propose(key, make_revoke_certificate(certificate_sha256, reason), expiry_height)

    def propose_set_policy(
        self,
        key: PrivateKey,
        kind: str,
        rule: str,
        threshold_a: int = 0,
        threshold_b: int = 0,
        *,
        expiry_height: int | None = None,
    ) -> R:
        return self.propose(key, make_set_policy(kind, rule, threshold_a, threshold_b), expiry_height)


T = TypeVar("T")
K = TypeVar("K", str, bytes)


@dataclass(frozen=True, slots=True)
class _Listing(Generic[T, K]):
    """A paged registry view: its method, page size, first cursor, how to parse a record and read its cursor."""

    method: str
    page_max: int
    start: K
    parse: Callable[[Value], T]
    get_cursor: Callable[[T], K]


_ORGANIZATIONS: _Listing[OrganizationView, str] = _Listing(
    "get_organizations", ORGANIZATIONS_PAGE_MAX, "", lambda value: parse_organization(value), lambda item: item.name
)
_NODES: _Listing[NodeRecordView, bytes] = _Listing(
    "get_nodes", NODES_PAGE_MAX, b"", lambda value: parse_node_record(value), lambda item: bytes(item.address)
)
_REVOCATIONS: _Listing[RevocationView, bytes] = _Listing(
    "get_revocations", REVOCATIONS_PAGE_MAX, b"", parse_revocation, lambda item: item.certificate_sha256
)


def _get_next_cursor(listing: _Listing[T, K], page: list[T], cursor: K) -> K:
    """The cursor after `page`; CodecError if the node's page does not move forward (it would never end)."""
    following = listing.get_cursor(page[-1])
    keys: list[K] = [cursor]
    keys.extend(listing.get_cursor(item) for item in page)
    if any(later <= earlier for earlier, later in itertools.pairwise(keys)):
        raise CodecError(f"the node's {listing.method} page is not sorted after its cursor")
    return following


def _check_page(start_id: int, limit: int) -> None:
    _check(start_id >= 1, "proposal ids start at 1")
    _check(0 <= limit <= PROPOSALS_PAGE_MAX, f"limit must be between 0 and {PROPOSALS_PAGE_MAX}")


class Governance(_ProposalHelpers[ProposalSubmitted]):
    """Governance through a blocking `Client`.

    >>> governance = Governance(Client("http://127.0.0.1:8545"))  # doctest: +SKIP
    >>> submitted = governance.propose_add_node(admin_key, "acme-n1", address, public_key, "acme")  # doctest: +SKIP
    >>> governance.vote(other_admin_key, submitted.proposal_id, approve=True).status  # doctest: +SKIP
    'approved'
    """

    def __init__(self, client: Client, *, timeout_s: float = 30.0) -> None:
        self.client = client
        self.timeout_s = timeout_s

    def _send(self, key: PrivateKey, method: str, args: Sequence[Value]) -> Receipt:
        return self.client.send_and_wait(key, SYSTEM_CONTRACT, method, args, timeout_s=self.timeout_s)

    def _view(self, method: str, args: Sequence[Value] = ()) -> Value:
        return self.client.call(SYSTEM_CONTRACT, method, args)

    def propose(self, key: PrivateKey, request: ProposalRequest, expiry_height: int | None = None) -> ProposalSubmitted:
        """Propose `request`, open until `expiry_height` (default: EXPIRY_BLOCKS_DEFAULT blocks from now)."""
        if expiry_height is None:
            expiry_height = int(self.client.block_number()) + EXPIRY_BLOCKS_DEFAULT
        return _proposal_submitted(self._send(key, "propose", [request.kind, request.args, expiry_height]))

    def vote(self, key: PrivateKey, proposal_id: int, approve: bool) -> VoteCast:
        """Cast the key's organisation's vote; the proposal's status afterwards."""
        return _vote_cast(proposal_id, self._send(key, "vote", [proposal_id, approve]))

    def cancel(self, key: PrivateKey, proposal_id: int) -> Receipt:
        """Withdraw a pending proposal of the key's organisation."""
        receipt = self._send(key, "cancel", [proposal_id])
        get_receipt_value(receipt, "the cancellation")
        return receipt

    def get_proposal(self, proposal_id: int) -> ProposalView | None:
        value = self._view("get_proposal", [proposal_id])
        return None if value is None else parse_proposal(value)

    def list_proposals(self, start_id: int = 1, limit: int = PROPOSALS_PAGE_MAX) -> list[ProposalView]:
        """Up to `limit` proposals from `start_id` on; fewer when large (continue after the last one)."""
        _check_page(start_id, limit)
        return [parse_proposal(item) for item in _parse_list(self._view("list_proposals", [start_id, limit]), "list")]

    def _read_all(self, listing: _Listing[T, K]) -> list[T]:
        found: list[T] = []
        cursor = listing.start
        for _ in range(PAGES_MAX):
            items = _parse_list(self._view(listing.method, [cursor, listing.page_max]), listing.method)
            page = [listing.parse(item) for item in items]
            if not page:
                return found
            cursor = _get_next_cursor(listing, page, cursor)
            found += page
        raise CodecError(f"the node's {listing.method} listing did not end after {PAGES_MAX} pages")

    def get_organizations(self) -> list[OrganizationView]:
        """Every active organisation, sorted by name (read page by page)."""
        return self._read_all(_ORGANIZATIONS)

    def get_nodes(self) -> list[NodeRecordView]:
        """Every registered node, sorted by address (read page by page)."""
        return self._read_all(_NODES)

    def get_account(self, address: bytes) -> AccountView | None:
        return parse_account(address, self._view("get_account", [_address(address, "the account")]))

    def get_policies(self) -> list[PolicyView]:
        return [parse_policy(item) for item in _parse_list(self._view("get_policies"), "policies")]

    def get_permissions(self, contract: str) -> list[PermissionView]:
        items = _parse_list(self._view("get_permissions", [contract]), "permissions")
        return [parse_permission(contract, item) for item in items]

    def get_revocations(self) -> list[RevocationView]:
        """Every revoked certificate, sorted by digest (read page by page)."""
        return self._read_all(_REVOCATIONS)

    def get_config_schedule(self) -> list[ConfigChangeView]:
        items = _parse_list(self._view("get_config_schedule"), "configuration schedule")
        return [parse_config_change(item) for item in items]


class AsyncGovernance(_ProposalHelpers[Awaitable[ProposalSubmitted]]):
    """Governance through an `AsyncClient`: the methods of `Governance`, awaitable."""

    def __init__(self, client: AsyncClient, *, timeout_s: float = 30.0) -> None:
        self.client = client
        self.timeout_s = timeout_s

    async def _send(self, key: PrivateKey, method: str, args: Sequence[Value]) -> Receipt:
        return await self.client.send_and_wait(key, SYSTEM_CONTRACT, method, args, timeout_s=self.timeout_s)

    async def _view(self, method: str, args: Sequence[Value] = ()) -> Value:
        return await self.client.call(SYSTEM_CONTRACT, method, args)

    def propose(
        self, key: PrivateKey, request: ProposalRequest, expiry_height: int | None = None
    ) -> Awaitable[ProposalSubmitted]:
        return self._propose(key, request, expiry_height)

    async def _propose(self, key: PrivateKey, request: ProposalRequest, expiry_height: int | None) -> ProposalSubmitted:
        if expiry_height is None:
            expiry_height = int(await self.client.block_number()) + EXPIRY_BLOCKS_DEFAULT
        return _proposal_submitted(await self._send(key, "propose", [request.kind, request.args, expiry_height]))

    async def vote(self, key: PrivateKey, proposal_id: int, approve: bool) -> VoteCast:
        return _vote_cast(proposal_id, await self._send(key, "vote", [proposal_id, approve]))

    async def cancel(self, key: PrivateKey, proposal_id: int) -> Receipt:
        receipt = await self._send(key, "cancel", [proposal_id])
        get_receipt_value(receipt, "the cancellation")
        return receipt

    async def get_proposal(self, proposal_id: int) -> ProposalView | None:
        value = await self._view("get_proposal", [proposal_id])
        return None if value is None else parse_proposal(value)

    async def list_proposals(self, start_id: int = 1, limit: int = PROPOSALS_PAGE_MAX) -> list[ProposalView]:
        _check_page(start_id, limit)
        items = _parse_list(await self._view("list_proposals", [start_id, limit]), "list")
        return [parse_proposal(item) for item in items]

    async def _read_all(self, listing: _Listing[T, K]) -> list[T]:
        found: list[T] = []
        cursor = listing.start
        for _ in range(PAGES_MAX):
            items = _parse_list(await self._view(listing.method, [cursor, listing.page_max]), listing.method)
            page = [listing.parse(item) for item in items]
            if not page:
                return found
            cursor = _get_next_cursor(listing, page, cursor)
            found += page
        raise CodecError(f"the node's {listing.method} listing did not end after {PAGES_MAX} pages")

    async def get_organizations(self) -> list[OrganizationView]:
        return await self._read_all(_ORGANIZATIONS)

    async def get_nodes(self) -> list[NodeRecordView]:
        return await self._read_all(_NODES)

    async def get_account(self, address: bytes) -> AccountView | None:
        return parse_account(address, await self._view("get_account", [_address(address, "the account")]))

    async def get_policies(self) -> list[PolicyView]:
        return [parse_policy(item) for item in _parse_list(await self._view("get_policies"), "policies")]

    async def get_permissions(self, contract: str) -> list[PermissionView]:
        items = _parse_list(await self._view("get_permissions", [contract]), "permissions")
        return [parse_permission(contract, item) for item in items]

    async def get_revocations(self) -> list[RevocationView]:
        return await self._read_all(_REVOCATIONS)

    async def get_config_schedule(self) -> list[ConfigChangeView]:
        items = _parse_list(await self._view("get_config_schedule"), "configuration schedule")
        return [parse_config_change(item) for item in items]
