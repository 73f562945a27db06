"""The evidence service's console pages: the public verification page (核验, no login,
/evidence/verify?record=EV-00000001) and the logged-in pages of its actors (docs/apps/evidence.md).

The server reads the record with its state proof from the node and checks the proof: the value leads to
the block's state root, the header hashes to the block hash, and the block's commit certificate carries a
quorum of the validators the node names. The page shows the record, its witnesses and its supersession
links. The visitor's file never leaves the browser: static/evidence-verify.js hashes it (SM3 with hash.js,
SHA-256 with WebCrypto where the browser offers it, each after the salt if one is given) and compares the
hashes with the record's. The certificate's QR code opens this page.

The logged-in pages sign with the user's console keystore keys (console/signing.py), like the supply-chain
finance pages: the depositor's page /evidence (submit hashes computed in the browser by
static/evidence-deposit.js, correct a record, list the user's recent records, download a certificate as JSON
or PDF), the witness's page /evidence/witness (records awaiting its attestation) and the admin's page
/evidence/admin (designate or withdraw witnesses, set the threshold). The depositor's list pages through the
contract's index of records by submitter (`list_by_submitter`, one of the user's own keys, newest first), the
witness's queue through `list_pending` (records short of the threshold, older pages by record number), and
/evidence/organization an organisation's records through `list_by_organization` (an organisation admin its own
organisation's, the platform operator and the auditor any one's; 403 for anyone else). The
contract keeps no list of witnesses, so the console reads the admin's sent transactions
(ADMIN_HISTORY_PAGES_MAX pages) and confirms each witness with a view.
"""

from __future__ import annotations

import asyncio
import html
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from aiohttp import web

from gusu.apps.evidence.certificate import build_certificate, compute_verification_url, format_certificate
from gusu.apps.evidence.pdf import render_certificate_pdf
from gusu.apps.evidence.records import (
    CONTRACT_NAME,
    DESCRIPTION_LENGTH_MAX,
    PAGE_SIZE_MAX,
    PAGES_MAX,
    SALT_BYTES_MAX,
    WITNESS_KINDS,
    EvidenceRecord,
    PendingPage,
    RecordPage,
    compute_metadata_hash,
    compute_record_key,
    format_record_number,
    parse_pending_page,
    parse_record,
    parse_record_number,
    parse_record_page,
    parse_stored_record,
)
from gusu.apps.evidence.service import ProvenRecord
from gusu.codec import Value, decode
from gusu.console.access import CSRF_FIELD, AccessInputError, is_allowed
from gusu.console.accounts import STORE_KEY, Viewer, _catalogue, _render, get_viewer, record, requires
from gusu.console.chains import get_client
from gusu.console.i18n import Catalogue
from gusu.console.signing import key_fields_html, read_form, send_transaction, unlock_key
from gusu.console.store import StoredKey
from gusu.crypto import get_suite
from gusu.errors import ClientError, CodecError, GusuError, InvalidStateProofError
from gusu.ledger.genesis import ORGANIZATION_PATTERN, GenesisValidator
from gusu.ledger.jsonview import bytes_to_hex
from gusu.ledger.stateproof import (
    CertifiedStateProof,
    validate_certified_state_proof,
    validate_state_proof_in_block,
)
from gusu.ledger.types import Address, Hash, Transaction
from gusu.sdk import AsyncClient
from gusu.sdk.contracts import AsyncContracts

PAGE: Final = "evidence_verify"
PATH: Final = "/evidence/verify"
RECORD_TEXT_LENGTH_MAX: Final = 32
KIND_MESSAGES: Final = {
    "notary": "evidence.kind.notary",
    "arbitration": "evidence.kind.arbitration",
    "court": "evidence.kind.court",
    "forensic": "evidence.kind.forensic",
}
"""The catalogue key of each witness kind (records.WITNESS_KINDS); another kind is shown as stored."""
_e = html.escape


@dataclass(frozen=True, slots=True)
class ProofCheck:
    proof: CertifiedStateProof
    problem: str | None
    certified: bool
    """Whether the commit certificate was checked against the node's validator set."""


async def _get_validators(client: AsyncClient) -> list[GenesisValidator]:
    value = await client.call("system", "get_validators", [])
    validators: list[GenesisValidator] = []
    if isinstance(value, list):
        for item in value:
            match item:
                case [str() as name, bytes() as address, bytes() as public_key, int() as power]:
                    validators.append(GenesisValidator(name, Address(address), public_key, power, ""))
    return validators


async def check_record_proof(client: AsyncClient, contract: str, number: int) -> ProofCheck:
    """The record's state proof at the latest block, checked as far as this page can without a trusted anchor."""
    return await check_key_proof(client, contract, compute_record_key(number))


async def check_key_proof(client: AsyncClient, contract: str, key: bytes) -> ProofCheck:
    """`contract`'s `key` with its state proof at the latest block, checked as far as a page can without a trusted
    anchor (the scf public check uses it too)."""
    suite = get_suite((await client.status()).suite)
    proof = await client.get_state_proof(contract, key)
    try:
        validate_state_proof_in_block(suite, proof, proof.block_hash)
    except InvalidStateProofError as error:
        return ProofCheck(proof, str(error), False)
    if proof.certificate is None:
        return ProofCheck(proof, None, False)
    try:
        validators = await _get_validators(client)
    except GusuError:
        return ProofCheck(proof, None, False)
    if not validators:
        return ProofCheck(proof, None, False)
    try:
        validate_certified_state_proof(suite, proof, validators)
    except InvalidStateProofError as error:
        return ProofCheck(proof, str(error), False)
    return ProofCheck(proof, None, True)


def _time(timestamp_ms: int) -> str:
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _row(label: str, value: str, element_id: str = "", mono: bool = False) -> str:
    attributes = (f' id="{element_id}"' if element_id else "") + (' class="mono"' if mono else "")
    return f"<dt>{_e(label)}</dt><dd{attributes}>{_e(value)}</dd>"


def _kind(catalogue: Catalogue, kind: str) -> str:
    key = KIND_MESSAGES.get(kind)
    return kind if key is None else catalogue.get_message(key)


def _record_link(number: int) -> str:
    text = format_record_number(number)
    return f'<a href="{PATH}?record={text}">{_e(text)}</a>'


