"""Ethereum transactions in blocks (gusu.node.blocks): the kind-tagged item is re-decoded with its
sender recovered, only on ecdsa chains; malformed items, replays and duplicates make a block invalid."""

from __future__ import annotations

# py-evm's import raises the process's recursion limit (py_ecc); gusu.execution.evm imports it first and
# restores the limit, which later tests (the sandbox's) rely on.
import gusu.execution.evm  # noqa: F401

# isort: split
import pytest
from eth.vm.forks.cancun.transactions import CancunTransactionBuilder
from eth_keys import keys

from gusu.codec import encode
from gusu.crypto import get_suite
from gusu.errors import CodecError, InvalidBlockError
from gusu.ledger.ethtx import (
    TAG_ETH_TRANSACTION,
    EthTransaction,
    decode_block_item,
    decode_eth_block_item,
    encode_eth_block_item,
    is_eth_block_item,
)
from gusu.ledger.types import (
    ZERO_HASH,
    Address,
    BlockHeader,
    Hash,
    Height,
    Transaction,
    encode_transaction,
)
from gusu.node.blocks import BlockRules, decode_block_transaction, validate_block_body

KEY = keys.PrivateKey(bytes([3]) * 32)
HEIGHT = Height(5)


def _rules(suite: str) -> BlockRules:
    return BlockRules(
        chain_id="gusu-test",
        suite=get_suite(suite),
        block_transactions_max=100,
        block_bytes_max=1 << 20,
        transaction_window_blocks=10,
        validators=frozenset(),
        height=HEIGHT,
        validators_hash=ZERO_HASH,
        next_validators_hash=ZERO_HASH,
    )


def _raw(nonce: int = 0, chain_id: int = 77) -> bytes:
    raw: bytes = (
        CancunTransactionBuilder.new_unsigned_dynamic_fee_transaction(
            chain_id, nonce, 0, 0, 21_000, bytes(20), 1, b"", ()
        )
        .as_signed_transaction(KEY)
        .encode()
    )
    return raw


def _header(count: int) -> BlockHeader:
    return BlockHeader(
        "gusu-test", HEIGHT, ZERO_HASH, 1, Address(bytes(20)), ZERO_HASH, ZERO_HASH, ZERO_HASH, ZERO_HASH, ZERO_HASH,
        count,
    )  # fmt: skip


def test_an_item_is_re_decoded_and_its_sender_recovered() -> None:
    raw = _raw()
    item = encode_eth_block_item(raw)
    assert is_eth_block_item(item) and decode_eth_block_item(item) == raw
    entry = decode_block_transaction(_rules("ecdsa"), HEIGHT, 0, item)
    transaction = entry.transaction
    assert isinstance(transaction, EthTransaction)
    assert entry.sender == KEY.public_key.to_canonical_address() == transaction.sender
    assert entry.transaction_id == transaction.transaction_hash and entry.raw == item
    # Any chain id decodes here; the executor refuses another chain's (its receipt fails with eth_invalid).
    assert isinstance(decode_block_item(encode_eth_block_item(_raw(chain_id=78))), EthTransaction)


def test_gusu_transactions_keep_their_encoding() -> None:
    transaction = Transaction("gusu-test", 1, Height(9), b"\x02" * 33, "account", "transfer", encode([]), bytes(64))
    encoded = encode_transaction(transaction)
    assert not is_eth_block_item(encoded) and decode_block_item(encoded) == transaction


def test_an_sm_chain_takes_no_ethereum_item() -> None:
    with pytest.raises(InvalidBlockError, match="takes none"):
        decode_block_transaction(_rules("sm"), HEIGHT, 0, encode_eth_block_item(_raw()))


@pytest.mark.parametrize(
    "item",
    [
        encode([TAG_ETH_TRANSACTION, b"\x02\xc0"]),  # not a transaction
        encode([TAG_ETH_TRANSACTION, _raw(), b""]),  # an extra field
        encode([TAG_ETH_TRANSACTION, "text"]),  # not bytes
        encode_eth_block_item(_raw())[:-1],  # truncated
        encode_eth_block_item(_raw()) + b"\x00",  # trailing byte
    ],
)
def test_malformed_items_make_the_block_invalid(item: bytes) -> None:
    with pytest.raises(InvalidBlockError, match="malformed"):
        decode_block_transaction(_rules("ecdsa"), HEIGHT, 0, item)


