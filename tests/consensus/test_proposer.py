"""Proposer rotation: deterministic, weighted, fair over every window of T slots."""

from __future__ import annotations

import math
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from genesis.demo_keys import demo_key
from ledger.validators import Validator, ValidatorSet
from node.consensus.proposer import ProposerSchedule, compute_proposer, compute_stride

_KEYS = [demo_key(f"rotation-{i}").public_key for i in range(12)]


def _set(powers: list[int]) -> ValidatorSet:
    return ValidatorSet.of([Validator(k, p) for k, p in zip(_KEYS, powers)])


def test_equal_powers_visit_every_validator_in_n_consecutive_rounds() -> None:
    validators = _set([1] * 7)
    schedule = ProposerSchedule(validators)
    for height in range(1, 20):
        assert len({schedule.proposer(height, r) for r in range(7)}) == 7


@given(st.lists(st.integers(1, 40), min_size=1, max_size=12), st.integers(0, 10**12))
def test_every_window_of_total_power_slots_is_exactly_proportional(powers: list[int],
                                                                   start: int) -> None:
    validators = _set(powers)
    schedule = ProposerSchedule(validators)
    total = validators.total_power
    counts = Counter(schedule.slot_owner(start + k) for k in range(total))
    assert counts == {v.public_key: v.power for v in validators.validators}


@given(st.lists(st.integers(1, 40), min_size=2, max_size=12), st.integers(0, 10**6),
       st.integers(1, 400))
def test_any_window_is_close_to_proportional(powers: list[int], start: int,
                                             length: int) -> None:
    """A low-discrepancy sequence: in any window the count of a validator's turns is
    within O(log length) of power * length / T (a poor stride drifts linearly)."""
    validators = _set(powers)
    schedule = ProposerSchedule(validators)
    total = validators.total_power
    counts = Counter(schedule.slot_owner(start + k) for k in range(length))
    for v in validators.validators:
        expected = v.power * length / total
        assert abs(counts[v.public_key] - expected) <= 2 + math.log2(1 + length)


def test_rotation_depends_only_on_the_set_height_and_round() -> None:
    validators = _set([3, 1, 2, 5])
    assert [compute_proposer(validators, h, r) for h in range(1, 6) for r in range(4)] == \
        [ProposerSchedule(validators).proposer(h, r) for h in range(1, 6) for r in range(4)]
    schedule = ProposerSchedule(validators)
    assert schedule.proposer(7, 2) == schedule.proposer(8, 1)  # slot = height + round


@given(st.integers(1, 2**45))
def test_the_stride_is_coprime_and_near_the_golden_ratio(total: int) -> None:
    stride = compute_stride(total)
    assert math.gcd(stride, total) == 1 and 0 < stride <= max(1, total)
    if total > 10_000:  # the nearest coprime is at most a few dozen integers away
        assert abs(stride / total - 0.6180339887) < 0.001


def test_a_heavy_validator_proposes_in_proportion_over_many_rounds() -> None:
    validators = _set([10, 1, 1, 1, 1])
    schedule = ProposerSchedule(validators)
    counts = Counter(schedule.proposer(1, r) for r in range(1400))
    assert counts[_KEYS[0]] == 1000 and all(counts[k] == 100 for k in _KEYS[1:5])