def compute_record_html(catalogue: Catalogue, record: EvidenceRecord, check: ProofCheck) -> str:
    message = catalogue.get_message
    rows = [
        _row(message("evidence.record_id"), format_record_number(record.number), "evidence-record-id"),
        _row(message("evidence.hash_sm"), "0x" + record.sm3_hash.hex(), "evidence-sm3", True),
        _row(message("evidence.hash_sha"), "0x" + record.sha256_hash.hex(), "evidence-sha256", True),
        _row(message("evidence.metadata_hash"), "0x" + record.metadata_hash.hex(), mono=True),
        _row(message("evidence.description"), record.description or message("common.none")),
        _row(message("evidence.submitter"), "0x" + record.submitter.hex(), mono=True),
        _row(message("evidence.organization"), record.organization or message("common.none")),
        _row(message("evidence.height"), str(record.height)),
        _row(message("evidence.time"), _time(record.timestamp_ms)),
        _row(message("evidence.transaction"), "0x" + record.transaction_id.hex(), mono=True),
    ]
    witnessed = (
        message("evidence.witnessed", height=record.witnessed_height)
        if record.is_witnessed
        else message("evidence.not_witnessed")
    )
    rows.append(_row(message("evidence.witness_status"), witnessed, "evidence-witnessed"))
    if record.superseded_by:
        supersession = (
            f'<span class="not-recorded">{_e(message("evidence.superseded_by"))}</span> '
            f"{_record_link(record.superseded_by)}"
        )
    else:
        supersession = f'<span class="recorded">{_e(message("evidence.current"))}</span>'
    if record.supersedes:
        supersession += f" · {_e(message('evidence.supersedes'))} {_record_link(record.supersedes)}"
    rows.append(f'<dt>{_e(message("evidence.supersession"))}</dt><dd id="evidence-supersession">{supersession}</dd>')
    if check.problem is not None:
        proof_text = message("evidence.proof_invalid", reason=check.problem[:300])
        proof_class = "not-recorded"
    else:
        key = "evidence.proof_certified" if check.certified else "evidence.proof_consistent"
        proof_text = message(key, height=check.proof.height)
        proof_class = "recorded"
    rows.append(
        f'<dt>{_e(message("evidence.proof"))}</dt><dd><span id="evidence-proof" class="{proof_class}" '
        f'data-valid="{str(check.problem is None).lower()}">{_e(proof_text)}</span><br>'
        f'<span class="mono">{_e(message("evidence.proof_block"))} 0x{check.proof.block_hash.hex()}</span></dd>'
    )
    witnesses = "".join(
        f"<tr><td>{_e(item.organization)}</td><td>{_e(_kind(catalogue, item.kind))}</td>"
        f'<td class="mono">0x{item.witness.hex()}</td><td>{item.height}</td>'
        f"<td>{_e(_time(item.timestamp_ms))}</td></tr>"
        for item in record.attestations
    )
    witness_table = (
        f'<table id="evidence-witnesses"><thead><tr><th>{_e(message("evidence.witness_org"))}</th>'
        f"<th>{_e(message('evidence.witness_kind'))}</th><th>{_e(message('evidence.witness_account'))}</th>"
        f"<th>{_e(message('evidence.height'))}</th><th>{_e(message('evidence.time'))}</th></tr></thead>"
        f"<tbody>{witnesses}</tbody></table>"
        if witnesses
        else f'<p id="evidence-witnesses">{_e(message("evidence.no_witnesses"))}</p>'
    )
    return (
        f'<section id="evidence-record" data-sm3="0x{record.sm3_hash.hex()}" '
        f'data-sha256="0x{record.sha256_hash.hex()}">'
        f'<dl class="fields">{"".join(rows)}</dl>'
        f"<h2>{_e(message('evidence.witnesses'))}</h2>{witness_table}</section>"
    )


def compute_form_html(catalogue: Catalogue, record_text: str) -> str:
    message = catalogue.get_message
    return (
        f"<h1>{_e(message('evidence.title'))}</h1><p>{_e(message('evidence.intro'))}</p>"
        f'<form id="evidence-form" method="get" action="{PATH}">'
        f'<label for="evidence-record-input">{_e(message("evidence.record_label"))}</label> '
        f'<input id="evidence-record-input" name="record" maxlength="{RECORD_TEXT_LENGTH_MAX}" '
        f'placeholder="EV-00000001" value="{_e(record_text)}" required> '
        f'<button type="submit" id="evidence-lookup">{_e(message("evidence.lookup"))}</button></form>'
    )


def compute_file_html(catalogue: Catalogue) -> str:
    message = catalogue.get_message
    return (
        f'<div class="drop" id="evidence-drop"><label for="evidence-file">{_e(message("evidence.choose"))}</label> '
        f'<input type="file" id="evidence-file"> '
        f'<label for="evidence-salt">{_e(message("evidence.salt_label"))}</label> '
        f'<input id="evidence-salt" maxlength="{2 + 2 * SALT_BYTES_MAX}" placeholder="0x…" class="mono"></div>'
        f'<div id="evidence-file-result" aria-live="polite"></div>'
    )


async def _verify_page(request: web.Request) -> web.StreamResponse:
    catalogue = _catalogue(request)
    message = catalogue.get_message
    record_text = request.query.get("record", "")[:RECORD_TEXT_LENGTH_MAX]
    content = compute_form_html(catalogue, record_text)
    if not record_text:
        return _render(request, PAGE, content)
    try:
        number = parse_record_number(record_text)
    except ClientError:
        content += f'<p class="error" role="alert" id="evidence-error">{_e(message("evidence.bad_number"))}</p>'
        return _render(request, PAGE, content, 400)
    client = get_client(request)
    try:
        check = await check_record_proof(client, CONTRACT_NAME, number)
    except GusuError as error:
        content += (
            f'<p class="error" role="alert" id="evidence-error">'
            f"{_e(message('evidence.unreachable', reason=str(error)[:300]))}</p>"
        )
        return _render(request, PAGE, content, 502)
    if check.proof.value is None:
        content += (
            f'<p class="not-recorded" id="evidence-error">'
            f"{_e(message('evidence.not_found', record=format_record_number(number)))}</p>"
        )
        return _render(request, PAGE, content, 404)
    try:
        record = parse_stored_record(number, check.proof.value)
    except ClientError as error:
        content += f'<p class="error" role="alert" id="evidence-error">{_e(str(error)[:300])}</p>'
        return _render(request, PAGE, content, 502)
    content += compute_file_html(catalogue) + compute_record_html(catalogue, record, check)
    return _render(request, PAGE, content)


# --- the logged-in pages: depositor, witness, admin ------------------------------------------------------------

DEPOSIT_PAGE: Final = "evidence"
WITNESS_PAGE: Final = "evidence_witness"
ADMIN_PAGE: Final = "evidence_admin"
PAGE_TEXT_LENGTH_MAX: Final = 8
"""Characters of a page query parameter read (PAGES_MAX has 7 digits)."""
RECORD_NUMBER_TEXT_LENGTH_MAX: Final = 20
RECORD_NUMBER_MAX: Final = 2**63 - 1
ADDRESS_TEXT_LENGTH_MAX: Final = 42
ADMIN_HISTORY_PAGES_MAX: Final = 4
"""Pages of the admin's sent transactions (50 each) read to find the witnesses it designated."""
CERTIFICATE_WAIT_S_MAX: Final = 10.0
"""How long a certificate download waits for a certified block after the record's last change."""
CERTIFICATE_POLL_INTERVAL_S: Final = 0.25
METADATA_TEXT_LENGTH_MAX: Final = 4000
METADATA_ENTRIES_MAX: Final = 32
ORGANIZATION_LENGTH_MAX: Final = 64
THRESHOLD_MAX: Final = 16
ORG_PAGE: Final = "evidence_org"
ORG_PATH: Final = "/evidence/organization"
ORGANIZATION_LIST_ROLES: Final = frozenset({"operator", "auditor", "org_admin"})
"""Console roles that may open an organisation's records: an organisation admin its own organisation's, the
platform operator and the auditor any organisation's."""
ANY_ORGANIZATION_ROLES: Final = frozenset({"operator", "auditor"})
SALT_MODE_KEYS: Final = {
    "auto": "evidence.salt_mode.auto",
    "yes": "evidence.salt_mode.yes",
    "no": "evidence.salt_mode.no",
}
"""The salt choices of the deposit form (static/evidence-deposit.js reads the value)."""
_LONG_FIELDS: Final = {"metadata": METADATA_TEXT_LENGTH_MAX}


