"""The validator set of a BFT chain: voting power, quorums and proposer rotation.

Everything the Tendermint engine decides by counting goes through this
module, so the fault-tolerance arithmetic lives in one place:

* a **quorum** is voting power strictly greater than 2/3 of the total. It
  is never a count of validators: with unequal powers three validators out
  of four may hold less than 2/3. `quorum_power` is the smallest power
  ``p`` with ``3p > 2 * total``;
* **one third plus** is power strictly greater than 1/3 of the total: at
  least one correct validator is among any such set, which is what lets a
  node skip to a higher round (Algorithm 1, line 55).

Proposer rotation follows the CometBFT proposer-selection procedure
(spec/consensus/proposer-selection.md), a weighted round robin in which a
validator proposes in proportion to its power:

1. *scale*: if the spread of priorities exceeds ``2 * total``, divide every
   priority by ``ceil(spread / (2 * total))``;
2. *center*: subtract the average priority from every priority;
3. *increment*: add each validator's power to its priority;
4. *elect*: the highest priority proposes (ties go to the lowest address),
   and its priority drops by the total power.

Priorities start at zero. As in CometBFT, the set used at height ``h`` has
had the procedure applied ``h`` times (once at creation, once per
committed height), and round ``r`` of that height applies it ``r`` more
times, so with a fixed set the proposer of ``(h, r)`` is the one elected
by run number ``h + r``. Divisions truncate toward zero (Go's rule), which
keeps the arithmetic identical to the reference on negative priorities.

**Across a validator-set change** (`gusu.ledger.chainconfig`) priorities
start from zero again. A set in force from height ``e`` (its
`effective_height`; 0 for the genesis set, whose first block to propose is
height 1) counts runs from its own first height ``s = max(e, 1)``: the
proposer of ``(h, r)`` is the one elected by run number ``h - s + 1 + r``
of that set. For the genesis set that is ``h + r``, exactly the proposers
of a chain that never changes; for a set that takes effect at ``e >= 2``
it is ``h - e + 1 + r``, so round 0 of its first height is run 1 (runs
count from 1). Every node switches at the same height to the same set, so
they agree on proposers without carrying priorities across the change
(CometBFT carries them; starting afresh keeps the rotation a pure function
of the set and its effective height, and a new validator waits at most one
rotation period for its first turn).

A fixed set returns to all-zero priorities after ``total`` runs (each
validator elected exactly ``power`` times), so the sequence is periodic;
`ValidatorSet` caches one period when it is small enough and otherwise
walks forward from a cursor. The cache never changes an answer: every
result is a pure function of the set, its effective height, the height and
the round.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gusu.crypto import CryptoSuite
from gusu.errors import ConfigError
from gusu.ledger.genesis import Genesis, GenesisValidator
from gusu.ledger.lightclient import compute_quorum_power, is_quorum_power
from gusu.ledger.types import Address, Hash, Height, Round
from gusu.ledger.validators import compute_validators_hash as compute_ledger_validators_hash

GENESIS_EFFECTIVE_HEIGHT = Height(0)
"""The effective height of the genesis set."""

PRIORITY_WINDOW_FACTOR = 2
"""Priorities are rescaled whenever their spread exceeds this many times the total power."""

PROPOSER_PERIOD_CACHE_MAX = 1 << 16
"""Largest rotation period kept in memory (one small int per run); longer ones are walked."""

VALIDATORS_MAX = 1024
"""Matches the ledger's limit on signatures in a commit certificate."""


@dataclass(frozen=True, slots=True)
class Validator:
    address: Address
    public_key: bytes
    power: int
    name: str = ""


# --- the quorum arithmetic --------------------------------------------------------------


def compute_one_third_plus_power(total_power: int) -> int:
    """The smallest power p with 3p > total_power: strictly more than one third."""
    return total_power // 3 + 1


# --- proposer selection (CometBFT) -----------------------------------------------------------


def _divide_toward_zero(numerator: int, denominator: int) -> int:
    quotient = abs(numerator) // abs(denominator)
    return quotient if (numerator >= 0) == (denominator > 0) else -quotient


