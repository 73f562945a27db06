"""The evidence package for a court: one directory (and a zip of it) with everything needed to check a record.

Layout (`manifest.json` lists every other file with its size, SM3 and SHA-256):

    record.json                  the record as the proof shows it
    certificate.json / .pdf      the certificate (出证)
    proofs/state-proof.json      the state proof of the record at a certified block
    proofs/transaction-proof.json  the submitting transaction's inclusion in its block's transactions root
    proofs/receipt-proof.json      its receipt's inclusion in the receipts root
    chain/genesis.json           the chain's genesis (its validators anchor `verify-certificate --genesis`), if given
    chain/organizations.json     the consortium's organisations and their CA certificates (the certificate chain)
    chain/ca/<organisation>.pem  each organisation's CA certificate, PEM
    README.txt                   how to check the package offline
"""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gusu.apps.evidence.certificate import format_certificate
from gusu.apps.evidence.pdf import render_certificate_pdf
from gusu.crypto import get_suite
from gusu.errors import ClientError, GusuError
from gusu.ledger.jsonview import inclusion_proof_to_json
from gusu.sdk import Client, Governance

MANIFEST_FORMAT = "gusu.evidence.package.v1"
PACKAGE_FILES_MAX = 512
PEM_LINE_LENGTH = 64

README_TEXT = """Gusu Chain evidence package ({record_id})

Check it offline, without asking any node:

    gusu evidence verify-certificate certificate.json --file ORIGINAL_FILE --genesis chain/genesis.json
    gusu evidence verify-certificate certificate.json --file ORIGINAL_FILE --block-hash HASH

HASH is the hash of the block at the height the certificate's proof names, obtained from a source you
trust (another member's node, a court's own record). manifest.json lists the SM3 and SHA-256 of every file.
"""


@dataclass(frozen=True, slots=True)
class PackageResult:
    directory: Path
    archive: Path | None
    files: tuple[str, ...]


def _pem(der: bytes) -> str:
    body = base64.b64encode(der).decode("ascii")
    lines = [body[index : index + PEM_LINE_LENGTH] for index in range(0, len(body), PEM_LINE_LENGTH)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def _safe_name(name: str) -> str:
    cleaned = "".join(character if character.isalnum() or character in "-_." else "_" for character in name)
    return cleaned.strip(".") or "organization"


def _dump(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def export_package(
    client: Client,
    certificate: dict[str, Any],
    directory: Path,
    *,
    genesis_json: str | None = None,
    make_archive: bool = True,
) -> PackageResult:
    """Write the package of `certificate`'s record into `directory` (created; must be empty or new)."""
    if directory.exists() and any(directory.iterdir()):
        raise ClientError(f"{directory} is not empty; give a new directory for the evidence package")
    files: dict[str, bytes] = {}
    record = certificate["record"]
    files["record.json"] = _dump(record).encode()
    files["certificate.json"] = format_certificate(certificate).encode()
    files["certificate.pdf"] = render_certificate_pdf(certificate)
    files["proofs/state-proof.json"] = _dump(certificate["proof"]).encode()
    transaction_id = record["transaction_id"]
    transaction_proof = client.get_transaction_proof(transaction_id)
    files["proofs/transaction-proof.json"] = _dump(
        inclusion_proof_to_json(
            transaction_proof.header, transaction_proof.block_hash, transaction_proof.proof, "transactions_root"
        )
    ).encode()
    receipt_proof = client.get_receipt_proof(transaction_id)
    files["proofs/receipt-proof.json"] = _dump(
        inclusion_proof_to_json(receipt_proof.header, receipt_proof.block_hash, receipt_proof.proof, "receipts_root")
    ).encode()
    if genesis_json is not None:
        files["chain/genesis.json"] = genesis_json.encode()
    try:
        organizations = Governance(client).get_organizations()
    except GusuError:  # a chain without governance has no organisations to list
        organizations = []
    files["chain/organizations.json"] = _dump(
        [
            {
                "name": organization.name,
                "ca_certificate_sha256": hashlib.sha256(organization.ca_certificate).hexdigest(),
                "admins": ["0x" + admin.hex() for admin in organization.admins],
                "status": organization.status,
            }
            for organization in organizations
        ]
    ).encode()
    for organization in organizations:
        if organization.ca_certificate:
            files[f"chain/ca/{_safe_name(organization.name)}.pem"] = _pem(organization.ca_certificate).encode()
    files["README.txt"] = README_TEXT.format(record_id=certificate["record_id"]).encode()
    if len(files) > PACKAGE_FILES_MAX:
        raise ClientError(f"the package would hold more than {PACKAGE_FILES_MAX} files")
    sm3 = get_suite("sm")
    manifest = {
        "format": MANIFEST_FORMAT,
        "record_id": certificate["record_id"],
        "chain_id": certificate["chain_id"],
        "files": [
            {
                "path": path,
                "bytes": len(data),
                "sm3": "0x" + sm3.hash(data).hex(),
                "sha256": "0x" + hashlib.sha256(data).hexdigest(),
            }
            for path, data in sorted(files.items())
        ],
    }
    files["manifest.json"] = _dump(manifest).encode()
    for path, data in files.items():
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    archive: Path | None = None
    if make_archive:
        archive = directory.with_name(directory.name + ".zip")
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
            for path in sorted(files):
                bundle.writestr(f"{directory.name}/{path}", files[path])
    return PackageResult(directory, archive, tuple(sorted(files)))


def check_manifest(directory: Path) -> list[str]:
    """Problems found comparing the package's files with its manifest (empty: all files as listed)."""
    problems: list[str] = []
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    for entry in manifest["files"]:
        path = directory / entry["path"]
        if not path.is_file():
            problems.append(f"{entry['path']} is missing")
            continue
        if "0x" + hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]:
            problems.append(f"{entry['path']} differs from the manifest")
    return problems