def _contracts(request: web.Request) -> AsyncContracts:
    return AsyncContracts(get_client(request))


def parse_record_field(text: str) -> int:
    """A record number from a form or query (EV-00000012, ev-12 or 12)."""
    try:
        return parse_record_number(text[:RECORD_TEXT_LENGTH_MAX])
    except ClientError:
        raise AccessInputError("evidence.bad_number", "give a record number such as EV-00000012") from None


def parse_hash_field(text: str) -> Hash:
    """A content hash the browser computed: 0x and 64 hex digits."""
    text = text.strip()
    try:
        value = bytes.fromhex(text[2:]) if text.startswith("0x") else b""
    except ValueError:
        value = b""
    if len(value) != 32:
        raise AccessInputError("evidence.error.hashes", "choose a file and wait until its hashes are shown")
    return Hash(value)


def parse_salt_field(text: str) -> bytes:
    text = text.strip()
    if not text:
        return b""
    try:
        salt = bytes.fromhex(text[2:]) if text.startswith("0x") else b"\x00" * (SALT_BYTES_MAX + 1)
    except ValueError:
        salt = b"\x00" * (SALT_BYTES_MAX + 1)
    if len(salt) > SALT_BYTES_MAX:
        raise AccessInputError("evidence.salt_invalid", "a salt is 0x and hex digits")
    return salt


def parse_metadata(text: str) -> dict[str, str]:
    """Metadata lines `name=value` (title, author, capture device...); blank lines are skipped."""
    metadata: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, separator, value = line.partition("=")
        if not separator or not name.strip():
            raise AccessInputError("evidence.error.metadata", "write the metadata as name=value lines")
        metadata[name.strip()] = value.strip()
    if len(metadata) > METADATA_ENTRIES_MAX:
        raise AccessInputError("evidence.error.metadata", "write the metadata as name=value lines")
    return metadata


def parse_address_field(text: str) -> Address:
    text = text.strip()
    try:
        value = bytes.fromhex(text[2:]) if text.lower().startswith("0x") else b""
    except ValueError:
        value = b""
    if len(value) != 20:
        raise AccessInputError("evidence.error.address", "an account address is 0x and 40 hex digits")
    return Address(value)


def is_awaiting_attestation(item: EvidenceRecord, witness_addresses: set[str]) -> bool:
    """Whether one of the user's witness keys (0x-hex) may still attest a record that has not reached its threshold:
    not all of them attested it yet, and none of them submitted it (a witness may not attest its own record)."""
    attested = {bytes_to_hex(attestation.witness) for attestation in item.attestations}
    return (
        not item.is_witnessed
        and not witness_addresses <= attested
        and bytes_to_hex(item.submitter) not in witness_addresses
    )


async def get_settings(contracts: AsyncContracts) -> tuple[Address | None, int, int]:
    """(admin, threshold, number of records) of the deployed contract."""
    match await contracts.view(CONTRACT_NAME, "get_settings", []):
        case [bytes() | None as admin, int() as threshold, int() as count]:
            return (None if admin is None else Address(admin)), threshold, count
    raise ClientError("the evidence contract's get_settings answered in an unknown shape")


async def get_record(contracts: AsyncContracts, number: int) -> EvidenceRecord | None:
    value = await contracts.view(CONTRACT_NAME, "get_record", [number])
    return None if value is None else parse_record(number, value)


async def get_witness(contracts: AsyncContracts, witness: bytes) -> tuple[str, str] | None:
    match await contracts.view(CONTRACT_NAME, "get_witness", [bytes(witness)]):
        case [str() as organization, str() as kind]:
            return organization, kind
    return None


def parse_page_field(text: str) -> int:
    """A page number from a query string: 1 when absent; AccessInputError unless 1 to PAGES_MAX."""
    text = text.strip()[:PAGE_TEXT_LENGTH_MAX]
    if not text:
        return 1
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= PAGES_MAX:
        raise AccessInputError("evidence.error.page", "the page is a number from 1", limit=PAGES_MAX)
    return int(text)


def parse_before_field(text: str) -> int:
    """The witness queue's `before` record number: 0 (the newest) when absent."""
    text = text.strip()[:RECORD_NUMBER_TEXT_LENGTH_MAX]
    if not text:
        return 0
    if not text.isascii() or not text.isdigit() or int(text) > RECORD_NUMBER_MAX:
        raise AccessInputError("evidence.error.page", "the page is a number from 1", limit=PAGES_MAX)
    return int(text)


def choose_submitter(keys: list[StoredKey], wanted: str) -> str | None:
    """The 0x address of the user's key to list: `wanted` if it is one of them, the first key when `wanted` is
    empty, None when it names anyone else's account (the console lists only the user's own records)."""
    if not wanted:
        return keys[0].address if keys else ""
    wanted = wanted.strip().lower()
    return wanted if wanted in {key.address for key in keys} else None


async def list_by_submitter(contracts: AsyncContracts, submitter: str, page: int) -> RecordPage:
    args: list[Value] = [bytes.fromhex(submitter[2:]), page, PAGE_SIZE_MAX]
    value = await contracts.view(CONTRACT_NAME, "list_by_submitter", args)
    return parse_record_page(page, PAGE_SIZE_MAX, value)


async def list_pending(contracts: AsyncContracts, before: int, witness: bytes | None) -> PendingPage:
    value = await contracts.view(CONTRACT_NAME, "list_pending", [before, PAGE_SIZE_MAX, witness])
    return parse_pending_page(PAGE_SIZE_MAX, value)


async def get_index_status(contracts: AsyncContracts) -> tuple[int, int]:
    match await contracts.view(CONTRACT_NAME, "get_index_status", []):
        case [int() as indexed, int() as count]:
            return indexed, count
    raise ClientError("the evidence contract's get_index_status answered in an unknown shape")


def compute_pager_html(catalogue: Catalogue, found: RecordPage, submitter: str, list_path: str = "") -> str:
    """Page N of M with links to the newer and older pages of the same list: the submitter's (`submitter`, on
    the depositor's page) or, with `list_path`, the list at that path and query (e.g. an organisation's)."""
    message = catalogue.get_message
    base = list_path or f"/evidence?submitter={submitter}"
    info = message("evidence.page_of", page=found.page, pages=found.pages)
    links = [f'<span id="evidence-page-info">{_e(info)}</span>']
    if found.page > 1:
        links.insert(
            0,
            f'<a id="evidence-page-newer" href="{_e(base)}&amp;page={found.page - 1}">'
            f"{_e(message('evidence.page_newer'))}</a>",
        )
    if found.page < found.pages:
        links.append(
            f'<a id="evidence-page-older" href="{_e(base)}&amp;page={found.page + 1}">'
            f"{_e(message('evidence.page_older'))}</a>"
        )
    return f'<p class="pager" id="evidence-pager">{" · ".join(links)}</p>'


