"""The consortium registry in the `system` contract's state, and the reads other layers make of it.

Organisations, nodes, accounts, certificate revocations, permissions (ACL)
and frozen contracts live under the keys below, in the `system` contract's
namespace (docs/governance.md has the table). Two kinds of function read
them:

- `get_*_record` and `apply_*` take a contract `Context`: the `system`
  contract's views and proposals use them;
- `read_config_schedule`, `is_certificate_revoked`, `is_contract_code_approved`, `get_organizations`,
  `get_account` and `check_transaction_permission` take a `StateReader`
  (full keys): the executor, admission, the node and the transport use them
  without a contract call.

`check_transaction_permission` runs for every transaction, so what it needs
is laid out to be cheap: one small "gate" value (the contracts that have a
permission entry or are frozen), read once per block from a cache, and the
sender's account record, which most senders do not have.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gusu.codec import Value
from gusu.errors import AccountFrozenError, CodecError, ContractFrozenError, PermissionDeniedError
from gusu.execution.context import Context
from gusu.execution.encoding import decode_value, encode_value
from gusu.execution.state import StateReader, compute_state_key, compute_state_key_prefix, encode_key_suffix
from gusu.ledger.chainconfig import ConfigSchedule, decode_config_schedule
from gusu.ledger.types import ADDRESS_SIZE, HASH_SIZE, Address

SYSTEM_CONTRACT = "system"

# --- state keys (in the system contract's namespace) -----------------------------------

CONFIG_SCHEDULE_KEY = b"config_schedule"
"""encode_config_schedule(...) of the chain configuration schedule."""
SUITE_KEY = b"suite"
ADMINS_KEY = b"admins"
"""The genesis admins (the `get_admins` view)."""
ORGANIZATIONS_KEY = b"organizations"
"""Names of the active organisations, sorted."""
ORGANIZATION_PREFIX = b"org/"
NODES_KEY = b"nodes"
"""Addresses of the registered nodes, sorted."""
NODE_PREFIX = b"node/"
ACCOUNT_PREFIX = b"account/"
ORGANIZATION_ACCOUNTS_PREFIX = b"org_accounts/"
"""org_accounts/<organization>: the addresses of its client and auditor accounts, sorted (absent when none), so
that removing the organisation can deregister them."""
REVOKED_PREFIX = b"revoked/"
REVOCATIONS_KEY = b"revocations"
"""SHA-256 digests of the revoked certificates, sorted."""
ACL_PREFIX = b"acl/"
ACL_METHODS_PREFIX = b"acl_methods/"
"""acl_methods/<contract>: the methods (or "*") of `contract` that have a permission entry, sorted."""
FROZEN_CONTRACT_PREFIX = b"frozen_contract/"
RESTRICTED_CONTRACTS_KEY = b"restricted_contracts"
"""The gate: contracts with a permission entry or frozen, sorted. Its presence marks a chain with governance."""
APPROVED_CODE_PREFIX = b"approved_code/"

ROLE_ADMIN = "admin"
ROLE_CLIENT = "client"
ROLE_AUDITOR = "auditor"
ROLE_PUBLIC = "public"
"""The role of an address the registry does not list (it is never stored as an account's role, except
for a frozen unknown address)."""
ACCOUNT_ROLES = (ROLE_ADMIN, ROLE_CLIENT, ROLE_AUDITOR)
ACL_ROLES = (ROLE_ADMIN, ROLE_CLIENT, ROLE_PUBLIC)
"""Roles a permission entry may name (auditors never transact)."""

NODE_VALIDATOR = "validator"
NODE_OBSERVER = "observer"
NODE_ROLES = (NODE_VALIDATOR, NODE_OBSERVER)

STATUS_ACTIVE = "active"
STATUS_REMOVED = "removed"

ACL_ANY_METHOD = "*"

NODES_MAX = 1024
"""Registered nodes (validators and observers) of one chain."""
REVOCATIONS_MAX = 1024
"""Revoked certificates listed at once; the index must fit one state value (64 KiB)."""
RESTRICTED_CONTRACTS_MAX = 256
"""Contracts with a permission entry or frozen at once."""
ACL_METHODS_MAX = 256
"""Permission entries of one contract."""
ORGANIZATION_ACCOUNTS_MAX = 1024
"""Client and auditor accounts one organisation registers at once; its index must fit one state value."""
REASON_LENGTH_MAX = 256

SHA256_SIZE = 32

EMPTY_LIST_ENCODING = encode_value([])


@dataclass(frozen=True, slots=True)
class Organization:
    name: str
    ca_certificate: bytes
    """DER X.509 CA certificate; empty for the implicit organisation of a single-operator chain."""
    admins: tuple[Address, ...]
    weight: int
    status: str = STATUS_ACTIVE


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    address: Address
    public_key: bytes
    organization: str
    role: str
    power: int


@dataclass(frozen=True, slots=True)
class Account:
    address: Address
    organization: str
    """Empty for a frozen address that no organisation registered."""
    role: str
    frozen: bool


@dataclass(frozen=True, slots=True)
class Permission:
    roles: tuple[str, ...]
    organizations: tuple[str, ...]

    def is_allowed(self, role: str, organization: str | None) -> bool:
        if self.roles and role not in self.roles:
            return False
        return not self.organizations or organization in self.organizations


# --- encoding of records -----------------------------------------------------------------


def encode_organization(organization: Organization) -> Value:
    return [
        organization.name,
        organization.ca_certificate,
        list(organization.admins),
        organization.weight,
        organization.status,
    ]


def decode_organization(value: Value) -> Organization:
    if not (isinstance(value, list) and len(value) == 5):
        raise CodecError("an organisation record is [name, ca_certificate, admins, weight, status]")
    name, certificate, admins, weight, status = value
    if not (
        isinstance(name, str)
        and isinstance(certificate, bytes)
        and isinstance(admins, list)
        and all(isinstance(admin, bytes) and len(admin) == ADDRESS_SIZE for admin in admins)
        and type(weight) is int
        and isinstance(status, str)
    ):
        raise CodecError("an organisation record has fields of the wrong type")
    return Organization(name, certificate, tuple(Address(bytes(admin)) for admin in admins), weight, status)  # type: ignore[arg-type]


def encode_node(node: Node) -> Value:
    return [node.name, node.address, node.public_key, node.organization, node.role, node.power]


def decode_node(value: Value) -> Node:
    if not (isinstance(value, list) and len(value) == 6):
        raise CodecError("a node record is [name, address, public_key, organization, role, power]")
    name, address, public_key, organization, role, power = value
    if not (
        isinstance(name, str)
        and isinstance(address, bytes)
        and isinstance(public_key, bytes)
        and isinstance(organization, str)
        and isinstance(role, str)
        and type(power) is int
    ):
        raise CodecError("a node record has fields of the wrong type")
    return Node(name, Address(address), public_key, organization, role, power)


def encode_account(account: Account) -> Value:
    return [account.organization, account.role, account.frozen]


def decode_account(address: Address, value: Value) -> Account:
    if not (
        isinstance(value, list)
        and len(value) == 3
        and isinstance(value[0], str)
        and isinstance(value[1], str)
        and type(value[2]) is bool
    ):
        raise CodecError("an account record is [organization, role, frozen]")
    return Account(address, value[0], value[1], value[2])


def decode_permission(value: Value) -> Permission:
    if not (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], list)
        and isinstance(value[1], list)
        and all(isinstance(item, str) for item in value[0])
        and all(isinstance(item, str) for item in value[1])
    ):
        raise CodecError("a permission entry is [roles, organizations]")
    return Permission(tuple(value[0]), tuple(value[1]))  # type: ignore[arg-type]


def compute_acl_key(contract: str, method: str) -> bytes:
    return ACL_PREFIX + contract.encode() + b"/" + method.encode()


def compute_value_list(items: Iterable[Value]) -> Value:
    """`items` as a canonical list value."""
    result: list[Value] = list(items)
    return result


def _get_str_list(value: Value) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _get_bytes_list(value: Value) -> list[bytes]:
    return [item for item in value if isinstance(item, bytes)] if isinstance(value, list) else []


# --- reads and writes through a contract context -------------------------------------------


def get_organization_record(ctx: Context, name: str) -> Organization | None:
    value = ctx.get_value(ORGANIZATION_PREFIX + name.encode())
    return None if value is None else decode_organization(value)


def get_active_organization_records(ctx: Context) -> list[Organization]:
    found = []
    for name in _get_str_list(ctx.get_value(ORGANIZATIONS_KEY)):
        record = get_organization_record(ctx, name)
        if record is not None and record.status == STATUS_ACTIVE:
            found.append(record)
    return found


def apply_organization(ctx: Context, organization: Organization) -> None:
    ctx.set_value(ORGANIZATION_PREFIX + organization.name.encode(), encode_organization(organization))
    names = set(_get_str_list(ctx.get_value(ORGANIZATIONS_KEY)))
    if organization.status == STATUS_ACTIVE:
        names.add(organization.name)
    else:
        names.discard(organization.name)
    ctx.set_value(ORGANIZATIONS_KEY, compute_value_list(sorted(names)))


def get_node_record(ctx: Context, address: bytes) -> Node | None:
    value = ctx.get_value(NODE_PREFIX + address)
    return None if value is None else decode_node(value)


def get_node_addresses(ctx: Context) -> list[bytes]:
    return _get_bytes_list(ctx.get_value(NODES_KEY))


def apply_node(ctx: Context, node: Node) -> None:
    ctx.set_value(NODE_PREFIX + node.address, encode_node(node))
    addresses = set(get_node_addresses(ctx))
    addresses.add(node.address)
    ctx.set_value(NODES_KEY, compute_value_list(sorted(addresses)))


def apply_node_removal(ctx: Context, address: bytes) -> None:
    ctx.delete(NODE_PREFIX + address)
    ctx.set_value(NODES_KEY, [item for item in get_node_addresses(ctx) if item != address])


def get_account_record(ctx: Context, address: Address) -> Account | None:
    value = ctx.get_value(ACCOUNT_PREFIX + address)
    return None if value is None else decode_account(address, value)


def _is_indexed(account: Account | None) -> bool:
    """Whether `account` belongs in its organisation's index of client and auditor accounts."""
    return account is not None and bool(account.organization) and account.role in (ROLE_CLIENT, ROLE_AUDITOR)


