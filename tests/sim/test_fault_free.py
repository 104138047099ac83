"""Fault-free runs: everyone commits, in 3 message delays, the same way every time."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from tests.sim.metrics import commit_latencies
from tests.sim.scenario import Scenario, generate
from tests.sim.simulator import run

ROOT = Path(__file__).resolve().parents[2]


def _equal_power(seed: int = 0, **changes: object) -> Scenario:
    return replace(Scenario(mix="none", seed=seed, powers=(1, 1, 1, 1), target_height=5),
                   **changes)  # type: ignore[arg-type]


def test_four_validators_commit_the_same_blocks() -> None:
    result = run(_equal_power())
    assert not result.violations, result.report()
    by_height: dict[int, set[bytes]] = {}
    for commit in result.commits:
        by_height.setdefault(commit.height, set()).add(commit.block_hash)
    assert sorted(by_height) == [1, 2, 3, 4, 5]
    assert all(len(blocks) == 1 for blocks in by_height.values())
    assert {c.round for c in result.commits} == {0}


def test_fault_free_commit_takes_three_message_delays() -> None:
    for n in (4, 7):
        result = run(_equal_power(powers=(1,) * n, fixed_delay_ms=100))
        latencies = commit_latencies(result, 100)
        assert latencies and set(latencies) == {3.0}, latencies


def test_a_run_is_a_pure_function_of_its_scenario() -> None:
    scenario = generate("mixed", 7)
    first, second = run(scenario), run(scenario)
    assert first.commits == second.commits
    assert (first.events, first.messages) == (second.events, second.messages)


_DIGEST = """
import hashlib
from tests.sim.scenario import generate
from tests.sim.simulator import run
h = hashlib.sha256()
for mix, seed in (("mixed", 3), ("twins", 5), ("torn", 2)):
    r = run(generate(mix, seed))
    h.update(repr([(c.instance, c.height, c.round, c.block_hash, c.time_ms)
                   for c in r.commits]).encode())
    h.update(repr((r.events, r.messages)).encode())
print(h.hexdigest())
"""


def test_runs_do_not_depend_on_the_hash_seed() -> None:
    digests = set()
    for hash_seed in ("0", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONPATH=str(ROOT))
        out = subprocess.run([sys.executable, "-c", _DIGEST], cwd=ROOT, env=env,
                             capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1
    assert len(hashlib.sha256().hexdigest()) == len(digests.pop())