async def list_witnesses(
    client: AsyncClient, contracts: AsyncContracts, admin: Address
) -> list[tuple[Address, str, str]]:
    """(account, organisation, kind) of the witnesses the admin's add_witness transactions name and that are still
    designated (the view confirms each: a removal or a failed transaction drops it)."""
    candidates: list[Address] = []
    before: tuple[int, int] | None = None
    for _ in range(ADMIN_HISTORY_PAGES_MAX):
        page = await client.get_transactions_by_sender(bytes(admin), before=before)
        for view in page.transactions:
            transaction = view.transaction
            if not isinstance(transaction, Transaction) or transaction.contract != CONTRACT_NAME:
                continue
            if transaction.method != "add_witness":
                continue
            try:
                args = decode(transaction.args)
            except CodecError:
                continue
            match args:
                case [bytes() as account, *_] if len(account) == 20 and Address(account) not in candidates:
                    candidates.append(Address(account))
        if page.next is None:
            break
        before = (int(page.next[0]), page.next[1])
    found = []
    for account in candidates:
        witness = await get_witness(contracts, account)
        if witness is not None:
            found.append((account, *witness))
    return found


async def get_proven_record(client: AsyncClient, number: int, wait_s: float) -> ProvenRecord:
    """As `EvidenceService.get_proven_record`, through the console's asynchronous client."""
    contracts = AsyncContracts(client)
    current = await get_record(contracts, number)
    if current is None:
        raise ClientError(f"there is no record {format_record_number(number)}")
    needed = max([int(current.height), *(int(item.height) for item in current.attestations)])
    deadline = time.monotonic() + wait_s
    key = compute_record_key(number)
    while True:
        tip = int(await client.block_number())
        for height in (tip, tip - 1):
            if height >= needed:
                candidate = await client.get_state_proof(CONTRACT_NAME, key, height)
                if candidate.certificate is not None and candidate.value is not None:
                    proven = parse_stored_record(number, candidate.value)
                    block = await client.get_block(int(proven.height))
                    return ProvenRecord(proven, candidate, block.block_hash)
        if time.monotonic() > deadline:
            raise ClientError("the chain has not yet certified a block after the record's last change; try again")
        await asyncio.sleep(CERTIFICATE_POLL_INTERVAL_S)


def _page_error(request: web.Request, page: str, title_key: str, text: str, status: int) -> web.Response:
    message = _catalogue(request).get_message
    content = f'<h1>{_e(message(title_key))}</h1><p class="error" role="alert" id="evidence-page-error">{_e(text)}</p>'
    return _render(request, page, content, status)


def _unreachable(request: web.Request, page: str, title_key: str, error: GusuError) -> web.Response:
    text = _catalogue(request).get_message("evidence.unreachable", reason=str(error)[:300])
    return _page_error(request, page, title_key, text, 502)


def _not_deployed(request: web.Request, page: str, title_key: str) -> web.Response:
    message = _catalogue(request).get_message
    content = (
        f'<h1>{_e(message(title_key))}</h1><p class="notice" id="evidence-not-deployed">'
        f"{_e(message('evidence.not_deployed'))}</p>"
    )
    return _render(request, page, content)


def _notice(text: str, ok: bool) -> str:
    if ok:
        return f'<p class="success" role="status" id="evidence-result">{_e(text)}</p>'
    return f'<p class="error" role="alert" id="evidence-result">{_e(text)}</p>'


def _links(catalogue: Catalogue, is_admin: bool, role: str = "") -> str:
    message = catalogue.get_message
    links = [
        f'<a id="evidence-deposit-link" href="/evidence">{_e(message("evidence.deposit_title"))}</a>',
        f'<a id="evidence-witness-link" href="/evidence/witness">{_e(message("evidence.witness_title"))}</a>',
        f'<a href="{PATH}">{_e(message("evidence.title"))}</a>',
    ]
    if role in ORGANIZATION_LIST_ROLES:
        links.append(f'<a id="evidence-org-link" href="{ORG_PATH}">{_e(message("evidence.org_title"))}</a>')
    if is_admin:
        links.append(f'<a id="evidence-admin-link" href="/evidence/admin">{_e(message("evidence.admin_title"))}</a>')
    return f'<p class="links">{" · ".join(links)}</p>'


def _csrf(viewer: Viewer) -> str:
    return f'<input type="hidden" name="{CSRF_FIELD}" value="{_e(viewer.session.csrf_token)}">'


def _status_text(catalogue: Catalogue, item: EvidenceRecord, threshold: int) -> str:
    message = catalogue.get_message
    if item.is_witnessed:
        return message("evidence.status_witnessed", count=len(item.attestations))
    return message("evidence.status_pending", count=len(item.attestations), threshold=threshold)


def compute_records_html(
    catalogue: Catalogue, table_id: str, records: list[EvidenceRecord], threshold: int, *, by_submitter: bool = False
) -> str:
    """The depositor's records with links to the public page, the certificates and a correction; with
    `by_submitter` (an organisation's records) a column of submitters instead of the correction link, which only a
    record's submitter may use."""
    message = catalogue.get_message
    if not records:
        return f'<p class="empty" id="{table_id}-empty">{_e(message("evidence.records_none"))}</p>'
    rows = []
    for item in records:
        record_id = format_record_number(item.number)
        superseded = format_record_number(item.superseded_by) if item.superseded_by else "-"
        actions = [
            f'<a href="/evidence/certificate?record={record_id}&amp;format=json">JSON</a>',
            f'<a class="evidence-pdf" href="/evidence/certificate?record={record_id}&amp;format=pdf">PDF</a>',
        ]
        if by_submitter:
            actions.insert(0, f'<code class="evidence-submitter">0x{bytes(item.submitter).hex()}</code>')
        elif not item.superseded_by:
            actions.append(
                f'<a class="evidence-correct" href="/evidence?supersede={record_id}#evidence-submit-form">'
                f"{_e(message('evidence.correct'))}</a>"
            )
        rows.append(
            f'<tr data-record="{record_id}"><td><a href="{PATH}?record={record_id}">{record_id}</a></td>'
            f"<td>{_e(item.description)}</td><td>{_e(_time(item.timestamp_ms))}</td><td>{int(item.height)}</td>"
            f"<td>{_e(_status_text(catalogue, item, threshold))}</td><td>{superseded}</td>"
            f"<td>{' · '.join(actions)}</td></tr>"
        )
    headers = "".join(
        f"<th>{_e(message(key))}</th>"
        for key in (
            "evidence.record", "evidence.description", "evidence.time", "evidence.height", "evidence.status",
            "evidence.superseded_by", "evidence.org_submitter_actions" if by_submitter else "evidence.actions",
        )
    )  # fmt: skip
    return f'<table id="{table_id}"><thead><tr>{headers}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


async def _key_addresses(request: web.Request, viewer: Viewer) -> list[StoredKey]:
    keys: list[StoredKey] = await request.app[STORE_KEY].list_signing_keys(viewer.user.user_id)
    return keys


