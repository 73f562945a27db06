"""Proposals: their kinds, the decoding and validation of their arguments, the vote flow, their execution.

A proposal names a kind and the canonical encoding of that kind's argument
list (docs/governance.md has the table). `plan_change` decodes and checks a
change against the current state and returns the function that applies it:
all checking happens before any write, so a change that fails its check
writes nothing. The check runs when the proposal is made (an invalid change
is refused outright) and again when the vote approves it (a change that
became invalid meanwhile marks the proposal `failed`, with the reason).

Validator, parameter and engine changes go through the chain configuration
schedule (`gusu.ledger.chainconfig`): decided in block H, in force from
H + 2 (or the later height a `set_consensus` names). A change is applied to
every configuration scheduled from its effective height on, so a change
decided later never undoes one already waiting for its height. Everything
else is in force from H + 1, because permission checks read the state the
block started from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from gusu.codec import Value
from gusu.crypto import get_suite
from gusu.errors import ConfigError, CryptoError
from gusu.execution.context import Context
from gusu.execution.encoding import decode_value, encode_value
from gusu.execution.governance.policies import (
    OUTCOME_APPROVED,
    OUTCOME_PENDING,
    OUTCOME_REJECTED,
    RULE_ALL,
    RULE_FORBIDDEN,
    RULE_MAJORITY,
    RULE_SELF,
    Policy,
    compute_outcome,
    validate_policy,
)
from gusu.execution.governance.registry import (
    ACCOUNT_ROLES,
    ACL_ANY_METHOD,
    ACL_METHODS_MAX,
    ACL_ROLES,
    APPROVED_CODE_PREFIX,
    CONFIG_SCHEDULE_KEY,
    FROZEN_CONTRACT_PREFIX,
    NODE_OBSERVER,
    NODE_ROLES,
    NODE_VALIDATOR,
    NODES_MAX,
    ORGANIZATION_ACCOUNTS_MAX,
    REASON_LENGTH_MAX,
    RESTRICTED_CONTRACTS_MAX,
    REVOCATIONS_KEY,
    REVOCATIONS_MAX,
    REVOKED_PREFIX,
    ROLE_ADMIN,
    ROLE_PUBLIC,
    STATUS_ACTIVE,
    STATUS_REMOVED,
    SUITE_KEY,
    SYSTEM_CONTRACT,
    Account,
    Node,
    Organization,
    Permission,
    apply_account,
    apply_node,
    apply_node_removal,
    apply_organization,
    apply_permission,
    apply_restriction_index,
    compute_value_list,
    get_account_record,
    get_active_organization_records,
    get_node_addresses,
    get_node_record,
    get_organization_accounts,
    get_organization_record,
    get_permission_methods,
    get_permission_record,
    get_restricted_contracts,
    get_revocation_list,
)
from gusu.execution.limits import compute_execution_limits, get_limit_names
from gusu.ledger.chainconfig import (
    CONFIG_CHANGE_DELAY_BLOCKS,
    ChainConfig,
    ConfigSchedule,
    compute_scheduled_change,
    decode_config_schedule,
    encode_config_schedule,
    get_config_at,
)
from gusu.ledger.genesis import (
    BLOCK_GAS_MAX_PARAMETER,
    CA_CERTIFICATE_BYTES_MAX,
    CONSENSUS_ENGINES,
    CONSENSUS_SOLO,
    CONTRACT_NAME_PATTERN,
    DEFAULT_PARAMETERS,
    ORGANIZATION_ADMINS_MAX,
    ORGANIZATION_PATTERN,
    ORGANIZATION_WEIGHT_MAX,
    ORGANIZATIONS_MAX,
    PARAMETER_NAME_PATTERN,
    PARAMETERS_MAX,
    VALIDATOR_POWER_MAX,
    VALIDATORS_MAX,
    GenesisValidator,
)
from gusu.ledger.types import ADDRESS_SIZE, HASH_SIZE, NAME_LENGTH_MAX, PUBLIC_KEY_SIZE_MAX, Address, Height

# --- kinds and their default policies ------------------------------------------------------

KIND_ADD_ORGANIZATION = "add_organization"
KIND_REMOVE_ORGANIZATION = "remove_organization"
KIND_UPDATE_ORGANIZATION = "update_organization"
KIND_ADD_NODE = "add_node"
KIND_REMOVE_NODE = "remove_node"
KIND_SET_VALIDATOR_POWER = "set_validator_power"
KIND_SET_PARAMETERS = "set_parameters"
KIND_SET_CONSENSUS = "set_consensus"
KIND_SET_ACCOUNT = "set_account"
KIND_FREEZE_ACCOUNT = "freeze_account"
KIND_UNFREEZE_ACCOUNT = "unfreeze_account"
KIND_FREEZE_CONTRACT = "freeze_contract"
KIND_UNFREEZE_CONTRACT = "unfreeze_contract"
KIND_APPROVE_CONTRACT = "approve_contract"
KIND_SET_PERMISSION = "set_permission"
KIND_REVOKE_CERTIFICATE = "revoke_certificate"
KIND_SET_POLICY = "set_policy"
KINDS = (
    KIND_ADD_ORGANIZATION,
    KIND_REMOVE_ORGANIZATION,
    KIND_ADD_NODE,
    KIND_REMOVE_NODE,
    KIND_SET_VALIDATOR_POWER,
    KIND_SET_PARAMETERS,
    KIND_SET_CONSENSUS,
    KIND_SET_ACCOUNT,
    KIND_FREEZE_ACCOUNT,
    KIND_UNFREEZE_ACCOUNT,
    KIND_FREEZE_CONTRACT,
    KIND_UNFREEZE_CONTRACT,
    KIND_APPROVE_CONTRACT,
    KIND_SET_PERMISSION,
    KIND_REVOKE_CERTIFICATE,
    KIND_SET_POLICY,
    KIND_UPDATE_ORGANIZATION,
)
SELF_KINDS = (KIND_SET_ACCOUNT, KIND_ADD_NODE, KIND_REMOVE_NODE, KIND_SET_VALIDATOR_POWER)
"""Kinds whose change concerns one organisation, the only ones a SELF policy may govern.

`update_organization` is not one: a stolen admin key alone must never be able
to replace its organisation's admins or CA (it is MAJORITY by default and, on
top of its policy, needs the concerned organisation's own approval,
CONSENT_KINDS)."""
CONSENT_KINDS = (KIND_UPDATE_ORGANIZATION,)
"""Kinds that, whatever their policy, pass only with the approval of the organisation they concern: the
others cannot take a member's identity over (replacing it openly is `remove_organization`, ALL of the others)."""


