"""The configuration schedule: which configuration is in force at a height, and how changes are scheduled."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gusu.crypto import get_suite
from gusu.errors import CodecError, ConfigError
from gusu.ledger.chainconfig import (
    CONFIG_SCHEDULE_ENTRIES_MAX,
    ChainConfig,
    ConfigChange,
    compute_scheduled_change,
    decode_config_schedule,
    encode_config_schedule,
    get_config_at,
)
from gusu.ledger.genesis import GenesisValidator
from gusu.ledger.types import Address, Height
from gusu.ledger.validators import compute_validators_hash


def _config(power: int, consensus: str = "tendermint") -> ChainConfig:
    validator = GenesisValidator("v", Address(bytes([1]) * 20), b"\x02" * 33, power, "org")
    return ChainConfig(validators=(validator,), parameters=(("block_interval_ms", power),), consensus=consensus)


def test_config_in_force_is_the_last_change_at_or_below_the_height() -> None:
    schedule = (ConfigChange(Height(0), _config(1)), ConfigChange(Height(7), _config(2)))
    assert get_config_at(schedule, Height(6)) == _config(1)
    assert get_config_at(schedule, Height(7)) == _config(2)
    assert get_config_at(schedule, Height(100)) == _config(2)


def test_a_change_takes_effect_two_blocks_after_its_decision_at_the_earliest() -> None:
    schedule = (ConfigChange(Height(0), _config(1)),)
    with pytest.raises(ConfigError, match="height 12 at the earliest"):
        compute_scheduled_change(schedule, Height(10), Height(11), _config(2))
    changed = compute_scheduled_change(schedule, Height(10), Height(12), _config(2))
    assert get_config_at(changed, Height(11)) == _config(1)
    assert get_config_at(changed, Height(12)) == _config(2)


def test_scheduling_prunes_what_no_height_still_needs_and_replaces_the_same_height() -> None:
    schedule = (ConfigChange(Height(0), _config(1)), ConfigChange(Height(5), _config(2)))
    changed = compute_scheduled_change(schedule, Height(9), Height(11), _config(3))
    assert [change.effective_height for change in changed] == [5, 11]
    replaced = compute_scheduled_change(changed, Height(9), Height(11), _config(4))
    assert [change.config for change in replaced] == [_config(2), _config(4)]


def test_the_schedule_is_bounded() -> None:
    schedule: tuple[ConfigChange, ...] = (ConfigChange(Height(0), _config(1)),)
    for offset in range(CONFIG_SCHEDULE_ENTRIES_MAX - 1):
        schedule = compute_scheduled_change(schedule, Height(1), Height(3 + offset), _config(2 + offset))
    with pytest.raises(ConfigError, match="pending"):
        compute_scheduled_change(schedule, Height(1), Height(100), _config(1))


@given(st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=8))
def test_schedule_encoding_round_trips(powers: list[int]) -> None:
    schedule: tuple[ConfigChange, ...] = (ConfigChange(Height(0), _config(1)),)
    for position, power in enumerate(powers):
        schedule = compute_scheduled_change(schedule, Height(position), Height(position + 2), _config(power))
    assert decode_config_schedule(encode_config_schedule(schedule)) == schedule


def test_a_decoded_schedule_is_kept_and_any_bytes_like_value_decodes() -> None:
    schedule: tuple[ConfigChange, ...] = (ConfigChange(Height(0), _config(3)),)
    data = encode_config_schedule(schedule)
    first = decode_config_schedule(data)
    assert decode_config_schedule(bytes(data)) is first  # decoded once per stored value
    assert decode_config_schedule(bytearray(data)) == schedule  # type: ignore[arg-type]
    with pytest.raises(CodecError):
        decode_config_schedule(bytearray(b"\x00"))  # type: ignore[arg-type]


def test_a_schedule_out_of_order_is_refused() -> None:
    schedule = (ConfigChange(Height(5), _config(1)), ConfigChange(Height(0), _config(2)))
    with pytest.raises(CodecError, match="sorted"):
        decode_config_schedule(encode_config_schedule(schedule))


def test_a_validator_set_is_hashed_alike_from_any_sequence_and_an_unhashable_one_is_refused_as_before() -> None:
    suite = get_suite("ecdsa")
    kept = GenesisValidator("v", Address(bytes([1]) * 20), b"\x02" * 33, 5, "org")
    loose = GenesisValidator("v", Address(bytes([1]) * 20), bytearray(b"\x02" * 33), 5, "org")  # type: ignore[arg-type]
    assert compute_validators_hash(suite, [kept]) == compute_validators_hash(suite, (kept,))
    with pytest.raises(CodecError, match="bytearray"):  # refused by the encoding, as before it was kept
        compute_validators_hash(suite, [loose])