async def _deposit_page(
    request: web.Request,
    viewer: Viewer,
    notice: str = "",
    status: int = 200,
    supersede_text: str = "",
    submitter_text: str = "",
    page: int = 1,
) -> web.Response:
    catalogue = _catalogue(request)
    message = catalogue.get_message
    contracts = _contracts(request)
    try:
        if await contracts.get_instance(CONTRACT_NAME) is None:
            return _not_deployed(request, DEPOSIT_PAGE, "evidence.deposit_title")
        admin, threshold, count = await get_settings(contracts)
        keys = await _key_addresses(request, viewer)
        mine = {key.address for key in keys}
        submitter = choose_submitter(keys, submitter_text)
        if submitter is None:
            text = message("evidence.error.not_your_key")
            return _page_error(request, DEPOSIT_PAGE, "evidence.deposit_title", text, 403)
        found = await list_by_submitter(contracts, submitter, page) if submitter else None
        indexed, _ = await get_index_status(contracts)
    except GusuError as error:
        return _unreachable(request, DEPOSIT_PAGE, "evidence.deposit_title", error)
    is_admin = admin is not None and bytes_to_hex(admin) in mine
    sections = [
        f"<h1>{_e(message('evidence.deposit_title'))}</h1>",
        _links(catalogue, is_admin, viewer.user.role),
        notice,
        f'<p class="hint">{_e(message("evidence.deposit_intro"))}</p>',
    ]
    if is_allowed(viewer.user.role, "contracts.write"):
        modes = "".join(f'<option value="{value}">{_e(message(key))}</option>' for value, key in SALT_MODE_KEYS.items())
        sections.append(
            f'<form method="post" action="/evidence/submit" class="stack" id="evidence-submit-form">{_csrf(viewer)}'
            f'<label for="evidence-deposit-file">{_e(message("evidence.choose"))}</label>'
            '<input type="file" id="evidence-deposit-file">'
            f'<label for="evidence-salt-mode">{_e(message("evidence.salt_mode"))}</label>'
            f'<select id="evidence-salt-mode">{modes}</select>'
            '<div id="evidence-deposit-hashes" aria-live="polite" data-ready="false"></div>'
            '<input type="hidden" name="sm3" id="evidence-sm3-field">'
            '<input type="hidden" name="sha256" id="evidence-sha256-field">'
            '<input type="hidden" name="salt" id="evidence-salt-field">'
            f'<label for="evidence-description">{_e(message("evidence.description"))}</label>'
            f'<input id="evidence-description" name="description" maxlength="{DESCRIPTION_LENGTH_MAX}">'
            f'<label for="evidence-metadata">{_e(message("evidence.metadata_label"))}</label>'
            f'<textarea id="evidence-metadata" name="metadata" rows="3" maxlength="{METADATA_TEXT_LENGTH_MAX}" '
            'placeholder="title=…"></textarea>'
            f'<label for="evidence-supersedes">{_e(message("evidence.supersedes_label"))}</label>'
            f'<input id="evidence-supersedes" name="supersedes" maxlength="{RECORD_TEXT_LENGTH_MAX}" '
            f'placeholder="EV-00000001" value="{_e(supersede_text)}">'
            + key_fields_html(request, keys, "evidence-submit")
            + f'<button type="submit" id="evidence-submit" disabled>{_e(message("evidence.submit"))}</button></form>'
        )
    sections.append(f"<h2>{_e(message('evidence.my_records'))}</h2>")
    if len(keys) > 1:
        options = "".join(
            f'<option value="{_e(key.address)}"{" selected" if key.address == submitter else ""}>'
            f"{_e(key.address)}</option>"
            for key in keys
        )
        sections.append(
            '<form method="get" action="/evidence" id="evidence-list-form">'
            f'<label for="evidence-list-submitter">{_e(message("evidence.list_key"))}</label>'
            f'<select id="evidence-list-submitter" name="submitter">{options}</select>'
            f'<button type="submit" id="evidence-list-show">{_e(message("evidence.list_show"))}</button></form>'
        )
    if found is None:
        sections.append(f'<p class="empty" id="evidence-my-records-empty">{_e(message("evidence.records_none"))}</p>')
    else:
        sections.append(
            f'<p class="hint" id="evidence-my-records-total">'
            f"{_e(message('evidence.records_total', count=found.total, address=submitter))}</p>"
        )
        if indexed < count:
            sections.append(
                f'<p class="hint" id="evidence-index-behind">'
                f"{_e(message('evidence.index_behind', first=indexed + 1, last=count))}</p>"
            )
        sections.append(compute_records_html(catalogue, "evidence-my-records", list(found.records), threshold))
        sections.append(compute_pager_html(catalogue, found, submitter))
    sections.append(
        f"<h2>{_e(message('evidence.certificate'))}</h2>"
        '<form method="get" action="/evidence/certificate" id="evidence-certificate-form">'
        f'<label for="evidence-certificate-record">{_e(message("evidence.record_label"))}</label>'
        f'<input id="evidence-certificate-record" name="record" maxlength="{RECORD_TEXT_LENGTH_MAX}" required>'
        f'<label for="evidence-certificate-salt">{_e(message("evidence.salt_label"))}</label>'
        f'<input id="evidence-certificate-salt" name="salt" class="mono" maxlength="{2 + 2 * SALT_BYTES_MAX}">'
        f'<button type="submit" name="format" value="pdf">PDF</button>'
        f'<button type="submit" name="format" value="json">JSON</button></form>'
    )
    return _render(request, DEPOSIT_PAGE, "".join(sections), status)


@requires("contracts.read")
async def _deposit_get(request: web.Request) -> web.StreamResponse:
    viewer = get_viewer(request)
    assert viewer is not None
    try:
        page = parse_page_field(request.query.get("page", ""))
    except AccessInputError as error:
        text = _catalogue(request).get_message(error.key, **error.params)
        return _page_error(request, DEPOSIT_PAGE, "evidence.deposit_title", text, 400)
    return await _deposit_page(
        request,
        viewer,
        supersede_text=request.query.get("supersede", "")[:32],
        submitter_text=request.query.get("submitter", "")[:ADDRESS_TEXT_LENGTH_MAX],
        page=page,
    )


