"""The node process's garbage-collector settings (`gusu.api.process.tune_garbage_collector`)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from gusu.api.process import GC_OLDER_RATIOS, GC_YOUNG_ALLOCATIONS, tune_garbage_collector


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_collector")
def test_the_node_process_freezes_start_up_objects_and_collects_less_often() -> None:
    gc.unfreeze()
    kept = [[index] for index in range(1000)]  # objects alive at start-up, as a node's caches are

    tune_garbage_collector()

    assert gc.get_threshold() == (GC_YOUNG_ALLOCATIONS, *GC_OLDER_RATIOS)
    assert gc.get_freeze_count() >= len(kept)
    assert not any(item is kept[0] for item in gc.get_objects(generation=2))  # frozen: no longer scanned


def test_the_young_generation_threshold_stays_a_tuning_not_a_leak() -> None:
    # Cyclic garbage is still collected: a threshold, not a switch.
    assert 700 < GC_YOUNG_ALLOCATIONS <= 100_000
    assert all(ratio >= 1 for ratio in GC_OLDER_RATIOS)
