"""Who proposes at (height, round): weighted round-robin by golden-ratio stride.

Requirements: every validator computes the same proposer from the validator
set, the height and the round alone (no state carried between heights, so a
restarted or catching-up node needs nothing else); over time each validator
proposes in proportion to its voting power; and consecutive rounds of one
height go to different validators, so a crashed proposer costs one round.

Algorithm. Let the validators, sorted by public key (the set's canonical
order), own consecutive intervals of the integers [0, T), where T is the total
power and validator i owns `power_i` of them. Slot k = height + round is
mapped to the point

    x(k) = (k * g) mod T

and the proposer is the owner of x(k). The stride g is coprime to T, so
k -> x(k) is a permutation of [0, T) for every T consecutive slots: each
validator proposes exactly `power_i` times in every window of T slots (exact
weighted fairness). Within shorter windows the points must also spread
evenly (a low-discrepancy sequence), so that no validator goes long without
a turn. That holds when the continued fraction of g / T has only small
partial quotients: the golden ratio's are all 1. So the candidates are the
integers coprime to T searched outward from T * (sqrt(5) - 1) / 2 (nearest
first, the lower one first at equal distance), and g is the first whose
partial quotients are all at most `MAX_QUOTIENT` up to the convergent of
denominator `SMOOTH_WINDOW`; if none of the first `CANDIDATES` is, the one
with the smallest largest quotient (the first on ties). The nearest coprime
alone is not enough: for T = 198 it is 119, and 119/198 = [0; 1, 1, 1, 1,
39] = 3/5 + 1/990, so 64 consecutive slots put five clusters of
points on the circle and a validator with 1/8 of the power got no turn at
all (found by tests/consensus/test_proposer.py). With equal powers, T
consecutive slots visit every validator once.

Cost: O(n + CANDIDATES * log T) once per validator set, O(log n) per query.
Integer arithmetic only (the golden ratio as a 10-digit fraction), so every platform agrees.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator
from itertools import accumulate

from ledger.validators import ValidatorSet

_GOLDEN_NUMERATOR = 6_180_339_887  # (sqrt(5) - 1) / 2 = 0.6180339887...
_GOLDEN_DENOMINATOR = 10_000_000_000


#: Largest partial quotient a stride may have (golden ratio: 1).
MAX_QUOTIENT = 4
#: Quotients after the convergent of this denominator are not looked at: they
#: shape only windows longer than this, and every window of T slots is exact.
SMOOTH_WINDOW = 4096
#: Coprime candidates looked at, at most, before settling for the smoothest.
CANDIDATES = 64


def compute_stride(total: int) -> int:
    """The stride for total power `total` (see the module docstring)."""
    if total <= 2:
        return 1
    center = (total * _GOLDEN_NUMERATOR + _GOLDEN_DENOMINATOR // 2) // _GOLDEN_DENOMINATOR
    best_quotient, best = 0, 0
    looked_at = 0
    for candidate in _outward(center, total):
        if math.gcd(candidate, total) != 1:
            continue
        quotient = largest_quotient(candidate, total)
        if quotient <= MAX_QUOTIENT:
            return candidate
        if not best or quotient < best_quotient:
            best_quotient, best = quotient, candidate
        looked_at += 1
        if looked_at == CANDIDATES:
            break
    return best  # 1 is coprime to every total, so there was a candidate


def largest_quotient(stride: int, total: int) -> int:
    """The largest partial quotient a_i of stride / total = [0; a_1, a_2, ...]
    that follows a convergent of denominator below SMOOTH_WINDOW."""
    largest = 0
    numerator, denominator = total, stride
    previous, current = 0, 1  # convergent denominators q_(i-2), q_(i-1)
    while denominator and current < SMOOTH_WINDOW:
        quotient, remainder = divmod(numerator, denominator)
        largest = max(largest, quotient)
        numerator, denominator = denominator, remainder
        previous, current = current, quotient * current + previous
    return largest


def _outward(center: int, total: int) -> Iterator[int]:
    """The integers of (0, total), nearest `center` first (the lower one first on ties)."""
    yield from (c for c in (center,) if 0 < c < total)
    distance = 1
    while center - distance > 0 or center + distance < total:
        for candidate in (center - distance, center + distance):
            if 0 < candidate < total:
                yield candidate
        distance += 1


class ProposerSchedule:
    """The proposer of every (height, round) for one validator set."""

    __slots__ = ("_keys", "_ends", "_total", "_stride")

    def __init__(self, validators: ValidatorSet) -> None:
        self._keys = tuple(v.public_key for v in validators.validators)
        self._ends = tuple(accumulate(v.power for v in validators.validators))
        self._total = self._ends[-1]
        self._stride = compute_stride(self._total)

    def slot_owner(self, slot: int) -> bytes:
        point = (slot * self._stride) % self._total
        return self._keys[bisect.bisect_right(self._ends, point)]

    def proposer(self, height: int, round: int) -> bytes:
        return self.slot_owner(height + round)


def compute_proposer(validators: ValidatorSet, height: int, round: int) -> bytes:
    return ProposerSchedule(validators).proposer(height, round)