def get_organization_accounts(ctx: Context, organization: str) -> list[bytes]:
    """The addresses of `organization`'s client and auditor accounts, sorted."""
    return _get_bytes_list(ctx.get_value(ORGANIZATION_ACCOUNTS_PREFIX + organization.encode()))


def _apply_organization_accounts(ctx: Context, organization: str, address: bytes, present: bool) -> None:
    addresses = set(get_organization_accounts(ctx, organization))
    if present:
        addresses.add(address)
    else:
        addresses.discard(address)
    key = ORGANIZATION_ACCOUNTS_PREFIX + organization.encode()
    if addresses:
        ctx.set_value(key, compute_value_list(sorted(addresses)))
    else:
        ctx.delete(key)


def apply_account(ctx: Context, account: Account) -> None:
    """Store `account`, or delete its record when it says nothing (public and not frozen).

    Keeps the index of each organisation's client and auditor accounts in step.
    """
    previous = get_account_record(ctx, account.address)
    if (
        _is_indexed(previous)
        and previous is not None
        and (not _is_indexed(account) or previous.organization != account.organization)
    ):
        _apply_organization_accounts(ctx, previous.organization, account.address, False)
    if _is_indexed(account) and not (
        _is_indexed(previous) and previous is not None and previous.organization == account.organization
    ):
        _apply_organization_accounts(ctx, account.organization, account.address, True)
    if account.role == ROLE_PUBLIC and not account.frozen:
        ctx.delete(ACCOUNT_PREFIX + account.address)
    else:
        ctx.set_value(ACCOUNT_PREFIX + account.address, encode_account(account))


