"""`gusu scf`: receivable vouchers (应收账款电子凭证) for each actor (docs/apps/scf.md).

Operator: setup, admit, account, member-status, term-cap. Issuer: draft (maker), approve (checker), cancel,
settle, queue. Supplier/holder: accept, refuse, transfer, split, accept-offer, decline-offer, mine. Funder:
offer, register. Regulator: issuers, tree, overdue. Everyone: show, lineage, offers, members.

Amounts are given in yuan with at most two decimals ("1234.56") and travel as integer fen; rates in percent a
year with at most two decimals ("4.50"), sent as basis points. Every command takes --json.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.table import Table

from gusu.apps.scf.client import ScfApp, TradeDocuments, compute_invoice_key, read_document_hash
from gusu.apps.scf.contract import CONTRACT_NAME, DAY_MS, ENTERPRISE_KINDS, compute_interest_fen
from gusu.apps.scf.public import (
    TrustAnchor,
    compute_enterprise_key,
    compute_public_answer,
    compute_voucher_key,
    is_claim_matching,
    parse_claim,
    parse_stored_enterprise_name,
    parse_stored_voucher,
    validate_public_proof,
)
from gusu.apps.scf.views import (
    FinancingOffer,
    IssuerStats,
    Voucher,
    format_rate,
    format_yuan,
    parse_rate,
    parse_yuan,
)
from gusu.cli.args import parse_hash
from gusu.cli.context import CliState, CliUsageError, common_options, get_state
from gusu.cli.keystore import load_key
from gusu.cli.remote import open_client
from gusu.cli.render import key_value_table
from gusu.cli.tx import key_options, resolve_address
from gusu.crypto import PrivateKey, get_suite
from gusu.errors import ClientError, ConfigError, InvalidStateProofError
from gusu.ledger.genesis import load_genesis
from gusu.ledger.jsonview import JSONObject, bytes_to_hex
from gusu.ledger.stateproof import CertifiedStateProof
from gusu.sdk.contracts import CallOutcome, Contracts

CHINA_TIME = datetime.timezone(datetime.timedelta(hours=8))


@click.group("scf")
@click.option("--app", "app_name", default=CONTRACT_NAME, show_default=True, envvar="GUSU_SCF_APP",
              help="The name the scf contract is deployed at.")  # fmt: skip
@click.pass_context
def scf_group(context: click.Context, app_name: str) -> None:
    """Supply-chain finance: receivable vouchers (应收账款电子凭证, 银发〔2025〕77号)."""
    context.meta["scf_app"] = app_name


@contextmanager
def _app() -> Iterator[tuple[CliState, ScfApp]]:
    state = get_state()
    name = click.get_current_context().meta.get("scf_app", CONTRACT_NAME)
    with open_client(state) as client:
        yield state, ScfApp(Contracts(client), name)


def _key(state: CliState, reference: str, passphrase_file: Path | None) -> PrivateKey:
    return load_key(state.keys_directory, reference, passphrase_file).key


def _done(state: CliState, outcome: CallOutcome, document: JSONObject, summary: str) -> None:
    document = {**document, "transaction_id": bytes_to_hex(outcome.receipt.transaction_id)}
    state.emit(document, lambda: state.stdout.print(summary))


def parse_maturity(text: str) -> int:
    """A date (YYYY-MM-DD, the end of that day in China time, UTC+8) → block-time milliseconds."""
    try:
        day = datetime.date.fromisoformat(text)
    except ValueError:
        raise CliUsageError(f"give the maturity as a date YYYY-MM-DD, not {text!r}") from None
    end = datetime.datetime.combine(day, datetime.time(23, 59, 59), CHINA_TIME)
    return int(end.timestamp()) * 1000


def format_time(time_ms: int) -> str:
    if time_ms == 0:
        return "-"
    return datetime.datetime.fromtimestamp(time_ms // 1000, CHINA_TIME).strftime("%Y-%m-%d %H:%M")


def _hash_or_file(state: CliState, suite: str, text: str, what: str) -> bytes:
    if text.startswith(("0x", "0X")):
        try:
            value = bytes.fromhex(text[2:])
        except ValueError:
            value = b""
        if len(value) != 32:
            raise CliUsageError(f"{what} must be a file or 0x and 64 hex digits")
        return value
    path = Path(text)
    if not path.is_file():
        raise CliUsageError(f"{what}: {text} is not a file (give a file to hash, or its 0x hash)")
    return read_document_hash(suite, path)


def _invoice(suite: str, text: str) -> bytes:
    if text.startswith(("0x", "0X")) and len(text) == 66:
        return bytes.fromhex(text[2:])
    code, separator, number = text.rpartition(":")
    return compute_invoice_key(suite, code if separator else "", number)


def _documents(app: ScfApp, contract: str, invoice: str, delivery: str) -> TradeDocuments:
    suite = app.contracts.get_suite()
    state = get_state()
    return TradeDocuments(
        _hash_or_file(state, suite, contract, "--contract"),
        _invoice(suite, invoice),
        _hash_or_file(state, suite, delivery, "--delivery"),
    )


def _document_options(function: Callable[..., None]) -> Callable[..., None]:
    function = click.option(
        "--delivery", required=True, metavar="FILE|0xHASH",
        help="The delivery note or goods receipt (hashed here; only the hash goes on chain).",
    )(function)  # fmt: skip
    function = click.option(
        "--invoice", required=True, metavar="[CODE:]NUMBER|0xKEY",
        help="The invoice's 发票代码:发票号码 (its key is hashed here), or the key itself.",
    )(function)  # fmt: skip
    return click.option("--contract", "trade_contract", required=True, metavar="FILE|0xHASH",
                        help="The trade contract (hashed here).")(function)  # fmt: skip


def voucher_to_json(voucher: Voucher) -> JSONObject:
    return {
        "voucher_id": voucher.voucher_id,
        "root_id": voucher.root_id,
        "parent_id": voucher.parent_id,
        "issuer": voucher.issuer,
        "holder": voucher.holder,
        "face_fen": voucher.face_fen,
        "available_fen": voucher.available_fen,
        "issue_ms": voucher.issue_ms,
        "maturity_ms": voucher.maturity_ms,
        "status": voucher.status,
        "origin": voucher.origin,
        "contract_hash": bytes_to_hex(voucher.documents.contract_hash),
        "invoice_hash": bytes_to_hex(voucher.documents.invoice_hash),
        "delivery_hash": bytes_to_hex(voucher.documents.delivery_hash),
        "maker": bytes_to_hex(voucher.maker),
        "checker": bytes_to_hex(voucher.checker),
        "settled_ms": voucher.settled_ms,
    }


def offer_to_json(offer: FinancingOffer) -> JSONObject:
    return {
        "offer_id": offer.offer_id,
        "voucher_id": offer.voucher_id,
        "funder": offer.funder,
        "amount_fen": offer.amount_fen,
        "rate_bp": offer.rate_bp,
        "fees_fen": offer.fees_fen,
        "days": offer.days,
        "interest_fen": offer.interest_fen,
        "total_cost_fen": offer.total_cost_fen,
        "net_fen": offer.net_fen,
        "status": offer.status,
        "registration_number": offer.registration_number,
        "financed_voucher_id": offer.child_id,
    }


def stats_to_json(stats: IssuerStats) -> JSONObject:
    return {
        "issuer": stats.issuer,
        "name": stats.name,
        "issued_count": stats.issued_count,
        "issued_face_fen": stats.issued_face_fen,
        "outstanding_count": stats.outstanding_count,
        "outstanding_face_fen": stats.outstanding_face_fen,
        "average_term_days": stats.get_average_term_days(),
        "overdue_count": stats.overdue_count,
        "overdue_face_fen": stats.overdue_face_fen,
        "settled_count": stats.settled_count,
        "settled_late_count": stats.settled_late_count,
    }


def _print_vouchers(state: CliState, title: str, vouchers: list[Voucher]) -> None:
    table = Table(title=title, title_justify="left", box=None, pad_edge=False)
    for column in ("id", "root", "parent", "issuer", "holder", "face (yuan)", "available", "maturity", "status"):
        table.add_column(column)
    for item in vouchers:
        table.add_row(str(item.voucher_id), str(item.root_id), str(item.parent_id or "-"), item.issuer, item.holder,
                      format_yuan(item.face_fen), format_yuan(item.available_fen), format_time(item.maturity_ms),
                      item.status)  # fmt: skip
    state.stdout.print(table)


def _emit_vouchers(state: CliState, title: str, vouchers: list[Voucher]) -> None:
    state.emit(
        {"vouchers": [voucher_to_json(item) for item in vouchers]}, lambda: _print_vouchers(state, title, vouchers)
    )


# --- operator ---------------------------------------------------------------------------------------


@scf_group.command("setup")
@click.option("--term-max-days", type=click.IntRange(0, 365), default=0,
              help="The issuance term cap in days (default 183, about 6 months; never over 365).")  # fmt: skip
@key_options
@common_options
def scf_setup(term_max_days: int, key_reference: str, passphrase_file: Path | None) -> None:
    """Deploy the scf contract from its source (proposing its approval first on a governed chain)."""
    with _app() as (state, app):
        result = app.setup(_key(state, key_reference, passphrase_file), term_max_days)
    document: JSONObject = {"name": result.name, "code_hash": bytes_to_hex(result.code_hash),
                            "deployed": result.deployed, "already_deployed": result.already_deployed,
                            "proposal_id": result.proposal_id}  # fmt: skip

    def render() -> None:
        if result.already_deployed:
            state.stdout.print(f"scf is already deployed at {result.name!r} (code {bytes_to_hex(result.code_hash)})")
        elif result.deployed:
            state.stdout.print(f"deployed scf at {result.name!r}; the signing key is its first operator")
        else:
            state.stdout.print(f"proposed approving the scf code as proposal {result.proposal_id}; once the other "
                               "organisations approve it (gusu gov vote), run `gusu scf setup` again")  # fmt: skip

    state.emit(document, render)


@scf_group.command("admit")
@click.argument("enterprise")
@click.option("--kind", type=click.Choice(ENTERPRISE_KINDS), required=True)
@click.option("--name", "display_name", required=True, help="The enterprise's registered name.")
@key_options
@common_options
def scf_admit(enterprise: str, kind: str, display_name: str, key_reference: str, passphrase_file: Path | None) -> None:
    """Admit ENTERPRISE as a member (operator; a funder admitted here is whitelisted)."""
    with _app() as (state, app):
        outcome = app.admit_enterprise(_key(state, key_reference, passphrase_file), enterprise, kind, display_name)
    _done(state, outcome, {"enterprise": enterprise, "kind": kind}, f"admitted {enterprise} ({kind})")


@scf_group.command("account")
@click.argument("account")
@click.argument("enterprise")
@click.option("--role", type=click.Choice(["maker", "checker", "user", "none"]), required=True)
@key_options
@common_options
def scf_account(account: str, enterprise: str, role: str, key_reference: str, passphrase_file: Path | None) -> None:
    """Register ACCOUNT (an address or key) as a user of ENTERPRISE (operator; --role none removes it)."""
    with _app() as (state, app):
        address = resolve_address(state, account)
        outcome = app.set_account(_key(state, key_reference, passphrase_file), address, enterprise, role)
    _done(state, outcome, {"account": bytes_to_hex(address), "enterprise": enterprise, "role": role},
          f"{bytes_to_hex(address)} acts for {enterprise} as {role}")  # fmt: skip


@scf_group.command("member-status")
@click.argument("enterprise")
@click.argument("status", type=click.Choice(["active", "suspended"]))
@key_options
@common_options
def scf_member_status(enterprise: str, status: str, key_reference: str, passphrase_file: Path | None) -> None:
    """Suspend or reactivate a member (operator; a suspended funder is off the whitelist)."""
    with _app() as (state, app):
        outcome = app.set_enterprise_status(_key(state, key_reference, passphrase_file), enterprise, status)
    _done(state, outcome, {"enterprise": enterprise, "status": status}, f"{enterprise} is {status}")


@scf_group.command("term-cap")
@click.argument("days", type=click.IntRange(1, 365))
@key_options
@common_options
def scf_term_cap(days: int, key_reference: str, passphrase_file: Path | None) -> None:
    """Set the issuance term cap in days (operator; never over 365)."""
    with _app() as (state, app):
        outcome = app.set_term_max_days(_key(state, key_reference, passphrase_file), days)
    _done(state, outcome, {"term_max_days": days}, f"vouchers are issued for at most {days} days")


@scf_group.command("members")
@common_options
def scf_members() -> None:
    """The member enterprises, their kind and status."""
    with _app() as (state, app):
        members = app.list_enterprises()
    document: JSONObject = {"members": [{"enterprise": m.enterprise, "name": m.name, "kind": m.kind,
                                         "status": m.status} for m in members]}  # fmt: skip

    def render() -> None:
        table = key_value_table("members")
        for member in members:
            table.add_row(member.enterprise, f"{member.kind}  {member.status}  {member.name}")
        state.stdout.print(table)

    state.emit(document, render)


# --- issuer -----------------------------------------------------------------------------------------


@scf_group.command("draft")
@click.argument("supplier")
@click.option("--face", required=True, metavar="YUAN", help="Face value in yuan, e.g. 1000000.00.")
@click.option("--receivable", required=True, metavar="YUAN", help="The verified receivable (face ≤ receivable).")
@click.option("--maturity", default=None, metavar="YYYY-MM-DD", help="Maturity date (China time).")
@click.option("--days", type=click.IntRange(1, 365), default=None, help="Or: maturity this many days from now.")
@_document_options
@key_options
@common_options
def scf_draft(supplier: str, face: str, receivable: str, maturity: str | None, days: int | None,
              trade_contract: str, invoice: str, delivery: str, key_reference: str,
              passphrase_file: Path | None) -> None:  # fmt: skip
    """Draft a voucher to SUPPLIER (issuer's maker); a checker approves it."""
    if (maturity is None) == (days is None):
        raise CliUsageError("give either --maturity YYYY-MM-DD or --days N")
    with _app() as (state, app):
        if days is not None:
            maturity_ms = app.contracts.client.status().latest_block_time_ms + days * DAY_MS
        else:
            assert maturity is not None
            maturity_ms = parse_maturity(maturity)
        documents = _documents(app, trade_contract, invoice, delivery)
        voucher_id = app.draft(_key(state, key_reference, passphrase_file), supplier, parse_yuan(face), maturity_ms,
                               parse_yuan(receivable), documents)  # fmt: skip
    document: JSONObject = {"voucher_id": voucher_id, "maturity_ms": maturity_ms,
                            "invoice_hash": bytes_to_hex(documents.invoice_hash)}  # fmt: skip
    state.emit(document, lambda: state.stdout.print(
        f"drafted voucher {voucher_id} to {supplier}: {face} yuan, due {format_time(maturity_ms)}; "
        "a checker of the issuer approves it with `gusu scf approve`"))  # fmt: skip


def _simple(
    verb: str, method: Callable[[ScfApp, PrivateKey, int], CallOutcome], help_text: str, summary: str
) -> click.Command:
    @key_options
    @common_options
    def command(voucher_id: int, key_reference: str, passphrase_file: Path | None) -> None:
        with _app() as (state, app):
            outcome = method(app, _key(state, key_reference, passphrase_file), voucher_id)
        _done(state, outcome, {"voucher_id": voucher_id}, summary.format(voucher_id))

    command = click.argument("voucher_id", type=click.IntRange(min=1))(command)
    return scf_group.command(verb, help=help_text)(command)


_simple("approve", ScfApp.approve, "Approve (确权) drafted VOUCHER_ID: the issuer's checker, never its maker.",
        "approved voucher {}; the supplier can accept it now")  # fmt: skip
_simple("cancel", ScfApp.cancel, "Cancel VOUCHER_ID (issuer), only before the supplier accepted it.",
        "cancelled voucher {}")  # fmt: skip
_simple("accept", ScfApp.accept, "Accept issued VOUCHER_ID (supplier): from then on it is irrevocable.",
        "accepted voucher {}; it is irrevocable now")  # fmt: skip
_simple("refuse", ScfApp.refuse, "Refuse issued VOUCHER_ID (supplier).", "refused voucher {}")
_simple("overdue", ScfApp.mark_overdue, "Escalate root VOUCHER_ID as overdue (anyone, once past maturity unpaid).",
        "voucher {} is overdue")  # fmt: skip


@scf_group.command("settle")
@click.argument("root_id", type=click.IntRange(min=1))
@click.option("--reference", required=True, help="The payment's bank reference (letters, digits, - _ /).")
@key_options
@common_options
def scf_settle(root_id: int, reference: str, key_reference: str, passphrase_file: Path | None) -> None:
    """Settle ROOT_ID at maturity: a payment record for every current holder (issuer)."""
    with _app() as (state, app):
        payments = app.settle(_key(state, key_reference, passphrase_file), root_id, reference)
    document: JSONObject = {
        "root_id": root_id,
        "paid": [{"voucher_id": p.voucher_id, "holder": p.holder, "amount_fen": p.amount_fen} for p in payments],
    }
    lines = [f"settled voucher {root_id}:"]
    lines += [f"  {p.holder}: {format_yuan(p.amount_fen)} yuan (part {p.voucher_id})" for p in payments]
    state.emit(document, lambda: state.stdout.print("\n".join(lines)))


@scf_group.command("queue")
@click.argument("issuer")
@common_options
def scf_queue(issuer: str) -> None:
    """The issuer's drafts waiting for a checker."""
    with _app() as (state, app):
        _emit_vouchers(state, f"{issuer}: waiting for approval", app.list_review_queue(issuer))


# --- holder -----------------------------------------------------------------------------------------


@scf_group.command("transfer")
@click.argument("voucher_id", type=click.IntRange(min=1))
@click.argument("to")
@click.option("--amount", required=True, metavar="YUAN")
@_document_options
@key_options
@common_options
def scf_transfer(voucher_id: int, to: str, amount: str, trade_contract: str, invoice: str, delivery: str,
                 key_reference: str, passphrase_file: Path | None) -> None:  # fmt: skip
    """Pay member TO with AMOUNT of VOUCHER_ID against that tier's trade documents (holder)."""
    with _app() as (state, app):
        documents = _documents(app, trade_contract, invoice, delivery)
        child_id = app.transfer(_key(state, key_reference, passphrase_file), voucher_id, to, parse_yuan(amount),
                                documents)  # fmt: skip
    summary = f"voucher {child_id}: {amount} yuan to {to} (split off {voucher_id})"
    state.emit({"voucher_id": voucher_id, "child_id": child_id, "to": to}, lambda: state.stdout.print(summary))


@scf_group.command("split")
@click.argument("voucher_id", type=click.IntRange(min=1))
@click.option("--amount", "amounts", multiple=True, required=True, metavar="YUAN", help="One part (repeat).")
@key_options
@common_options
def scf_split(voucher_id: int, amounts: tuple[str, ...], key_reference: str, passphrase_file: Path | None) -> None:
    """Split parts off VOUCHER_ID that the holder keeps (holder)."""
    with _app() as (state, app):
        ids = app.split(_key(state, key_reference, passphrase_file), voucher_id, [parse_yuan(a) for a in amounts])
    state.emit({"voucher_id": voucher_id, "child_ids": list(ids)},
               lambda: state.stdout.print(f"split {voucher_id} into {', '.join(map(str, ids))}"))  # fmt: skip


@scf_group.command("mine")
@click.option("--account", required=True, metavar="ADDRESS|KEY", help="Your account (an address or a key).")
@common_options
def scf_mine(account: str) -> None:
    """The vouchers held by the enterprise ACCOUNT acts for."""
    with _app() as (state, app):
        address = resolve_address(state, account)
        role = app.get_account(address)
        if role is None:
            raise ClientError(f"{bytes_to_hex(address)} is not a registered scf account; the operator registers it")
        _emit_vouchers(state, f"held by {role.enterprise}", app.list_holdings(role.enterprise))


@scf_group.command("holdings")
@click.argument("enterprise")
@common_options
def scf_holdings(enterprise: str) -> None:
    """The vouchers ENTERPRISE holds."""
    with _app() as (state, app):
        _emit_vouchers(state, f"held by {enterprise}", app.list_holdings(enterprise))


# --- financing --------------------------------------------------------------------------------------


@scf_group.command("offer")
@click.argument("voucher_id", type=click.IntRange(min=1))
@click.option("--amount", required=True, metavar="YUAN")
@click.option("--rate", required=True, metavar="PERCENT", help="Annual rate in percent, e.g. 4.50.")
@click.option("--fees", default="0", metavar="YUAN", help="Fees charged on top of interest.")
@key_options
@common_options
def scf_offer(voucher_id: int, amount: str, rate: str, fees: str, key_reference: str,
              passphrase_file: Path | None) -> None:  # fmt: skip
    """Offer to finance AMOUNT of VOUCHER_ID (whitelisted funder); the all-in cost is fixed on chain."""
    fees_fen = 0 if fees.strip() in ("0", "0.0", "0.00") else parse_yuan(fees)
    with _app() as (state, app):
        offer_id = app.offer_financing(_key(state, key_reference, passphrase_file), voucher_id, parse_yuan(amount),
                                       parse_rate(rate), fees_fen)  # fmt: skip
        offer = app.get_offer(offer_id)
    assert offer is not None
    state.emit(offer_to_json(offer), lambda: _print_offer(state, offer))


def _print_offer(state: CliState, offer: FinancingOffer) -> None:
    table = key_value_table(f"financing offer {offer.offer_id} ({offer.status})")
    table.add_row("voucher", str(offer.voucher_id))
    table.add_row("funder", offer.funder)
    table.add_row("amount", f"{format_yuan(offer.amount_fen)} yuan")
    table.add_row("rate", f"{format_rate(offer.rate_bp)} a year, {offer.days} days")
    table.add_row("interest", f"{format_yuan(offer.interest_fen)} yuan")
    table.add_row("fees", f"{format_yuan(offer.fees_fen)} yuan")
    table.add_row("all-in cost", f"{format_yuan(offer.total_cost_fen)} yuan")
    table.add_row("you receive", f"{format_yuan(offer.net_fen)} yuan")
    if offer.registration_number:
        table.add_row("中登网 registration", offer.registration_number)
    state.stdout.print(table)


@scf_group.command("offers")
@click.argument("voucher_id", type=click.IntRange(min=1))
@common_options
def scf_offers(voucher_id: int) -> None:
    """The financing offers made on VOUCHER_ID, each with its all-in cost."""
    with _app() as (state, app):
        offers = app.list_offers(voucher_id)

    def render() -> None:
        for offer in offers:
            _print_offer(state, offer)

    state.emit({"offers": [offer_to_json(offer) for offer in offers]}, render)


@scf_group.command("accept-offer")
@click.argument("offer_id", type=click.IntRange(min=1))
@click.option("--cost", default=None, metavar="YUAN",
              help="The all-in cost you accept (scripts); without it the cost is shown and you are asked.")  # fmt: skip
@key_options
@common_options
def scf_accept_offer(offer_id: int, cost: str | None, key_reference: str, passphrase_file: Path | None) -> None:
    """Accept a financing offer after seeing its all-in cost (holder)."""
    with _app() as (state, app):
        offer = app.get_offer(offer_id)
        if offer is None:
            raise ClientError(f"no financing offer {offer_id}")
        if cost is None:
            if state.json_output:
                raise CliUsageError("with --json give the all-in cost you accept with --cost YUAN")
            _print_offer(state, offer)
            click.confirm(f"accept an all-in cost of {format_yuan(offer.total_cost_fen)} yuan?", abort=True)
            cost_fen = offer.total_cost_fen
        else:
            cost_fen = 0 if cost.strip() in ("0", "0.00") else parse_yuan(cost)
        child_id = app.accept_financing(_key(state, key_reference, passphrase_file), offer_id, cost_fen)
    state.emit({"offer_id": offer_id, "financed_voucher_id": child_id, "total_cost_fen": cost_fen},
               lambda: state.stdout.print(f"accepted offer {offer_id}; voucher {child_id} goes to {offer.funder} "
                                          "once it records the 中登网 registration"))  # fmt: skip


@scf_group.command("decline-offer")
@click.argument("offer_id", type=click.IntRange(min=1))
@key_options
@common_options
def scf_decline_offer(offer_id: int, key_reference: str, passphrase_file: Path | None) -> None:
    """Decline (holder) or withdraw (funder) an offer not yet accepted."""
    with _app() as (state, app):
        outcome = app.close_offer(_key(state, key_reference, passphrase_file), offer_id)
    _done(state, outcome, {"offer_id": offer_id}, f"closed offer {offer_id}")


@scf_group.command("register")
@click.argument("offer_id", type=click.IntRange(min=1))
@click.argument("registration_number")
@key_options
@common_options
def scf_register(offer_id: int, registration_number: str, key_reference: str, passphrase_file: Path | None) -> None:
    """Record the 中登网 registration number of an accepted financing (funder)."""
    with _app() as (state, app):
        outcome = app.register_financing(_key(state, key_reference, passphrase_file), offer_id, registration_number)
    _done(state, outcome, {"offer_id": offer_id, "registration_number": registration_number},
          f"offer {offer_id} financed, registration {registration_number}")  # fmt: skip


@scf_group.command("cost")
@click.option("--amount", required=True, metavar="YUAN")
@click.option("--rate", required=True, metavar="PERCENT")
@click.option("--days", type=click.IntRange(0, 365), required=True)
@click.option("--fees", default="0", metavar="YUAN")
@common_options
def scf_cost(amount: str, rate: str, days: int, fees: str) -> None:
    """Preview a financing's all-in cost, computed as the contract does (offline)."""
    state = get_state()
    amount_fen = parse_yuan(amount)
    fees_fen = 0 if fees.strip() in ("0", "0.00") else parse_yuan(fees)
    interest = compute_interest_fen(amount_fen, parse_rate(rate), days)
    net = amount_fen - interest - fees_fen
    document: JSONObject = {"amount_fen": amount_fen, "interest_fen": interest, "fees_fen": fees_fen,
                            "total_cost_fen": interest + fees_fen, "net_fen": net}  # fmt: skip
    state.emit(document, lambda: state.stdout.print(
        f"interest {format_yuan(interest)} + fees {format_yuan(fees_fen)} = all-in {format_yuan(interest + fees_fen)} "
        f"yuan; you receive {format_yuan(amount_fen - interest - fees_fen)} yuan"))  # fmt: skip


# --- reading ----------------------------------------------------------------------------------------


@scf_group.command("show")
@click.argument("voucher_id", type=click.IntRange(min=1))
@common_options
def scf_show(voucher_id: int) -> None:
    """One voucher, with its trade document hashes and settlement."""
    with _app() as (state, app):
        voucher = app.get_voucher(voucher_id)
        if voucher is None:
            raise ClientError(f"no voucher {voucher_id}")
        settlement = app.get_settlement(voucher_id)
    document = voucher_to_json(voucher)
    if settlement is not None:
        document["settlement"] = {"holder": settlement.holder, "amount_fen": settlement.amount_fen,
                                  "time_ms": settlement.time_ms, "payment_reference": settlement.payment_reference,
                                  "late": settlement.late}  # fmt: skip

    def render() -> None:
        table = key_value_table(f"voucher {voucher_id}")
        for name, value in document.items():
            table.add_row(name, str(value))
        state.stdout.print(table)

    state.emit(document, render)


@scf_group.command("lineage")
@click.argument("voucher_id", type=click.IntRange(min=1))
@common_options
def scf_lineage(voucher_id: int) -> None:
    """VOUCHER_ID's lineage: the path from its root, then the parts split off it."""
    with _app() as (state, app):
        _emit_vouchers(state, f"lineage of {voucher_id}", app.get_lineage(voucher_id))


@scf_group.command("tree")
@click.argument("root_id", type=click.IntRange(min=1))
@common_options
def scf_tree(root_id: int) -> None:
    """Every part of a root voucher (the regulator's view)."""
    with _app() as (state, app):
        _emit_vouchers(state, f"tree of {root_id}", app.get_tree(root_id))


@scf_group.command("issuers")
@common_options
def scf_issuers() -> None:
    """The regulator's table: each issuer's outstanding scale, average term and overdue vouchers."""
    with _app() as (state, app):
        table_rows = app.list_issuer_stats()

    def render() -> None:
        table = Table(title="issuers", title_justify="left", box=None, pad_edge=False)
        for column in ("issuer", "outstanding", "outstanding (yuan)", "avg term (days)", "overdue", "overdue (yuan)"):
            table.add_column(column)
        for row in table_rows:
            table.add_row(
                f"{row.issuer} {row.name}", str(row.outstanding_count), format_yuan(row.outstanding_face_fen),
                str(row.get_average_term_days()), str(row.overdue_count), format_yuan(row.overdue_face_fen),
            )  # fmt: skip
        state.stdout.print(table)

    state.emit({"issuers": [stats_to_json(row) for row in table_rows]}, render)


# --- the public check, verified ----------------------------------------------------------------------


@scf_group.command("verify")
@click.argument("voucher", metavar="VOUCHER")
@click.option("--face-value", "face_value", required=True, metavar="YUAN", help="The face value you were shown.")
@click.option("--holder", "holder", default="", help="The holder you were told (enterprise id or registered name).")
@click.option("--block-hash", "block_hash", default=None, metavar="HASH",
              help="A block hash you trust (another member's node): the proofs are read at that block.")  # fmt: skip
@click.option("--genesis", "genesis_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Check the commit certificate against this genesis file's validators.")  # fmt: skip
@common_options
def scf_verify(voucher: str, face_value: str, holder: str, block_hash: str | None, genesis_path: Path | None) -> None:
    """The public check of VOUCHER, without trusting the node: every record is state-proved against --block-hash
    or --genesis. Prints match (issuer, status, maturity) or no match, as the console's /scf/verify; exits 1 on no
    match or a proof that does not check."""
    state = get_state()
    if block_hash is None and genesis_path is None:
        raise CliUsageError("give --block-hash or --genesis: the proof is only as good as what it is checked against")
    try:
        claim = parse_claim(voucher, face_value, holder)
    except ClientError as error:
        raise CliUsageError(str(error)) from error
    validators = None
    if genesis_path is not None:
        try:
            validators = load_genesis(genesis_path).validators
        except ConfigError as error:
            raise CliUsageError(f"--genesis: {error}") from error
    trusted = None if block_hash is None else parse_hash(block_hash, "--block-hash")
    anchor = TrustAnchor(trusted, validators)
    name = click.get_current_context().meta.get("scf_app", CONTRACT_NAME)
    with open_client(state) as client:
        status = client.status()
        suite = get_suite(status.suite)
        # The tip's commit certificate arrives with the next block: against validators, read one block back.
        height = int(client.get_block(trusted).height) if trusted is not None else max(1, int(status.height) - 1)

        def read(key: bytes, at: int | None) -> CertifiedStateProof:
            proof = client.get_state_proof(name, key, at)
            validate_public_proof(suite, proof, name, key, anchor)
            return proof

        try:
            voucher_proof = read(compute_voucher_key(claim.voucher_id), height)
            record = None if voucher_proof.value is None else parse_stored_voucher(voucher_proof.value)
            at = int(voucher_proof.header.height)
            holder_name = ""
            if record is not None and record.face_fen == claim.face_fen and claim.holder:
                holder_name = parse_stored_enterprise_name(read(compute_enterprise_key(record.holder), at).value)
            matching = is_claim_matching(claim, record, holder_name)
            answer = None
            if matching and record is not None:
                issuer_name = parse_stored_enterprise_name(read(compute_enterprise_key(record.issuer), at).value)
                answer = compute_public_answer(record, issuer_name)
        except InvalidStateProofError as error:
            problem = str(error)
            state.emit({"valid": False, "problem": problem},
                       lambda: state.stdout.print(f"[red]✗ the proof does NOT check:[/red] {problem}"))  # fmt: skip
            click.get_current_context().exit(1)
    document: JSONObject = {
        "valid": True, "match": answer is not None, "voucher": claim.voucher_id, "height": at,
        "block_hash": bytes_to_hex(voucher_proof.block_hash),
        "checked_against": "block hash" if trusted is not None else "genesis validators",
    }  # fmt: skip
    if answer is not None:
        document.update({"issuer": answer.issuer, "issuer_name": answer.issuer_name, "status": answer.status,
                         "maturity": format_time(answer.maturity_ms)[:10]})  # fmt: skip

    def render() -> None:
        if answer is None:
            state.stdout.print(f"[red]✗ no match[/red] (proved at height {at})")
            return
        state.stdout.print(f"[green]✓ match[/green]: issuer {answer.issuer} ({answer.issuer_name}), {answer.status}, "
                           f"maturity {document['maturity']} (proved at height {at})")  # fmt: skip

    state.emit(document, render)
    if answer is None:
        click.get_current_context().exit(1)
