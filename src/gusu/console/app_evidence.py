"""The evidence service's public verification page (核验, no login): /evidence/verify?record=EV-00000001.

The server reads the record with its state proof from the node and checks the proof: the value leads to
the block's state root, the header hashes to the block hash, and the block's commit certificate carries a
quorum of the validators the node names. The page shows the record, its witnesses and its supersession
links. The visitor's file never leaves the browser: static/evidence-verify.js hashes it (SM3 with hash.js,
SHA-256 with WebCrypto where the browser offers it, each after the salt if one is given) and compares the
hashes with the record's. The certificate's QR code opens this page.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from aiohttp import web

from gusu.apps.evidence.records import (
    CONTRACT_NAME,
    SALT_BYTES_MAX,
    EvidenceRecord,
    compute_record_key,
    format_record_number,
    parse_record_number,
    parse_stored_record,
)
from gusu.console.accounts import _catalogue, _render
from gusu.console.chains import get_client
from gusu.console.i18n import Catalogue
from gusu.crypto import get_suite
from gusu.errors import ClientError, GusuError, InvalidStateProofError
from gusu.ledger.genesis import GenesisValidator
from gusu.ledger.stateproof import (
    CertifiedStateProof,
    validate_certified_state_proof,
    validate_state_proof_in_block,
)
from gusu.ledger.types import Address
from gusu.sdk import AsyncClient

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


def add_evidence_routes(app: web.Application) -> None:
    app.router.add_get(PATH, _verify_page)