def get_default_policy(kind: str) -> Policy:
    if kind in (KIND_SET_POLICY, KIND_SET_CONSENSUS, KIND_REMOVE_ORGANIZATION):
        return Policy(RULE_ALL)
    if kind == KIND_SET_ACCOUNT:
        return Policy(RULE_SELF)
    return Policy(RULE_MAJORITY)


# --- limits and state keys ---------------------------------------------------------------------

PROPOSAL_ARGS_BYTES_MAX = 16 * 1024
"""A proposal's encoded arguments (a CA certificate is at most 8 KiB)."""
PENDING_PROPOSALS_PER_ORGANIZATION_MAX = 16
"""Proposals one organisation may have pending at once, so no member can flood the others."""
PROPOSALS_LIST_MAX = 64
"""Proposals one `list_proposals` call returns at most."""
GOVERNANCE_EXPIRY_PARAMETER = "governance_expiry_blocks_max"
GOVERNANCE_EXPIRY_BLOCKS_MAX_DEFAULT = 1_000_000
"""How far ahead a proposal's expiry height may be when the chain sets no `governance_expiry_blocks_max`."""
CONFIG_SCHEDULE_BYTES_MAX = 64 * 1024
"""The encoded schedule must fit one state value (the default state_value_bytes_max)."""
SCHEDULE_PARAMETER_NAMES = frozenset(
    {name for name, _ in DEFAULT_PARAMETERS}
    | set(get_limit_names())
    | {GOVERNANCE_EXPIRY_PARAMETER, BLOCK_GAS_MAX_PARAMETER}
)
"""Parameters a chain may set besides those its genesis lists: the ones some layer of this version reads."""

PROPOSAL_COUNT_KEY = b"proposal_count"
PROPOSAL_PREFIX = b"proposal/"
PENDING_PREFIX = b"pending/"
POLICY_PREFIX = b"policy/"

STATUS_PENDING = "pending"
STATUS_APPROVED = "approved"
STATUS_REJECTED = "rejected"
STATUS_FAILED = "failed"
STATUS_CANCELLED = "cancelled"
STATUS_EXPIRED = "expired"
"""Reported by the views for a pending proposal whose expiry height has passed; never stored."""

ROLE_NONE = "none"


class ProposalInvalid(Exception):
    """A change that cannot be made now; the message says why."""


@dataclass(frozen=True, slots=True)
class Proposal:
    id: int
    kind: str
    args: bytes
    organization: str
    proposer: Address
    created_height: int
    expiry_height: int
    status: str
    votes: tuple[tuple[str, bool], ...]
    """(organisation, approve), sorted by organisation."""
    decided_height: int = 0
    effective_height: int = 0
    reason: str = ""

    def to_value(self) -> Value:
        return [
            self.id,
            self.kind,
            self.args,
            self.organization,
            self.proposer,
            self.created_height,
            self.expiry_height,
            self.status,
            [[organization, approve] for organization, approve in self.votes],
            self.decided_height,
            self.effective_height,
            self.reason,
        ]


def decode_proposal(value: Value) -> Proposal:
    assert isinstance(value, list) and len(value) == 12, "a proposal record has twelve fields"
    votes = value[8]
    assert isinstance(votes, list)
    return Proposal(
        id=value[0],  # type: ignore[arg-type]
        kind=value[1],  # type: ignore[arg-type]
        args=value[2],  # type: ignore[arg-type]
        organization=value[3],  # type: ignore[arg-type]
        proposer=Address(value[4]),  # type: ignore[arg-type]
        created_height=value[5],  # type: ignore[arg-type]
        expiry_height=value[6],  # type: ignore[arg-type]
        status=value[7],  # type: ignore[arg-type]
        votes=tuple((item[0], item[1]) for item in votes),  # type: ignore[index, misc]
        decided_height=value[9],  # type: ignore[arg-type]
        effective_height=value[10],  # type: ignore[arg-type]
        reason=value[11],  # type: ignore[arg-type]
    )


def compute_proposal_key(proposal_id: int) -> bytes:
    return PROPOSAL_PREFIX + proposal_id.to_bytes(8, "big")


def get_proposal(ctx: Context, proposal_id: int) -> Proposal | None:
    if not 1 <= proposal_id <= ctx.get_int(PROPOSAL_COUNT_KEY):
        return None
    value = ctx.get_value(compute_proposal_key(proposal_id))
    return None if value is None else decode_proposal(value)


def compute_reported_status(proposal: Proposal, height: int) -> str:
    if proposal.status == STATUS_PENDING and height > proposal.expiry_height:
        return STATUS_EXPIRED
    return proposal.status


def get_policy(ctx: Context, kind: str) -> Policy:
    value = ctx.get_value(POLICY_PREFIX + kind.encode())
    if isinstance(value, list) and len(value) == 3:
        return Policy(value[0], value[1], value[2])  # type: ignore[arg-type]
    return get_default_policy(kind)


def apply_default_policies(ctx: Context) -> None:
    for kind in KINDS:
        policy = get_default_policy(kind)
        ctx.set_value(POLICY_PREFIX + kind.encode(), [policy.rule, policy.threshold_a, policy.threshold_b])


# --- the configuration schedule -----------------------------------------------------------------


def get_schedule(ctx: Context) -> ConfigSchedule:
    raw = ctx.get(CONFIG_SCHEDULE_KEY)
    assert raw is not None, "the system contract has no configuration schedule"
    return decode_config_schedule(raw)


def get_config_in_force(ctx: Context) -> ChainConfig:
    return get_config_at(get_schedule(ctx), ctx.block.height)


def get_latest_config(ctx: Context) -> ChainConfig:
    """The configuration of the last scheduled change: what the chain will run once every decided change is in."""
    return get_schedule(ctx)[-1].config


ConfigDelta = Callable[[ChainConfig], ChainConfig]


def validate_validator_change(old: tuple[GenesisValidator, ...], new: tuple[GenesisValidator, ...]) -> str | None:
    """Why going from validator set `old` to `new` in one step could lose the quorum, or None if it cannot.

    Refused: no validator left; the power that stays (per validator, the
    smaller of its old and new power) at most 2/3 of the old total; the power
    added at least 1/3 of the new total.
    """
    if not new:
        return "it would leave no validator"
    if len(new) > VALIDATORS_MAX:
        return f"it would make {len(new)} validators; the limit is {VALIDATORS_MAX}"
    old_power = {item.address: item.power for item in old}
    new_power = {item.address: item.power for item in new}
    old_total = sum(old_power.values())
    new_total = sum(new_power.values())
    staying = sum(min(power, new_power.get(address, 0)) for address, power in old_power.items())
    added = sum(max(0, power - old_power.get(address, 0)) for address, power in new_power.items())
    if staying * 3 <= old_total * 2:
        return (
            f"the validators that stay would hold {staying} of the old total power {old_total}, at most two "
            "thirds: change fewer validators (or less power) in one step"
        )
    if added * 3 >= new_total:
        return (
            f"the added power {added} would be one third or more of the new total {new_total}: add less power "
            "in one step (several smaller changes, each once the previous one is in force)"
        )
    return None


