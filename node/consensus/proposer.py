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

and the proposer is the owner of x(k). The stride g is the integer nearest
T * (sqrt(5) - 1) / 2 that is coprime to T (searched outward from that
value). Because g is coprime to T, k -> x(k) is a permutation of [0, T) for
every T consecutive slots: each validator proposes exactly `power_i` times
in every window of T slots (exact weighted fairness), and the golden-ratio
stride spreads a validator's slots evenly through the window (a
low-discrepancy sequence), so no validator gets long runs. With equal
powers, T consecutive slots visit every validator once.

Cost: O(n) once per validator set, O(log n) per query. Integer arithmetic
only (the golden ratio as a 10-digit fraction), so every platform agrees.
"""

from __future__ import annotations

import bisect
import math
from itertools import accumulate

from ledger.validators import ValidatorSet

_GOLDEN_NUMERATOR = 6_180_339_887  # (sqrt(5) - 1) / 2 = 0.6180339887...
_GOLDEN_DENOMINATOR = 10_000_000_000


def compute_stride(total: int) -> int:
    """The integer nearest total * 0.618... that is coprime to `total`."""
    if total <= 2:
        return 1
    center = (total * _GOLDEN_NUMERATOR + _GOLDEN_DENOMINATOR // 2) // _GOLDEN_DENOMINATOR
    for distance in range(total):
        for candidate in (center - distance, center + distance):
            if 0 < candidate < total and math.gcd(candidate, total) == 1:
                return candidate
    return 1  # unreachable: 1 is coprime to every total


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
