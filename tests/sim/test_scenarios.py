"""The CI budget: seeded scenarios under every fault mix, zero violations.

SCF_SIM_SCENARIOS (default 2,400) is the total number of runs, spread evenly
over the mixes of tests/sim/scenario.py (4 and 7 validators, equal and
weighted power, up to f Byzantine power including twins). The `thorough`
profile is the same test with SCF_SIM_SCENARIOS=100000 (outside CI). A
failure prints every failing scenario and the one-line command that replays
it.
"""

from __future__ import annotations

import os

import pytest

from tests.sim.scenario import MIXES, generate
from tests.sim.simulator import run

TOTAL = int(os.environ.get("SCF_SIM_SCENARIOS", "2400"))
BATCHES = 4  # per mix: smaller tests, so a failure names a narrow range of seeds
PER_BATCH = max(1, -(-TOTAL // (len(MIXES) * BATCHES)))


@pytest.mark.parametrize("batch", range(BATCHES))
@pytest.mark.parametrize("mix", MIXES)
def test_no_violation_in_seeded_scenarios(mix: str, batch: int) -> None:
    failures = []
    for seed in range(batch * PER_BATCH, (batch + 1) * PER_BATCH):
        result = run(generate(mix, seed))
        if result.violations:
            failures.append(result.report())
    assert not failures, "\n\n".join(failures)


def test_budget_is_at_least_a_thousand_scenarios() -> None:
    assert len(MIXES) * BATCHES * PER_BATCH >= min(TOTAL, 1000)