def validate_config(config: ChainConfig) -> str | None:
    if config.consensus == CONSENSUS_SOLO and len(config.validators) != 1:
        return f"the solo engine runs exactly one validator; this change would make {len(config.validators)}"
    return None


def plan_schedule_change(ctx: Context, effective_height: int, delta: ConfigDelta) -> Callable[[], int]:
    """Check `delta` applied from `effective_height` on; return the function that writes the new schedule."""
    decided = Height(ctx.block.height)
    schedule = get_schedule(ctx)
    try:
        result = compute_scheduled_change(
            schedule, decided, Height(effective_height), delta(get_config_at(schedule, Height(effective_height)))
        )
        for change in schedule:
            if change.effective_height > effective_height:
                result = compute_scheduled_change(result, decided, change.effective_height, delta(change.config))
    except ConfigError as error:
        raise ProposalInvalid(str(error)) from None
    previous: ChainConfig | None = None
    for change in result:
        problem = validate_config(change.config)
        if problem is None and previous is not None and change.effective_height >= effective_height:
            problem = validate_validator_change(previous.validators, change.config.validators)
        if problem is not None:
            raise ProposalInvalid(f"the change taking effect at height {change.effective_height} is refused: {problem}")
        previous = change.config
    encoded = encode_config_schedule(result)
    if len(encoded) > CONFIG_SCHEDULE_BYTES_MAX:
        raise ProposalInvalid(
            f"the configuration schedule would be {len(encoded)} bytes, above {CONFIG_SCHEDULE_BYTES_MAX}: "
            "wait until the pending changes are in force"
        )

    def apply() -> int:
        ctx.set(CONFIG_SCHEDULE_KEY, encoded)
        return effective_height

    return apply


def _with_validators(config: ChainConfig, validators: list[GenesisValidator]) -> ChainConfig:
    return replace(config, validators=tuple(sorted(validators, key=lambda item: item.address)))


def _set_validator(config: ChainConfig, node: Node, power: int) -> ChainConfig:
    others = [item for item in config.validators if item.address != node.address]
    if power > 0:
        others.append(GenesisValidator(node.name, node.address, node.public_key, power, node.organization))
    return _with_validators(config, others)


# --- argument decoding -----------------------------------------------------------------------------


class _Args:
    """A kind's decoded argument list, read field by field with a message naming what is wrong."""

    def __init__(self, kind: str, args: bytes, count: int) -> None:
        self.kind = kind
        try:
            values = decode_value(args)
        except Exception as error:  # CodecError; any failure to decode is the proposer's
            raise ProposalInvalid(f"{kind} args are not a canonical encoding: {error}") from None
        if type(values) is not list or len(values) != count:
            raise ProposalInvalid(f"{kind} takes a list of {count} arguments as its args")
        self.values: list[Value] = values

    def _fail(self, position: int, expected: str) -> ProposalInvalid:
        return ProposalInvalid(f"{self.kind} argument {position + 1} must be {expected}")

    def get_str(self, position: int, length_max: int = NAME_LENGTH_MAX) -> str:
        value = self.values[position]
        if type(value) is not str or len(value) > length_max:
            raise self._fail(position, f"a string of at most {length_max} characters")
        return value

    def get_bytes(self, position: int, size_max: int) -> bytes:
        value = self.values[position]
        if type(value) is not bytes or not 1 <= len(value) <= size_max:
            raise self._fail(position, f"1 to {size_max} bytes")
        return value

    def get_sized(self, position: int, size: int) -> bytes:
        value = self.values[position]
        if type(value) is not bytes or len(value) != size:
            raise self._fail(position, f"exactly {size} bytes")
        return value

    def get_int(self, position: int, maximum: int) -> int:
        value = self.values[position]
        if type(value) is not int or not 0 <= value <= maximum:
            raise self._fail(position, f"an integer between 0 and {maximum}")
        return value

    def get_sorted_strs(self, position: int, count_max: int) -> tuple[str, ...]:
        value = self.values[position]
        if (
            type(value) is not list
            or len(value) > count_max
            or not all(type(item) is str for item in value)
            or value != sorted(set(value))  # type: ignore[type-var]
        ):
            raise self._fail(position, f"a sorted list of at most {count_max} distinct strings")
        return tuple(value)  # type: ignore[arg-type]

    def get_addresses(self, position: int, count_max: int) -> tuple[Address, ...]:
        value = self.values[position]
        if (
            type(value) is not list
            or not 1 <= len(value) <= count_max
            or not all(type(item) is bytes and len(item) == ADDRESS_SIZE for item in value)
            or value != sorted(set(value))  # type: ignore[type-var]
        ):
            raise self._fail(position, f"a sorted list of 1 to {count_max} distinct {ADDRESS_SIZE}-byte addresses")
        return tuple(Address(item) for item in value)  # type: ignore[arg-type]


ARGUMENT_COUNTS = {
    KIND_ADD_ORGANIZATION: 4,
    KIND_REMOVE_ORGANIZATION: 1,
    KIND_ADD_NODE: 6,
    KIND_REMOVE_NODE: 1,
    KIND_SET_VALIDATOR_POWER: 2,
    KIND_SET_PARAMETERS: 1,
    KIND_SET_CONSENSUS: 2,
    KIND_SET_ACCOUNT: 3,
    KIND_FREEZE_ACCOUNT: 1,
    KIND_UNFREEZE_ACCOUNT: 1,
    KIND_FREEZE_CONTRACT: 1,
    KIND_UNFREEZE_CONTRACT: 1,
    KIND_APPROVE_CONTRACT: 1,
    KIND_SET_PERMISSION: 4,
    KIND_REVOKE_CERTIFICATE: 2,
    KIND_SET_POLICY: 4,
    KIND_UPDATE_ORGANIZATION: 4,
}


def _require_active_organization(ctx: Context, name: str) -> Organization:
    organization = get_organization_record(ctx, name) if ORGANIZATION_PATTERN.fullmatch(name) else None
    if organization is None or organization.status != STATUS_ACTIVE:
        raise ProposalInvalid(f"{name!r} is not an active member organisation")
    return organization