def get_restricted_contracts(ctx: Context) -> list[str]:
    return _get_str_list(ctx.get_value(RESTRICTED_CONTRACTS_KEY))


def apply_restriction_index(ctx: Context, contract: str) -> None:
    """Keep `contract` in the gate exactly while it is frozen or has a permission entry."""
    restricted = set(get_restricted_contracts(ctx))
    is_restricted = ctx.get(FROZEN_CONTRACT_PREFIX + contract.encode()) is not None or bool(
        _get_str_list(ctx.get_value(ACL_METHODS_PREFIX + contract.encode()))
    )
    if is_restricted:
        restricted.add(contract)
    else:
        restricted.discard(contract)
    ctx.set_value(RESTRICTED_CONTRACTS_KEY, compute_value_list(sorted(restricted)))


def get_permission_methods(ctx: Context, contract: str) -> list[str]:
    return _get_str_list(ctx.get_value(ACL_METHODS_PREFIX + contract.encode()))


def get_permission_record(ctx: Context, contract: str, method: str) -> Permission | None:
    value = ctx.get_value(compute_acl_key(contract, method))
    return None if value is None else decode_permission(value)


def apply_permission(ctx: Context, contract: str, method: str, permission: Permission | None) -> None:
    key = compute_acl_key(contract, method)
    methods = set(get_permission_methods(ctx, contract))
    if permission is None:
        ctx.delete(key)
        methods.discard(method)
    else:
        ctx.set_value(key, [list(permission.roles), list(permission.organizations)])
        methods.add(method)
    if methods:
        ctx.set_value(ACL_METHODS_PREFIX + contract.encode(), compute_value_list(sorted(methods)))
    else:
        ctx.delete(ACL_METHODS_PREFIX + contract.encode())
    apply_restriction_index(ctx, contract)


