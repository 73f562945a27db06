"""`gusu trace`: the traceability application (溯源) for each of its actors.

regulator: ``setup``, ``brand register``, ``recall``, ``alerts``; brand: ``role``, ``product register``,
``codes issue``; packer: ``pack``, ``split``, ``merge``; QC: ``qc``; shipper and consignee: ``ship``,
``receive``; retailer: ``on-sale``, ``sales``; consumer: ``scan``, ``lookup``, ``verify`` (offline); anyone:
``batch``, ``export``.
Every command takes ``--json``. Guide: docs/apps/trace.md.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import click

from gusu.apps.trace import (
    CONTRACT_NAME,
    BatchView,
    ItemReport,
    TraceClient,
    get_contract_source,
    issue_item_codes,
    parse_payload,
    validate_code_authentic,
)
from gusu.apps.trace.codes import TraceError, compute_qr_svg
from gusu.apps.trace.export import TIME_MS_MAX, format_time
from gusu.cli.context import CliState, CliUsageError, common_options, get_state
from gusu.cli.keystore import load_key
from gusu.cli.remote import open_client
from gusu.cli.render import key_value_table
from gusu.cli.tx import key_options, resolve_address
from gusu.crypto import PrivateKey
from gusu.errors import ContractNotApprovedError
from gusu.ledger.jsonview import JSON, JSONObject, bytes_to_hex
from gusu.ledger.types import Address
from gusu.sdk import Client, Contracts
from gusu.sdk.contracts import CallOutcome

F = TypeVar("F", bound=Callable[..., object])
REPORT_FILE_BYTES_MAX = 1 << 30
"""Largest QC report `gusu trace qc --report` hashes."""
CODES_FILE = "codes.csv"


def _contract_option(function: F) -> F:
    return click.option("--contract", "contract_name", default=CONTRACT_NAME, show_default=True,
                        help="Name the trace contract is deployed at.")(function)  # fmt: skip


def _open(state: CliState, contract_name: str) -> tuple[Client, TraceClient]:
    client = open_client(state)
    return client, TraceClient(Contracts(client), contract_name)


def _key(state: CliState, key_reference: str, passphrase_file: Path | None) -> PrivateKey:
    return load_key(state.keys_directory, key_reference, passphrase_file).key


def _outcome_document(outcome: CallOutcome, extra: JSONObject | None = None) -> JSONObject:
    events: list[JSON] = [{"name": event.name, "fields": {k: _plain(v) for k, v in event.fields.items()}}
                          for event in outcome.events]  # fmt: skip
    return {"transaction_id": bytes_to_hex(outcome.receipt.transaction_id), "gas_used": outcome.receipt.gas_used,
            "events": events, **(extra or {})}  # fmt: skip


def _plain(value: object) -> JSON:
    if isinstance(value, bytes):
        return bytes_to_hex(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


def _emit_outcome(state: CliState, what: str, outcome: CallOutcome, extra: JSONObject | None = None) -> None:
    document = _outcome_document(outcome, extra)

    def render() -> None:
        state.stdout.print(f"{what}: transaction {document['transaction_id']}")
        for event in outcome.events:
            fields = ", ".join(f"{k}={_plain(v)}" for k, v in event.fields.items())
            state.stdout.print(f"  event {event.name}({fields})")

    state.emit(document, render)


def _send(
    contract_name: str,
    key_reference: str,
    passphrase_file: Path | None,
    what: str,
    action: Callable[[TraceClient, PrivateKey], CallOutcome],
    extra: JSONObject | None = None,
) -> None:
    state = get_state()
    key = _key(state, key_reference, passphrase_file)
    client, trace = _open(state, contract_name)
    with client:
        outcome = action(trace, key)
    _emit_outcome(state, what, outcome, extra)


@click.group("trace")
def trace_group() -> None:
    """Traceability and anti-counterfeiting: signed item codes, batches, custody, scans (docs/apps/trace.md)."""


# --- regulator ------------------------------------------------------------------------------------


@trace_group.command("setup")
@click.option("--regulator", "regulators", multiple=True, metavar="ADDRESS|KEY",
              help="Another regulator besides the signer (repeatable).")  # fmt: skip
@key_options
@_contract_option
@common_options
def trace_setup(regulators: tuple[str, ...], key_reference: str, passphrase_file: Path | None,
                contract_name: str) -> None:  # fmt: skip
    """Deploy the trace contract from its source; the signer (and --regulator accounts) become regulators."""
    state = get_state()
    key = _key(state, key_reference, passphrase_file)
    addresses = [Address(resolve_address(state, text)) for text in regulators]
    client, trace = _open(state, contract_name)
    with client:
        contracts = trace.contracts
        code_hash = contracts.compute_code_hash(get_contract_source())
        if contracts.is_approval_required() and not contracts.is_code_approved(code_hash):
            raise ContractNotApprovedError(
                f"this chain deploys only code its governance approved; the trace contract (code hash "
                f"{bytes_to_hex(code_hash)}) is not approved yet; an organisation admin proposes it with\n"
                f"  gusu gov propose approve-contract --code-hash {bytes_to_hex(code_hash)} --key ADMIN_KEY\n"
                f"and once it is approved, run `gusu trace setup` again"
            )
        deployed = trace.deploy(key, addresses)
    document: JSONObject = {"name": deployed.name, "code_hash": bytes_to_hex(deployed.code_hash),
                            "transaction_id": bytes_to_hex(deployed.receipt.transaction_id)}  # fmt: skip
    state.emit(document, lambda: state.stdout.print(f"deployed the trace contract at {deployed.name} "
                                                    f"(code hash {document['code_hash']})"))  # fmt: skip


@trace_group.command("source")
@common_options
def trace_source() -> None:
    """Print the trace contract's source (what `setup` deploys; hash it with `gusu contract hash`)."""
    source = get_contract_source()
    get_state().emit({"source": source}, lambda: click.echo(source, nl=False))