def _require_node(ctx: Context, address: bytes) -> Node:
    node = get_node_record(ctx, address)
    if node is None:
        raise ProposalInvalid(f"no node 0x{address.hex()} is registered")
    return node


def _next_block(ctx: Context) -> int:
    return ctx.block.height + 1


def _config_height(ctx: Context) -> int:
    return ctx.block.height + CONFIG_CHANGE_DELAY_BLOCKS


# --- the kinds -------------------------------------------------------------------------------------

Plan = Callable[[], int]
"""Applies a checked change and returns the first height it is in force."""


def plan_change(ctx: Context, kind: str, args: bytes) -> Plan:
    """Check the change `kind` with `args` against the state now; ProposalInvalid says why it cannot be made."""
    if kind not in ARGUMENT_COUNTS:
        raise ProposalInvalid(f"unknown proposal kind {kind!r}; kinds: {', '.join(KINDS)}")
    if len(args) > PROPOSAL_ARGS_BYTES_MAX:
        raise ProposalInvalid(f"{kind} args are {len(args)} bytes; the limit is {PROPOSAL_ARGS_BYTES_MAX}")
    decoded = _Args(kind, args, ARGUMENT_COUNTS[kind])
    return _PLANNERS[kind](ctx, decoded)


def compute_subject(ctx: Context, kind: str, args: bytes) -> str | None:
    """The organisation a change concerns (whose vote alone counts under SELF), or None."""
    if kind not in SELF_KINDS and kind not in CONSENT_KINDS:
        return None
    try:
        decoded = _Args(kind, args, ARGUMENT_COUNTS[kind])
        if kind == KIND_UPDATE_ORGANIZATION:
            return decoded.get_str(0)
        if kind == KIND_SET_ACCOUNT:
            account = get_account_record(ctx, Address(decoded.get_sized(0, ADDRESS_SIZE)))
            if account is not None and account.organization:
                return account.organization
            return decoded.get_str(1)
        if kind == KIND_ADD_NODE:
            return decoded.get_str(3)
        node = get_node_record(ctx, decoded.get_sized(0, ADDRESS_SIZE))
        return None if node is None else node.organization
    except ProposalInvalid:
        return None


def _plan_add_organization(ctx: Context, args: _Args) -> Plan:
    name = args.get_str(0)
    if not ORGANIZATION_PATTERN.fullmatch(name):
        raise ProposalInvalid(f"organisation name {name!r} must be 1 to 64 letters, digits, '.', '_' or '-'")
    existing = get_organization_record(ctx, name)
    if existing is not None and existing.status == STATUS_ACTIVE:
        raise ProposalInvalid(f"organisation {name} is already a member")
    if len(get_active_organization_records(ctx)) >= ORGANIZATIONS_MAX:
        raise ProposalInvalid(f"the consortium has {ORGANIZATIONS_MAX} organisations, the most it may have")
    certificate = args.get_bytes(1, CA_CERTIFICATE_BYTES_MAX)
    admins = args.get_addresses(2, ORGANIZATION_ADMINS_MAX)
    weight = args.get_int(3, ORGANIZATION_WEIGHT_MAX)
    if weight == 0:
        raise ProposalInvalid(f"an organisation's weight is between 1 and {ORGANIZATION_WEIGHT_MAX}")
    accounts = {admin: get_account_record(ctx, admin) for admin in admins}
    for admin, account in accounts.items():
        if account is not None and account.organization and account.organization != name:
            raise ProposalInvalid(
                f"account 0x{admin.hex()} is registered with organisation {account.organization}; "
                "it cannot be an admin of another"
            )

    def apply() -> int:
        apply_organization(ctx, Organization(name, certificate, admins, weight, STATUS_ACTIVE))
        for admin, account in accounts.items():
            frozen = account is not None and account.frozen
            apply_account(ctx, Account(admin, name, ROLE_ADMIN, frozen))
        return _next_block(ctx)

    return apply


def _plan_update_organization(ctx: Context, args: _Args) -> Plan:
    name = args.get_str(0)
    organization = _require_active_organization(ctx, name)
    certificate = args.values[1]
    if type(certificate) is not bytes or len(certificate) > CA_CERTIFICATE_BYTES_MAX:
        raise ProposalInvalid(f"update_organization argument 2 must be at most {CA_CERTIFICATE_BYTES_MAX} bytes")
    if not certificate and organization.ca_certificate:
        # An empty CA vouches for nothing: the organisation's nodes would be cut at once.
        raise ProposalInvalid(f"organisation {name} has a CA certificate; give its new one (DER), not an empty one")
    if args.values[2] == []:
        raise ProposalInvalid(f"organisation {name} keeps at least one admin: its last admin cannot be removed")
    admins = args.get_addresses(2, ORGANIZATION_ADMINS_MAX)
    weight = args.get_int(3, ORGANIZATION_WEIGHT_MAX)
    if weight == 0:
        raise ProposalInvalid(f"an organisation's weight is between 1 and {ORGANIZATION_WEIGHT_MAX}")
    updated = replace(organization, ca_certificate=certificate, admins=admins, weight=weight)
    if updated == organization:
        raise ProposalInvalid(f"the update changes nothing of organisation {name}")
    accounts = {admin: get_account_record(ctx, admin) for admin in admins}
    for admin, account in accounts.items():
        if account is not None and account.organization and account.organization != name:
            raise ProposalInvalid(
                f"account 0x{admin.hex()} is registered with organisation {account.organization}; "
                "it cannot be an admin of another"
            )
    if all(account is not None and account.frozen for account in accounts.values()):
        raise ProposalInvalid(
            f"every admin the update leaves organisation {name} is frozen; that would silence its vote "
            "(keep or add an admin that is not frozen)"
        )
    dropped = [admin for admin in organization.admins if admin not in accounts]
    # A new admin may be one of the organisation's own client or auditor accounts: it becomes its admin.
    added = [admin for admin in admins if admin not in organization.admins]

    def apply() -> int:
        apply_organization(ctx, updated)
        for admin in dropped:
            account = get_account_record(ctx, admin)
            if account is not None and account.organization == name:
                apply_account(ctx, Account(admin, "", ROLE_PUBLIC, account.frozen))
        for admin in added:
            account = accounts[admin]
            apply_account(ctx, Account(admin, name, ROLE_ADMIN, account is not None and account.frozen))
        return _next_block(ctx)

    return apply


