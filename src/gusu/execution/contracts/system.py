"""The `system` contract: the consortium's governance, and the chain's settings readable on chain.

It keeps the registry (organisations, nodes, accounts, revocations,
permissions, freezes), the proposals and their votes, and the chain
configuration schedule (validators, parameters and engine by height).
docs/governance.md is the design; the logic lives in `gusu.execution.governance`,
this class only exposes it as methods and views.

A genesis without organisations (a single-operator development chain) gets
one implicit organisation, named after its validators' organisation (or
"operator" if they name several), whose admins are the genesis admins and
whose CA certificate is empty: those admins govern the chain alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from gusu.codec import Value
from gusu.execution.context import Context
from gusu.execution.contract import Contract, method, view
from gusu.execution.encoding import encode_value
from gusu.execution.governance import proposals
from gusu.execution.governance.proposals import (
    KINDS,
    PROPOSALS_LIST_MAX,
    apply_default_policies,
    compute_reported_status,
    get_config_in_force,
    get_policy,
    get_proposal,
    get_schedule,
)
from gusu.execution.governance.registry import (
    ACCOUNT_PREFIX,
    ADMINS_KEY,
    CONFIG_SCHEDULE_KEY,
    EMPTY_LIST_ENCODING,
    NODE_VALIDATOR,
    RESTRICTED_CONTRACTS_KEY,
    REVOKED_PREFIX,
    ROLE_ADMIN,
    STATUS_ACTIVE,
    SUITE_KEY,
    Account,
    Node,
    Organization,
    apply_account,
    apply_node,
    apply_organization,
    encode_node,
    encode_organization,
    get_account_record,
    get_active_organization_records,
    get_node_addresses,
    get_node_record,
    get_permission_methods,
    get_permission_record,
    get_revocation_list,
)
from gusu.ledger.chainconfig import compute_genesis_config_schedule, encode_config_schedule
from gusu.ledger.genesis import Genesis
from gusu.ledger.types import NAME_LENGTH_MAX, Address

PROPOSALS_LIST_ARGS_BYTES_MAX = 32 * 1024
"""The args `list_proposals` returns at most in one answer (beyond its first proposal)."""
IMPLICIT_ORGANIZATION_DEFAULT = "operator"
"""The implicit organisation's name when a single-operator genesis's validators name several organisations."""


ORGANIZATIONS_PAGE_MAX = 64
"""Organisations one `get_organizations` page holds at most (ORGANIZATIONS_MAX)."""
NODES_PAGE_MAX = 256
"""Nodes one `get_nodes` page holds at most."""
REVOCATIONS_PAGE_MAX = 256
"""Revocations one `get_revocations` page holds at most."""
PAGE_BYTES_MAX = 32 * 1024
"""The encoded records one page of a registry view returns at most (beyond its first record), so the answer
fits a view's return value (64 KiB) whatever the records hold."""


def _check_page_limit(ctx: Context, limit: int, limit_max: int) -> None:
    if not 0 <= limit <= limit_max:
        ctx.revert(f"limit must be between 0 and {limit_max}")


def _compute_page(records: Iterable[Value], limit: int) -> list[Value]:
    """The first `limit` records, fewer once they add up to more than PAGE_BYTES_MAX (never fewer than one)."""
    page: list[Value] = []
    size = 0
    for record in records:
        if len(page) >= limit:
            break
        size += len(encode_value(record))
        if page and size > PAGE_BYTES_MAX:
            break
        page.append(record)
    return page


def compute_implicit_organization(genesis: Genesis) -> Organization:
    """The one organisation of a genesis that lists none: its validators' organisation, the genesis admins."""
    names = {validator.organization for validator in genesis.validators}
    name = names.pop() if len(names) == 1 else IMPLICIT_ORGANIZATION_DEFAULT
    return Organization(name, b"", tuple(sorted(set(genesis.admins))), 1, STATUS_ACTIVE)


