"""Replays one scenario named by the environment, as printed by a failing run:

    SCF_SIM_SCENARIO=mixed SCF_SIM_SEED=123 .venv/bin/pytest tests/sim -k replay -s

SCF_SIM_BUGS=ignore_lock,inclusive_quorum,forgetful_signer plants bugs. The
run is deterministic, so it fails exactly as it failed before; the report
(printed with -s) lists every violation and each instance's final state.
"""

from __future__ import annotations

import os

import pytest

from tests.sim.scenario import parse_bugs, scenario_for
from tests.sim.simulator import Simulation


@pytest.mark.skipif("SCF_SIM_SEED" not in os.environ, reason="set SCF_SIM_SEED to replay")
def test_replay() -> None:
    scenario = scenario_for(os.environ.get("SCF_SIM_SCENARIO", "mixed"),
                            int(os.environ["SCF_SIM_SEED"]),
                            parse_bugs(os.environ.get("SCF_SIM_BUGS", "")))
    simulation = Simulation(scenario, stop_at_violation=False)
    result = simulation.run()
    print(result.report())
    for node in simulation.nodes:
        machine = node.core.machine
        print(f"instance {node.index} (v{node.validator}, {node.role}): committed "
              f"{node.app.height}, height {node.core.height} round {node.core.round} "
              f"step {node.core.step.name} locked_round "
              f"{machine.locked_round if machine else -1}")
    assert not result.violations, result.report()