def _plan_remove_organization(ctx: Context, args: _Args) -> Plan:
    name = args.get_str(0)
    organization = _require_active_organization(ctx, name)
    if len(get_active_organization_records(ctx)) <= 1:
        raise ProposalInvalid(f"organisation {name} is the last member; a consortium needs one")
    nodes = [node for node in (get_node_record(ctx, address) for address in get_node_addresses(ctx)) if node]
    own_nodes = [node for node in nodes if node.organization == name]
    leaving = {node.address for node in own_nodes}
    schedule_apply: Plan | None = None
    if any(item.address in leaving for item in get_latest_config(ctx).validators):

        def delta(config: ChainConfig) -> ChainConfig:
            return _with_validators(config, [item for item in config.validators if item.address not in leaving])

        schedule_apply = plan_schedule_change(ctx, _config_height(ctx), delta)

    def apply() -> int:
        apply_organization(ctx, replace(organization, status=STATUS_REMOVED))
        for admin in organization.admins:
            account = get_account_record(ctx, admin)
            if account is not None and account.organization == name:
                apply_account(ctx, Account(admin, "", ROLE_PUBLIC, account.frozen))
        # Its client and auditor accounts go with it: left under its name they would keep its permissions.
        for address in get_organization_accounts(ctx, name):
            account = get_account_record(ctx, Address(address))
            if account is not None:
                apply_account(ctx, Account(account.address, "", ROLE_PUBLIC, account.frozen))
        for node in own_nodes:
            apply_node_removal(ctx, node.address)
        return schedule_apply() if schedule_apply is not None else _next_block(ctx)

    return apply


def _plan_add_node(ctx: Context, args: _Args) -> Plan:
    name = args.get_str(0)
    address = Address(args.get_sized(1, ADDRESS_SIZE))
    public_key = args.get_bytes(2, PUBLIC_KEY_SIZE_MAX)
    organization = args.get_str(3)
    role = args.get_str(4)
    power = args.get_int(5, VALIDATOR_POWER_MAX)
    if not name:
        raise ProposalInvalid(f"a node's name is 1 to {NAME_LENGTH_MAX} characters")
    _require_active_organization(ctx, organization)
    if role not in NODE_ROLES:
        raise ProposalInvalid(f"a node's role is one of: {', '.join(NODE_ROLES)}")
    if (role == NODE_VALIDATOR) != (power > 0):
        raise ProposalInvalid("a validator has power 1 or more, an observer power 0")
    suite_name = ctx.get_value(SUITE_KEY)
    assert isinstance(suite_name, str)
    try:
        derived = get_suite(suite_name).compute_address(public_key)
    except CryptoError as error:
        raise ProposalInvalid(f"the public key is not a valid {suite_name} key: {error}") from None
    if derived != address:
        raise ProposalInvalid(
            f"address 0x{address.hex()} does not belong to the public key, whose address is 0x{bytes(derived).hex()}"
        )
    addresses = get_node_addresses(ctx)
    if len(addresses) >= NODES_MAX:
        raise ProposalInvalid(f"{NODES_MAX} nodes are registered, the most a chain may have")
    for other_address in addresses:
        other = get_node_record(ctx, other_address)
        if other is not None and (other.address == address or other.name == name or other.public_key == public_key):
            raise ProposalInvalid(f"node {other.name} (0x{other.address.hex()}) has the same name, address or key")
    node = Node(name, address, public_key, organization, role, power)
    schedule_apply: Plan | None = None
    if power > 0:
        schedule_apply = plan_schedule_change(
            ctx, _config_height(ctx), lambda config: _set_validator(config, node, power)
        )

    def apply() -> int:
        apply_node(ctx, node)
        return schedule_apply() if schedule_apply is not None else _next_block(ctx)

    return apply


def _plan_remove_node(ctx: Context, args: _Args) -> Plan:
    node = _require_node(ctx, args.get_sized(0, ADDRESS_SIZE))
    schedule_apply: Plan | None = None
    if any(item.address == node.address for item in get_latest_config(ctx).validators):
        schedule_apply = plan_schedule_change(ctx, _config_height(ctx), lambda config: _set_validator(config, node, 0))

    def apply() -> int:
        apply_node_removal(ctx, node.address)
        return schedule_apply() if schedule_apply is not None else _next_block(ctx)

    return apply


def _plan_set_validator_power(ctx: Context, args: _Args) -> Plan:
    node = _require_node(ctx, args.get_sized(0, ADDRESS_SIZE))
    power = args.get_int(1, VALIDATOR_POWER_MAX)
    if node.power == power:
        raise ProposalInvalid(f"node {node.name} already has power {power}")
    updated = replace(node, power=power, role=NODE_VALIDATOR if power > 0 else NODE_OBSERVER)
    schedule_apply = plan_schedule_change(ctx, _config_height(ctx), lambda config: _set_validator(config, node, power))

    def apply() -> int:
        apply_node(ctx, updated)
        return schedule_apply()

    return apply


def _plan_set_parameters(ctx: Context, args: _Args) -> Plan:
    raw = args.values[0]
    if type(raw) is not list or not 1 <= len(raw) <= PARAMETERS_MAX:
        raise ProposalInvalid(f"set_parameters takes a list of 1 to {PARAMETERS_MAX} [name, value] pairs")
    latest = get_latest_config(ctx)
    known = SCHEDULE_PARAMETER_NAMES | {name for name, _ in latest.parameters}
    changes: dict[str, int] = {}
    for item in raw:
        if not (type(item) is list and len(item) == 2 and type(item[0]) is str and type(item[1]) is int):
            raise ProposalInvalid("each parameter is a [name, value] pair of a string and an integer")
        name, value = item[0], item[1]
        if name not in known or not PARAMETER_NAME_PATTERN.fullmatch(name):
            raise ProposalInvalid(
                f"{name!r} is not a parameter this chain knows; parameters: {', '.join(sorted(known))}"
            )
        if name in changes:
            raise ProposalInvalid(f"parameter {name} appears twice")
        if value < 1 or value > 2**62:
            raise ProposalInvalid(f"parameter {name} must be between 1 and {2**62}, found {value}")
        changes[name] = value

    def delta(config: ChainConfig) -> ChainConfig:
        merged = dict(config.parameters)
        merged.update(changes)
        return replace(config, parameters=tuple(sorted(merged.items())))

    merged_latest = delta(latest)
    if len(merged_latest.parameters) > PARAMETERS_MAX:
        raise ProposalInvalid(f"the chain would have more than {PARAMETERS_MAX} parameters")
    try:
        compute_execution_limits(merged_latest.parameters)
    except ConfigError as error:
        raise ProposalInvalid(str(error)) from None
    return plan_schedule_change(ctx, _config_height(ctx), delta)


