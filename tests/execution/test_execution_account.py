"""The account contract: transfers, minting, views; conservation against a dict model."""

from __future__ import annotations

from execution_helpers import (
    ALICE,
    ALICE_FUNDS,
    ALICE_KEY,
    BOB,
    BOB_KEY,
    CAROL,
    CAROL_KEY,
    Chain,
    get_event_data,
    make_genesis,
    make_transaction,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from gusu.codec import encode
from gusu.codec.canonical import UINT_MAX
from gusu.execution import compute_state_key
from gusu.ledger.types import Address


def test_genesis_allocations_become_balances() -> None:
    chain = Chain.create(genesis=make_genesis(allocations=((ALICE, 5), (BOB, 7))))
    assert chain.get_balance(ALICE) == 5
    assert chain.get_balance(BOB) == 7
    assert chain.get_balance(CAROL) == 0
    assert chain.view("account", "total_supply") == 12
    assert chain.view("account", "is_admin", ALICE) is True
    assert chain.view("account", "is_admin", BOB) is False


def test_transfer_moves_funds_and_emits_transfer() -> None:
    chain = Chain.create()
    receipt = chain.run(make_transaction("account", "transfer", [BOB, 300]))
    assert receipt.is_success, receipt.error_message
    assert get_event_data(receipt) == [("Transfer", [ALICE, BOB, 300])]
    assert receipt.events[0].contract == "account"
    assert chain.get_balance(ALICE) == ALICE_FUNDS - 300
    assert chain.get_balance(BOB) == 300


def test_transfer_gas_is_what_the_schedule_says() -> None:
    # The worked example of docs/contracts.md; keep the two in step.
    chain = Chain.create()
    receipt = chain.run(make_transaction("account", "transfer", [BOB, 300]))
    key_bytes = len(b"balance/") + 20
    expected = (
        2_000
        + 2 * len(encode([BOB, 300]))  # the transaction and its 26 bytes of args
        + 200
        + 1 * len(encode(ALICE_FUNDS))  # read Alice's balance (5 bytes)
        + 200  # read Bob's balance: absent
        + 1_000
        + 10 * (key_bytes + len(encode(ALICE_FUNDS - 300)))  # write Alice's
        + 1_000
        + 10 * (key_bytes + len(encode(300)))  # write Bob's
        + 500
        + 5 * (len("Transfer") + len(encode([ALICE, BOB, 300])))  # the event
        + 2 * len(encode(None))  # the return value
    )
    assert expected == 5_879
    assert receipt.gas_used == expected


def test_transfer_of_everything_deletes_the_balance_key() -> None:
    chain = Chain.create()
    result = chain.run_block(make_transaction("account", "transfer", [BOB, ALICE_FUNDS]))
    assert (compute_state_key("account", b"balance/" + ALICE), None) in result.writes
    assert chain.get_balance(ALICE) == 0


def test_insufficient_balance_reverts_with_a_clear_message() -> None:
    chain = Chain.create()
    receipt = chain.run(make_transaction("account", "transfer", [ALICE, 1], sender=BOB_KEY))
    assert receipt.error_code == "reverted"
    assert receipt.error_message == f"insufficient balance: 0x{BOB.hex()} holds 0, the transfer needs 1"


def test_amounts_must_be_positive_64_bit() -> None:
    chain = Chain.create()
    # Above 2**64 - 1 cannot even be encoded; negative numbers can.
    for amount in (0, -1, -(2**63)):
        receipt = chain.run(make_transaction("account", "transfer", [BOB, amount]))
        assert receipt.error_code == "arguments_invalid", amount
        assert "amount must be between 1 and 18446744073709551615" in receipt.error_message
    assert chain.run(make_transaction("account", "transfer", [BOB, UINT_MAX])).error_code == "reverted"


def test_transfer_to_oneself_keeps_the_balance() -> None:
    chain = Chain.create()
    receipt = chain.run(make_transaction("account", "transfer", [ALICE, 10]))
    assert receipt.is_success
    assert chain.get_balance(ALICE) == ALICE_FUNDS
    assert chain.run(make_transaction("account", "transfer", [ALICE, ALICE_FUNDS + 1])).error_code == "reverted"


def test_only_a_genesis_admin_may_mint() -> None:
    chain = Chain.create()
    refused = chain.run(make_transaction("account", "mint", [BOB, 5], sender=BOB_KEY))
    assert refused.error_code == "reverted"
    assert refused.error_message == f"only a genesis admin may mint, and 0x{BOB.hex()} is not one"
    minted = chain.run(make_transaction("account", "mint", [BOB, 5], sender=ALICE_KEY))
    assert minted.is_success
    assert get_event_data(minted) == [("Mint", [BOB, 5])]
    assert chain.get_balance(BOB) == 5
    assert chain.view("account", "total_supply") == ALICE_FUNDS + 5


def test_mint_cannot_overflow_the_supply() -> None:
    chain = Chain.create(genesis=make_genesis(allocations=((ALICE, UINT_MAX - 10),)))
    assert chain.run(make_transaction("account", "mint", [BOB, 10])).is_success
    receipt = chain.run(make_transaction("account", "mint", [BOB, 1]))
    assert receipt.error_code == "reverted"
    assert "above 18446744073709551615" in receipt.error_message
    assert chain.view("account", "total_supply") == UINT_MAX


# --- a random walk checked against a dict ------------------------------------------------------

KEYS = {ALICE: ALICE_KEY, BOB: BOB_KEY, CAROL: CAROL_KEY}
PEOPLE = [ALICE, BOB, CAROL]

transfers = st.lists(
    st.tuples(st.sampled_from(PEOPLE), st.sampled_from(PEOPLE), st.integers(min_value=-5, max_value=400)),
    max_size=40,
)
block_sizes = st.lists(st.integers(min_value=1, max_value=8), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(transfers, block_sizes)
def test_random_transfers_match_a_dict_model_and_conserve_supply(
    moves: list[tuple[Address, Address, int]], sizes: list[int]
) -> None:
    chain = Chain.create(genesis=make_genesis(allocations=((ALICE, 1_000), (BOB, 200))))
    model = {ALICE: 1_000, BOB: 200, CAROL: 0}
    position = 0
    block_index = 0
    while position < len(moves):
        size = sizes[block_index % len(sizes)]
        block_moves = moves[position : position + size]
        position += size
        block_index += 1
        result = chain.run_block(
            *(
                make_transaction("account", "transfer", [to, amount], sender=KEYS[sender])
                for sender, to, amount in block_moves
            )
        )
        for (sender, to, amount), receipt in zip(block_moves, result.receipts, strict=True):
            valid = 1 <= amount <= model[sender]
            assert receipt.is_success == valid, (sender.hex(), amount, receipt.error_message)
            if valid:
                model[sender] -= amount
                model[to] += amount
    for person in PEOPLE:
        assert chain.get_balance(person) == model[person]
    assert sum(chain.get_balance(person) for person in PEOPLE) == 1_200
    assert chain.view("account", "total_supply") == 1_200