class System(Contract):
    name = "system"
    trusted = True

    def on_genesis(self, ctx: Context, genesis: Genesis) -> None:
        ctx.set_value(SUITE_KEY, genesis.suite)
        ctx.set_value(ADMINS_KEY, list(genesis.admins))
        ctx.set(CONFIG_SCHEDULE_KEY, encode_config_schedule(compute_genesis_config_schedule(genesis)))
        ctx.set(RESTRICTED_CONTRACTS_KEY, EMPTY_LIST_ENCODING)
        organizations = [
            Organization(item.name, item.ca_certificate, item.admins, item.weight, STATUS_ACTIVE)
            for item in genesis.organizations
        ] or [compute_implicit_organization(genesis)]
        for organization in organizations:
            apply_organization(ctx, organization)
            for admin in organization.admins:
                existing = get_account_record(ctx, admin)
                if existing is not None:
                    ctx.revert(
                        f"genesis lists 0x{admin.hex()} as an admin of both {existing.organization} and "
                        f"{organization.name}; an account acts for one organisation"
                    )
                apply_account(ctx, Account(admin, organization.name, ROLE_ADMIN, False))
        for validator in genesis.validators:
            apply_node(
                ctx,
                Node(
                    validator.name,
                    validator.address,
                    validator.public_key,
                    validator.organization,
                    NODE_VALIDATOR,
                    validator.power,
                ),
            )
        apply_default_policies(ctx)

    # --- governance ----------------------------------------------------------------------

    @method
    def propose(self, ctx: Context, kind: str, args: bytes, expiry_height: int) -> int:
        """Propose a change of `kind` (args: the encoded argument list); the proposer's organisation approves it.

        Returns the proposal id. Only an admin of an active organisation may propose.
        """
        return proposals.propose(ctx, kind, args, expiry_height)

    @method
    def vote(self, ctx: Context, proposal_id: int, approve: bool) -> str:
        """Cast the sender's organisation's vote; returns the proposal's status afterwards."""
        return proposals.vote(ctx, proposal_id, approve)

    @method
    def cancel(self, ctx: Context, proposal_id: int) -> None:
        """Withdraw a pending proposal of the sender's organisation."""
        proposals.cancel(ctx, proposal_id)

    @view
    def get_proposal(self, ctx: Context, proposal_id: int) -> Value:
        """[id, kind, args, organization, proposer, created_height, expiry_height, status, votes,
        decided_height, effective_height, reason], or None."""
        proposal = get_proposal(ctx, proposal_id)
        if proposal is None:
            return None
        value = proposal.to_value()
        assert isinstance(value, list)
        value[7] = compute_reported_status(proposal, ctx.block.height)
        return value

    @view
    def list_proposals(self, ctx: Context, start_id: int, limit: int) -> Value:
        """Up to `limit` (at most 64) proposals from id `start_id` on, as `get_proposal` returns them.

        Fewer when their args add up to more than 32 KiB, so the answer fits a view's return value:
        continue from the id after the last one returned.
        """
        if limit < 0 or limit > PROPOSALS_LIST_MAX:
            ctx.revert(f"limit must be between 0 and {PROPOSALS_LIST_MAX}")
        found: list[Value] = []
        args_bytes = 0
        proposal_id = max(start_id, 1)
        while len(found) < limit:
            proposal = get_proposal(ctx, proposal_id)
            if proposal is None or (found and args_bytes + len(proposal.args) > PROPOSALS_LIST_ARGS_BYTES_MAX):
                break
            args_bytes += len(proposal.args)
            found.append(self.get_proposal(ctx, proposal_id))
            proposal_id += 1
        return found

    @view
    def get_organizations(self, ctx: Context, after: str, limit: int) -> Value:
        """[[name, ca_certificate, admins, weight, status], ...] of the active organisations named after `after`
        ("" for the first), sorted by name: up to `limit` (at most 64), fewer when they add up to more than
        32 KiB (always one if any is left). Continue with the last name returned; an empty page is the end."""
        _check_page_limit(ctx, limit, ORGANIZATIONS_PAGE_MAX)
        organizations = (item for item in get_active_organization_records(ctx) if item.name > after)
        return _compute_page((encode_organization(item) for item in organizations), limit)

    @view
    def get_nodes(self, ctx: Context, after: bytes, limit: int) -> Value:
        """[[name, address, public_key, organization, role, power], ...] of the nodes whose address sorts
        after `after` (b"" for the first), sorted by address: up to `limit` (at most 256), fewer past 32 KiB.
        Continue with the last address returned; an empty page is the end."""
        _check_page_limit(ctx, limit, NODES_PAGE_MAX)
        addresses = (address for address in get_node_addresses(ctx) if address > after)
        nodes = (get_node_record(ctx, address) for address in addresses)
        return _compute_page((encode_node(node) for node in nodes if node is not None), limit)

    @view
    def get_account(self, ctx: Context, address: Address) -> Value:
        """[organization, role, frozen] of a registered account, or None for a public address."""
        return ctx.get_value(ACCOUNT_PREFIX + address)

    @view
    def get_policies(self, ctx: Context) -> Value:
        """[[kind, rule, threshold_a, threshold_b], ...] for every proposal kind."""
        policies = ((kind, get_policy(ctx, kind)) for kind in KINDS)
        return [[kind, policy.rule, policy.threshold_a, policy.threshold_b] for kind, policy in policies]

    @view
    def get_permissions(self, ctx: Context, contract: str) -> Value:
        """[[method, roles, organizations], ...] of `contract`'s permission entries ("*" = every method)."""
        found: list[Value] = []
        if 0 < len(contract) <= NAME_LENGTH_MAX:
            for method_name in get_permission_methods(ctx, contract):
                entry = get_permission_record(ctx, contract, method_name)
                if entry is not None:
                    found.append([method_name, list(entry.roles), list(entry.organizations)])
        return found

    @view
    def get_revocations(self, ctx: Context, after: bytes, limit: int) -> Value:
        """[[certificate_sha256, reason, height], ...] of the revocations whose digest sorts after `after`
        (b"" for the first), sorted by digest: up to `limit` (at most 256), fewer past 32 KiB. Continue with
        the last digest returned; an empty page is the end."""
        _check_page_limit(ctx, limit, REVOCATIONS_PAGE_MAX)

        def records() -> Iterator[Value]:
            for digest in get_revocation_list(ctx):
                if digest > after:
                    record = ctx.get_value(REVOKED_PREFIX + digest)
                    if isinstance(record, list):
                        yield [digest, *record]

        return _compute_page(records(), limit)

    @view
    def get_config_schedule(self, ctx: Context) -> Value:
        """[[effective_height, validators, parameters, engine], ...]: the configuration in force, then
        the decided changes; validators as [name, address, public_key, power, organization]."""
        return [
            [
                change.effective_height,
                [[v.name, v.address, v.public_key, v.power, v.organization] for v in change.config.validators],
                [[name, value] for name, value in change.config.parameters],
                change.config.consensus,
            ]
            for change in get_schedule(ctx)
        ]

    # --- the chain's settings ------------------------------------------------------------

    @view
    def get_parameter(self, ctx: Context, name: str) -> int:
        """The value of parameter `name` in force now; reverts if the chain has no such parameter."""
        config = get_config_in_force(ctx)
        value = config.get_parameter(name) if 0 < len(name) <= NAME_LENGTH_MAX else None
        if value is None:
            names = ", ".join(parameter for parameter, _ in config.parameters) or "none"
            ctx.revert(f"this chain has no parameter {name!r} (parameters: {names})")
        return value

    @view
    def get_parameters(self, ctx: Context) -> Value:
        """[[name, value], ...] in force now, sorted by name."""
        return [[name, value] for name, value in get_config_in_force(ctx).parameters]

    @view
    def get_validators(self, ctx: Context) -> Value:
        """[[name, address, public_key, power], ...] of the validator set in force now, sorted by address."""
        return [[item.name, item.address, item.public_key, item.power] for item in get_config_in_force(ctx).validators]

    @view
    def get_admins(self, ctx: Context) -> Value:
        """The genesis admins."""
        return ctx.get_value(ADMINS_KEY)