def _plan_set_consensus(ctx: Context, args: _Args) -> Plan:
    engine = args.get_str(0)
    effective_height = args.get_int(1, 2**62)
    if engine not in CONSENSUS_ENGINES:
        raise ProposalInvalid(f"unknown consensus engine {engine!r}; engines: {', '.join(CONSENSUS_ENGINES)}")
    running = get_config_at(get_schedule(ctx), Height(max(effective_height, ctx.block.height))).consensus
    if running == engine:
        raise ProposalInvalid(f"the chain already runs {engine} at height {effective_height}")
    if CONSENSUS_SOLO in (running, engine):
        # A solo node has no peers, WAL or block sync to hand over to or from; the node would stop at the switch.
        raise ProposalInvalid(
            f"a chain cannot switch from {running} to {engine}: solo orders alone and has nothing to hand over; "
            "switch between the networked engines (tendermint, raft) only"
        )

    def delta(config: ChainConfig) -> ChainConfig:
        return replace(config, consensus=engine)

    # Later scheduled entries switch too, or a change decided earlier for a later height would switch back.
    return plan_schedule_change(ctx, effective_height, delta)


def _plan_set_account(ctx: Context, args: _Args) -> Plan:
    address = Address(args.get_sized(0, ADDRESS_SIZE))
    organization = args.get_str(1)
    role = args.get_str(2)
    if role not in (*ACCOUNT_ROLES, ROLE_NONE) or role == ROLE_ADMIN:
        raise ProposalInvalid(
            "an account's role is client, auditor or none (none removes it); admin accounts come with their "
            "organisation (add_organization)"
        )
    existing = get_account_record(ctx, address)
    if existing is not None and existing.role == ROLE_ADMIN:
        raise ProposalInvalid(
            f"account 0x{address.hex()} is an admin of {existing.organization}; it changes with its organisation"
        )
    if existing is not None and existing.organization and existing.organization != organization:
        raise ProposalInvalid(
            f"account 0x{address.hex()} belongs to organisation {existing.organization}; only that organisation "
            "may change it (remove it there first)"
        )
    if role == ROLE_NONE:
        if existing is None or existing.role == ROLE_PUBLIC:
            raise ProposalInvalid(f"account 0x{address.hex()} is not registered")
        updated = Account(address, "", ROLE_PUBLIC, existing.frozen)
    else:
        _require_active_organization(ctx, organization)
        updated = Account(address, organization, role, existing is not None and existing.frozen)
        is_new = existing is None or existing.organization != organization or existing.role == ROLE_PUBLIC
        if is_new and len(get_organization_accounts(ctx, organization)) >= ORGANIZATION_ACCOUNTS_MAX:
            raise ProposalInvalid(
                f"organisation {organization} has {ORGANIZATION_ACCOUNTS_MAX} client and auditor accounts, the "
                "most it may: remove some (role none) first"
            )

    def apply() -> int:
        apply_account(ctx, updated)
        return _next_block(ctx)

    return apply


def _plan_freeze_account(ctx: Context, args: _Args, frozen: bool) -> Plan:
    address = Address(args.get_sized(0, ADDRESS_SIZE))
    existing = get_account_record(ctx, address) or Account(address, "", ROLE_PUBLIC, False)
    if existing.frozen == frozen:
        raise ProposalInvalid(f"account 0x{address.hex()} is {'already' if frozen else 'not'} frozen")
    if frozen and existing.role == ROLE_ADMIN:
        organization = get_organization_record(ctx, existing.organization)
        others = [
            admin
            for admin in (organization.admins if organization is not None else ())
            if admin != address and not (get_account_record(ctx, admin) or existing).frozen
        ]
        if not others:
            raise ProposalInvalid(
                f"account 0x{address.hex()} is the last admin of {existing.organization} that is not frozen; "
                "freezing it would silence that organisation's vote (remove the organisation instead)"
            )

    def apply() -> int:
        apply_account(ctx, replace(existing, frozen=frozen))
        return _next_block(ctx)

    return apply


def _validate_contract_name(name: str) -> None:
    if not CONTRACT_NAME_PATTERN.fullmatch(name):
        raise ProposalInvalid(f"contract name {name!r} must be a lowercase identifier")
    if name == SYSTEM_CONTRACT:
        raise ProposalInvalid("the system contract cannot be frozen or restricted: governance would lock itself out")


def _plan_freeze_contract(ctx: Context, args: _Args, frozen: bool) -> Plan:
    name = args.get_str(0)
    _validate_contract_name(name)
    key = FROZEN_CONTRACT_PREFIX + name.encode()
    if (ctx.get(key) is not None) == frozen:
        raise ProposalInvalid(f"contract {name} is {'already' if frozen else 'not'} frozen")
    if (
        frozen
        and name not in get_restricted_contracts(ctx)
        and len(get_restricted_contracts(ctx)) >= (RESTRICTED_CONTRACTS_MAX)
    ):
        raise ProposalInvalid(f"{RESTRICTED_CONTRACTS_MAX} contracts are frozen or restricted, the most at once")

    def apply() -> int:
        if frozen:
            ctx.set_int(key, ctx.block.height)
        else:
            ctx.delete(key)
        apply_restriction_index(ctx, name)
        return _next_block(ctx)

    return apply


def _plan_approve_contract(ctx: Context, args: _Args) -> Plan:
    code_hash = args.get_sized(0, HASH_SIZE)
    key = APPROVED_CODE_PREFIX + code_hash
    if ctx.get(key) is not None:
        raise ProposalInvalid(f"contract code 0x{code_hash.hex()} is already approved")

    def apply() -> int:
        ctx.set_int(key, ctx.block.height)
        return _next_block(ctx)

    return apply


def _plan_set_permission(ctx: Context, args: _Args) -> Plan:
    contract = args.get_str(0)
    _validate_contract_name(contract)
    method = args.get_str(1)
    if method != ACL_ANY_METHOD and not CONTRACT_NAME_PATTERN.fullmatch(method):
        raise ProposalInvalid(f"method {method!r} must be a lowercase identifier or '*'")
    roles = args.get_sorted_strs(2, len(ACL_ROLES))
    organizations = args.get_sorted_strs(3, ORGANIZATIONS_MAX)
    for role in roles:
        if role not in ACL_ROLES:
            raise ProposalInvalid(f"a permission names roles among: {', '.join(ACL_ROLES)}; not {role!r}")
    for organization in organizations:
        _require_active_organization(ctx, organization)
    methods = get_permission_methods(ctx, contract)
    if roles or organizations:
        permission: Permission | None = Permission(roles, organizations)
        if method not in methods and len(methods) >= ACL_METHODS_MAX:
            raise ProposalInvalid(f"contract {contract} has {ACL_METHODS_MAX} permission entries, the most it may")
        restricted = get_restricted_contracts(ctx)
        if contract not in restricted and len(restricted) >= RESTRICTED_CONTRACTS_MAX:
            raise ProposalInvalid(f"{RESTRICTED_CONTRACTS_MAX} contracts are frozen or restricted, the most at once")
    else:
        permission = None
        if get_permission_record(ctx, contract, method) is None:
            raise ProposalInvalid(f"{contract}.{method} has no permission entry to remove")

    def apply() -> int:
        apply_permission(ctx, contract, method, permission)
        return _next_block(ctx)

    return apply


