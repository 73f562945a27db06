"""The validator sets of the heights around a node's tip, from the chain configuration schedule.

After each commit a node (and each simulated node) reads the schedule from
its committed state (`gusu.node.blocks.get_config_schedule`) and hands it
here with the tip's height. The set of a height is then known

* for the tip's height and the earlier heights the schedule still covers
  (its first entry is the configuration in force when it was last written):
  to check messages and certificates of the height just committed;
* for the next two heights: a change decided in block ``H`` takes effect at
  ``H + 2`` at the earliest, so after the tip ``T`` no later block can
  change the sets of ``T + 1`` and ``T + 2``.

Further ahead a set is not known yet (None): a message for such a height
cannot be judged and is dropped.

Each `ValidatorSet` is built once per schedule entry and kept while the
schedule holds that entry, so its proposer-rotation cache survives from
height to height; the rotation starts afresh at the entry's effective height
(`gusu.consensus.validator_set`). Any configuration change, even one of
parameters only, is a new entry, so it restarts the rotation too: the
schedule keeps no record of when the validators themselves last changed.
"""

from __future__ import annotations

from gusu.consensus.validator_set import ValidatorSet
from gusu.ledger.chainconfig import ChainConfig, ConfigChange, ConfigSchedule, get_config_at
from gusu.ledger.types import Height

KNOWN_HEIGHTS_AHEAD = 2
"""Heights past the tip whose configuration is final: `gusu.ledger.chainconfig.CONFIG_CHANGE_DELAY_BLOCKS`."""


class ValidatorSchedule:
    """The schedule in a node's committed state, with one `ValidatorSet` per entry."""

    def __init__(self, schedule: ConfigSchedule, tip_height: Height) -> None:
        self._sets: dict[ConfigChange, ValidatorSet] = {}
        self._schedule: ConfigSchedule = ()
        self._tip_height = Height(0)
        self.update(schedule, tip_height)

    def update(self, schedule: ConfigSchedule, tip_height: Height) -> None:
        """The schedule read from the state after block `tip_height`."""
        assert schedule and schedule[0].effective_height <= tip_height, "a schedule without the tip's configuration"
        self._schedule = schedule
        self._tip_height = tip_height
        self._sets = {change: self._sets[change] for change in schedule if change in self._sets}

    @property
    def schedule(self) -> ConfigSchedule:
        return self._schedule

    @property
    def tip_height(self) -> Height:
        return self._tip_height

    def is_known(self, height: Height) -> bool:
        """True if the configuration of `height` is known and final here."""
        return self._schedule[0].effective_height <= height <= self._tip_height + KNOWN_HEIGHTS_AHEAD

    def get_config(self, height: Height) -> ChainConfig | None:
        return get_config_at(self._schedule, height) if self.is_known(height) else None

    def get_validator_set(self, height: Height) -> ValidatorSet | None:
        """The set in force at `height`, or None if it is not known here (see the module docstring)."""
        if not self.is_known(height):
            return None
        change = self._schedule[0]
        for candidate in self._schedule[1:]:
            if candidate.effective_height > height:
                break
            change = candidate
        validator_set = self._sets.get(change)
        if validator_set is None:
            validator_set = ValidatorSet.from_genesis_validators(change.config.validators, change.effective_height)
            self._sets[change] = validator_set
        return validator_set

    def get_engine_sets(self, height: Height) -> tuple[ValidatorSet, ValidatorSet]:
        """The sets of `height` and ``height + 1`` for the engine; `height` is the tip's next."""
        assert height == self._tip_height + 1, "the engine moves to the height after the tip"
        current = self.get_validator_set(height)
        following = self.get_validator_set(Height(height + 1))
        assert current is not None and following is not None
        return current, following