@trace_group.group("brand")
def brand_group() -> None:
    """Brands (issuers of item codes)."""


@brand_group.command("register")
@click.argument("brand")
@click.option("--name", required=True, help="The brand's name as consumers see it.")
@click.option("--owner", required=True, metavar="ADDRESS|KEY", help="The brand's owner account (a key file works).")
@click.option("--public-key", "public_key_hex", default=None, metavar="HEX",
              help="The key that signs item codes (default: the owner key file's public key).")  # fmt: skip
@click.option("--credit-code", default="", help="统一社会信用代码 of the brand's company.")
@key_options
@_contract_option
@common_options
def brand_register(brand: str, name: str, owner: str, public_key_hex: str | None, credit_code: str,
                   key_reference: str, passphrase_file: Path | None, contract_name: str) -> None:  # fmt: skip
    """Register BRAND (regulators only)."""
    state = get_state()
    if public_key_hex is None:
        from gusu.cli.keystore import read_key_metadata, resolve_key_path

        try:
            _, path = resolve_key_path(state.keys_directory, owner)
        except CliUsageError:
            raise CliUsageError("give --public-key when --owner is an address rather than a key") from None
        public_key = read_key_metadata(path).public_key
    else:
        try:
            public_key = bytes.fromhex(public_key_hex.removeprefix("0x"))
        except ValueError:
            raise CliUsageError("--public-key is hexadecimal") from None
    owner_address = Address(resolve_address(state, owner))
    _send(contract_name, key_reference, passphrase_file, f"registered brand {brand}",
          lambda trace, key: trace.register_brand(key, brand, name, owner_address, public_key,
                                                  credit_code))  # fmt: skip