def _plan_revoke_certificate(ctx: Context, args: _Args) -> Plan:
    digest = args.get_sized(0, 32)
    reason = args.get_str(1, REASON_LENGTH_MAX)
    if ctx.get(REVOKED_PREFIX + digest) is not None:
        raise ProposalInvalid(f"certificate 0x{digest.hex()} is already revoked")
    revoked = get_revocation_list(ctx)
    if len(revoked) >= REVOCATIONS_MAX:
        raise ProposalInvalid(f"{REVOCATIONS_MAX} certificates are revoked, the most a chain lists")

    def apply() -> int:
        ctx.set_value(REVOKED_PREFIX + digest, [reason, ctx.block.height])
        ctx.set_value(REVOCATIONS_KEY, compute_value_list(sorted([*revoked, digest])))
        return _next_block(ctx)

    return apply


def _plan_set_policy(ctx: Context, args: _Args) -> Plan:
    kind = args.get_str(0)
    if kind not in KINDS:
        raise ProposalInvalid(f"unknown proposal kind {kind!r}; kinds: {', '.join(KINDS)}")
    policy = Policy(args.get_str(1), args.get_int(2, 2**32), args.get_int(3, 2**32))
    problem = validate_policy(policy)
    if problem is not None:
        raise ProposalInvalid(problem)
    if policy.rule == RULE_SELF and kind not in SELF_KINDS:
        raise ProposalInvalid(f"SELF governs only changes that concern one organisation: {', '.join(SELF_KINDS)}")
    if kind == KIND_SET_POLICY and policy.rule == RULE_FORBIDDEN:
        raise ProposalInvalid("set_policy cannot be FORBIDDEN: the policies could never change again")

    def apply() -> int:
        ctx.set_value(POLICY_PREFIX + kind.encode(), [policy.rule, policy.threshold_a, policy.threshold_b])
        return _next_block(ctx)

    return apply


_PLANNERS: dict[str, Callable[[Context, _Args], Plan]] = {
    KIND_ADD_ORGANIZATION: _plan_add_organization,
    KIND_REMOVE_ORGANIZATION: _plan_remove_organization,
    KIND_ADD_NODE: _plan_add_node,
    KIND_REMOVE_NODE: _plan_remove_node,
    KIND_SET_VALIDATOR_POWER: _plan_set_validator_power,
    KIND_SET_PARAMETERS: _plan_set_parameters,
    KIND_SET_CONSENSUS: _plan_set_consensus,
    KIND_SET_ACCOUNT: _plan_set_account,
    KIND_FREEZE_ACCOUNT: lambda ctx, args: _plan_freeze_account(ctx, args, True),
    KIND_UNFREEZE_ACCOUNT: lambda ctx, args: _plan_freeze_account(ctx, args, False),
    KIND_FREEZE_CONTRACT: lambda ctx, args: _plan_freeze_contract(ctx, args, True),
    KIND_UNFREEZE_CONTRACT: lambda ctx, args: _plan_freeze_contract(ctx, args, False),
    KIND_APPROVE_CONTRACT: _plan_approve_contract,
    KIND_SET_PERMISSION: _plan_set_permission,
    KIND_REVOKE_CERTIFICATE: _plan_revoke_certificate,
    KIND_SET_POLICY: _plan_set_policy,
    KIND_UPDATE_ORGANIZATION: _plan_update_organization,
}


# --- the vote flow ------------------------------------------------------------------------------------


def get_sender_organization(ctx: Context) -> str:
    """The active organisation the sender is an admin of; reverts for anyone else."""
    account = get_account_record(ctx, ctx.sender)
    if account is not None and account.role == ROLE_ADMIN:
        organization = get_organization_record(ctx, account.organization)
        if organization is not None and organization.status == STATUS_ACTIVE and ctx.sender in organization.admins:
            return organization.name
    ctx.revert(
        f"0x{ctx.sender.hex()} is not an admin of an active member organisation: only organisations' admins "
        "propose and vote"
    )


def get_governance_expiry_blocks_max(ctx: Context) -> int:
    value = get_config_in_force(ctx).get_parameter(GOVERNANCE_EXPIRY_PARAMETER)
    return GOVERNANCE_EXPIRY_BLOCKS_MAX_DEFAULT if value is None else value


def _pending_key(organization: str) -> bytes:
    return PENDING_PREFIX + organization.encode()


def _update_pending(ctx: Context, organization: str, add: int = 0, remove: int = 0) -> list[int]:
    """The organisation's proposals still pending and not expired, after adding `add` and removing `remove`."""
    kept = []
    stored = ctx.get_value(_pending_key(organization))
    for proposal_id in stored if isinstance(stored, list) else []:
        if type(proposal_id) is not int or proposal_id == remove:
            continue
        proposal = get_proposal(ctx, proposal_id)
        if proposal is not None and compute_reported_status(proposal, ctx.block.height) == STATUS_PENDING:
            kept.append(proposal_id)
    if add:
        kept.append(add)
    ctx.set_value(_pending_key(organization), compute_value_list(kept))
    return kept


