"""The evidence service's contract on the in-memory chain: the flow and every guard, hostile ones included."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from gusu.apps.evidence.records import (
    CONTRACT_NAME,
    DESCRIPTION_LENGTH_MAX,
    PAGE_SIZE_MAX,
    WITNESS_KINDS,
    compute_content_hashes,
    compute_metadata_hash,
    compute_record_key,
    load_contract_source,
    parse_record,
)
from gusu.codec import encode
from gusu.devkit import DevChain
from gusu.errors import GusuError, TransactionFailedError

C = CONTRACT_NAME
SOURCE = load_contract_source()
V1_SOURCE = (Path(__file__).parent / "data" / "contract_v1.py.src").read_text(encoding="utf-8")
"""The contract as first released (no index), to test the upgrade path."""
INDEX_BATCH_MAX = 100
PENDING_SCAN_MAX = 200
META = compute_metadata_hash({"title": "contract scan"})


@pytest.fixture
def chain() -> DevChain:
    chain = DevChain(accounts=("alice", "bob", "notary", "court", "notary2", "mallory"))
    chain.deploy(C, SOURCE, 2)
    chain.call(C, "add_witness", chain.address("notary"), "Suzhou Notary Office", "notary")
    chain.call(C, "add_witness", chain.address("notary2"), "Suzhou Notary Office", "notary")
    chain.call(C, "add_witness", chain.address("court"), "Suzhou Internet Court", "court")
    return chain


def _submit(chain: DevChain, content: bytes, sender: str = "alice", description: str = "") -> int:
    hashes = compute_content_hashes(content)
    value = chain.call(C, "submit", hashes.sm3, hashes.sha256, META, description, sender=sender).value
    assert isinstance(value, int)
    return value


def test_submit_records_hashes_submitter_organisation_block_and_transaction(chain: DevChain) -> None:
    hashes = compute_content_hashes(b"signed contract v1")
    result = chain.call(C, "submit", hashes.sm3, hashes.sha256, META, "lease")
    assert result.value == 1
    record = parse_record(1, chain.view(C, "get_record", 1))
    assert (record.sm3_hash, record.sha256_hash, record.metadata_hash) == (hashes.sm3, hashes.sha256, META)
    assert record.submitter == chain.address("alice")
    assert record.organization == "org0"  # alice is the dev chain's governance admin, of org0
    assert record.height == result.height and record.timestamp_ms == chain.time_ms
    assert len(record.transaction_id) == 32 and record.transaction_id != bytes(32)
    assert (record.supersedes, record.superseded_by, record.attestations, record.is_witnessed) == (0, 0, (), False)
    assert result.get_events("Submitted")[0].fields["record"] == 1
    assert chain.view(C, "find", hashes.sm3) == 1 and chain.view(C, "find", hashes.sha256) == 1
    # An account outside governance is recorded with no organisation.
    assert parse_record(2, chain.view(C, "get_record", _submit(chain, b"other", sender="bob"))).organization == ""


def test_a_duplicate_content_hash_returns_the_existing_record(chain: DevChain) -> None:
    assert _submit(chain, b"same") == 1
    result = chain.call(C, "submit", *_hashes(b"same"), META, "again", sender="bob")
    assert result.value == 1 and result.get_events("Submitted") == []
    assert chain.view(C, "get_settings")[2] == 1  # type: ignore[index]
    # Mixing one recorded hash with another content's hash is refused, not silently merged.
    other = compute_content_hashes(b"different")
    chain.expect_revert(C, "submit", _hashes(b"same")[0], other.sha256, META, "", match="different records")


def _hashes(content: bytes) -> tuple[bytes, bytes]:
    hashes = compute_content_hashes(content)
    return hashes.sm3, hashes.sha256


def test_salting_changes_the_hashes_and_the_same_salt_reproduces_them() -> None:
    plain = compute_content_hashes(b"13800138000")
    salted = compute_content_hashes(b"13800138000", b"\x07" * 16)
    assert plain.sm3 != salted.sm3 and plain.sha256 != salted.sha256
    assert compute_content_hashes(b"13800138000", b"\x07" * 16) == salted


def test_witness_attestations_reach_the_threshold(chain: DevChain) -> None:
    number = _submit(chain, b"evidence")
    result = chain.call(C, "attest", number, sender="notary")
    assert result.value == 1 and result.get_events("Witnessed") == []
    result = chain.call(C, "attest", number, sender="court")
    assert result.value == 2
    assert result.get_events("Witnessed")[0].fields == {"record": number, "attestations": 2, "threshold": 2}
    record = parse_record(number, chain.view(C, "get_record", number))
    assert record.witnessed_height == result.height
    assert [(item.organization, item.kind) for item in record.attestations] == [
        ("Suzhou Notary Office", "notary"),
        ("Suzhou Internet Court", "court"),
    ]


def test_hostile_attestations_are_refused(chain: DevChain) -> None:
    number = _submit(chain, b"evidence")
    chain.expect_revert(C, "attest", number, sender="mallory", match="not a designated witness")
    chain.call(C, "attest", number, sender="notary")
    chain.expect_revert(C, "attest", number, sender="notary", match="already attested")
    # A second account of the same witness organisation does not count twice.
    chain.expect_revert(C, "attest", number, sender="notary2", match="already attested")
    chain.expect_revert(C, "attest", 99, sender="court", match="no record 99")
    own = _submit(chain, b"court's own", sender="court")
    chain.expect_revert(C, "attest", own, sender="court", match="its own record")
    # A removed witness can no longer attest; its past attestation stays.
    chain.call(C, "remove_witness", chain.address("court"))
    chain.expect_revert(C, "attest", number, sender="court", match="not a designated witness")
    assert len(parse_record(number, chain.view(C, "get_record", number)).attestations) == 1


def test_only_the_admin_manages_witnesses_and_the_threshold(chain: DevChain) -> None:
    mallory = chain.address("mallory")
    chain.expect_revert(C, "add_witness", mallory, "Fake Notary", "notary", sender="mallory", match="only the")
    chain.expect_revert(C, "remove_witness", chain.address("notary"), sender="mallory", match="only the")
    chain.expect_revert(C, "set_threshold", 1, sender="mallory", match="only the")
    chain.expect_revert(C, "set_admin", mallory, sender="mallory", match="only the")
    chain.expect_revert(C, "add_witness", mallory, "X", "friend", match="witness kind")
    chain.expect_revert(C, "add_witness", mallory, "", "notary", match="1 to 64")
    chain.expect_revert(C, "add_witness", mallory, "x" * 65, "notary", match="1 to 64")
    chain.expect_revert(C, "set_threshold", 0, match="1 to 16")
    chain.expect_revert(C, "set_threshold", 17, match="1 to 16")
    chain.expect_revert(C, "remove_witness", mallory, match="not a witness")
    chain.call(C, "set_admin", chain.address("bob"))
    chain.expect_revert(C, "set_threshold", 1, match="only the")
    chain.call(C, "set_threshold", 1, sender="bob")
    assert chain.view(C, "get_settings")[:2] == [chain.address("bob"), 1]  # type: ignore[index]
    assert set(WITNESS_KINDS) == {"notary", "arbitration", "court", "forensic"}


def test_supersede_links_both_ways_and_never_deletes(chain: DevChain) -> None:
    first = _submit(chain, b"v1")
    result = chain.call(C, "supersede", first, *_hashes(b"v2"), META, "corrected")
    second = result.value
    assert second == 2 and result.get_events("Superseded")[0].fields["old_record"] == first
    old = parse_record(first, chain.view(C, "get_record", first))
    new = parse_record(2, chain.view(C, "get_record", 2))
    assert old.superseded_by == 2 and new.supersedes == first and old.sm3_hash == _hashes(b"v1")[0]
    assert chain.view(C, "get_latest", first) == 2
    assert chain.view(C, "find", _hashes(b"v1")[0]) == first  # the old content still finds its record


def test_hostile_supersedes_are_refused(chain: DevChain) -> None:
    first = _submit(chain, b"v1")
    forged = _hashes(b"forged")
    chain.expect_revert(C, "supersede", first, *forged, META, "", sender="mallory", match="only the record's")
    chain.expect_revert(C, "supersede", 42, *_hashes(b"x"), META, "", match="no record 42")
    chain.expect_revert(C, "supersede", first, *_hashes(b"v1"), META, "", match="already recorded")
    chain.call(C, "supersede", first, *_hashes(b"v2"), META, "")
    chain.expect_revert(C, "supersede", first, *_hashes(b"v3"), META, "", match="already superseded by record 2")


def test_oversized_and_malformed_fields_are_refused(chain: DevChain) -> None:
    sm3, sha = _hashes(b"x")
    chain.expect_revert(C, "submit", sm3, sha, META, "d" * (DESCRIPTION_LENGTH_MAX + 1), match="at most 256")
    chain.expect_revert(C, "submit", bytes(32), sha, META, "", match="all-zero")
    # Hash-typed parameters refuse anything but 32 bytes before the contract runs.
    result = chain.send(C, "submit", sm3 + b"\x00", sha, META, "")
    assert result.error_code == "arguments_invalid"
    result = chain.send(C, "submit", sm3, sha, b"\x01" * 31, "")
    assert result.error_code == "arguments_invalid"
    assert chain.view(C, "get_settings")[2] == 0  # type: ignore[index]


def test_setup_checks_its_threshold() -> None:
    chain = DevChain()
    with pytest.raises(TransactionFailedError, match="1 to 16"):
        chain.deploy(C, SOURCE, 0)
    chain.deploy(C, SOURCE, 1)
    assert chain.view(C, "get_settings") == [chain.address("alice"), 1, 0]


def test_the_record_key_is_the_sandbox_map_key(chain: DevChain) -> None:
    from gusu.execution import compute_state_key

    number = _submit(chain, b"keyed")
    assert compute_state_key(C, compute_record_key(number)) in chain.state.items


def test_the_client_and_contract_limits_agree() -> None:
    match = re.search(r"^DESCRIPTION_LENGTH_MAX = (\d+)$", SOURCE, re.MULTILINE)
    assert match is not None and int(match.group(1)) == DESCRIPTION_LENGTH_MAX


# --- the indexes: records by submitter and by organisation, the witness queue -----------------------------------


def _page(chain: DevChain, method: str, owner: bytes | str, page: int, size: int) -> tuple[int, list[int]]:
    value: Any = chain.view(C, method, owner, page, size)
    return value[0], [row[0] for row in value[1]]


def test_list_by_submitter_pages_newest_first_and_holds_only_that_submitters_records(chain: DevChain) -> None:
    alice, bob = chain.address("alice"), chain.address("bob")
    mine = [_submit(chain, f"alice {n}".encode()) for n in range(7)]
    theirs = [_submit(chain, f"bob {n}".encode(), sender="bob") for n in range(3)]
    assert _page(chain, "list_by_submitter", alice, 1, 3) == (7, mine[::-1][:3])
    assert _page(chain, "list_by_submitter", alice, 2, 3) == (7, mine[::-1][3:6])
    assert _page(chain, "list_by_submitter", alice, 3, 3) == (7, mine[:1])
    assert _page(chain, "list_by_submitter", alice, 4, 3) == (7, [])  # past the end: empty, not an error
    assert _page(chain, "list_by_submitter", bob, 1, PAGE_SIZE_MAX) == (3, theirs[::-1])
    assert _page(chain, "list_by_submitter", chain.address("mallory"), 1, 5) == (0, [])
    # The rows are the records themselves, so one view call fills a page of the console.
    value: Any = chain.view(C, "list_by_submitter", bob, 1, 1)
    assert parse_record(theirs[-1], value[1][0][1]).submitter == bob
    # A correction is the submitter's newest record; the duplicate of a recorded hash adds nothing.
    corrected = chain.call(C, "supersede", mine[0], *_hashes(b"alice corrected"), META, "").value
    chain.call(C, "submit", *_hashes(b"alice 3"), META, "again", sender="bob")
    assert _page(chain, "list_by_submitter", alice, 1, 1) == (8, [corrected])
    assert _page(chain, "list_by_submitter", bob, 1, 1)[0] == 3


def test_list_by_organization_holds_its_accounts_records(chain: DevChain) -> None:
    first = _submit(chain, b"org0 one")  # alice is org0's admin
    _submit(chain, b"bob, no organisation", sender="bob")
    second = _submit(chain, b"org0 two")
    assert _page(chain, "list_by_organization", "org0", 1, PAGE_SIZE_MAX) == (2, [second, first])
    assert _page(chain, "list_by_organization", "", 1, PAGE_SIZE_MAX) == (0, [])  # no index of the unaffiliated
    assert _page(chain, "list_by_organization", "nobody", 1, 5) == (0, [])


def test_hostile_pages_are_refused(chain: DevChain) -> None:
    alice = chain.address("alice")
    _submit(chain, b"one")
    for page, size, match in (
        (0, 5, "numbered from 1"),
        (-1, 5, "numbered from 1"),
        (1, 0, f"1 to {PAGE_SIZE_MAX}"),
        (1, PAGE_SIZE_MAX + 1, f"1 to {PAGE_SIZE_MAX}"),
        (1, 2**62, f"1 to {PAGE_SIZE_MAX}"),
    ):
        with pytest.raises(GusuError, match=match):
            chain.view(C, "list_by_submitter", alice, page, size)
        with pytest.raises(GusuError, match=match):
            chain.view(C, "list_by_organization", "org0", page, size)
    # A page far past the end costs nothing: it reads no record.
    assert _page(chain, "list_by_submitter", alice, 2**62, PAGE_SIZE_MAX) == (1, [])
    with pytest.raises(GusuError, match="at most 64"):
        chain.view(C, "list_by_organization", "o" * 65, 1, 1)
    with pytest.raises(GusuError, match=f"1 to {PAGE_SIZE_MAX}"):
        chain.view(C, "list_pending", 0, PAGE_SIZE_MAX + 1, None)
    with pytest.raises(GusuError, match="record number"):
        chain.view(C, "list_pending", -1, 1, None)
    with pytest.raises(GusuError, match="not a witness"):
        chain.view(C, "list_pending", 0, 1, chain.address("mallory"))
    # index_pending is bounded too.
    chain.expect_revert(C, "index_pending", 0, match="1 to 100")
    chain.expect_revert(C, "index_pending", 101, match="1 to 100")


def _pending(chain: DevChain, before: int, limit: int, witness: bytes | None = None) -> tuple[int, list[int]]:
    value: Any = chain.view(C, "list_pending", before, limit, witness)
    return value[0], [row[0] for row in value[1]]


def test_list_pending_pages_by_record_number_and_leaves_out_what_the_witness_may_not_attest(chain: DevChain) -> None:
    numbers = [_submit(chain, f"doc {n}".encode()) for n in range(5)]
    own = _submit(chain, b"the notary's own", sender="notary")
    chain.call(C, "attest", numbers[1], sender="notary")
    chain.call(C, "attest", numbers[1], sender="court")  # witnessed (threshold 2): off every queue
    chain.call(C, "attest", numbers[3], sender="notary2")  # the notary office attested: off its queue
    assert _pending(chain, 0, 2) == (numbers[4], [own, numbers[4]])
    assert _pending(chain, numbers[4], 2) == (numbers[2], [numbers[3], numbers[2]])
    assert _pending(chain, numbers[2], 2) == (0, [numbers[0]])
    assert _pending(chain, 0, PAGE_SIZE_MAX, chain.address("notary"))[1] == [numbers[4], numbers[2], numbers[0]]
    court = _pending(chain, 0, PAGE_SIZE_MAX, chain.address("court"))
    assert court == (0, [own, numbers[4], numbers[3], numbers[2], numbers[0]])


def test_list_pending_scans_a_bounded_number_of_records_per_page(chain: DevChain) -> None:
    chain.call(C, "set_threshold", 1)
    first = _submit(chain, b"old and pending")
    for n in range(PENDING_SCAN_MAX + 5):
        chain.call(C, "attest", _submit(chain, f"witnessed {n}".encode()), sender="notary")
    next_before, page = _pending(chain, 0, PAGE_SIZE_MAX)
    assert page == [] and next_before == first + 6  # 200 records looked at: 206 down to 7
    assert _pending(chain, next_before, PAGE_SIZE_MAX) == (0, [first])


def test_an_upgrade_from_the_first_version_keeps_the_records_and_indexes_them() -> None:
    chain = DevChain(accounts=("alice", "bob", "mallory"))
    chain.deploy(C, V1_SOURCE, 2)
    old = [_submit(chain, f"old {n}".encode(), sender="bob") for n in range(INDEX_BATCH_MAX + 3)]
    # Only the admin may upgrade (the deployer, alice, owns it; the migration checks the service's admin).
    chain.upgrade(C, SOURCE, 0)
    assert chain.view(C, "get_settings")[:3] == [chain.address("alice"), 2, len(old)]  # type: ignore[index]
    assert chain.view(C, "get_index_status") == [INDEX_BATCH_MAX, len(old)]
    bob = chain.address("bob")
    total, page = _page(chain, "list_by_submitter", bob, 1, 2)
    assert total == INDEX_BATCH_MAX and page == [INDEX_BATCH_MAX, INDEX_BATCH_MAX - 1]
    # The next submission catches the rest up before its own record, so the order stays newest first.
    new = _submit(chain, b"new", sender="bob")
    assert chain.view(C, "get_index_status") == [new, new]
    assert _page(chain, "list_by_submitter", bob, 1, 2) == (new, [new, old[-1]])
    assert parse_record(old[0], chain.view(C, "get_record", old[0])).submitter == bob
    assert chain.call(C, "index_pending", 5).value == 0


def test_index_pending_catches_up_in_number_order() -> None:
    chain = DevChain(accounts=("alice", "bob"))
    chain.deploy(C, V1_SOURCE, 1)
    for n in range(INDEX_BATCH_MAX + 20):
        _submit(chain, f"old {n}".encode(), sender="bob" if n % 2 else "alice")
    chain.upgrade(C, SOURCE, 3)
    assert chain.view(C, "get_settings")[1] == 3  # type: ignore[index]
    assert chain.call(C, "index_pending", 50, sender="bob").value == 20
    assert chain.view(C, "get_index_status") == [INDEX_BATCH_MAX + 20] * 2
    total, page = _page(chain, "list_by_submitter", chain.address("bob"), 1, 3)
    newest = INDEX_BATCH_MAX + 20
    assert total == newest // 2 and page == [newest, newest - 2, newest - 4]


def test_an_upgrade_by_anyone_but_the_admin_is_refused() -> None:
    chain = DevChain(accounts=("alice", "bob"))
    chain.deploy(C, V1_SOURCE, 1)
    with pytest.raises(TransactionFailedError, match="0 \\(keep\\) to 16"):
        chain.upgrade(C, SOURCE, 17)
    # The contract's owner (its deployer) is no longer the service's admin: the migration refuses.
    chain.call(C, "set_admin", chain.address("bob"))
    with pytest.raises(TransactionFailedError, match="only the evidence service's admin may upgrade"):
        chain.upgrade(C, SOURCE, 0)


def test_the_page_limits_agree() -> None:
    match = re.search(r"^PAGE_SIZE_MAX = (\d+)$", SOURCE, re.MULTILINE)
    assert match is not None and int(match.group(1)) == PAGE_SIZE_MAX


def test_a_full_page_of_the_largest_records_fits_the_return_limit() -> None:
    """PAGE_SIZE_MAX records, each as large as the contract lets it be, in one view answer (64 KiB at most)."""
    witnesses = [f"w{n}" for n in range(16)]
    chain = DevChain(accounts=("alice", *witnesses))
    chain.deploy(C, SOURCE, 16)
    for n, name in enumerate(witnesses):
        organization = chr(0x1F600 + n) * 64  # 64 four-byte characters, a distinct organisation each
        chain.call(C, "add_witness", chain.address(name), organization, "arbitration")
    description = "\U0001f4dc" * DESCRIPTION_LENGTH_MAX
    numbers = [_submit(chain, f"large {n}".encode(), description=description) for n in range(PAGE_SIZE_MAX)]
    for number in numbers:
        for name in witnesses:
            chain.call(C, "attest", number, sender=name)
    value: Any = chain.view(C, "list_by_submitter", chain.address("alice"), 1, PAGE_SIZE_MAX)
    assert [row[0] for row in value[1]] == numbers[::-1]
    assert all(len(parse_record(row[0], row[1]).attestations) == 16 for row in value[1])
    size = len(encode(value))
    assert size // PAGE_SIZE_MAX > 5_500 and size <= 64 * 1024 * 8 // 10, size  # the largest records, 20% to spare
    pending: Any = chain.view(C, "list_pending", 0, PAGE_SIZE_MAX, None)
    assert pending == [0, []]
