"""The evidence console pages' form parsing (hostile input refused before anything is signed) and the witness
queue's rule, without a node."""

from __future__ import annotations

import pytest

from gusu.apps.evidence.records import Attestation, EvidenceRecord
from gusu.console.access import AccessInputError
from gusu.console.app_evidence import (
    choose_organization,
    choose_submitter,
    is_awaiting_attestation,
    parse_address_field,
    parse_admin_call,
    parse_before_field,
    parse_hash_field,
    parse_metadata,
    parse_organization_field,
    parse_page_field,
    parse_record_field,
    parse_salt_field,
)
from gusu.console.store import StoredKey
from gusu.ledger.types import Address, Hash, Height

WITNESS = Address(b"\x11" * 20)
OTHER_WITNESS = Address(b"\x22" * 20)
SUBMITTER = Address(b"\x33" * 20)


def _record(attested_by: list[Address], witnessed: bool = False, submitter: Address = SUBMITTER) -> EvidenceRecord:
    attestations = tuple(Attestation("org", "notary", account, Height(5), 0) for account in attested_by)
    return EvidenceRecord(
        1, Hash(b"\x01" * 32), Hash(b"\x02" * 32), Hash(b"\x03" * 32), submitter, "", Height(3), 0,
        Hash(b"\x04" * 32), "", 0, 0, attestations, Height(6 if witnessed else 0),
    )  # fmt: skip


def test_the_witness_queue_holds_records_this_witness_may_still_attest() -> None:
    mine = {"0x" + bytes(WITNESS).hex()}
    assert is_awaiting_attestation(_record([]), mine)
    assert is_awaiting_attestation(_record([OTHER_WITNESS]), mine)
    assert not is_awaiting_attestation(_record([WITNESS]), mine), "already attested by this witness"
    assert not is_awaiting_attestation(_record([OTHER_WITNESS], witnessed=True), mine), "threshold reached"
    assert not is_awaiting_attestation(_record([], submitter=WITNESS), mine), "its own record"
    both = mine | {"0x" + bytes(OTHER_WITNESS).hex()}
    assert is_awaiting_attestation(_record([WITNESS]), both), "the user's other witness key may still attest"


def test_hashes_salt_and_record_numbers_are_checked() -> None:
    assert parse_hash_field(" 0x" + "ab" * 32 + " ") == Hash(b"\xab" * 32)
    for hostile in ("", "0x", "ab" * 32, "0x" + "ab" * 31, "0x" + "ab" * 33, "0x" + "zz" * 32):
        with pytest.raises(AccessInputError):
            parse_hash_field(hostile)
    assert parse_salt_field("") == b""
    assert parse_salt_field("0x00ff") == b"\x00\xff"
    for hostile in ("00ff", "0xzz", "0x" + "00" * 65):
        with pytest.raises(AccessInputError):
            parse_salt_field(hostile)
    assert parse_record_field("EV-00000012") == 12 and parse_record_field("12") == 12
    for hostile in ("", "EV-0", "-1", "EV-x", "9" * 40):
        with pytest.raises(AccessInputError):
            parse_record_field(hostile)


def test_metadata_lines() -> None:
    assert parse_metadata("title = lease\n\nauthor=alice=bob\n") == {"title": "lease", "author": "alice=bob"}
    for hostile in ("no separator", "=value", "\n".join(f"k{index}=v" for index in range(33))):
        with pytest.raises(AccessInputError):
            parse_metadata(hostile)


def test_admin_forms() -> None:
    address = "0x" + "11" * 20
    assert parse_admin_call("add_witness", {"witness": address, "organization": " 公证处 ", "kind": "court"}) == [
        b"\x11" * 20,
        "公证处",
        "court",
    ]
    assert parse_admin_call("remove_witness", {"witness": address.upper().replace("0X", "0x")}) == [b"\x11" * 20]
    assert parse_admin_call("set_threshold", {"threshold": "16"}) == [16]
    hostile = [
        ("add_witness", {"witness": address, "organization": "", "kind": "court"}),
        ("add_witness", {"witness": address, "organization": "x" * 65, "kind": "court"}),
        ("add_witness", {"witness": address, "organization": "org", "kind": "judge"}),
        ("add_witness", {"witness": "0x11", "organization": "org", "kind": "court"}),
        ("set_threshold", {"threshold": "0"}),
        ("set_threshold", {"threshold": "17"}),
        ("set_threshold", {"threshold": "1" * 30}),
        ("set_threshold", {"threshold": "²"}),
        ("set_admin", {"admin": address}),
    ]
    for action, fields in hostile:
        with pytest.raises(AccessInputError):
            parse_admin_call(action, fields)
    with pytest.raises(AccessInputError):
        parse_address_field("0x" + "gg" * 20)


def test_list_pages_and_the_listed_account_are_checked() -> None:
    assert parse_page_field("") == 1 and parse_page_field(" 3 ") == 3 and parse_page_field("1000000") == 1_000_000
    for text in ("0", "-1", "x", "1000001", "99999999999999999999", "３"):
        with pytest.raises(AccessInputError):
            parse_page_field(text)
    assert parse_before_field("") == 0 and parse_before_field("17") == 17
    for text in ("-1", "x", "9" * 20):
        with pytest.raises(AccessInputError):
            parse_before_field(text)
    keys = [StoredKey(1, "0x" + "aa" * 20, "sm", "{}", 0), StoredKey(1, "0x" + "bb" * 20, "sm", "{}", 0)]
    assert choose_submitter(keys, "") == "0x" + "aa" * 20, "the first key by default"
    assert choose_submitter(keys, "0x" + "BB" * 20) == "0x" + "bb" * 20
    assert choose_submitter(keys, "0x" + "cc" * 20) is None, "another account's records are not listed"
    assert choose_submitter([], "") == "" and choose_submitter([], "0x" + "aa" * 20) is None


def test_who_may_list_an_organisations_records() -> None:
    # An organisation admin: its own organisation only (the default when none is asked for).
    assert choose_organization("org_admin", "org0", "") == "org0"
    assert choose_organization("org_admin", "org0", "org0") == "org0"
    assert choose_organization("org_admin", "org0", "org1") is None, "another organisation's records"
    assert choose_organization("org_admin", None, "") is None, "an admin bound to no organisation"
    assert choose_organization("org_admin", None, "org1") is None
    # The platform operator and the auditor: any organisation; the page asks for one when none is given.
    for role in ("operator", "auditor"):
        assert choose_organization(role, None, "org1") == "org1"
        assert choose_organization(role, "org0", "org1") == "org1"
        assert choose_organization(role, None, "") == ""
    # A developer (or any other role) lists no organisation's records.
    assert choose_organization("developer", "org0", "org0") is None
    assert choose_organization("developer", "org0", "") is None


def test_organisation_names_are_checked() -> None:
    assert parse_organization_field("") == ""
    assert parse_organization_field(" org0 ") == "org0"
    assert parse_organization_field("a" * 64) == "a" * 64
    for hostile in ("a" * 65, "org 0", "-org", "机构", "org0/../x", "<b>"):
        with pytest.raises(AccessInputError):
            parse_organization_field(hostile)