def get_revocation_list(ctx: Context) -> list[bytes]:
    return _get_bytes_list(ctx.get_value(REVOCATIONS_KEY))


# --- reads over committed state (full keys), for other layers ----------------------------

_PREFIX = compute_state_key_prefix(SYSTEM_CONTRACT)
_CONFIG_SCHEDULE_FULL_KEY = compute_state_key(SYSTEM_CONTRACT, CONFIG_SCHEDULE_KEY)
_RESTRICTED_FULL_KEY = compute_state_key(SYSTEM_CONTRACT, RESTRICTED_CONTRACTS_KEY)
_ORGANIZATIONS_FULL_KEY = compute_state_key(SYSTEM_CONTRACT, ORGANIZATIONS_KEY)
# An account key is always prefix + 28-byte suffix: build it with one concatenation.
_ACCOUNT_FULL_PREFIX = _PREFIX + encode_key_suffix(ACCOUNT_PREFIX + bytes(ADDRESS_SIZE))[:-ADDRESS_SIZE]
_REVOKED_FULL_PREFIX = _PREFIX + encode_key_suffix(REVOKED_PREFIX + bytes(SHA256_SIZE))[:-SHA256_SIZE]


def _full_key(key: bytes) -> bytes:
    return _PREFIX + encode_key_suffix(key)


def read_config_schedule(reader: StateReader) -> ConfigSchedule | None:
    """The chain configuration schedule, or None when the chain has no `system` contract state.

    CodecError if the stored value is not a schedule (a corrupt state).
    """
    raw = reader.get(_CONFIG_SCHEDULE_FULL_KEY)
    return None if raw is None else decode_config_schedule(raw)


def is_certificate_revoked(reader: StateReader, sha256: bytes) -> bool:
    """Whether governance revoked the certificate whose DER encoding has SHA-256 digest `sha256`."""
    if len(sha256) != SHA256_SIZE:
        return False
    return reader.get(_REVOKED_FULL_PREFIX + sha256) is not None


def is_contract_code_approved(reader: StateReader, code_hash: bytes) -> bool:
    """Whether governance approved (`approve_contract`) the contract code whose hash is `code_hash`."""
    if len(code_hash) != HASH_SIZE:
        return False
    return reader.get(_full_key(APPROVED_CODE_PREFIX + code_hash)) is not None


def get_organizations(reader: StateReader) -> tuple[Organization, ...]:
    """The active member organisations, sorted by name (empty without governance state).

    On a single-operator chain (a genesis listing no organisation) this is the
    one implicit organisation holding the genesis admins, whose
    `ca_certificate` is empty: it vouches for no certificate.
    """
    raw_names = reader.get(_ORGANIZATIONS_FULL_KEY)
    if raw_names is None:
        return ()
    found = []
    for name in _get_str_list(decode_value(raw_names)):
        raw = reader.get(_full_key(ORGANIZATION_PREFIX + name.encode()))
        if raw is not None:
            organization = decode_organization(decode_value(raw))
            if organization.status == STATUS_ACTIVE:
                found.append(organization)
    return tuple(found)


