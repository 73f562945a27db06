"""`gusu evidence ...` for the evidence service (存证, docs/apps/evidence.md), beside the demo's record/verify.

setup, witness add/remove, submit, attest, supersede and show talk to a node; certificate and export-package
read a record with its state proof and write the certificate (JSON and PDF) and the court's package;
verify-certificate asks no node at all: it checks a certificate against a block hash or genesis the user
trusts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from gusu.apps.evidence.certificate import (
    Verification,
    build_certificate,
    compute_verification_url,
    format_certificate,
)
from gusu.apps.evidence.certificate import verify_certificate as verify_certificate_document
from gusu.apps.evidence.package import export_package
from gusu.apps.evidence.pdf import load_certificate_file, render_certificate_pdf
from gusu.apps.evidence.records import (
    CONTENT_BYTES_MAX,
    CONTRACT_NAME,
    PAGE_SIZE_MAX,
    PAGES_MAX,
    WITNESS_KINDS,
    EvidenceRecord,
    compute_content_hashes,
    format_record_number,
    generate_salt,
    parse_record_number,
    record_to_json,
)
from gusu.apps.evidence.service import EvidenceService
from gusu.cli.args import parse_hash
from gusu.cli.context import CliState, CliUsageError, common_options, get_state
from gusu.cli.keystore import load_key
from gusu.cli.remote import open_client
from gusu.cli.shortcuts import evidence_group
from gusu.cli.tx import key_options, resolve_address
from gusu.errors import ClientError, ConfigError, GusuError, TransactionFailedError
from gusu.ledger.genesis import load_genesis
from gusu.ledger.types import Address


class EvidenceRefusedError(GusuError):
    """The evidence contract refused the transaction (its receipt's reason is the message)."""

    code = "transaction_failed"


@contextmanager
def _refusals() -> Iterator[None]:
    """A failed transaction is the contract's answer, not a connection problem: report it as such."""
    try:
        yield
    except TransactionFailedError as error:
        raise EvidenceRefusedError(str(error)) from error


evidence_group.help = (
    "Document hashes on chain (存证): the built-in demo (record, verify) and the evidence service with witnesses, "
    "certificates and offline verification (the other commands; docs/apps/evidence.md)."
)

LOW_ENTROPY_BYTES = 64
"""Content shorter than this is salted unless --no-salt: short texts can be found from their hash."""
DEFAULT_VERIFY_BASE_URL = "http://127.0.0.1:8600"


def _contract_option(function: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--contract", default=CONTRACT_NAME, show_default=True, help="Name the evidence contract is deployed under."
    )(function)


def _read_content(path: Path) -> bytes:
    size = path.stat().st_size
    if size > CONTENT_BYTES_MAX:
        raise CliUsageError(f"{path} is {size:,} bytes; files up to {CONTENT_BYTES_MAX:,} bytes can be hashed")
    return path.read_bytes()


def _parse_metadata(title: str, pairs: tuple[str, ...], file: Path) -> dict[str, str]:
    metadata = {"file_name": file.name}
    if title:
        metadata["title"] = title
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name:
            raise CliUsageError(f"--meta takes NAME=VALUE, found {pair!r}")
        metadata[name] = value
    return metadata


def _read_salt(path: Path | None) -> bytes:
    if path is None:
        return b""
    text = path.read_text(encoding="utf-8").strip().removeprefix("0x")
    try:
        return bytes.fromhex(text)
    except ValueError as error:
        raise CliUsageError(f"{path} does not hold a salt as hex") from error


def _render_record(state: CliState, record: EvidenceRecord) -> None:
    out = state.stdout.print
    out(f"[bold]{format_record_number(record.number)}[/bold]  {record.description or ''}")
    out(f"  SM3       0x{record.sm3_hash.hex()}")
    out(f"  SHA-256   0x{record.sha256_hash.hex()}")
    out(f"  metadata  0x{record.metadata_hash.hex()}")
    out(f"  submitter 0x{record.submitter.hex()} {record.organization}")
    time_text = datetime.fromtimestamp(record.timestamp_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    out(f"  block     {record.height} at {time_text}, transaction 0x{record.transaction_id.hex()}")
    for item in record.attestations:
        out(f"  witness   {item.organization} ({item.kind}) 0x{item.witness.hex()} at {item.height}")
    out(f"  witnessed {'at height ' + str(record.witnessed_height) if record.is_witnessed else 'not yet'}")
    if record.supersedes:
        out(f"  corrects  {format_record_number(record.supersedes)}")
    if record.superseded_by:
        out(f"  [yellow]superseded by {format_record_number(record.superseded_by)}[/yellow]")


@evidence_group.command("setup")
@click.option("--threshold", type=click.IntRange(1, 16), default=1, show_default=True,
              help="Witness organisations a record needs to count as witnessed.")  # fmt: skip
@_contract_option
@key_options
@common_options
def evidence_setup(threshold: int, contract: str, key_reference: str, passphrase_file: Path | None) -> None:
    """Deploy the evidence service's contract (the key becomes its admin)."""
    state = get_state()
    key = load_key(state.keys_directory, key_reference, passphrase_file).key
    with open_client(state) as client, _refusals():
        result = EvidenceService(client, contract).setup(key, threshold)
    document = {"contract": result.contract, "code_hash": "0x" + result.code_hash.hex(),
                "approval_proposal": result.approved_by_proposal, "threshold": threshold}  # fmt: skip
    state.emit(document, lambda: state.stdout.print(f"evidence service deployed as {contract} (threshold {threshold})"))


@evidence_group.group("witness")
def witness_group() -> None:
    """Designate or withdraw witness organisations' accounts (admin only)."""


@witness_group.command("add")
@click.argument("account")
@click.option("--organization", required=True, help="The witness organisation's name.")
@click.option("--kind", type=click.Choice(WITNESS_KINDS), required=True)
@_contract_option
@key_options
@common_options
def witness_add(
    account: str, organization: str, kind: str, contract: str, key_reference: str, passphrase_file: Path | None
) -> None:
    """Designate ACCOUNT (address or key name) as a witness of ORGANIZATION."""
    state = get_state()
    address = resolve_address(state, account)
    key = load_key(state.keys_directory, key_reference, passphrase_file).key
    with open_client(state) as client, _refusals():
        EvidenceService(client, contract).add_witness(key, Address(address), organization, kind)
    document = {"witness": "0x" + address.hex(), "organization": organization, "kind": kind}
    state.emit(document, lambda: state.stdout.print(f"0x{address.hex()} witnesses for {organization} ({kind})"))


@witness_group.command("remove")
@click.argument("account")
@_contract_option
@key_options
@common_options
def witness_remove(account: str, contract: str, key_reference: str, passphrase_file: Path | None) -> None:
    """Withdraw ACCOUNT's witness designation (its past attestations stay)."""
    state = get_state()
    address = resolve_address(state, account)
    key = load_key(state.keys_directory, key_reference, passphrase_file).key
    with open_client(state) as client, _refusals():
        EvidenceService(client, contract).remove_witness(key, Address(address))
    message = f"0x{address.hex()} is no longer a witness"
    state.emit({"removed": "0x" + address.hex()}, lambda: state.stdout.print(message))


def _submit_options(function: click.decorators.FC) -> click.decorators.FC:
    function = click.option("--description", default="", help="Short public description (at most 256 characters).")(
        function
    )
    function = click.option("--title", default="", help="Title, hashed into the metadata hash (not stored).")(function)
    function = click.option("--meta", "meta_pairs", multiple=True, metavar="NAME=VALUE",
                            help="More metadata, hashed (not stored).")(function)  # fmt: skip
    return click.option(
        "--salt/--no-salt",
        "salt_wanted",
        default=None,
        help=f"Salt the content before hashing (default: only files under {LOW_ENTROPY_BYTES} bytes). "
        "The salt is written to FILE.salt: keep it, the certificate needs it.",
    )(function)


def _choose_salt(file: Path, content: bytes, salt_wanted: bool | None) -> bytes:
    wanted = salt_wanted if salt_wanted is not None else len(content) < LOW_ENTROPY_BYTES
    if not wanted:
        return b""
    salt = generate_salt()
    salt_path = file.with_name(file.name + ".salt")
    salt_path.write_text("0x" + salt.hex() + "\n", encoding="utf-8")
    return salt


@evidence_group.command("submit")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_submit_options
@_contract_option
@key_options
@common_options
def evidence_submit(
    file: Path,
    description: str,
    title: str,
    meta_pairs: tuple[str, ...],
    salt_wanted: bool | None,
    contract: str,
    key_reference: str,
    passphrase_file: Path | None,
) -> None:
    """存证: record FILE's SM3 and SHA-256 hashes (the file never leaves this machine)."""
    state = get_state()
    content = _read_content(file)
    metadata = _parse_metadata(title, meta_pairs, file)
    key = load_key(state.keys_directory, key_reference, passphrase_file).key
    with open_client(state) as client, _refusals():
        service = EvidenceService(client, contract)
        existing = service.find(compute_content_hashes(content).sm3)
        salt = b"" if existing else _choose_salt(file, content, salt_wanted)
        submission = service.submit(key, content, metadata, description, salt)
    document = {
        "record": submission.number,
        "record_id": format_record_number(submission.number),
        "new": submission.is_new,
        "sm3_hash": "0x" + submission.hashes.sm3.hex(),
        "sha256_hash": "0x" + submission.hashes.sha256.hex(),
        "metadata_hash": "0x" + submission.metadata_hash.hex(),
        "salt_file": str(file.with_name(file.name + ".salt")) if salt else None,
        "transaction_id": "0x" + submission.outcome.receipt.transaction_id.hex(),
    }

    def render() -> None:
        verb = "recorded as" if submission.is_new else "was already recorded as"
        state.stdout.print(f"{file} {verb} {format_record_number(submission.number)}")
        if salt:
            state.stdout.print(f"  salted; the salt is in {document['salt_file']}: keep it with the file")

    state.emit(document, render)


@evidence_group.command("supersede")
@click.argument("record")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_submit_options
@_contract_option
@key_options
@common_options
def evidence_supersede(
    record: str,
    file: Path,
    description: str,
    title: str,
    meta_pairs: tuple[str, ...],
    salt_wanted: bool | None,
    contract: str,
    key_reference: str,
    passphrase_file: Path | None,
) -> None:
    """Record FILE as the corrected version of your RECORD (the old record stays, marked superseded)."""
    state = get_state()
    old = _number(record)
    content = _read_content(file)
    metadata = _parse_metadata(title, meta_pairs, file)
    key = load_key(state.keys_directory, key_reference, passphrase_file).key
    salt = _choose_salt(file, content, salt_wanted)
    with open_client(state) as client, _refusals():
        submission = EvidenceService(client, contract).supersede(key, old, content, metadata, description, salt)
    document = {"record": submission.number, "record_id": format_record_number(submission.number), "supersedes": old}
    state.emit(document, lambda: state.stdout.print(
        f"{format_record_number(submission.number)} supersedes {format_record_number(old)}"))  # fmt: skip


def _number(text: str) -> int:
    try:
        return parse_record_number(text)
    except ClientError as error:
        raise CliUsageError(str(error)) from error


@evidence_group.command("attest")
@click.argument("record")
@_contract_option
@key_options
@common_options
def evidence_attest(record: str, contract: str, key_reference: str, passphrase_file: Path | None) -> None:
    """As a designated witness (notary, arbitration, court), attest RECORD."""
    state = get_state()
    number = _number(record)
    key = load_key(state.keys_directory, key_reference, passphrase_file).key
    with open_client(state) as client, _refusals():
        service = EvidenceService(client, contract)
        count = service.attest(key, number)
        current = service.get_record(number)
    witnessed = current is not None and current.is_witnessed
    document = {"record": number, "attestations": count, "witnessed": witnessed}
    status = "witnessed" if witnessed else "not yet witnessed"
    message = f"{format_record_number(number)}: {count} attestation(s); {status}"
    state.emit(document, lambda: state.stdout.print(message))


@evidence_group.command("show")
@click.argument("record", required=False)
@click.option("--file", "file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Find the record of this file (unsalted) instead of giving its number.")  # fmt: skip
@_contract_option
@common_options
def evidence_show(record: str | None, file: Path | None, contract: str) -> None:
    """取证: show RECORD (or the record of --file) as the node reports it; exits 1 if there is none."""
    state = get_state()
    if (record is None) == (file is None):
        raise CliUsageError("give a RECORD number or --file, not both")
    with open_client(state) as client, _refusals():
        service = EvidenceService(client, contract)
        number = (
            _number(record)
            if record is not None
            else service.find(
                compute_content_hashes(_read_content(file)).sm3  # type: ignore[arg-type]
            )
        )
        found = service.get_record(number) if number else None
        latest = service.get_latest(number) if found is not None else 0
    if found is None:
        state.emit({"found": False}, lambda: state.stdout.print("[red]✗[/red] no such record"))
        click.get_current_context().exit(1)
    assert found is not None
    document = {"found": True, "latest": latest, **record_to_json(found)}
    state.emit(document, lambda: _render_record(state, found))


@evidence_group.command("list")
@click.option("--submitter", default=None, help="An address (0x…) or a key name: that account's records.")
@click.option("--organization", default=None, help="A governance organisation: its accounts' records.")
@click.option("--page", type=click.IntRange(1, PAGES_MAX), default=1, show_default=True, help="Page, from 1 (newest).")
@click.option("--page-size", type=click.IntRange(1, PAGE_SIZE_MAX), default=PAGE_SIZE_MAX, show_default=True,
              help="Records per page.")  # fmt: skip
@_contract_option
@common_options
def evidence_list(submitter: str | None, organization: str | None, page: int, page_size: int, contract: str) -> None:
    """List a submitter's (or an organisation's) records, newest first, one page at a time."""
    state = get_state()
    if (submitter is None) == (organization is None):
        raise CliUsageError("give --submitter ADDR or --organization ORG (one of them)")
    with open_client(state) as client, _refusals():
        service = EvidenceService(client, contract)
        if submitter is not None:
            found = service.list_by_submitter(Address(resolve_address(state, submitter)), page, page_size)
        else:
            assert organization is not None
            found = service.list_by_organization(organization, page, page_size)
        indexed, count = service.get_index_status()
    document = {
        "total": found.total,
        "page": found.page,
        "pages": found.pages,
        "page_size": found.page_size,
        "indexed": indexed,
        "records_on_chain": count,
        "records": [record_to_json(record) for record in found.records],
    }

    def render() -> None:
        out = state.stdout.print
        out(f"{found.total} records, page {found.page} of {found.pages} (newest first)")
        for record in found.records:
            status = "witnessed" if record.is_witnessed else f"{len(record.attestations)} attestation(s)"
            superseded = f", superseded by {format_record_number(record.superseded_by)}" if record.superseded_by else ""
            time_text = datetime.fromtimestamp(record.timestamp_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            out(f"  {format_record_number(record.number)}  {time_text}  {status}{superseded}  {record.description}")
        if indexed < count:
            out(f"[yellow]records {indexed + 1} to {count} are not indexed yet; they are not in this list[/yellow]")

    state.emit(document, render)


@evidence_group.command("certificate")
@click.argument("record")
@click.option("--output", "output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The PDF to write (default EV-<number>.pdf); the JSON certificate goes beside it.")  # fmt: skip
@click.option("--salt-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="The salt `submit` wrote, for a salted record.")  # fmt: skip
@click.option("--verify-base-url", default=DEFAULT_VERIFY_BASE_URL, show_default=True,
              help="The console's public address; the QR code opens its /evidence/verify page.")  # fmt: skip
@_contract_option
@common_options
def evidence_certificate(
    record: str, output: Path | None, salt_file: Path | None, verify_base_url: str, contract: str
) -> None:
    """出证: write RECORD's certificate, PDF and JSON, with its state proof at a certified block."""
    state = get_state()
    number = _number(record)
    document = _build(state, number, contract, salt_file, verify_base_url)
    pdf_path = output if output is not None else Path(f"{format_record_number(number)}.pdf")
    json_path = pdf_path.with_suffix(".json")
    pdf_path.write_bytes(render_certificate_pdf(document))
    json_path.write_text(format_certificate(document), encoding="utf-8")
    result = {"pdf": str(pdf_path), "json": str(json_path), "proof_height": document["proof"]["height"],
              "proof_block_hash": document["proof"]["block_hash"]}  # fmt: skip
    state.emit(result, lambda: state.stdout.print(
        f"certificate of {format_record_number(number)}: {pdf_path} and {json_path} "
        f"(proof at height {result['proof_height']}, block {result['proof_block_hash']})"))  # fmt: skip


def _build(state: CliState, number: int, contract: str, salt_file: Path | None, base_url: str) -> dict[str, Any]:
    salt = _read_salt(salt_file)
    with open_client(state) as client, _refusals():
        status = client.status()
        proven = EvidenceService(client, contract).get_proven_record(number)
    return build_certificate(
        proven,
        chain_id=status.chain_id,
        suite=status.suite,
        contract=contract,
        issued_at_ms=int(time.time() * 1000),
        verification_url=compute_verification_url(base_url, number),
        salt=salt,
    )


@evidence_group.command("verify-certificate")
@click.argument("certificate", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--file", "file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Also check that this file is the recorded content.")  # fmt: skip
@click.option(
    "--block-hash",
    "block_hash",
    default=None,
    metavar="HASH",
    help="A block hash you trust (from another member's node, a court's record): the proof's block.",
)
@click.option(
    "--genesis",
    "genesis_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Check the block's commit certificate against this genesis file's validators.",
)
@common_options
def evidence_verify_certificate(
    certificate: Path, file: Path | None, block_hash: str | None, genesis_path: Path | None
) -> None:
    """核验, offline: check CERTIFICATE (JSON or PDF) and its proof without asking any node. Exits 1 unless valid."""
    state = get_state()
    if block_hash is None and genesis_path is None:
        raise CliUsageError("give --block-hash or --genesis: the proof is only as good as what it is checked against")
    try:
        document = load_certificate_file(certificate)
    except ClientError as error:
        raise CliUsageError(str(error)) from error
    trusted = None if block_hash is None else parse_hash(block_hash, "--block-hash")
    validators = None
    if genesis_path is not None:
        try:
            validators = load_genesis(genesis_path).validators
        except ConfigError as error:
            raise CliUsageError(f"--genesis: {error}") from error
    content = None if file is None else _read_content(file)
    verification = verify_certificate_document(
        document, trusted_block_hash=trusted, validators=validators, content=content
    )
    _emit_verification(state, verification)


def _emit_verification(state: CliState, verification: Verification) -> None:
    record = verification.record
    document = {
        "valid": verification.is_valid,
        "checks": [{"check": check.name, "problem": check.problem} for check in verification.checks],
        "record": None if record is None else record_to_json(record),
    }

    def render() -> None:
        mark = "[green]✓ valid[/green]" if verification.is_valid else "[red]✗ NOT valid[/red]"
        state.stdout.print(mark)
        for check in verification.checks:
            state.stdout.print(f"  {'✓' if check.problem is None else '✗'} {check.name}"
                               + ("" if check.problem is None else f": {check.problem}"))  # fmt: skip
        if record is not None:
            _render_record(state, record)

    state.emit(document, render)
    if not verification.is_valid:
        click.get_current_context().exit(1)


@evidence_group.command("export-package")
@click.argument("record")
@click.option("--output", "output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="A new directory for the package; a .zip of it is written beside.")  # fmt: skip
@click.option(
    "--genesis",
    "genesis_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The chain's genesis file, included so that the court can check offline.",
)
@click.option("--salt-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option("--verify-base-url", default=DEFAULT_VERIFY_BASE_URL, show_default=True)
@_contract_option
@common_options
def evidence_export_package(
    record: str, output: Path, genesis_path: Path | None, salt_file: Path | None, verify_base_url: str, contract: str
) -> None:
    """Write RECORD's evidence package for a court: record, proofs, certificate, the consortium's CA chain."""
    state = get_state()
    number = _number(record)
    document = _build(state, number, contract, salt_file, verify_base_url)
    genesis_json = None if genesis_path is None else genesis_path.read_text(encoding="utf-8")
    if genesis_json is not None:
        json.loads(genesis_json)  # a file that is not even JSON is a mistake worth stopping for
    with open_client(state) as client, _refusals():
        result = export_package(client, document, output, genesis_json=genesis_json)
    summary = {"directory": str(result.directory), "archive": None if result.archive is None else str(result.archive),
               "files": list(result.files)}  # fmt: skip
    state.emit(summary, lambda: state.stdout.print(
        f"evidence package of {format_record_number(number)}: {result.directory} ({len(result.files)} files), "
        f"{result.archive}"))  # fmt: skip
