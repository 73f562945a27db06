"""The chain configuration in force at each height, and the schedule of its changes.

Governance changes what a chain runs with: its validators, its parameters
and its ordering engine. Every node must switch at the same height, and
must know the configuration of a height before that height starts, so a
change decided in block ``H`` (by the transaction that completes a
proposal's vote) takes effect at ``H + CONFIG_CHANGE_DELAY_BLOCKS`` or at
a later height the proposal names, never earlier.

Why two blocks, as CometBFT: when a node commits block ``h`` it starts
height ``h + 1`` at once, and the header it proposes there already names
the validator set of ``h + 2`` (`BlockHeader.next_validators_hash`). A
change decided in block ``h`` can therefore first be in force at
``h + 2``, and a light client that verified header ``h + 1`` knows which
keys must sign ``h + 2``.

The schedule is one canonical value kept in the `system` contract's state
(`CONFIG_SCHEDULE_KEY` there); the node reads it after each commit, and the
block rules take the configuration of a height from it. It holds the
configuration in force at the latest executed height plus every change
already decided for later heights; older entries are pruned, so its size is
bounded by ``CONFIG_SCHEDULE_ENTRIES_MAX``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from gusu.codec import Value, decode, encode
from gusu.codec.canonical import expect_bytes, expect_list, expect_str, expect_uint
from gusu.errors import CodecError, ConfigError
from gusu.ledger.genesis import (
    CONSENSUS_ENGINES,
    PARAMETERS_MAX,
    VALIDATOR_POWER_MAX,
    VALIDATORS_MAX,
    Genesis,
    GenesisValidator,
)
from gusu.ledger.types import ADDRESS_SIZE, NAME_LENGTH_MAX, PUBLIC_KEY_SIZE_MAX, Address, Height

TAG_CONFIG_SCHEDULE = "gusu.config_schedule.v1"

CONFIG_CHANGE_DELAY_BLOCKS = 2
"""A change decided in block H is in force from height H + 2 at the earliest."""

CONFIG_SCHEDULE_ENTRIES_MAX = 16
"""The configuration in force plus at most 15 decided, not yet effective changes."""

ORGANIZATION_LENGTH_MAX = 64
ENGINE_LENGTH_MAX = 32


@dataclass(frozen=True, slots=True)
class ChainConfig:
    """What a chain runs with at one height."""

    validators: tuple[GenesisValidator, ...]
    """The validator set, sorted by address."""
    parameters: tuple[tuple[str, int], ...]
    """(name, value) pairs sorted by name, as in genesis."""
    consensus: str
    """The ordering engine ("solo", "tendermint", ...)."""

    def get_parameter(self, name: str) -> int | None:
        for parameter_name, value in self.parameters:
            if parameter_name == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class ConfigChange:
    effective_height: Height
    """The first height that runs with `config`."""
    config: ChainConfig


ConfigSchedule = tuple[ConfigChange, ...]
"""Sorted by effective height, strictly increasing; the first entry is in force, the rest are decided changes."""

CONFIG_SCHEDULES_DECODED_MAX = 16
"""Distinct stored schedules whose decoding a process keeps (a chain has one at a time; tests make many)."""


def compute_genesis_config(genesis: Genesis) -> ChainConfig:
    return ChainConfig(
        validators=tuple(sorted(genesis.validators, key=lambda validator: validator.address)),
        parameters=genesis.parameters,
        consensus=genesis.consensus,
    )


def compute_genesis_config_schedule(genesis: Genesis) -> ConfigSchedule:
    """The schedule a chain starts with: its genesis configuration, in force from height 0."""
    return (ConfigChange(Height(0), compute_genesis_config(genesis)),)


def get_config_at(schedule: ConfigSchedule, height: Height) -> ChainConfig:
    """The configuration in force at `height`: the last change whose effective height is at most `height`."""
    assert schedule and schedule[0].effective_height <= height, "no configuration is known for that height"
    found = schedule[0].config
    for change in schedule[1:]:
        if change.effective_height > height:
            break
        found = change.config
    return found


def compute_scheduled_change(
    schedule: ConfigSchedule, decided_height: Height, effective_height: Height, config: ChainConfig
) -> ConfigSchedule:
    """The schedule after a change decided in block `decided_height` to take effect at `effective_height`.

    Entries no longer needed at `decided_height` are pruned (only the one in
    force then is kept), and a change already scheduled for the same height
    is replaced. ConfigError if the change is too early or the schedule is full.
    """
    earliest = decided_height + CONFIG_CHANGE_DELAY_BLOCKS
    if effective_height < earliest:
        raise ConfigError(
            f"a change decided at height {decided_height} can take effect at height {earliest} at the earliest, "
            f"not {effective_height}"
        )
    in_force = [change for change in schedule if change.effective_height <= decided_height]
    assert in_force, "the schedule has no configuration in force at the deciding height"
    later = [
        change
        for change in schedule
        if change.effective_height > decided_height and change.effective_height != effective_height
    ]
    result = [in_force[-1], *later, ConfigChange(effective_height, config)]
    result.sort(key=lambda change: change.effective_height)
    if len(result) > CONFIG_SCHEDULE_ENTRIES_MAX:
        raise ConfigError(
            f"{len(result) - 1} configuration changes would be pending; at most "
            f"{CONFIG_SCHEDULE_ENTRIES_MAX - 1} may wait for their height at once"
        )
    return tuple(result)


# --- canonical encoding -----------------------------------------------------------


def _config_value(config: ChainConfig) -> list[Value]:
    return [
        [[item.name, item.address, item.public_key, item.power, item.organization] for item in config.validators],
        [[name, value] for name, value in config.parameters],
        config.consensus,
    ]


def encode_chain_config(config: ChainConfig) -> bytes:
    return encode(["gusu.chain_config.v1", *_config_value(config)])


def encode_config_schedule(schedule: ConfigSchedule) -> bytes:
    return encode(
        [TAG_CONFIG_SCHEDULE, [[change.effective_height, *_config_value(change.config)] for change in schedule]]
    )


def _decode_validator(value: Value) -> GenesisValidator:
    fields = expect_list(value, "validator", 5)
    if len(fields) != 5:
        raise CodecError("a validator entry has five fields")
    power = expect_uint(fields[3], "validator power", maximum=VALIDATOR_POWER_MAX)
    if power == 0:
        raise CodecError("a validator's power is at least 1")
    return GenesisValidator(
        name=expect_str(fields[0], "validator name", NAME_LENGTH_MAX),
        address=Address(expect_bytes(fields[1], "validator address", size=ADDRESS_SIZE)),
        public_key=expect_bytes(fields[2], "validator public key", size_max=PUBLIC_KEY_SIZE_MAX),
        power=power,
        organization=expect_str(fields[4], "validator organization", ORGANIZATION_LENGTH_MAX),
    )


def _decode_change(value: Value) -> ConfigChange:
    fields = expect_list(value, "configuration change", 4)
    if len(fields) != 4:
        raise CodecError("a configuration change has four fields")
    validators = tuple(_decode_validator(item) for item in expect_list(fields[1], "validators", VALIDATORS_MAX))
    if not validators or [item.address for item in validators] != sorted({item.address for item in validators}):
        raise CodecError("a configuration's validators are non-empty, sorted by address and distinct")
    parameters = []
    for item in expect_list(fields[2], "parameters", PARAMETERS_MAX):
        pair = expect_list(item, "parameter", 2)
        if len(pair) != 2:
            raise CodecError("a parameter is a (name, value) pair")
        parameters.append((expect_str(pair[0], "parameter name", NAME_LENGTH_MAX), expect_uint(pair[1], "value")))
    if [name for name, _ in parameters] != sorted({name for name, _ in parameters}):
        raise CodecError("a configuration's parameters are sorted by name without repeats")
    consensus = expect_str(fields[3], "consensus", ENGINE_LENGTH_MAX)
    if consensus not in CONSENSUS_ENGINES:
        raise CodecError(f"unknown consensus engine {consensus!r}")
    return ConfigChange(
        effective_height=Height(expect_uint(fields[0], "effective height")),
        config=ChainConfig(validators=validators, parameters=tuple(parameters), consensus=consensus),
    )


def decode_config_schedule(data: bytes) -> ConfigSchedule:
    """Read a schedule written by `encode_config_schedule`; CodecError if it is anything else.

    A node reads the schedule after every block (the next block's rules) and it seldom changes, so each stored
    value is decoded once (a schedule is immutable; what fails to decode is not kept)."""
    return _decode_config_schedule(bytes(data))


@functools.lru_cache(maxsize=CONFIG_SCHEDULES_DECODED_MAX)
def _decode_config_schedule(data: bytes) -> ConfigSchedule:
    value = decode(data)
    fields = expect_list(value, "config schedule", 2)
    if len(fields) != 2 or fields[0] != TAG_CONFIG_SCHEDULE:
        raise CodecError(f"not a {TAG_CONFIG_SCHEDULE} value")
    changes = tuple(_decode_change(item) for item in expect_list(fields[1], "schedule", CONFIG_SCHEDULE_ENTRIES_MAX))
    heights = [change.effective_height for change in changes]
    if not changes or heights != sorted(set(heights)):
        raise CodecError("a schedule is non-empty and sorted by strictly increasing effective height")
    return changes


def compute_config_changes(schedule: ConfigSchedule) -> Sequence[Height]:
    """The heights at which the configuration changes (after the one in force)."""
    return tuple(change.effective_height for change in schedule[1:])