def apply_proposer_selection(
    priorities: Sequence[int], powers: Sequence[int], addresses: Sequence[Address]
) -> tuple[tuple[int, ...], int]:
    """One run of the selection procedure: the new priorities and the index of the elected proposer.

    `priorities`, `powers` and `addresses` are parallel sequences; the set
    must be non-empty with positive powers.
    """
    total = sum(powers)
    current = list(priorities)
    # Scale: keep the spread within the window, so that no validator is left
    # arbitrarily far behind after the set changes.
    window = PRIORITY_WINDOW_FACTOR * total
    spread = max(current) - min(current)
    if spread > window:
        ratio = (spread + window - 1) // window
        current = [_divide_toward_zero(value, ratio) for value in current]
    # Center around zero so priorities cannot drift toward overflow.
    average = _divide_toward_zero(sum(current), len(current))
    current = [value - average for value in current]
    # Increment by power, elect the highest (lowest address on a tie), move it back.
    current = [value + power for value, power in zip(current, powers, strict=True)]
    proposer = 0
    for index in range(1, len(current)):
        if current[index] > current[proposer] or (
            current[index] == current[proposer] and addresses[index] < addresses[proposer]
        ):
            proposer = index
    current[proposer] -= total
    return tuple(current), proposer


# --- the set ---------------------------------------------------------------------------------