@trace_group.command("role")
@click.argument("brand")
@click.argument("role", type=click.Choice(["packer", "qc", "logistics", "distributor", "retailer"]))
@click.argument("account")
@click.option("--revoke", is_flag=True, help="Take the role away instead.")
@key_options
@_contract_option
@common_options
def trace_role(brand: str, role: str, account: str, revoke: bool, key_reference: str, passphrase_file: Path | None,
               contract_name: str) -> None:  # fmt: skip
    """Grant (or --revoke) ROLE of BRAND to ACCOUNT (the brand's owner only)."""
    address = Address(resolve_address(get_state(), account))
    _send(contract_name, key_reference, passphrase_file, f"{'revoked' if revoke else 'granted'} {role}",
          lambda trace, key: trace.grant_role(key, brand, role, address, not revoke))  # fmt: skip


@trace_group.group("product")
def product_group() -> None:
    """Products of a brand."""


@product_group.command("register")
@click.argument("brand")
@click.argument("product")
@click.option("--name", required=True)
@click.option("--gtin", default="", help="The product's GTIN (商品条码).")
@click.option("--qc-level", type=click.IntRange(1, 9), default=1, show_default=True,
              help="The QC level a batch needs to ship.")  # fmt: skip
@click.option("--shelf-life-days", type=click.IntRange(0, 36500), default=0, show_default=True)
@key_options
@_contract_option
@common_options
def product_register(brand: str, product: str, name: str, gtin: str, qc_level: int, shelf_life_days: int,
                     key_reference: str, passphrase_file: Path | None, contract_name: str) -> None:  # fmt: skip
    """Register PRODUCT of BRAND (the brand's owner only)."""
    _send(contract_name, key_reference, passphrase_file, f"registered product {product}",
          lambda trace, key: trace.register_product(key, brand, product, name, gtin=gtin, qc_level_required=qc_level,
                                                    shelf_life_days=shelf_life_days))  # fmt: skip


@trace_group.group("codes")
def codes_group() -> None:
    """Item codes."""


