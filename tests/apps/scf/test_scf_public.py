"""The public voucher check's pure parts: input, matching, what is revealed, the lookup limit, the proof's key."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from gusu.apps.scf.public import (
    PUBLIC_STATUSES,
    PublicClaim,
    TrustAnchor,
    compute_enterprise_key,
    compute_public_answer,
    compute_public_status,
    compute_voucher_key,
    is_claim_matching,
    parse_claim,
    parse_stored_enterprise_name,
    parse_stored_voucher,
    validate_public_proof,
)
from gusu.apps.scf.views import TradeDocuments, Voucher
from gusu.codec import encode
from gusu.console.app_evidence import ProofCheck
from gusu.console.app_scf_public import PUBLIC_STATUS_KEYS, LookupLimiter, LookupLimits, compute_answer_html
from gusu.console.i18n import load_catalogues
from gusu.console.settings import ConsoleSettings
from gusu.crypto import get_suite
from gusu.errors import ClientError, ConfigError, InvalidStateProofError
from gusu.ledger.smt import StateProof
from gusu.ledger.stateproof import CertifiedStateProof

VOUCHER = Voucher(
    voucher_id=12, root_id=3, parent_id=3, issuer="acme", holder="tier2", face_fen=300_000_00,
    available_fen=250_000_00, issue_ms=1_000, maturity_ms=1_767_196_800_000, status="held",
    documents=TradeDocuments(b"\x01" * 32, b"\x02" * 32, b"\x03" * 32), origin="transfer", maker=b"\x04" * 20,
    checker=b"\x05" * 20, created_ms=2_000, settled_ms=0,
)  # fmt: skip


def _record(voucher: Voucher) -> list[object]:
    return [voucher.voucher_id, voucher.root_id, voucher.parent_id, voucher.issuer, voucher.holder, voucher.face_fen,
            voucher.available_fen, voucher.issue_ms, voucher.maturity_ms, voucher.status,
            [voucher.documents.contract_hash, voucher.documents.invoice_hash, voucher.documents.delivery_hash],
            voucher.origin, voucher.maker, voucher.checker, voucher.created_ms, voucher.settled_ms]  # fmt: skip


def test_parse_claim_takes_yuan_and_refuses_what_is_not_a_voucher_number() -> None:
    assert parse_claim(" 12 ", "300,000.00", " Tier-2 ") == PublicClaim(12, 300_000_00, "Tier-2")
    assert parse_claim("12", "300000", "") == PublicClaim(12, 300_000_00, "")
    for voucher, face in (("0", "1"), ("-1", "1"), ("1e3", "1"), ("１２", "1"), ("1" * 19, "1"), ("12", "0.001"),
                          ("12", "abc"), ("12", "0")):  # fmt: skip
        with pytest.raises(ClientError):
            parse_claim(voucher, face, "")
    with pytest.raises(ClientError):
        parse_claim("12", "1", "x" * 129)


def test_keys_are_the_sandbox_map_keys() -> None:
    # Map("vouchers").set(12, ...) in the contract stores at m/vouchers/<canonical 12>.
    assert compute_voucher_key(12) == b"m/vouchers/" + encode(12)
    assert compute_enterprise_key("acme") == b"m/enterprises/" + encode("acme")
    with pytest.raises(ClientError):
        compute_voucher_key(0)


def test_a_match_needs_every_given_fact() -> None:
    claim = PublicClaim(12, 300_000_00, "")
    assert is_claim_matching(claim, VOUCHER, "")
    assert not is_claim_matching(claim, None, "")
    assert not is_claim_matching(dataclasses.replace(claim, face_fen=300_000_01), VOUCHER, "")
    assert not is_claim_matching(dataclasses.replace(claim, face_fen=250_000_00), VOUCHER, "")  # held, not face
    assert not is_claim_matching(dataclasses.replace(claim, voucher_id=13), VOUCHER, "")
    assert is_claim_matching(dataclasses.replace(claim, holder="TIER2"), VOUCHER, "")
    assert is_claim_matching(dataclasses.replace(claim, holder="Tier-2 Ltd"), VOUCHER, "Tier-2 Ltd")
    assert not is_claim_matching(dataclasses.replace(claim, holder="tier-2 ltd"), VOUCHER, "Tier-2 Ltd")
    assert not is_claim_matching(dataclasses.replace(claim, holder="tier1"), VOUCHER, "Tier-2 Ltd")
    assert not is_claim_matching(dataclasses.replace(claim, holder="x"), VOUCHER, "")


@pytest.mark.parametrize(
    ("status", "origin", "public"),
    [("review", "issue", None), ("cancelled", "issue", None), ("pending_accept", "issue", "pending_accept"),
     ("refused", "issue", "refused"), ("held", "issue", "accepted"), ("held", "transfer", "accepted"),
     ("held", "finance", "financed"), ("finance_pending", "finance", "financed"), ("settled", "split", "settled"),
     ("overdue", "issue", "overdue"), ("something-new", "issue", None)],
)  # fmt: skip
def test_public_status(status: str, origin: str, public: str | None) -> None:
    voucher = dataclasses.replace(VOUCHER, status=status, origin=origin)
    assert compute_public_status(voucher) == public
    assert public is None or public in PUBLIC_STATUSES
    # A draft never approved is no claim at all: even its exact facts answer "no match".
    assert is_claim_matching(PublicClaim(12, 300_000_00, ""), voucher, "") is (public is not None)


def test_stored_records_parse_from_their_canonical_bytes() -> None:
    assert parse_stored_voucher(encode(_record(VOUCHER))) == VOUCHER  # type: ignore[arg-type]
    with pytest.raises(ClientError):
        parse_stored_voucher(encode([1, 2, 3]))
    with pytest.raises(ClientError):
        parse_stored_voucher(b"\xc1")
    assert parse_stored_enterprise_name(encode(["苏州重工", "core", "active"])) == "苏州重工"
    assert parse_stored_enterprise_name(None) == ""
    assert parse_stored_enterprise_name(encode([1, 2])) == ""
    assert parse_stored_enterprise_name(b"\xc1") == ""


def test_the_answer_reveals_only_issuer_status_and_maturity() -> None:
    answer = compute_public_answer(VOUCHER, "<Acme> 重工")
    assert {field.name for field in dataclasses.fields(answer)} == {"issuer", "issuer_name", "status", "maturity_ms"}
    header = SimpleNamespace(height=5)  # the page reads only the proof's height and block hash
    proof = CertifiedStateProof("scf", compute_voucher_key(12), b"", StateProof((), None), header, b"\x07" * 32, None)  # type: ignore[arg-type]
    for language, catalogue in load_catalogues().items():
        page = compute_answer_html(catalogue, 12, answer, ProofCheck(proof, None, False))
        assert "&lt;Acme&gt; 重工" in page and "<Acme>" not in page  # chain text is escaped
        assert "2026-01-01" in page, language
        for hidden in ("tier2", "250,000", "300,000", "0x0101", "0x0404"):
            assert hidden not in page, (language, hidden)


def test_lookup_limiter_counts_per_address_in_a_window() -> None:
    limiter = LookupLimiter(LookupLimits(lookups_per_address_max=3, window_s=60, entries_max=2))
    assert [limiter.on_lookup("a", 0.0) for _ in range(4)] == [True, True, True, False]
    assert limiter.on_lookup("b", 1.0)  # another address has its own count
    assert not limiter.on_lookup("a", 59.0)  # refused lookups do not extend the lockout...
    assert limiter.on_lookup("a", 60.5)  # ...and the window slides
    limiter.on_lookup("c", 61.0)
    assert limiter.get_entry_count() == 2  # the least recently seen address is forgotten


def test_the_limit_is_a_validated_setting() -> None:
    assert ConsoleSettings().scf_verify_lookups_per_address_max == 20
    for bad in ({"scf_verify_lookups_per_address_max": 0}, {"scf_verify_window_s": 0.5},
                {"scf_verify_window_s": 2 * 24 * 3600.0}):  # fmt: skip
        with pytest.raises(ConfigError):
            ConsoleSettings(**bad)  # type: ignore[arg-type]


def test_a_proof_of_another_key_is_refused() -> None:
    suite = get_suite("sm")
    proof = CertifiedStateProof("scf", compute_voucher_key(13), None, StateProof((), None), None, b"\x07" * 32, None)  # type: ignore[arg-type]
    anchor = TrustAnchor(b"\x07" * 32, None)
    with pytest.raises(InvalidStateProofError, match="not the key asked for"):
        validate_public_proof(suite, proof, "scf", compute_voucher_key(12), anchor)
    with pytest.raises(InvalidStateProofError, match="not the key asked for"):
        validate_public_proof(suite, proof, "scf2", compute_voucher_key(13), anchor)


def test_every_public_status_has_its_message() -> None:
    assert tuple(PUBLIC_STATUS_KEYS) == PUBLIC_STATUSES