@requires("contracts.write")
async def _deposit_post(request: web.Request) -> web.StreamResponse:
    viewer = get_viewer(request)
    assert viewer is not None
    message = _catalogue(request).get_message
    method = "submit"
    try:
        form = await read_form(request, _LONG_FIELDS)
        sm3_hash = parse_hash_field(form.get("sm3"))
        sha256_hash = parse_hash_field(form.get("sha256"))
        salt = parse_salt_field(form.get("salt"))
        description = form.get("description").strip()
        if len(description) > DESCRIPTION_LENGTH_MAX:
            raise AccessInputError("error.field_long", "the description is too long", count=DESCRIPTION_LENGTH_MAX)
        try:
            metadata_hash = compute_metadata_hash(parse_metadata(form.get("metadata")))
        except ClientError:
            raise AccessInputError("evidence.error.metadata", "the metadata is too large") from None
        old = parse_record_field(form.get("supersedes")) if form.get("supersedes").strip() else 0
        method = "supersede" if old else "submit"
        contracts = _contracts(request)
        existing = await contracts.view(CONTRACT_NAME, "find", [sm3_hash])
        if not old and isinstance(existing, int) and existing:
            text = message("evidence.duplicate", record=format_record_number(existing))
            return await _deposit_page(request, viewer, _notice(text, True))
        key = await unlock_key(request, viewer, form)
        args: list[Value] = [sm3_hash, sha256_hash, metadata_hash, description]
        sent = await send_transaction(request, key, CONTRACT_NAME, method, [old, *args] if old else args)
    except AccessInputError as error:
        await record(request, "contract.call", f"{CONTRACT_NAME}.{method}", "refused")
        return await _deposit_page(request, viewer, _notice(message(error.key, **error.params), False), 400)
    except GusuError as error:
        return _unreachable(request, DEPOSIT_PAGE, "evidence.deposit_title", error)
    outcome = "ok" if sent.receipt.is_success else "failed"
    await record(request, "contract.call", f"{CONTRACT_NAME}.{method} {sent.transaction_id}", outcome)
    if not sent.receipt.is_success:
        text = message("evidence.refused", reason=sent.receipt.error_message[:300])
        return await _deposit_page(request, viewer, _notice(text, False), 400)
    number = decode(sent.receipt.return_value)
    record_id = format_record_number(number) if isinstance(number, int) and number > 0 else "?"
    notice = _notice(message("evidence.recorded", record=record_id, transaction=sent.transaction_id), True)
    if salt:
        notice += (
            f'<p class="notice" id="evidence-salt-kept">{_e(message("evidence.keep_salt"))} '
            f'<code id="evidence-salt-value">0x{salt.hex()}</code></p>'
        )
    # List the records of the key that signed, so the new record is on the page whatever key comes first.
    return await _deposit_page(request, viewer, notice, submitter_text=form.get("key")[:ADDRESS_TEXT_LENGTH_MAX])


