"""The node's garbage-collector settings (node/runtime/gc_tuning.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from node.runtime.gc_tuning import (MIDDLE_THRESHOLD, OLD_THRESHOLD, YOUNG_THRESHOLD,
                                    tune_garbage_collector)


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_tuning_freezes_what_exists_and_collects_less_often(restored_gc: None) -> None:
    survivor = [object() for _ in range(10)]
    tune_garbage_collector()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
    assert gc.get_freeze_count() >= len(survivor)


def test_cycles_are_still_collected(restored_gc: None) -> None:
    tune_garbage_collector()

    class Node:
        partner: object = None

    first, second = Node(), Node()
    first.partner, second.partner = second, first
    del first, second
    assert gc.collect() >= 2