def get_account(reader: StateReader, address: Address) -> Account | None:
    """The registered account at `address`, or None for a public address (or a chain without governance)."""
    if len(address) != ADDRESS_SIZE:
        return None
    raw = reader.get(_ACCOUNT_FULL_PREFIX + address)
    return None if raw is None else decode_account(address, decode_value(raw))


_gate_cache: tuple[bytes, frozenset[str]] = (EMPTY_LIST_ENCODING, frozenset())
"""The last gate value decoded: it changes only when governance restricts a contract."""


def _decode_gate(raw: bytes) -> frozenset[str]:
    global _gate_cache
    cached_raw, cached = _gate_cache
    if raw is cached_raw or raw == cached_raw:
        return cached
    decoded = frozenset(_get_str_list(decode_value(raw)))
    _gate_cache = (raw, decoded)
    return decoded


def read_permission_gate(reader: StateReader) -> bytes | None:
    """The gate value `check_permission_with_gate` takes; None on a chain without governance state.

    The executor reads it once per block (it cannot change within one: changes are in force from the next).
    """
    return reader.get(_RESTRICTED_FULL_KEY)


def check_transaction_permission(reader: StateReader, sender: Address, contract: str, method: str) -> None:
    """Raise why `sender` may not send a transaction to `contract.method`; None if it may.

    AccountFrozenError for a frozen sender, PermissionDeniedError for an
    auditor or a sender the contract's permissions exclude,
    ContractFrozenError for a frozen contract. Nothing is checked on a chain
    without governance state.
    """
    gate = reader.get(_RESTRICTED_FULL_KEY)
    if gate is not None:
        check_permission_with_gate(reader, gate, sender, contract, method)


def check_permission_with_gate(reader: StateReader, gate: bytes, sender: Address, contract: str, method: str) -> None:
    """`check_transaction_permission` with the gate already read (`read_permission_gate`)."""
    raw_account = reader.get(_ACCOUNT_FULL_PREFIX + sender) if len(sender) == ADDRESS_SIZE else None
    role = ROLE_PUBLIC
    organization: str | None = None
    if raw_account is not None:
        account = decode_account(sender, decode_value(raw_account))
        if account.frozen:
            raise AccountFrozenError(
                f"account 0x{sender.hex()} is frozen by the consortium's governance; its transactions are refused "
                "until a proposal unfreezes it (ask an admin of your organisation)"
            )
        if account.role == ROLE_AUDITOR:
            raise PermissionDeniedError(
                f"account 0x{sender.hex()} is an auditor: auditors read the chain (views) but send no "
                "transactions; use a client account"
            )
        role = account.role
        organization = account.organization or None
    if gate == EMPTY_LIST_ENCODING or contract not in _decode_gate(gate):
        return
    if reader.get(_full_key(FROZEN_CONTRACT_PREFIX + contract.encode())) is not None:
        raise ContractFrozenError(
            f"contract {contract} is frozen by the consortium's governance; calls to it are refused until a "
            "proposal unfreezes it"
        )
    raw_entry = reader.get(_full_key(compute_acl_key(contract, method)))
    if raw_entry is None:
        raw_entry = reader.get(_full_key(compute_acl_key(contract, ACL_ANY_METHOD)))
    if raw_entry is None:
        return
    permission = decode_permission(decode_value(raw_entry))
    if not permission.is_allowed(role, organization):
        who = f"{role} of organisation {organization}" if organization else role
        allowed_roles = ", ".join(permission.roles) or "any role"
        allowed_organizations = ", ".join(permission.organizations) or "any organisation"
        raise PermissionDeniedError(
            f"{contract}.{method} is open to {allowed_roles} of {allowed_organizations}; the sender "
            f"0x{sender.hex()} is a {who}: ask an organisation's admin to register the account or change the "
            "permission"
        )