@requires("contracts.read")
async def _certificate_get(request: web.Request) -> web.StreamResponse:
    message = _catalogue(request).get_message
    try:
        number = parse_record_field(request.query.get("record", ""))
        salt = parse_salt_field(request.query.get("salt", "")[: 2 + 2 * SALT_BYTES_MAX + 1])
    except AccessInputError as error:
        text = message(error.key, **error.params)
        return _page_error(request, DEPOSIT_PAGE, "evidence.certificate", text, 400)
    wanted = request.query.get("format", "pdf")
    client = get_client(request)
    try:
        status = await client.status()
        proven = await get_proven_record(client, number, CERTIFICATE_WAIT_S_MAX)
        document = build_certificate(
            proven,
            chain_id=status.chain_id,
            suite=status.suite,
            contract=CONTRACT_NAME,
            issued_at_ms=int(time.time() * 1000),
            verification_url=compute_verification_url(f"{request.scheme}://{request.host}", number),
            salt=salt,
        )
        name = format_record_number(number)
        if wanted == "json":
            body = format_certificate(document).encode()
            content_type = "application/json"
        else:
            # Rendering takes a moment of CPU: off the event loop.
            body = await asyncio.to_thread(render_certificate_pdf, document)
            content_type = "application/pdf"
            name += ".pdf"
    except GusuError as error:
        return _unreachable(request, DEPOSIT_PAGE, "evidence.certificate", error)
    if wanted == "json":
        name += ".json"
    return web.Response(
        body=body,
        content_type=content_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def _witness_page(
    request: web.Request, viewer: Viewer, notice: str = "", status: int = 200, before: int = 0
) -> web.Response:
    catalogue = _catalogue(request)
    message = catalogue.get_message
    contracts = _contracts(request)
    try:
        if await contracts.get_instance(CONTRACT_NAME) is None:
            return _not_deployed(request, WITNESS_PAGE, "evidence.witness_title")
        admin, threshold, count = await get_settings(contracts)
        keys = await _key_addresses(request, viewer)
        witness_keys = []
        designations = []
        for key in keys:
            designation = await get_witness(contracts, bytes.fromhex(key.address[2:]))
            if designation is not None:
                witness_keys.append(key)
                designations.append((key.address, *designation))
        addresses = {key.address for key in witness_keys}
        waiting = []
        next_before = 0
        if witness_keys:
            # One witness key: the contract leaves out what it may not attest. Several: the console filters.
            only = bytes.fromhex(witness_keys[0].address[2:]) if len(witness_keys) == 1 else None
            pending = await list_pending(contracts, before, only)
            next_before = pending.next_before
            waiting = [item for item in pending.records if is_awaiting_attestation(item, addresses)]
    except GusuError as error:
        return _unreachable(request, WITNESS_PAGE, "evidence.witness_title", error)
    is_admin = admin is not None and bytes_to_hex(admin) in {key.address for key in keys}
    sections = [f"<h1>{_e(message('evidence.witness_title'))}</h1>", _links(catalogue, is_admin), notice]
    if not witness_keys:
        sections.append(f'<p class="notice" id="evidence-not-witness">{_e(message("evidence.not_witness"))}</p>')
        return _render(request, WITNESS_PAGE, "".join(sections), status)
    sections.append(
        '<ul id="evidence-my-witnesses">'
        + "".join(
            f'<li><span class="mono">{_e(address)}</span> {_e(organization)} ({_e(_kind(catalogue, kind))})</li>'
            for address, organization, kind in designations
        )
        + "</ul>"
    )
    can_sign = is_allowed(viewer.user.role, "contracts.write")

    def attest_form(form_id: str, record_field: str) -> str:
        return (
            f'<form method="post" action="/evidence/witness/attest" class="evidence-attest" id="{form_id}">'
            + _csrf(viewer)
            + record_field
            + key_fields_html(request, witness_keys, form_id)
            + f'<button type="submit">{_e(message("evidence.attest"))}</button></form>'
        )

    sections.append(f"<h2>{_e(message('evidence.awaiting'))}</h2>")
    sections.append(f'<p class="hint">{_e(message("evidence.awaiting_hint", count=count))}</p>')
    if not waiting:
        sections.append(f'<p class="empty" id="evidence-awaiting-empty">{_e(message("evidence.awaiting_none"))}</p>')
    rows = []
    for item in waiting:
        record_id = format_record_number(item.number)
        action = ""
        if can_sign:
            hidden = f'<input type="hidden" name="record" value="{record_id}">'
            action = attest_form(f"evidence-attest-{item.number}", hidden)
        rows.append(
            f'<tr data-record="{record_id}"><td><a href="{PATH}?record={record_id}">{record_id}</a></td>'
            f"<td>{_e(item.description)}</td><td>{_e(item.organization or bytes_to_hex(item.submitter))}</td>"
            f"<td>{_e(_time(item.timestamp_ms))}</td><td>{_e(_status_text(catalogue, item, threshold))}</td>"
            f"<td>{action}</td></tr>"
        )
    if rows:
        headers = "".join(
            f"<th>{_e(message(key))}</th>"
            for key in ("evidence.record", "evidence.description", "evidence.submitter", "evidence.time",
                        "evidence.status", "evidence.actions")
        )  # fmt: skip
        sections.append(
            f'<table id="evidence-awaiting"><thead><tr>{headers}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        )
    pager = []
    if before:
        newest = message("evidence.page_newest")
        pager.append(f'<a id="evidence-awaiting-newest" href="/evidence/witness">{_e(newest)}</a>')
    if next_before:
        pager.append(
            f'<a id="evidence-awaiting-older" href="/evidence/witness?before={next_before}">'
            f"{_e(message('evidence.page_older'))}</a>"
        )
    if pager:
        sections.append(f'<p class="pager" id="evidence-awaiting-pager">{" · ".join(pager)}</p>')
    if can_sign:
        field = (
            f'<label for="evidence-attest-record">{_e(message("evidence.record_label"))}</label>'
            f'<input id="evidence-attest-record" name="record" maxlength="{RECORD_TEXT_LENGTH_MAX}" required>'
        )
        sections.append(f"<h2>{_e(message('evidence.attest_number'))}</h2>" + attest_form("evidence-attest-any", field))
    return _render(request, WITNESS_PAGE, "".join(sections), status)


@requires("contracts.read")
async def _witness_get(request: web.Request) -> web.StreamResponse:
    viewer = get_viewer(request)
    assert viewer is not None
    try:
        before = parse_before_field(request.query.get("before", ""))
    except AccessInputError as error:
        text = _catalogue(request).get_message(error.key, **error.params)
        return _page_error(request, WITNESS_PAGE, "evidence.witness_title", text, 400)
    return await _witness_page(request, viewer, before=before)


@requires("contracts.write")
async def _witness_attest(request: web.Request) -> web.StreamResponse:
    viewer = get_viewer(request)
    assert viewer is not None
    message = _catalogue(request).get_message
    try:
        form = await read_form(request, {})
        number = parse_record_field(form.get("record"))
        key = await unlock_key(request, viewer, form)
        sent = await send_transaction(request, key, CONTRACT_NAME, "attest", [number])
    except AccessInputError as error:
        await record(request, "contract.call", f"{CONTRACT_NAME}.attest", "refused")
        return await _witness_page(request, viewer, _notice(message(error.key, **error.params), False), 400)
    outcome = "ok" if sent.receipt.is_success else "failed"
    await record(request, "contract.call", f"{CONTRACT_NAME}.attest {sent.transaction_id}", outcome)
    if not sent.receipt.is_success:
        text = message("evidence.refused", reason=sent.receipt.error_message[:300])
        return await _witness_page(request, viewer, _notice(text, False), 400)
    text = message("evidence.attested", record=format_record_number(number), transaction=sent.transaction_id)
    return await _witness_page(request, viewer, _notice(text, True))


async def _admin_page(request: web.Request, viewer: Viewer, notice: str = "", status: int = 200) -> web.Response:
    catalogue = _catalogue(request)
    message = catalogue.get_message
    contracts = _contracts(request)
    try:
        if await contracts.get_instance(CONTRACT_NAME) is None:
            return _not_deployed(request, ADMIN_PAGE, "evidence.admin_title")
        admin, threshold, count = await get_settings(contracts)
        keys = await _key_addresses(request, viewer)
        admin_keys = [key for key in keys if admin is not None and key.address == bytes_to_hex(admin)]
        witnesses = [] if admin is None else await list_witnesses(get_client(request), contracts, admin)
    except GusuError as error:
        return _unreachable(request, ADMIN_PAGE, "evidence.admin_title", error)
    sections = [
        f"<h1>{_e(message('evidence.admin_title'))}</h1>",
        _links(catalogue, bool(admin_keys)),
        notice,
        '<dl class="fields">'
        + _row(message("evidence.admin_account"), "-" if admin is None else bytes_to_hex(admin), "evidence-admin", True)
        + _row(message("evidence.threshold"), str(threshold), "evidence-threshold")
        + _row(message("evidence.record_count"), str(count), "evidence-record-count")
        + "</dl>",
    ]
    if not admin_keys:
        sections.append(f'<p class="notice" id="evidence-not-admin">{_e(message("evidence.not_admin"))}</p>')
    can_sign = bool(admin_keys) and is_allowed(viewer.user.role, "contracts.write")
    rows = []
    for account, organization, kind in witnesses:
        address = bytes_to_hex(account)
        remove = ""
        if can_sign:
            form_id = f"evidence-remove-{address}"
            remove = (
                f'<form method="post" action="/evidence/admin" id="{form_id}">{_csrf(viewer)}'
                '<input type="hidden" name="action" value="remove_witness">'
                f'<input type="hidden" name="witness" value="{address}">'
                + key_fields_html(request, admin_keys, form_id)
                + f'<button type="submit">{_e(message("evidence.remove_witness"))}</button></form>'
            )
        rows.append(
            f'<tr><td class="mono">{address}</td><td>{_e(organization)}</td><td>{_e(_kind(catalogue, kind))}</td>'
            f"<td>{remove}</td></tr>"
        )
    sections.append(f"<h2>{_e(message('evidence.witnesses'))}</h2>")
    if rows:
        headers = "".join(
            f"<th>{_e(message(key))}</th>"
            for key in ("evidence.witness_account", "evidence.witness_org", "evidence.witness_kind", "evidence.actions")
        )
        sections.append(
            f'<table id="evidence-witness-list"><thead><tr>{headers}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        )
    else:
        sections.append(f'<p class="empty" id="evidence-witness-list">{_e(message("evidence.witness_list_none"))}</p>')
    if can_sign:
        kinds = "".join(f'<option value="{kind}">{_e(_kind(catalogue, kind))}</option>' for kind in WITNESS_KINDS)
        sections.append(
            f"<h2>{_e(message('evidence.add_witness'))}</h2>"
            f'<form method="post" action="/evidence/admin" class="stack" id="evidence-add-witness">{_csrf(viewer)}'
            '<input type="hidden" name="action" value="add_witness">'
            f'<label for="evidence-witness-address">{_e(message("evidence.witness_account"))}</label>'
            '<input id="evidence-witness-address" name="witness" class="mono" maxlength="42" required>'
            f'<label for="evidence-witness-organization">{_e(message("evidence.witness_org"))}</label>'
            f'<input id="evidence-witness-organization" name="organization" maxlength="{ORGANIZATION_LENGTH_MAX}" '
            "required>"
            f'<label for="evidence-witness-kind">{_e(message("evidence.witness_kind"))}</label>'
            f'<select id="evidence-witness-kind" name="kind">{kinds}</select>'
            + key_fields_html(request, admin_keys, "evidence-add-witness")
            + f'<button type="submit">{_e(message("evidence.add_witness"))}</button></form>'
            f"<h2>{_e(message('evidence.set_threshold'))}</h2>"
            f'<form method="post" action="/evidence/admin" class="stack" id="evidence-set-threshold">{_csrf(viewer)}'
            '<input type="hidden" name="action" value="set_threshold">'
            f'<label for="evidence-threshold-value">{_e(message("evidence.threshold"))}</label>'
            f'<input id="evidence-threshold-value" name="threshold" type="number" min="1" max="{THRESHOLD_MAX}" '
            f'value="{threshold}" required>'
            + key_fields_html(request, admin_keys, "evidence-set-threshold")
            + f'<button type="submit">{_e(message("evidence.set_threshold"))}</button></form>'
        )
    return _render(request, ADMIN_PAGE, "".join(sections), status)


@requires("contracts.read")
async def _admin_get(request: web.Request) -> web.StreamResponse:
    viewer = get_viewer(request)
    assert viewer is not None
    return await _admin_page(request, viewer)


def parse_admin_call(form_action: str, fields: dict[str, str]) -> list[Value]:
    """The arguments of an admin form's contract method (add_witness, remove_witness or set_threshold)."""
    if form_action == "add_witness":
        organization = fields.get("organization", "").strip()
        if not 1 <= len(organization) <= ORGANIZATION_LENGTH_MAX:
            raise AccessInputError("evidence.error.organization", "name the witness organisation")
        kind = fields.get("kind", "")
        if kind not in WITNESS_KINDS:
            raise AccessInputError("evidence.error.kind", "choose a witness kind")
        return [bytes(parse_address_field(fields.get("witness", ""))), organization, kind]
    if form_action == "remove_witness":
        return [bytes(parse_address_field(fields.get("witness", "")))]
    if form_action == "set_threshold":
        text = fields.get("threshold", "").strip()
        if not text.isascii() or not text.isdigit() or not 1 <= int(text[:3]) <= THRESHOLD_MAX or len(text) > 2:
            raise AccessInputError("evidence.error.threshold", "the threshold is 1 to 16", limit=THRESHOLD_MAX)
        return [int(text)]
    raise AccessInputError("error.form_invalid", "the form is malformed")


@requires("contracts.write")
async def _admin_post(request: web.Request) -> web.StreamResponse:
    viewer = get_viewer(request)
    assert viewer is not None
    message = _catalogue(request).get_message
    method = "admin"
    try:
        form = await read_form(request, {})
        method = form.get("action")[:20]
        args = parse_admin_call(method, form.fields)
        key = await unlock_key(request, viewer, form)
        sent = await send_transaction(request, key, CONTRACT_NAME, method, args)
    except AccessInputError as error:
        await record(request, "contract.call", f"{CONTRACT_NAME}.{method}", "refused")
        return await _admin_page(request, viewer, _notice(message(error.key, **error.params), False), 400)
    outcome = "ok" if sent.receipt.is_success else "failed"
    await record(request, "contract.call", f"{CONTRACT_NAME}.{method} {sent.transaction_id}", outcome)
    if not sent.receipt.is_success:
        text = message("evidence.refused", reason=sent.receipt.error_message[:300])
        return await _admin_page(request, viewer, _notice(text, False), 400)
    return await _admin_page(request, viewer, _notice(message("evidence.done", transaction=sent.transaction_id), True))


def parse_organization_field(text: str) -> str:
    """An organisation name from a query string ("" when absent); AccessInputError unless a governance
    organisation name (ORGANIZATION_PATTERN: 1 to 64 letters, digits, '.', '_' and '-')."""
    text = text.strip()[: ORGANIZATION_LENGTH_MAX + 1]
    if text and ORGANIZATION_PATTERN.fullmatch(text) is None:
        raise AccessInputError("evidence.error.organization", "not an organisation name", limit=ORGANIZATION_LENGTH_MAX)
    return text


def choose_organization(role: str, own: str | None, wanted: str) -> str | None:
    """The organisation whose records the viewer may list: `wanted`, or its own organisation when `wanted` is empty
    ("" when it has none: the page asks for one). None when it may not: a role outside ORGANIZATION_LIST_ROLES, or
    an organisation admin asking for another organisation (operator and auditor may list any)."""
    if role not in ORGANIZATION_LIST_ROLES:
        return None
    if role in ANY_ORGANIZATION_ROLES:
        return wanted or own or ""
    if not own or (wanted and wanted != own):
        return None
    return own


async def list_by_organization(contracts: AsyncContracts, organization: str, page: int) -> RecordPage:
    value = await contracts.view(CONTRACT_NAME, "list_by_organization", [organization, page, PAGE_SIZE_MAX])
    return parse_record_page(page, PAGE_SIZE_MAX, value)


@requires("contracts.read")
async def _organization_get(request: web.Request) -> web.StreamResponse:
    """An organisation's records, newest first, paged (`list_by_organization`): an organisation admin sees its own
    organisation's, the platform operator and the auditor any organisation's (403 otherwise)."""
    viewer = get_viewer(request)
    assert viewer is not None
    catalogue = _catalogue(request)
    message = catalogue.get_message
    try:
        page = parse_page_field(request.query.get("page", ""))
        wanted = parse_organization_field(request.query.get("organization", ""))
    except AccessInputError as error:
        return _page_error(request, ORG_PAGE, "evidence.org_title", message(error.key, **error.params), 400)
    organization = choose_organization(viewer.user.role, viewer.user.organisation, wanted)
    if organization is None:
        is_listing_role = viewer.user.role in ORGANIZATION_LIST_ROLES
        key = "evidence.error.org_other" if is_listing_role else "evidence.error.org_role"
        return _page_error(request, ORG_PAGE, "evidence.org_title", message(key), 403)
    contracts = _contracts(request)
    try:
        if await contracts.get_instance(CONTRACT_NAME) is None:
            return _not_deployed(request, ORG_PAGE, "evidence.org_title")
        _, threshold, count = await get_settings(contracts)
        found = await list_by_organization(contracts, organization, page) if organization else None
        indexed, _ = await get_index_status(contracts)
    except GusuError as error:
        return _unreachable(request, ORG_PAGE, "evidence.org_title", error)
    sections = [
        f"<h1>{_e(message('evidence.org_title'))}</h1>",
        _links(catalogue, False, viewer.user.role),
        f'<p class="hint">{_e(message("evidence.org_intro"))}</p>',
    ]
    if viewer.user.role in ANY_ORGANIZATION_ROLES:
        sections.append(
            f'<form method="get" action="{ORG_PATH}" id="evidence-org-form">'
            f'<label for="evidence-org-name">{_e(message("evidence.org_label"))}</label>'
            f'<input id="evidence-org-name" name="organization" maxlength="{ORGANIZATION_LENGTH_MAX}" '
            f'value="{_e(organization)}" required>'
            f'<button type="submit" id="evidence-org-show">{_e(message("evidence.list_show"))}</button></form>'
        )
    if found is None:
        sections.append(f'<p class="empty" id="evidence-org-choose">{_e(message("evidence.org_choose"))}</p>')
        return _render(request, ORG_PAGE, "".join(sections))
    sections.append(
        f'<p class="hint" id="evidence-org-total">'
        f"{_e(message('evidence.org_total', count=found.total, organization=organization))}</p>"
    )
    if indexed < count:
        sections.append(
            f'<p class="hint" id="evidence-index-behind">'
            f"{_e(message('evidence.index_behind', first=indexed + 1, last=count))}</p>"
        )
    sections.append(
        compute_records_html(catalogue, "evidence-org-records", list(found.records), threshold, by_submitter=True)
    )
    sections.append(compute_pager_html(catalogue, found, "", f"{ORG_PATH}?organization={organization}"))
    return _render(request, ORG_PAGE, "".join(sections))


def add_evidence_routes(app: web.Application) -> None:
    app.router.add_get(PATH, _verify_page)
    app.router.add_get("/evidence", _deposit_get)
    app.router.add_post("/evidence/submit", _deposit_post)
    app.router.add_get("/evidence/certificate", _certificate_get)
    app.router.add_get("/evidence/witness", _witness_get)
    app.router.add_post("/evidence/witness/attest", _witness_attest)
    app.router.add_get("/evidence/admin", _admin_get)
    app.router.add_get(ORG_PATH, _organization_get)
    app.router.add_post("/evidence/admin", _admin_post)