@codes_group.command("issue")
@click.argument("brand")
@click.argument("code_set")
@click.option("--count", type=click.IntRange(1, 1_000_000), required=True)
@click.option("--out", "out_directory", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for codes.csv (keep it private until the labels are printed).")  # fmt: skip
@click.option("--url", "page_url", default=None, metavar="URL",
              help="The consumer page (e.g. https://console.example/trace): also write a QR SVG per code.")  # fmt: skip
@key_options
@_contract_option
@common_options
def codes_issue(brand: str, code_set: str, count: int, out_directory: Path, page_url: str | None,
                key_reference: str, passphrase_file: Path | None, contract_name: str) -> None:  # fmt: skip
    """Make COUNT random codes of CODE_SET, signed by the brand's key, and register them on chain."""
    state = get_state()
    key = _key(state, key_reference, passphrase_file)
    codes = issue_item_codes(key, brand, code_set, count)
    client, trace = _open(state, contract_name)
    with client:
        outcomes = trace.issue_codes(key, codes)
    first = outcomes[0].value  # issue_codes returns the first index it assigned
    if not isinstance(first, int):
        raise TraceError("the trace contract's issue_codes returned no index; is --contract the trace contract?")
    out_directory.mkdir(parents=True, exist_ok=True)
    path = out_directory / CODES_FILE
    with path.open("x" if not path.exists() else "a", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        if file.tell() == 0:
            writer.writerow(["index", "payload", "url"])
        for offset, code in enumerate(codes):
            url = f"{page_url}?c={code.get_payload()}" if page_url else ""
            writer.writerow([first + offset, code.get_payload(), url])
            if page_url:
                qr_directory = out_directory / "qr"
                qr_directory.mkdir(exist_ok=True)
                (qr_directory / f"{code_set}-{first + offset}.svg").write_text(compute_qr_svg(url), encoding="utf-8")
    document: JSONObject = {"brand": brand, "code_set": code_set, "first_index": first, "count": count,
                            "file": str(path),
                            "transactions": [bytes_to_hex(o.receipt.transaction_id) for o in outcomes]}  # fmt: skip
    state.emit(document, lambda: state.stdout.print(
        f"issued {count} codes of {code_set} (indexes {first}..{first + count - 1}) in {len(outcomes)} "
        f"transaction(s); payloads in {path}"))  # fmt: skip


# --- packer, QC, custody --------------------------------------------------------------------------


@trace_group.command("pack")
@click.argument("batch")
@click.option("--product", required=True)
@click.option("--code-set", required=True)
@click.option("--quantity", type=click.IntRange(1), required=True, help="Items; binds the next unbound codes.")
@click.option("--date", "production_date", default="", help="Production date, e.g. 2026-10-01.")
@key_options
@_contract_option
@common_options
def trace_pack(batch: str, product: str, code_set: str, quantity: int, production_date: str, key_reference: str,
               passphrase_file: Path | None, contract_name: str) -> None:  # fmt: skip
    """Pack BATCH: bind the next QUANTITY codes of the code set to it (packer role)."""
    _send(contract_name, key_reference, passphrase_file, f"packed {batch}",
          lambda trace, key: trace.pack(key, batch, product, code_set, quantity, production_date))  # fmt: skip


def _hash_file(suite_name: str, path: Path) -> bytes:
    from gusu.crypto import get_suite

    size = path.stat().st_size
    if size > REPORT_FILE_BYTES_MAX:
        raise CliUsageError(f"{path} is larger than {REPORT_FILE_BYTES_MAX} bytes")
    return get_suite(suite_name).hash(path.read_bytes())


@trace_group.command("qc")
@click.argument("batch")
@click.option("--level", type=click.IntRange(0, 9), required=True)
@click.option("--pass/--block", "passed", required=True, help="The batch passed, or is blocked.")
@click.option("--report", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True,
              help="The inspection report; its hash (the chain's suite hash) goes on chain.")  # fmt: skip
@key_options
@_contract_option
@common_options
def trace_qc(batch: str, level: int, passed: bool, report: Path, key_reference: str, passphrase_file: Path | None,
             contract_name: str) -> None:  # fmt: skip
    """Record BATCH's inspection (qc role)."""
    state = get_state()
    key = _key(state, key_reference, passphrase_file)
    client, trace = _open(state, contract_name)
    with client:
        report_hash = _hash_file(trace.contracts.get_suite(), report)
        outcome = trace.inspect(key, batch, level, passed, report_hash)
    _emit_outcome(state, f"{'passed' if passed else 'blocked'} {batch}", outcome,
                  {"report_hash": bytes_to_hex(report_hash)})  # fmt: skip


@trace_group.command("ship")
@click.argument("batch")
@click.option("--to", "consignee", required=True, metavar="ADDRESS|KEY", help="The consignee who must receive it.")
@key_options
@_contract_option
@common_options
def trace_ship(batch: str, consignee: str, key_reference: str, passphrase_file: Path | None,
               contract_name: str) -> None:  # fmt: skip
    """Ship BATCH to the named consignee (its custodian only; needs the product's QC level)."""
    address = Address(resolve_address(get_state(), consignee))
    _send(contract_name, key_reference, passphrase_file, f"shipped {batch}",
          lambda trace, key: trace.ship(key, batch, address))  # fmt: skip


@trace_group.command("receive")
@click.argument("batch")
@key_options
@_contract_option
@common_options
def trace_receive(batch: str, key_reference: str, passphrase_file: Path | None, contract_name: str) -> None:
    """Receive BATCH (only the consignee it was shipped to)."""
    _send(contract_name, key_reference, passphrase_file, f"received {batch}",
          lambda trace, key: trace.receive(key, batch))  # fmt: skip


@trace_group.command("on-sale")
@click.argument("batch")
@key_options
@_contract_option
@common_options
def trace_on_sale(batch: str, key_reference: str, passphrase_file: Path | None, contract_name: str) -> None:
    """Put a received BATCH on sale (its custodian, with the retailer role)."""
    _send(contract_name, key_reference, passphrase_file, f"{batch} on sale",
          lambda trace, key: trace.put_on_sale(key, batch))  # fmt: skip


@trace_group.command("sales")
@click.argument("batch")
@click.argument("quantity", type=click.IntRange(1))
@key_options
@_contract_option
@common_options
def trace_sales(batch: str, quantity: int, key_reference: str, passphrase_file: Path | None,
                contract_name: str) -> None:  # fmt: skip
    """Report QUANTITY units of BATCH sold (POS); more than the batch holds raises a MassBalanceAlert."""
    _send(contract_name, key_reference, passphrase_file, f"reported sales of {batch}",
          lambda trace, key: trace.report_sales(key, batch, quantity))  # fmt: skip


def _parse_children(children: Sequence[str]) -> list[tuple[str, int]]:
    result = []
    for text in children:
        name, _, quantity = text.rpartition(":")
        if not name or not quantity.isdigit():
            raise CliUsageError(f"give each child as ID:QUANTITY, e.g. B1-a:40, not {text!r}")
        result.append((name, int(quantity)))
    return result


@trace_group.command("split")
@click.argument("batch")
@click.argument("children", nargs=-1, required=True, metavar="ID:QUANTITY...")
@key_options
@_contract_option
@common_options
def trace_split(batch: str, children: tuple[str, ...], key_reference: str, passphrase_file: Path | None,
                contract_name: str) -> None:  # fmt: skip
    """Split BATCH into child batches; the quantities must add up to the batch's."""
    parsed = _parse_children(children)
    _send(contract_name, key_reference, passphrase_file, f"split {batch}",
          lambda trace, key: trace.split(key, batch, parsed))  # fmt: skip


@trace_group.command("merge")
@click.argument("batch")
@click.argument("parents", nargs=-1, required=True)
@key_options
@_contract_option
@common_options
def trace_merge(batch: str, parents: tuple[str, ...], key_reference: str, passphrase_file: Path | None,
                contract_name: str) -> None:  # fmt: skip
    """Merge PARENTS into a new BATCH holding all their items."""
    _send(contract_name, key_reference, passphrase_file, f"merged into {batch}",
          lambda trace, key: trace.merge(key, list(parents), batch))  # fmt: skip


@trace_group.command("expiry")
@click.argument("batch")
@click.option(
    "--at",
    "at_ms",
    type=click.IntRange(1, TIME_MS_MAX),
    required=True,
    metavar="MS",
    help="The new expiry: a block time in milliseconds since 1970 (earlier than the current one).",
)
@key_options
@_contract_option
@common_options
def trace_expiry(batch: str, at_ms: int, key_reference: str, passphrase_file: Path | None,
                 contract_name: str) -> None:  # fmt: skip
    """Bring BATCH's expiry forward (the brand's owner); the chain's block time decides when it has passed."""
    _send(contract_name, key_reference, passphrase_file, f"expiry of {batch} set to {format_time(at_ms)}",
          lambda trace, key: trace.set_expiry(key, batch, at_ms))  # fmt: skip


@trace_group.command("brands")
@click.option("--start", type=click.IntRange(0, 10**9), default=0, show_default=True, help="First position.")
@_contract_option
@common_options
def trace_brands(start: int, contract_name: str) -> None:
    """List the registered brands in registration order, 20 from --start (the contract's `list_brands`)."""
    state = get_state()
    client, trace = _open(state, contract_name)
    with client:
        found = trace.list_brands(start)
    document: JSONObject = {"total": found.total, "start": found.start, "brands": [
        {"brand": row.brand, "name": row.name, "owner": bytes_to_hex(row.owner), "credit_code": row.credit_code,
         "registered_height": row.registered_height} for row in found.entries]}  # fmt: skip

    def render() -> None:
        state.stdout.print(f"{found.total} brands, from position {start}")
        for row in found.entries:
            credit = f"  {row.credit_code}" if row.credit_code else ""
            state.stdout.print(f"  {row.brand}  {row.name}  owner {bytes_to_hex(row.owner)}{credit}")

    state.emit(document, render)


@trace_group.command("products")
@click.option("--brand", required=True, help="The brand whose products to list.")
@click.option("--start", type=click.IntRange(0, 10**9), default=0, show_default=True, help="First position.")
@_contract_option
@common_options
def trace_products(brand: str, start: int, contract_name: str) -> None:
    """List --brand's products in registration order, 20 from --start (the contract's `list_products`)."""
    state = get_state()
    client, trace = _open(state, contract_name)
    with client:
        found = trace.list_products(brand, start)
    document: JSONObject = {"brand": brand, "total": found.total, "start": found.start, "products": [
        {"product": row.product, "name": row.name, "gtin": row.gtin, "qc_level_required": row.qc_level_required,
         "shelf_life_days": row.shelf_life_days} for row in found.entries]}  # fmt: skip

    def render() -> None:
        state.stdout.print(f"{found.total} products of {brand}, from position {start}")
        for row in found.entries:
            gtin = row.gtin or "-"
            shelf = f"{row.shelf_life_days} days" if row.shelf_life_days else "-"
            state.stdout.print(
                f"  {row.product}  {row.name}  GTIN {gtin}  QC level {row.qc_level_required}  shelf life {shelf}"
            )

    state.emit(document, render)


@trace_group.command("batches")
@click.argument("product")
@click.option("--start", type=click.IntRange(0, 10**9), default=0, show_default=True, help="First position.")
@_contract_option
@common_options
def trace_batches(product: str, start: int, contract_name: str) -> None:
    """List PRODUCT's batches (packed, split, merged) in creation order, 20 from --start; EXPIRED by block time."""
    state = get_state()
    client, trace = _open(state, contract_name)
    with client:
        found = trace.list_batches(product, start)
    document: JSONObject = {"total": found.total, "start": found.start, "batches": [
        {"batch": row.batch, "quantity": row.quantity, "status": "expired" if row.expired else row.status,
         "stored_status": row.status, "custodian": bytes_to_hex(row.custodian),
         "expires": format_time(row.expires_ms) if row.expires_ms else None, "recalled": row.recalled,
         "hold": row.hold} for row in found.entries]}  # fmt: skip

    def render() -> None:
        state.stdout.print(f"{found.total} batches of {product}, from position {start}")
        for row in found.entries:
            status = "EXPIRED" if row.expired and row.status not in ("split", "merged") else row.status
            expires = format_time(row.expires_ms) if row.expires_ms else "-"
            state.stdout.print(f"  {row.batch}  {row.quantity}  {status}  expires {expires}")

    state.emit(document, render)


@trace_group.command("recall")
@click.argument("batch")
@click.option("--reason", required=True)
@key_options
@_contract_option
@common_options
def trace_recall(batch: str, reason: str, key_reference: str, passphrase_file: Path | None,
                 contract_name: str) -> None:  # fmt: skip
    """Recall BATCH (the brand's owner or a regulator): its items, and batches made from it, stop."""
    _send(contract_name, key_reference, passphrase_file, f"recalled {batch}",
          lambda trace, key: trace.recall(key, batch, reason))  # fmt: skip


# --- consumer -------------------------------------------------------------------------------------


@trace_group.command("scan")
@click.argument("payload")
@click.option("--location", required=True, help="Where the scan happens (a city or a region code).")
@click.option("--activate", is_flag=True, help="The buyer's first scan: mark the item sold/activated.")
@key_options
@_contract_option
@common_options
def trace_scan(payload: str, location: str, activate: bool, key_reference: str, passphrase_file: Path | None,
               contract_name: str) -> None:  # fmt: skip
    """Record a scan of the code in PAYLOAD (the QR text or URL); a forged code is refused before sending."""
    state = get_state()
    code = parse_payload(payload)
    key = _key(state, key_reference, passphrase_file)
    client, trace = _open(state, contract_name)
    with client:
        result = trace.scan(key, code, location, activate=activate)
    document: JSONObject = {"queries": result.queries, "first_time": format_time(result.first_timestamp_ms),
                            "first_location": result.first_location, "suspect": result.suspect,
                            "recalled": result.recalled,
                            "transaction_id": bytes_to_hex(result.transaction_id)}  # fmt: skip

    def render() -> None:
        state.stdout.print(f"queried {result.queries} times, first at {document['first_time']} "
                           f"in {result.first_location}")  # fmt: skip
        if result.suspect:
            state.warn("this code was activated elsewhere before: the item may be counterfeit")
        if result.recalled:
            state.warn("this item's batch is recalled: do not use it")

    state.emit(document, render)


def _batch_document(view: BatchView) -> JSONObject:
    return {
        "batch": view.batch, "brand": view.brand, "product": view.product, "quantity": view.quantity,
        "codes": [f"{s.code_set}[{s.first_index}:{s.end_index}]" for s in view.segments],
        "custodian": bytes_to_hex(view.custodian),
        "consignee": None if view.consignee is None else bytes_to_hex(view.consignee),
        "status": view.status, "qc_level": view.qc_level,
        "qc_report_hash": None if view.qc_report_hash is None else bytes_to_hex(view.qc_report_hash),
        "parents": list(view.parents), "children": list(view.children), "sold": view.sold,
        "activated": view.activated, "recalled": view.recalled, "hold": view.hold, "mass_balance_alert": view.alert,
        "production_date": view.production_date,
        "expires": format_time(view.expires_ms) if view.expires_ms else None,
    }  # fmt: skip


def _report_document(report: ItemReport) -> JSONObject:
    return {
        "authentic": report.authentic,
        "issued": report.issued,
        "brand": None if report.brand is None else {"id": report.code.brand, "name": report.brand.name},
        "product": None if report.product is None else {"id": report.product.product, "name": report.product.name,
                                                        "gtin": report.product.gtin},
        "code_set": report.code.code_set,
        "index": report.code_index,
        "batches": [_batch_document(view) for view in report.path],
        "timeline": [{"batch": e.batch, "event": e.kind, "actor": bytes_to_hex(e.actor), "height": e.height,
                      "time": format_time(e.timestamp_ms), "transaction_id": bytes_to_hex(e.transaction_id),
                      "detail": e.detail} for e in report.timeline],
        "queries": report.queries,
        "first_time": None if report.first_timestamp_ms is None else format_time(report.first_timestamp_ms),
        "first_location": report.first_location,
        "activated_location": report.activated_location,
        "suspect": report.suspect,
        "recalled": report.recalled,
        "scans": [{"time": format_time(s.timestamp_ms), "location": s.location, "activate": s.activate,
                   "transaction_id": bytes_to_hex(s.transaction_id)} for s in report.scans],
    }  # fmt: skip


@trace_group.command("lookup")
@click.argument("payload")
@_contract_option
@common_options
def trace_lookup(payload: str, contract_name: str) -> None:
    """What the consumer page shows for PAYLOAD: authenticity, product, batches, timeline, scans (no transaction)."""
    state = get_state()
    code = parse_payload(payload)
    client, trace = _open(state, contract_name)
    with client:
        report = trace.get_item_report(code)
    document = _report_document(report)

    def render() -> None:
        if not report.authentic:
            state.warn("the code's signature does not verify against the brand's key: a forged label")
            return
        table = key_value_table(f"item {code.code_set}#{report.code_index}")
        table.add_row("brand", f"{report.brand.name if report.brand else ''} ({code.brand})")
        table.add_row("product", report.product.name if report.product else "")
        table.add_row("batches", " → ".join(view.batch for view in report.path))
        table.add_row("queries", f"{report.queries}, first at {document['first_time']} in {report.first_location}")
        for event in report.timeline:
            table.add_row(event.kind, f"{format_time(event.timestamp_ms)} {event.batch} "
                          f"tx {bytes_to_hex(event.transaction_id)}")  # fmt: skip
        state.stdout.print(table)
        if report.suspect:
            state.warn("this code was activated in two places: the item may be counterfeit")
        if report.recalled:
            state.warn("this item's batch is recalled")

    state.emit(document, render)


@trace_group.command("verify")
@click.argument("payload")
@click.option("--public-key", "public_key_hex", required=True, metavar="HEX", help="The brand's public key.")
@click.option("--suite", type=click.Choice(["sm", "ecdsa"]), default="sm", show_default=True)
@common_options
def trace_verify(payload: str, public_key_hex: str, suite: str) -> None:
    """Check PAYLOAD's signature against the brand's public key, offline (exit 1 for a forged code)."""
    state = get_state()
    code = parse_payload(payload)
    try:
        public_key = bytes.fromhex(public_key_hex.removeprefix("0x"))
    except ValueError:
        raise CliUsageError("--public-key is hexadecimal") from None
    validate_code_authentic(code, suite, public_key)
    document: JSONObject = {"authentic": True, "brand": code.brand, "code_set": code.code_set}
    state.emit(document, lambda: state.stdout.print(f"authentic: signed by brand {code.brand}'s key"))


@trace_group.command("batch")
@click.argument("batch")
@_contract_option
@common_options
def trace_batch(batch: str, contract_name: str) -> None:
    """Show BATCH and its event history."""
    state = get_state()
    client, trace = _open(state, contract_name)
    with client:
        view = trace.get_batch(batch)
        if view is None:
            raise TraceError(f"no batch {batch} on this chain")
        events = trace.get_history(batch)
    document = _batch_document(view)
    document["history"] = [{"event": e.kind, "actor": bytes_to_hex(e.actor), "height": e.height,
                            "time": format_time(e.timestamp_ms), "transaction_id": bytes_to_hex(e.transaction_id),
                            "detail": e.detail} for e in events]  # fmt: skip

    def render() -> None:
        table = key_value_table(f"batch {batch}")
        for name in ("product", "quantity", "status", "qc_level", "custodian", "sold", "recalled", "hold"):
            table.add_row(name, str(document[name]))
        for event in events:
            table.add_row(event.kind, f"{format_time(event.timestamp_ms)} tx {bytes_to_hex(event.transaction_id)}")
        state.stdout.print(table)

    state.emit(document, render)


@trace_group.command("alerts")
@click.option("--start", type=click.IntRange(0), default=0, show_default=True, help="First alert number.")
@click.option("--limit", type=click.IntRange(1, 100), default=100, show_default=True)
@_contract_option
@common_options
def trace_alerts(start: int, limit: int, contract_name: str) -> None:
    """The regulator's list: mass-balance violations (sold > produced) and suspect codes, oldest first."""
    state = get_state()
    client, trace = _open(state, contract_name)
    with client:
        alerts = trace.get_alerts(start, limit)
    document: JSONObject = {"alerts": [{"number": a.number, "kind": a.kind, "batch": a.batch, "detail": a.detail,
                                        "height": a.height, "time": format_time(a.timestamp_ms),
                                        "transaction_id": bytes_to_hex(a.transaction_id)} for a in alerts]}  # fmt: skip

    def render() -> None:
        table = key_value_table("alerts")
        for alert in alerts:
            table.add_row(f"{alert.number} {alert.kind}", f"{format_time(alert.timestamp_ms)} {alert.batch or ''} "
                          f"{alert.detail}")  # fmt: skip
        state.stdout.print(table)

    state.emit(document, render)


@trace_group.command("export")
@click.argument("batch")
@click.option("--format", "output_format", type=click.Choice(["json", "csv"]), default="json", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
@_contract_option
@common_options
def trace_export(batch: str, output_format: str, output: Path | None, contract_name: str) -> None:
    """BATCH's records (with the batches it came from) in the GB/T 38154 core-metadata form."""
    state = get_state()
    client, trace = _open(state, contract_name)
    with client:
        export = trace.export_batch(batch)
    text = export.to_json() if output_format == "json" else export.to_csv()
    if output is not None:
        output.write_text(text, encoding="utf-8")
    document: JSONObject = {"batch": batch, "format": output_format, "records": len(export.records),
                            "output": None if output is None else str(output)}  # fmt: skip
    if output is None and not state.json_output:
        click.echo(text, nl=False)
    else:
        state.emit(document, lambda: state.stdout.print(f"wrote {len(export.records)} records to {output}"))
