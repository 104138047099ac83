"""Proposer rotation: deterministic, weighted, fair over every window of T slots."""

from __future__ import annotations

import math
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from genesis.demo_keys import demo_key
from ledger.validators import Validator, ValidatorSet
from node.consensus.proposer import (
    MAX_QUOTIENT,
    ProposerSchedule,
    compute_proposer,
    compute_stride,
    largest_quotient,
)

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


@given(st.integers(1, 2**47))
def test_the_stride_is_coprime_smooth_and_near_the_golden_ratio(total: int) -> None:
    stride = compute_stride(total)
    assert math.gcd(stride, total) == 1 and 0 < stride <= max(1, total)
    if total > 100_000:  # at most CANDIDATES coprimes away
        assert abs(stride / total - 0.6180339887) < 0.001
    if total > 2**33:
        # within CANDIDATES / total of the golden ratio, the continued fraction
        # is the golden ratio's (all 1s) past the convergents below SMOOTH_WINDOW.
        # Below that, a total may take the smoothest of the CANDIDATES (147,088:
        # no candidate has quotients <= MAX_QUOTIENT, the stride's largest is 5).
        assert largest_quotient(stride, total) == 1


def test_a_total_with_no_smooth_candidate_takes_the_smoothest() -> None:
    assert largest_quotient(compute_stride(147_088), 147_088) == MAX_QUOTIENT + 1


def test_a_stride_close_to_a_small_fraction_is_passed_over() -> None:
    # 119 is the coprime nearest 198 * 0.618, but 119/198 = 3/5 + 1/990: over 64
    # slots from 0, a validator holding [40, 65) of [0, 198) had no turn at all
    assert largest_quotient(119, 198) == 39
    stride = compute_stride(198)
    assert stride != 119 and largest_quotient(stride, 198) <= MAX_QUOTIENT
    schedule = ProposerSchedule(_set([1, 1, 1, 10, 25, 40, 40, 40, 40]))
    owners = Counter(schedule.slot_owner(k) for k in range(64))
    assert all(owners[key] >= 8 - 5 for key in _KEYS[4:9])


def test_every_total_up_to_five_thousand_has_a_smooth_stride() -> None:
    worst = max(largest_quotient(compute_stride(total), total) for total in range(3, 5_000))
    assert worst <= 6  # MAX_QUOTIENT (4) for all but a few, which take the smoothest


def test_a_heavy_validator_proposes_in_proportion_over_many_rounds() -> None:
    validators = _set([10, 1, 1, 1, 1])
    schedule = ProposerSchedule(validators)
    counts = Counter(schedule.proposer(1, r) for r in range(1400))
    assert counts[_KEYS[0]] == 1000 and all(counts[k] == 100 for k in _KEYS[1:5])
