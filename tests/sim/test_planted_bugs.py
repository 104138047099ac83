"""The simulation can fail: each planted bug is caught within the CI budget.

For each bug of node/consensus/bugs.py, seeds of the scenario family built to
expose it are searched in order, within a fixed budget, until a run reports
a safety violation; the same seeds without the bug must all pass, so what
is caught is the bug and not the scenario. A run with more than f faulty
power (two twins among four validators) must be reported as a violation too.

Why each family (tests/sim/scenario.py, FAMILIES):
* ignore_lock (a): lock_hunt, split views from a validator voting for
  everything: a validator that forgets its lock prevotes for a new value after
  others have committed the locked one (agreement violation).
* inclusive_quorum (b): threshold_edge, 3 validators with one twinned and a
  partition {twin, honest} | {twin, honest}, faulty power exactly 1/3: with
  "2/3 or more", each side's 2 of 3 commit their own block (agreement), and
  validate_commit, which demands more than 2/3, rejects the certificates
  (validity). The bug cannot show with faulty power below 1/3: two 2/3
  quorums still intersect in more than f then.
* forgetful_signer (c): amnesia_hunt, one honest validator restarts with its
  WAL lost right after precommitting; only the guarded signer's record stops
  it from signing a different vote for a step it already voted in
  (equivocation by an honest validator).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from node.consensus.bugs import Bugs
from tests.sim.scenario import generate_family
from tests.sim.simulator import RunResult, run


@dataclass(frozen=True)
class Hunt:
    bug: str
    family: str
    budget: int
    expect: frozenset[str]  # violation kinds the bug may show


HUNTS = (
    Hunt("ignore_lock", "lock_hunt", 400, frozenset({"agreement"})),
    Hunt("inclusive_quorum", "threshold_edge", 50, frozenset({"agreement", "validity"})),
    Hunt("forgetful_signer", "amnesia_hunt", 100, frozenset({"equivocation", "agreement"})),
)


def _hunt(family: str, bugs: Bugs, budget: int) -> RunResult | None:
    for seed in range(budget):
        result = run(generate_family(family, seed, bugs))
        if result.safety_violations:
            return result
    return None


@pytest.mark.parametrize("hunt", HUNTS, ids=lambda h: h.bug)
def test_planted_bug_is_caught_within_budget(hunt: Hunt) -> None:
    found = _hunt(hunt.family, Bugs(**{hunt.bug: True}), hunt.budget)
    assert found is not None, f"{hunt.bug}: no violation in {hunt.budget} seeds of {hunt.family}"
    assert {v.kind for v in found.safety_violations} <= hunt.expect
    print(f"\n{hunt.bug}: {run(found.scenario, stop_at_violation=False).report()}")
    # Without the bug, every seed up to the one that caught it passes.
    for seed in range(found.scenario.seed + 1):
        result = run(generate_family(hunt.family, seed))
        assert not result.violations, result.report()


@pytest.mark.parametrize("family", ["lock_hunt", "threshold_edge", "amnesia_hunt"])
def test_hunting_grounds_are_safe_without_bugs(family: str) -> None:
    failures = [r.report() for r in (run(generate_family(family, seed)) for seed in range(60))
                if r.violations]
    assert not failures, "\n\n".join(failures)


def test_more_than_f_byzantine_power_is_reported() -> None:
    found = _hunt("over_f", Bugs(), 50)
    assert found is not None, "two twins among four validators never broke agreement"
    assert "agreement" in {v.kind for v in found.safety_violations}
    print(f"\nover_f: {found.report()}")