def propose(ctx: Context, kind: str, args: bytes, expiry_height: int) -> int:
    organization = get_sender_organization(ctx)
    height = ctx.block.height
    expiry_max = get_governance_expiry_blocks_max(ctx)
    if not height <= expiry_height <= height + expiry_max:
        ctx.revert(
            f"expiry_height {expiry_height} must be between this height, {height}, and {height + expiry_max} "
            f"({GOVERNANCE_EXPIRY_PARAMETER} = {expiry_max})"
        )
    try:
        plan_change(ctx, kind, args)
    except ProposalInvalid as error:
        ctx.revert(f"{kind} proposal refused: {error}")
    pending = _update_pending(ctx, organization)
    if len(pending) >= PENDING_PROPOSALS_PER_ORGANIZATION_MAX:
        ctx.revert(
            f"organisation {organization} has {len(pending)} pending proposals, the most it may: wait for them "
            "to be decided or cancel some"
        )
    proposal_id = ctx.get_int(PROPOSAL_COUNT_KEY) + 1
    ctx.set_int(PROPOSAL_COUNT_KEY, proposal_id)
    proposal = Proposal(
        id=proposal_id,
        kind=kind,
        args=args,
        organization=organization,
        proposer=ctx.sender,
        created_height=height,
        expiry_height=expiry_height,
        status=STATUS_PENDING,
        votes=((organization, True),),
    )
    ctx.emit("proposal_created", [proposal_id, kind, organization, ctx.sender, expiry_height])
    ctx.emit("vote_cast", [proposal_id, organization, True])
    proposal = _decide(ctx, proposal)
    if proposal.status == STATUS_PENDING:
        _update_pending(ctx, organization, add=proposal_id)
    return proposal_id


def vote(ctx: Context, proposal_id: int, approve: bool) -> str:
    organization = get_sender_organization(ctx)
    proposal = get_proposal(ctx, proposal_id)
    if proposal is None:
        ctx.revert(f"no proposal {proposal_id}")
    status = compute_reported_status(proposal, ctx.block.height)
    if status != STATUS_PENDING:
        detail = f" (its expiry height was {proposal.expiry_height})" if status == STATUS_EXPIRED else ""
        ctx.revert(f"proposal {proposal_id} is {status}{detail}; only pending proposals take votes")
    if any(voter == organization for voter, _ in proposal.votes):
        ctx.revert(f"organisation {organization} has already voted on proposal {proposal_id}; it has one vote")
    votes = tuple(sorted((*proposal.votes, (organization, approve))))
    ctx.emit("vote_cast", [proposal_id, organization, approve])
    decided = _decide(ctx, replace(proposal, votes=votes))
    if decided.status != STATUS_PENDING:
        _update_pending(ctx, proposal.organization, remove=proposal_id)
    return decided.status


def cancel(ctx: Context, proposal_id: int) -> None:
    organization = get_sender_organization(ctx)
    proposal = get_proposal(ctx, proposal_id)
    if proposal is None:
        ctx.revert(f"no proposal {proposal_id}")
    if proposal.organization != organization:
        ctx.revert(f"proposal {proposal_id} was made by {proposal.organization}; only that organisation may cancel it")
    status = compute_reported_status(proposal, ctx.block.height)
    if status != STATUS_PENDING:
        ctx.revert(f"proposal {proposal_id} is {status}; only a pending proposal can be cancelled")
    _store(ctx, replace(proposal, status=STATUS_CANCELLED, decided_height=ctx.block.height))
    _update_pending(ctx, organization, remove=proposal_id)
    ctx.emit("proposal_cancelled", [proposal_id, proposal.kind])


def _cancel_pending(ctx: Context, organization: str, keep: int) -> None:
    """Cancel the pending proposals of a removed organisation (but `keep`, the one being decided)."""
    for proposal_id in _update_pending(ctx, organization):
        proposal = get_proposal(ctx, proposal_id)
        if proposal is None or proposal_id == keep:
            continue
        _store(ctx, replace(proposal, status=STATUS_CANCELLED, decided_height=ctx.block.height))
        ctx.emit("proposal_cancelled", [proposal_id, proposal.kind])
    ctx.delete(_pending_key(organization))


def _get_removed_organization(proposal: Proposal) -> str | None:
    if proposal.kind != KIND_REMOVE_ORGANIZATION:
        return None
    try:
        return _Args(proposal.kind, proposal.args, 1).get_str(0)
    except ProposalInvalid:
        return None


def _store(ctx: Context, proposal: Proposal) -> None:
    ctx.set_value(compute_proposal_key(proposal.id), proposal.to_value())


def _decide(ctx: Context, proposal: Proposal) -> Proposal:
    """Count the votes; execute the change if approved. Stores and returns the proposal as it stands."""
    # The organisation a removal concerns has no say in it: "ALL" means all the others, so a member
    # cannot veto its own removal.
    excluded = _get_removed_organization(proposal)
    organizations = [(item.name, item.weight) for item in get_active_organization_records(ctx) if item.name != excluded]
    subject = compute_subject(ctx, proposal.kind, proposal.args)
    votes = dict(proposal.votes)
    outcome = compute_outcome(get_policy(ctx, proposal.kind), organizations, votes, subject)
    if proposal.kind in CONSENT_KINDS and outcome != OUTCOME_REJECTED:
        # The organisation concerned must approve too: its "no" rejects, its silence keeps the proposal open.
        consent = votes.get(subject) if subject is not None else False
        if consent is False:
            outcome = OUTCOME_REJECTED
        elif consent is None:
            outcome = OUTCOME_PENDING
    height = ctx.block.height
    if outcome == OUTCOME_APPROVED:
        try:
            effective_height = plan_change(ctx, proposal.kind, proposal.args)()
        except ProposalInvalid as error:
            reason = str(error)[:REASON_LENGTH_MAX]
            proposal = replace(proposal, status=STATUS_FAILED, decided_height=height, reason=reason)
            ctx.emit("proposal_failed", [proposal.id, proposal.kind, reason])
        else:
            proposal = replace(
                proposal, status=STATUS_APPROVED, decided_height=height, effective_height=effective_height
            )
            ctx.emit("proposal_approved", [proposal.id, proposal.kind, height, effective_height])
            removed = _get_removed_organization(proposal)
            if removed is not None:
                _cancel_pending(ctx, removed, keep=proposal.id)
            if effective_height >= height + CONFIG_CHANGE_DELAY_BLOCKS and proposal.kind in _SCHEDULE_KINDS:
                ctx.emit("config_scheduled", [proposal.id, effective_height])
    elif outcome == OUTCOME_REJECTED:
        proposal = replace(proposal, status=STATUS_REJECTED, decided_height=height)
        ctx.emit("proposal_rejected", [proposal.id, proposal.kind])
    else:
        assert outcome == OUTCOME_PENDING
    _store(ctx, proposal)
    return proposal


_SCHEDULE_KINDS = frozenset(
    {
        KIND_REMOVE_ORGANIZATION,
        KIND_ADD_NODE,
        KIND_REMOVE_NODE,
        KIND_SET_VALIDATOR_POWER,
        KIND_SET_PARAMETERS,
        KIND_SET_CONSENSUS,
    }
)


def encode_args(values: list[Value]) -> bytes:
    """The `args` of a proposal: the canonical encoding of its argument list (for clients and tests)."""
    return encode_value(values)