class ValidatorSet:
    """An immutable set of validators with their powers; see the module docstring.

    Validators are kept ordered by address, so the listing order of the
    genesis document changes nothing (neither the hash nor the rotation).
    """

    __slots__ = (
        "_by_address",
        "_cursor_index",
        "_cursor_priorities",
        "_effective_height",
        "_ledger_validators",
        "_one_third_plus_power",
        "_period",
        "_period_proposers",
        "_quorum_power",
        "_total_power",
        "_validators",
    )

    def __init__(self, validators: Iterable[Validator], effective_height: Height = GENESIS_EFFECTIVE_HEIGHT) -> None:
        """`effective_height`: the first height this set is in force (0: the genesis set)."""
        ordered = tuple(sorted(validators, key=lambda validator: validator.address))
        validate_validators(ordered)
        if effective_height < 0:
            raise ConfigError(f"a validator set's effective height is not negative, not {effective_height}")
        self._validators = ordered
        self._effective_height = effective_height
        # The validators hash covers address, key and power only; the organisation plays no part.
        self._ledger_validators = tuple(
            GenesisValidator(validator.name, validator.address, validator.public_key, validator.power, "")
            for validator in ordered
        )
        self._by_address = {validator.address: index for index, validator in enumerate(ordered)}
        self._total_power = sum(validator.power for validator in ordered)
        self._quorum_power = compute_quorum_power(self._total_power)
        self._one_third_plus_power = compute_one_third_plus_power(self._total_power)
        # The rotation cache (see `get_proposer`): run number -> proposer index.
        self._cursor_index = 0
        self._cursor_priorities: tuple[int, ...] = (0,) * len(ordered)
        self._period: int | None = None
        self._period_proposers: list[int] = []

    @classmethod
    def from_genesis(cls, genesis: Genesis) -> ValidatorSet:
        return cls.from_genesis_validators(genesis.validators)

    @classmethod
    def from_genesis_validators(
        cls, validators: Sequence[GenesisValidator], effective_height: Height = GENESIS_EFFECTIVE_HEIGHT
    ) -> ValidatorSet:
        return cls(
            (
                Validator(
                    address=validator.address,
                    public_key=validator.public_key,
                    power=validator.power,
                    name=validator.name,
                )
                for validator in validators
            ),
            effective_height,
        )

    @property
    def effective_height(self) -> Height:
        """The first height this set is in force (0 for the genesis set)."""
        return self._effective_height

    @property
    def ledger_validators(self) -> tuple[GenesisValidator, ...]:
        """The set as the ledger's records list it (ordered by address; organisation left empty)."""
        return self._ledger_validators

    # --- membership and power --------------------------------------------------------------

    @property
    def validators(self) -> tuple[Validator, ...]:
        """Ordered by address."""
        return self._validators

    @property
    def size(self) -> int:
        return len(self._validators)

    @property
    def total_power(self) -> int:
        return self._total_power

    @property
    def quorum_power(self) -> int:
        """The least power that is more than 2/3 of the total."""
        return self._quorum_power

    @property
    def one_third_plus_power(self) -> int:
        """The least power that is more than 1/3 of the total."""
        return self._one_third_plus_power

    def is_quorum(self, power: int) -> bool:
        """True for power strictly above 2/3 of the total."""
        return is_quorum_power(power, self._total_power)

    def is_one_third_plus(self, power: int) -> bool:
        """True for power strictly above 1/3 of the total."""
        return 3 * power > self._total_power

    def get_validator(self, address: Address) -> Validator | None:
        index = self._by_address.get(address)
        return None if index is None else self._validators[index]

    def contains(self, address: Address) -> bool:
        return address in self._by_address

    def get_power(self, address: Address) -> int:
        """The validator's power, 0 for an address outside the set."""
        index = self._by_address.get(address)
        return 0 if index is None else self._validators[index].power

    def compute_power(self, addresses: Iterable[Address]) -> int:
        """Total power of the distinct validators among `addresses` (others count 0)."""
        return sum(self.get_power(address) for address in set(addresses))

    def compute_validators_hash(self, suite: CryptoSuite) -> Hash:
        """The `validators_hash` block headers carry (same as gusu.ledger.validators)."""
        return compute_ledger_validators_hash(suite, self._ledger_validators)

    # --- proposer rotation -----------------------------------------------------------------

    def get_proposer(self, height: Height, round_: Round) -> Validator:
        """The validator that proposes in round `round_` of height `height` (round >= 0, height at least 1
        and at least the set's effective height): run ``h - max(e, 1) + 1 + r`` (module docstring)."""
        first_height = max(self._effective_height, 1)
        if height < first_height or round_ < 0:
            raise ValueError(f"no proposer for height {height}, round {round_} in a set in force from {first_height}")
        return self._validators[self._get_proposer_index(height - first_height + 1 + round_)]

    def _get_proposer_index(self, run: int) -> int:
        """Index of the validator elected by run number `run` (1-based) of the procedure from zero."""
        if self._period is not None:
            return self._period_proposers[(run - 1) % self._period]
        if run <= len(self._period_proposers):
            return self._period_proposers[run - 1]
        if run <= self._cursor_index:
            # Behind the cursor and beyond the cache (rare: a restart at a lower height): walk again from zero.
            self._cursor_index = 0
            self._cursor_priorities = (0,) * len(self._validators)
        powers = [validator.power for validator in self._validators]
        addresses = [validator.address for validator in self._validators]
        proposer = 0
        while self._cursor_index < run:
            self._cursor_priorities, proposer = apply_proposer_selection(self._cursor_priorities, powers, addresses)
            self._cursor_index += 1
            if (
                len(self._period_proposers) == self._cursor_index - 1
                and self._cursor_index <= PROPOSER_PERIOD_CACHE_MAX
            ):
                self._period_proposers.append(proposer)
                if not any(self._cursor_priorities):
                    # Back at the starting state: the rotation repeats from here on.
                    self._period = self._cursor_index
                    return self._period_proposers[(run - 1) % self._period]
        return proposer

    def __repr__(self) -> str:
        return (
            f"<ValidatorSet {self.size} validators, total power {self._total_power}, "
            f"from height {self._effective_height}>"
        )


def validate_validators(validators: Sequence[Validator]) -> None:
    """ConfigError unless the set is non-empty, bounded, with distinct addresses and positive powers."""
    if not 1 <= len(validators) <= VALIDATORS_MAX:
        raise ConfigError(f"a validator set holds 1 to {VALIDATORS_MAX} validators, not {len(validators)}")
    seen: set[bytes] = set()
    for validator in validators:
        if not isinstance(validator.power, int) or isinstance(validator.power, bool) or validator.power < 1:
            raise ConfigError(f"validator 0x{bytes(validator.address).hex()} must have a positive integer power")
        if validator.address in seen:
            raise ConfigError(f"validator 0x{bytes(validator.address).hex()} appears twice in the set")
        seen.add(validator.address)
