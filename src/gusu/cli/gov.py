"""`gusu gov`: consortium governance (docs/governance.md) from the command line, through `gusu.sdk.governance`.

`gusu gov propose <kind> ...` has one subcommand per proposal kind, with
named options; `vote`, `cancel`, `show`, `list`, `policies`, `config` and
`revocations` complete it. A proposal is signed by an organisation admin:
`--org DIR` takes the admin key of an organisation directory (`gusu org
init`), `--key NAME|PATH` any key file as other commands take keys.
`gusu org list`, `gusu node list` and `gusu node join` (in org.py and
node.py) use the helpers here too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.table import Table

from gusu.cli.context import CliState, CliUsageError, common_options, get_state
from gusu.cli.keystore import LoadedKey, load_key
from gusu.cli.remote import RECEIPT_TIMEOUT_S, open_client
from gusu.cli.render import format_value, key_value_table
from gusu.codec import Value
from gusu.ledger.jsonview import JSON, JSONObject, bytes_to_hex, value_to_json
from gusu.node.orgdir import NODE_RECORD_FILE_NAME, load_organization, read_node_record, read_organization_bundle
from gusu.node.pki import load_certificates
from gusu.sdk import Governance
from gusu.sdk.governance import (
    EXPIRY_BLOCKS_DEFAULT,
    KINDS,
    POLICY_RULES,
    PROPOSALS_PAGE_MAX,
    ConfigChangeView,
    NodeRecordView,
    OrganizationView,
    ProposalRequest,
    ProposalView,
    make_add_node,
    make_add_organization,
    make_approve_contract,
    make_freeze_account,
    make_freeze_contract,
    make_remove_node,
    make_remove_organization,
    make_revoke_certificate,
    make_set_account,
    make_set_consensus,
    make_set_parameters,
    make_set_permission,
    make_set_policy,
    make_set_validator_power,
    make_update_organization,
)

F = TypeVar("F", bound=Callable[..., Any])
ADMIN_KEY_FILE_NAME = "admin_key.json"
EXIT_REFUSED = 1


# --- keys and documents ---------------------------------------------------------------------------


def admin_key_options(function: F) -> F:
    """--org DIR or --key NAME|PATH (+ --passphrase-file): the admin key that signs."""
    function = click.option(
        "--passphrase-file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="The key's passphrase file (else KEY.pass beside the key file, $GUSU_PASSPHRASE, or a prompt).",
    )(function)
    function = click.option(
        "--key", "key_reference", default=None, metavar="NAME|PATH", help="An admin's key (keystore name or file)."
    )(function)
    return click.option(
        "--org",
        "organization_directory",
        type=click.Path(file_okay=False, exists=True, path_type=Path),
        default=None,
        help="Organisation directory (gusu org init) whose admin key signs.",
    )(function)


def load_admin_key(
    state: CliState, organization_directory: Path | None, key_reference: str | None, passphrase_file: Path | None
) -> LoadedKey:
    if (organization_directory is None) == (key_reference is None):
        raise CliUsageError("name the admin key with exactly one of --org DIR or --key NAME|PATH")
    if organization_directory is not None:
        path = organization_directory.expanduser().resolve() / ADMIN_KEY_FILE_NAME
        if not path.is_file():
            raise CliUsageError(f"{organization_directory} holds no {ADMIN_KEY_FILE_NAME}; is it an organisation "
                                "directory (gusu org init)?")  # fmt: skip
        return load_key(state.keys_directory, str(path), passphrase_file)
    assert key_reference is not None
    return load_key(state.keys_directory, key_reference, passphrase_file)


def proposal_to_json(view: ProposalView) -> JSONObject:
    return {
        "id": view.id,
        "kind": view.kind,
        "args": value_to_json(view.args),
        "organization": view.organization,
        "proposer": bytes_to_hex(view.proposer),
        "created_height": view.created_height,
        "expiry_height": view.expiry_height,
        "status": view.status,
        "votes": {organization: approve for organization, approve in view.votes},
        "decided_height": view.decided_height,
        "effective_height": view.effective_height,
        "reason": view.reason,
    }


def organization_to_json(view: OrganizationView) -> JSONObject:
    return {
        "name": view.name,
        "ca_certificate_sha256": hashlib.sha256(view.ca_certificate).hexdigest() if view.ca_certificate else None,
        "admins": [bytes_to_hex(admin) for admin in view.admins],
        "weight": view.weight,
        "status": view.status,
    }


def node_record_to_json(view: NodeRecordView) -> JSONObject:
    return {
        "name": view.name,
        "address": bytes_to_hex(view.address),
        "public_key": bytes_to_hex(view.public_key),
        "organization": view.organization,
        "role": view.role,
        "power": view.power,
    }


def config_change_to_json(view: ConfigChangeView) -> JSONObject:
    return {
        "effective_height": view.effective_height,
        "engine": view.engine,
        "validators": [
            {"name": v.name, "address": bytes_to_hex(v.address), "power": v.power, "organization": v.organization}
            for v in view.validators
        ],
        "parameters": dict(view.parameters),
    }


def _votes_text(view: ProposalView) -> str:
    return ", ".join(f"{name} {'yes' if approve else 'no'}" for name, approve in view.votes) or "none"


def proposal_table(view: ProposalView) -> Table:
    table = key_value_table(f"proposal {view.id}")
    colour = {"approved": "green", "pending": "yellow"}.get(view.status, "red")
    table.add_row("kind", view.kind)
    table.add_row("status", f"[{colour}]{view.status}[/{colour}]" + (f" ({view.reason})" if view.reason else ""))
    table.add_row("args", format_value(value_to_json(view.args)))
    table.add_row("proposed by", f"{view.organization} ({bytes_to_hex(view.proposer)}) at height {view.created_height}")
    table.add_row("votes", _votes_text(view))
    table.add_row("expires", f"after height {view.expiry_height}")
    if view.decided_height:
        table.add_row("decided", f"at height {view.decided_height}, in force from {view.effective_height}")
    return table


def proposals_table(views: Sequence[ProposalView], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("id", "kind", "status", "by", "votes", "expires"):
        table.add_column(column, justify="right" if column == "id" else "left")
    for view in views:
        table.add_row(
            str(view.id), view.kind, view.status, view.organization, _votes_text(view), str(view.expiry_height)
        )
    return table


def get_certificate_sha256(path: Path) -> bytes:
    """SHA-256 of the DER encoding of the (first) certificate in a PEM file (a node's node.crt, a ca.crt)."""
    from cryptography.hazmat.primitives import serialization

    certificates = load_certificates(path)  # PkiError (a GusuError) names the file when it holds none

    return hashlib.sha256(certificates[0].public_bytes(serialization.Encoding.DER)).digest()


def _parse_address(text: str, what: str) -> bytes:
    digits = text[2:] if text.startswith(("0x", "0X")) else text
    try:
        address = bytes.fromhex(digits)
    except ValueError:
        address = b""
    if len(address) != 20:
        raise CliUsageError(f"{what} must be an address: 0x followed by 40 hex digits, not {text!r}")
    return address


# --- proposing ------------------------------------------------------------------------------------


def submit_proposal(
    state: CliState,
    key: LoadedKey,
    request: ProposalRequest,
    expiry_height: int | None,
    timeout_s: float,
) -> JSONObject:
    """Sign and send `request`, wait for its receipt, and return the proposal as the chain holds it."""
    with open_client(state) as client:
        governance = Governance(client, timeout_s=timeout_s)
        with state.busy(f"proposing {request.kind}..."):
            submitted = governance.propose(key.key, request, expiry_height)
        view = governance.get_proposal(submitted.proposal_id)
    assert view is not None, "the chain just returned this proposal's id"
    return {"transaction": bytes_to_hex(submitted.receipt.transaction_id), **proposal_to_json(view)}


def _propose_options(function: F) -> F:
    function = common_options(function)
    function = click.option(
        "--timeout", "timeout_s", type=click.FloatRange(min=0.1), default=RECEIPT_TIMEOUT_S, show_default=True,
        help="Seconds to wait for the receipt.",
    )(function)  # fmt: skip
    function = click.option(
        "--expiry-height",
        type=click.IntRange(min=1),
        default=None,
        help=f"Last height at which votes count (default: {EXPIRY_BLOCKS_DEFAULT:,} blocks from now).",
    )(function)
    return admin_key_options(function)


def _run_propose(build: Callable[[], ProposalRequest], options: dict[str, Any]) -> None:
    state = get_state()
    request = build()  # checked before any key is opened
    key = load_admin_key(state, options["organization_directory"], options["key_reference"], options["passphrase_file"])
    document = submit_proposal(state, key, request, options["expiry_height"], options["timeout_s"])

    def render() -> None:
        state.stdout.print(f"proposal [bold]{document['id']}[/bold] ({request.kind}) is {document['status']}")
        if document["status"] == "pending":
            state.stdout.print(f"the other members vote with: gusu gov vote {document['id']} --approve --org DIR")

    state.emit(document, render)


@click.group("gov")
def gov_group() -> None:
    """Consortium governance: propose changes, vote, and read the registry."""


@gov_group.group("propose")
def propose_group() -> None:
    """Propose a change (one subcommand per kind); the proposer's organisation approves it at once."""


@propose_group.command("add-organization")
@click.option("--bundle", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True,
              help="The organisation's public bundle (gusu org export).")  # fmt: skip
@click.option("--weight", type=click.IntRange(1), default=None, help="Its weight (default: the bundle's).")
@_propose_options
def propose_add_organization(bundle: Path, weight: int | None, **options: Any) -> None:
    """A new member organisation, from its public bundle."""

    def build() -> ProposalRequest:
        organization = read_organization_bundle(bundle)
        chosen = weight if weight is not None else organization.weight
        return make_add_organization(organization.name, organization.ca_certificate, organization.admins, chosen)

    _run_propose(build, options)


@propose_group.command("update-organization")
@click.option("--bundle", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True,
              help="The organisation's public bundle with its new admins and CA (gusu org export).")  # fmt: skip
@click.option("--weight", type=click.IntRange(1), default=None,
              help="Its new weight (default: the weight it has on chain now, not the bundle's).")  # fmt: skip
@_propose_options
def propose_update_organization(bundle: Path, weight: int | None, **options: Any) -> None:
    """A member's new admins, CA certificate and weight, from its bundle; the member itself must approve.

    Admins the bundle no longer lists lose the role. Before a CA change, read docs/governance.md (the order
    that keeps the organisation's nodes connected).
    """

    def build() -> ProposalRequest:
        organization = read_organization_bundle(bundle)
        chosen = weight
        if chosen is None:
            with open_client(get_state()) as client:
                members = {item.name: item for item in Governance(client).get_organizations()}
            current = members.get(organization.name)
            if current is None:
                raise CliUsageError(f"{organization.name} is not a member organisation; see gusu org list")
            chosen = current.weight
        return make_update_organization(organization.name, organization.ca_certificate, organization.admins, chosen)

    _run_propose(build, options)


@propose_group.command("remove-organization")
@click.option("--name", required=True, help="The organisation to remove.")
@_propose_options
def propose_remove_organization(name: str, **options: Any) -> None:
    """Remove a member: its nodes leave, its certificates stop being trusted."""
    _run_propose(lambda: make_remove_organization(name), options)


def node_request(record_path: Path, power: int) -> ProposalRequest:
    record = read_node_record(record_path)
    return make_add_node(record.name, record.address, record.public_key, record.organization, power)


@propose_group.command("add-node")
@click.option("--record", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True,
              help="The node's public record (node.json from gusu node init).")  # fmt: skip
@click.option("--power", type=click.IntRange(0), default=0, show_default=True,
              help="0: an observer; 1 or more: a validator with that voting power.")  # fmt: skip
@_propose_options
def propose_add_node(record: Path, power: int, **options: Any) -> None:
    """Register a node of a member organisation, as an observer or a validator."""
    _run_propose(lambda: node_request(record, power), options)


def _node_address(address: str | None, record: Path | None) -> bytes:
    if (address is None) == (record is None):
        raise CliUsageError("name the node with exactly one of --address 0x.. or --record node.json")
    if record is not None:
        return bytes(read_node_record(record).address)
    assert address is not None
    return _parse_address(address, "--address")


def _node_options(function: F) -> F:
    function = click.option("--record", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
                            help="The node's record (node.json).")(function)  # fmt: skip
    return click.option("--address", default=None, help="The node's address (0x...).")(function)


@propose_group.command("remove-node")
@_node_options
@_propose_options
def propose_remove_node(address: str | None, record: Path | None, **options: Any) -> None:
    """Remove a node from the registry (and from the validators)."""
    _run_propose(lambda: make_remove_node(_node_address(address, record)), options)


@propose_group.command("set-validator-power")
@_node_options
@click.option("--power", type=click.IntRange(0), required=True, help="The new power; 0 makes it an observer.")
@_propose_options
def propose_set_validator_power(address: str | None, record: Path | None, power: int, **options: Any) -> None:
    """Change a node's voting power (in force two blocks after the decision)."""
    _run_propose(lambda: make_set_validator_power(_node_address(address, record), power), options)


def _parse_parameter(text: str) -> tuple[str, int]:
    name, separator, value = text.partition("=")
    if not separator or not value.strip().isdigit():
        raise CliUsageError(f"--set takes NAME=VALUE with a whole number, not {text!r}")
    return name.strip(), int(value)


@propose_group.command("set-parameters")
@click.option("--set", "assignments", multiple=True, required=True, metavar="NAME=VALUE",
              help="A chain parameter to set (repeat for several).")  # fmt: skip
@_propose_options
def propose_set_parameters(assignments: tuple[str, ...], **options: Any) -> None:
    """Change chain parameters (block limits, timeouts, gas, window)."""
    _run_propose(lambda: make_set_parameters([_parse_parameter(text) for text in assignments]), options)


@propose_group.command("set-consensus")
@click.option("--engine", required=True, help="The ordering engine (solo or tendermint).")
@click.option("--height", "effective_height", type=click.IntRange(0), required=True, help="From this height.")
@_propose_options
def propose_set_consensus(engine: str, effective_height: int, **options: Any) -> None:
    """Switch the ordering engine at a stated height."""
    _run_propose(lambda: make_set_consensus(engine, effective_height), options)


@propose_group.command("set-account")
@click.option("--address", required=True, help="The account (0x...).")
@click.option("--organization", required=True, help="Its organisation.")
@click.option("--role", type=click.Choice(["client", "auditor", "none"]), required=True, help="none removes it.")
@_propose_options
def propose_set_account(address: str, organization: str, role: str, **options: Any) -> None:
    """Register or change an account of an organisation (client or auditor)."""
    _run_propose(lambda: make_set_account(_parse_address(address, "--address"), organization, role), options)


for _frozen, _verb in ((True, "freeze"), (False, "unfreeze")):

    def _make_account_command(frozen: bool, verb: str) -> None:
        @propose_group.command(f"{verb}-account")
        @click.option("--address", required=True, help="The account (0x...).")
        @_propose_options
        def command(address: str, **options: Any) -> None:
            _run_propose(lambda: make_freeze_account(_parse_address(address, "--address"), frozen), options)

        command.help = f"{verb.capitalize()} an account: its transactions are refused at admission and execution."

        @propose_group.command(f"{verb}-contract")
        @click.option("--contract", required=True, help="The contract's name.")
        @_propose_options
        def contract_command(contract: str, **options: Any) -> None:
            _run_propose(lambda: make_freeze_contract(contract, frozen), options)

        contract_command.help = f"{verb.capitalize()} a contract: calls to it are refused while it is frozen."

    _make_account_command(_frozen, _verb)


@propose_group.command("approve-contract")
@click.option("--code-hash", required=True, help="The contract code's hash (0x...).")
@_propose_options
def propose_approve_contract(code_hash: str, **options: Any) -> None:
    """Approve a contract code for deployment."""
    digits = code_hash[2:] if code_hash.startswith(("0x", "0X")) else code_hash
    try:
        code = bytes.fromhex(digits)
    except ValueError:
        raise CliUsageError(f"--code-hash must be hex, not {code_hash!r}") from None
    _run_propose(lambda: make_approve_contract(code), options)


@propose_group.command("set-permission")
@click.option("--contract", required=True, help="The contract.")
@click.option("--method", default="*", show_default=True, help="The method, or * for every method.")
@click.option("--role", "roles", multiple=True, type=click.Choice(["admin", "client", "public"]),
              help="A role that may call it (repeat); none given: any role.")  # fmt: skip
@click.option("--organization", "organizations", multiple=True,
              help="An organisation whose accounts may call it (repeat); none given: any.")  # fmt: skip
@_propose_options
def propose_set_permission(
    contract: str, method: str, roles: tuple[str, ...], organizations: tuple[str, ...], **options: Any
) -> None:
    """Who may call a contract method; no --role and no --organization removes the entry."""
    _run_propose(lambda: make_set_permission(contract, method, roles, organizations), options)


@propose_group.command("revoke-certificate")
@click.option("--certificate", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="The PEM certificate file to revoke (its first certificate).")  # fmt: skip
@click.option("--sha256", "digest", default=None, help="Or the SHA-256 of its DER encoding (hex).")
@click.option("--reason", required=True, help="Why (kept on chain, at most 256 characters).")
@_propose_options
def propose_revoke_certificate(certificate: Path | None, digest: str | None, reason: str, **options: Any) -> None:
    """Revoke a node certificate (or an organisation CA): peers holding it are cut and refused."""

    def build() -> ProposalRequest:
        if (certificate is None) == (digest is None):
            raise CliUsageError("name the certificate with exactly one of --certificate FILE or --sha256 HEX")
        if certificate is not None:
            return make_revoke_certificate(get_certificate_sha256(certificate), reason)
        assert digest is not None
        try:
            raw = bytes.fromhex(digest[2:] if digest.startswith(("0x", "0X")) else digest)
        except ValueError:
            raise CliUsageError(f"--sha256 must be 64 hex digits, not {digest!r}") from None
        return make_revoke_certificate(raw, reason)

    _run_propose(build, options)


@propose_group.command("set-policy")
@click.option("--kind", type=click.Choice(KINDS), required=True, help="The proposal kind it governs.")
@click.option("--rule", type=click.Choice(POLICY_RULES), required=True, help="The voting rule.")
@click.option("--threshold-a", type=click.IntRange(0), default=0, help="N of N_OF_M; participation of WEIGHTED.")
@click.option("--threshold-b", type=click.IntRange(0), default=0, help="Approval of WEIGHTED (basis points).")
@_propose_options
def propose_set_policy(kind: str, rule: str, threshold_a: int, threshold_b: int, **options: Any) -> None:
    """Change the voting policy of a kind of proposal."""
    _run_propose(lambda: make_set_policy(kind, rule, threshold_a, threshold_b), options)


# --- voting and reading -----------------------------------------------------------------------------


@gov_group.command("vote")
@click.argument("proposal_id", type=click.IntRange(1))
@click.option("--approve/--reject", required=True, help="The organisation's vote.")
@_propose_options
def gov_vote(proposal_id: int, approve: bool, **options: Any) -> None:
    """Cast the organisation's vote on proposal PROPOSAL_ID."""
    state = get_state()
    key = load_admin_key(state, options["organization_directory"], options["key_reference"], options["passphrase_file"])
    with open_client(state) as client:
        governance = Governance(client, timeout_s=options["timeout_s"])
        with state.busy("voting..."):
            cast = governance.vote(key.key, proposal_id, approve)
        view = governance.get_proposal(proposal_id)
    assert view is not None
    document: JSONObject = {"transaction": bytes_to_hex(cast.receipt.transaction_id), **proposal_to_json(view)}
    state.emit(document, lambda: state.stdout.print(proposal_table(view)))


@gov_group.command("cancel")
@click.argument("proposal_id", type=click.IntRange(1))
@_propose_options
def gov_cancel(proposal_id: int, **options: Any) -> None:
    """Withdraw a pending proposal of the organisation."""
    state = get_state()
    key = load_admin_key(state, options["organization_directory"], options["key_reference"], options["passphrase_file"])
    with open_client(state) as client:
        governance = Governance(client, timeout_s=options["timeout_s"])
        governance.cancel(key.key, proposal_id)
        view = governance.get_proposal(proposal_id)
    assert view is not None
    state.emit(proposal_to_json(view), lambda: state.stdout.print(proposal_table(view)))


@gov_group.command("show")
@click.argument("proposal_id", type=click.IntRange(1))
@common_options
def gov_show(proposal_id: int) -> None:
    """One proposal: its change, votes and status."""
    state = get_state()
    with open_client(state) as client:
        view = Governance(client).get_proposal(proposal_id)
    if view is None:
        from gusu.errors import NotFoundError

        raise NotFoundError(f"there is no proposal {proposal_id}; see gusu gov list")
    state.emit(proposal_to_json(view), lambda: state.stdout.print(proposal_table(view)))


@gov_group.command("list")
@click.option("--start", "start_id", type=click.IntRange(1), default=1, show_default=True, help="First proposal id.")
@click.option("--limit", type=click.IntRange(1, PROPOSALS_PAGE_MAX), default=PROPOSALS_PAGE_MAX, show_default=True)
@click.option("--pending", is_flag=True, help="Only the pending proposals.")
@common_options
def gov_list(start_id: int, limit: int, pending: bool) -> None:
    """Proposals from --start on (one page; continue with --start after the last id shown)."""
    state = get_state()
    with open_client(state) as client:
        views = Governance(client).list_proposals(start_id, limit)
    shown = [view for view in views if view.status == "pending"] if pending else views
    following: JSON = views[-1].id + 1 if len(views) == limit else None
    document: JSONObject = {"proposals": [proposal_to_json(view) for view in shown], "next_start": following}

    def render() -> None:
        if not shown:
            state.stdout.print("no proposals" + (" pending" if pending else ""))
            return
        state.stdout.print(proposals_table(shown, "proposals"))
        if following is not None:
            state.stdout.print(f"more: gusu gov list --start {following}")

    state.emit(document, render)


@gov_group.command("policies")
@common_options
def gov_policies() -> None:
    """The voting policy of every kind of proposal."""
    state = get_state()
    with open_client(state) as client:
        policies = Governance(client).get_policies()
    document: JSONObject = {
        "policies": [
            {"kind": p.kind, "rule": p.rule, "threshold_a": p.threshold_a, "threshold_b": p.threshold_b}
            for p in policies
        ]
    }

    def render() -> None:
        table = Table(title="voting policies", title_justify="left")
        for column in ("kind", "rule", "threshold a", "threshold b"):
            table.add_column(column)
        for policy in policies:
            table.add_row(policy.kind, policy.rule, str(policy.threshold_a), str(policy.threshold_b))
        state.stdout.print(table)

    state.emit(document, render)


@gov_group.command("config")
@common_options
def gov_config() -> None:
    """The configuration schedule: the configuration in force, then the decided changes by height."""
    state = get_state()
    with open_client(state) as client:
        schedule = Governance(client).get_config_schedule()
    document: JSONObject = {"schedule": [config_change_to_json(change) for change in schedule]}

    def render() -> None:
        for change in schedule:
            table = key_value_table(f"from height {change.effective_height}")
            table.add_row("engine", change.engine)
            table.add_row(
                "validators",
                "\n".join(f"{v.name} ({v.organization}) {bytes_to_hex(v.address)} power {v.power}"
                          for v in change.validators),
            )  # fmt: skip
            table.add_row("parameters", ", ".join(f"{name}={value}" for name, value in change.parameters) or "none")
            state.stdout.print(table)

    state.emit(document, render)


@gov_group.command("revocations")
@common_options
def gov_revocations() -> None:
    """Revoked certificates (SHA-256 of their DER), with the reason and the height."""
    state = get_state()
    with open_client(state) as client:
        revocations = Governance(client).get_revocations()
    document: JSONObject = {
        "revocations": [
            {"sha256": item.certificate_sha256.hex(), "reason": item.reason, "height": item.height}
            for item in revocations
        ]
    }

    def render() -> None:
        table = Table(title="revoked certificates", title_justify="left")
        for column in ("sha256", "reason", "height"):
            table.add_column(column)
        for item in revocations:
            table.add_row(item.certificate_sha256.hex(), item.reason, str(item.height))
        state.stdout.print(table)

    state.emit(document, render)


# --- registry listings (gusu org list, gusu node list) ---------------------------------------------


def list_organizations(state: CliState) -> None:
    with open_client(state) as client:
        organizations = Governance(client).get_organizations()
    document: JSONObject = {"organizations": [organization_to_json(item) for item in organizations]}

    def render() -> None:
        table = Table(title="member organisations (chain state)", title_justify="left")
        for column in ("name", "weight", "admins", "CA certificate sha256"):
            table.add_column(column)
        for item in organizations:
            digest = hashlib.sha256(item.ca_certificate).hexdigest()[:16] + "…" if item.ca_certificate else "(none)"
            table.add_row(item.name, str(item.weight), "\n".join(bytes_to_hex(a) for a in item.admins), digest)
        state.stdout.print(table)

    state.emit(document, render)


def list_nodes(state: CliState) -> None:
    with open_client(state) as client:
        nodes = Governance(client).get_nodes()
    document: JSONObject = {"nodes": [node_record_to_json(item) for item in nodes]}

    def render() -> None:
        table = Table(title="registered nodes (chain state)", title_justify="left")
        for column in ("name", "organization", "role", "power", "address"):
            table.add_column(column)
        for item in nodes:
            table.add_row(item.name, item.organization, item.role, str(item.power), bytes_to_hex(item.address))
        state.stdout.print(table)

    state.emit(document, render)


def describe_request(request: ProposalRequest) -> Value:
    """A proposal request as `--json` shows it: its kind and decoded args."""
    from gusu.codec import decode

    return [request.kind, decode(request.args)]


# --- gusu node join ---------------------------------------------------------------------------------


def _read_joining(organization: Path, node: Path) -> tuple[tuple[str, bytes, tuple[bytes, ...], int], Path]:
    """(name, CA DER, admins, weight) of the joining organisation, and the node record's path."""
    if organization.is_dir():
        info = load_organization(organization.expanduser().resolve())
        joining = (info.name, info.ca_der, tuple(bytes(admin) for admin in info.admins), info.weight)
    else:
        bundle = read_organization_bundle(organization)
        joining = (bundle.name, bundle.ca_certificate, tuple(bytes(a) for a in bundle.admins), bundle.weight)
    record_path = node / NODE_RECORD_FILE_NAME if node.is_dir() else node
    return joining, record_path


def compute_join_requests(
    organization: Path, node: Path, power: int, member_names: Sequence[str]
) -> tuple[list[ProposalRequest], list[str]]:
    """The proposals that bring the node in, in order, and the `gusu gov propose` commands for them."""
    (name, ca_der, admins, weight), record_path = _read_joining(organization, node)
    record = read_node_record(record_path)
    if record.organization != name:
        raise CliUsageError(f"node {record.name} belongs to {record.organization!r}, not to {name!r}")
    requests: list[ProposalRequest] = []
    commands: list[str] = []
    if name not in member_names:
        requests.append(make_add_organization(name, ca_der, admins, weight))
        commands.append(f"gusu gov propose add-organization --bundle {name}.org.json --org <member org directory>")
    requests.append(make_add_node(record.name, record.address, record.public_key, record.organization, power))
    commands.append(f"gusu gov propose add-node --record {record.name}.node.json --power {power} "
                    "--org <member org directory>")  # fmt: skip
    return requests, commands


def run_node_join(
    organization: Path,
    node: Path,
    validator: bool,
    power: int | None,
    submit: bool,
    proposer_directory: Path | None,
    key_reference: str | None,
    passphrase_file: Path | None,
    expiry_height: int | None,
    timeout_s: float,
) -> None:
    state = get_state()
    _, record_path = _read_joining(organization, node)
    record = read_node_record(record_path)
    chosen_power = (power if power is not None else max(record.power, 1)) if validator else 0
    if validator and chosen_power < 1:
        raise CliUsageError("a validator needs --power 1 or more")
    with open_client(state) as client:
        members = [item.name for item in Governance(client).get_organizations()]
    requests, commands = compute_join_requests(organization, node, chosen_power, members)
    document: JSONObject = {
        "node": record.name,
        "organization": record.organization,
        "role": "validator" if chosen_power else "observer",
        "power": chosen_power,
        "proposals": [value_to_json(describe_request(request)) for request in requests],
        "commands": list(commands),
        "submitted": [],
    }
    if submit:
        key = load_admin_key(state, proposer_directory, key_reference, passphrase_file)
        submitted: list[JSON] = []
        for request in requests:
            outcome = submit_proposal(state, key, request, expiry_height, timeout_s)
            submitted.append(outcome)
            if outcome["status"] != "approved":
                break  # add_node needs the organisation to be a member: propose it once the vote passed
        document["submitted"] = submitted

    def render() -> None:
        state.stdout.print(
            f"node {record.name} of {record.organization} joins as {document['role']}"
            + (f" (power {chosen_power})" if chosen_power else "")
        )
        if not submit:
            state.stdout.print(
                "a member organisation's admin proposes, in this order (each once the one before passed):"
            )
            for command in commands:
                state.stdout.print(f"  {command}")
            return
        for outcome in document["submitted"]:  # type: ignore[union-attr]
            assert isinstance(outcome, dict)
            state.stdout.print(f"proposal {outcome['id']} ({outcome['kind']}) is {outcome['status']}")
        if len(document["submitted"]) < len(requests):  # type: ignore[arg-type]
            state.stdout.print("once the members approved it, run gusu node join --submit again for the rest")

    state.emit(document, render)