def test_malformed_item_is_a_codec_error_for_readers() -> None:
    with pytest.raises(CodecError):
        decode_eth_block_item(encode([TAG_ETH_TRANSACTION, _raw(), b""]))


def test_replay_and_duplicate_make_the_block_invalid() -> None:
    rules = _rules("ecdsa")
    entry = decode_block_transaction(rules, HEIGHT, 0, encode_eth_block_item(_raw()))
    validate_block_body(rules, _header(1), [entry], lambda _: False)  # no validity window to check
    with pytest.raises(InvalidBlockError, match="already committed"):
        validate_block_body(rules, _header(1), [entry], lambda transaction_id: transaction_id == entry.transaction_id)
    with pytest.raises(InvalidBlockError, match="twice"):
        validate_block_body(rules, _header(2), [entry, entry], lambda _: False)
    assert entry.transaction_id != Hash(bytes(32))


def test_gusu_json_views_show_an_ethereum_transaction() -> None:
    from gusu.ledger.jsonview import transaction_to_json

    entry = decode_block_transaction(_rules("ecdsa"), HEIGHT, 0, encode_eth_block_item(_raw(nonce=4)))
    view = transaction_to_json(entry.transaction, entry.transaction_id, entry.sender)
    assert view["kind"] == "ethereum" and view["nonce"] == 4 and view["type"] == 2
    assert view["id"] == "0x" + entry.transaction_id.hex() and view["raw"] == "0x" + _raw(nonce=4).hex()
    assert view["sender"] == "0x" + entry.sender.hex() and view["to"] == "0x" + "00" * 20
    assert (view["value"], view["gas_limit"], view["data"]) == ("1", 21_000, "0x")


def test_readers_parse_an_ethereum_transaction_from_its_raw_bytes_and_refuse_a_view_that_disagrees() -> None:
    from gusu.ledger.jsonview import (
        any_transaction_from_json,
        block_from_json,
        block_to_json,
        eth_transaction_from_json,
        transaction_to_json,
    )

    entry = decode_block_transaction(_rules("ecdsa"), HEIGHT, 0, encode_eth_block_item(_raw(nonce=4)))
    view = transaction_to_json(entry.transaction, entry.transaction_id, entry.sender)
    parsed, transaction_id, sender = any_transaction_from_json(view)
    assert parsed == entry.transaction and transaction_id == entry.transaction_id and sender == entry.sender
    assert eth_transaction_from_json({**view, "id": str(view["id"]).upper().replace("0X", "0x")})[0] == parsed
    assert eth_transaction_from_json({**view, "newer_field": 1})[0] == parsed  # unknown fields are ignored
    for key, wrong in (("sender", "0x" + "11" * 20), ("value", "2"), ("nonce", 5), ("id", "0x" + "00" * 32),
                       ("to", None), ("gas_limit", 1)):  # fmt: skip
        with pytest.raises(CodecError, match=key):
            eth_transaction_from_json({**view, key: wrong})
    with pytest.raises(CodecError, match="does not decode"):
        eth_transaction_from_json({**view, "raw": "0x02c0"})
    with pytest.raises(CodecError, match="raw"):
        eth_transaction_from_json({key: value for key, value in view.items() if key != "raw"})
    # A full block mixing both kinds reads back entry for entry.
    gusu = Transaction("gusu-test", 1, Height(9), b"\x02" * 33, "account", "transfer", encode([]), bytes(64))
    gusu_id, gusu_sender = Hash(b"\x07" * 32), Address(b"\x08" * 20)
    entries = [(gusu, gusu_id, gusu_sender), (entry.transaction, entry.transaction_id, entry.sender)]
    _, _, ids, parsed_entries, _ = block_from_json(block_to_json(_header(2), ZERO_HASH, entries, None))
    assert ids == (gusu_id, entry.transaction_id) and list(parsed_entries) == entries
