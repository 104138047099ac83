"""Figures from simulation runs: commit latency in message delays, rounds per height."""

from __future__ import annotations

from dataclasses import replace

from tests.sim.scenario import Scenario, generate
from tests.sim.simulator import RunResult, run


def commit_latencies(result: RunResult, delay_ms: int) -> list[float]:
    """For each honest commit of a block proposed in round 0: the time from its
    proposer starting the height (it proposes at once) to the commit, in
    message delays. Without twins, validator i runs as instance i."""
    return [(commit.time_ms - result.started_at[(commit.proposer, commit.height)]) / delay_ms
            for commit in result.commits if commit.honest and commit.round == 0]


def fault_free_latency(seeds: int = 10, delay_ms: int = 100) -> list[float]:
    """Commit latencies of fault-free runs where every message takes `delay_ms`."""
    latencies: list[float] = []
    for seed in range(seeds):
        scenario: Scenario = replace(generate("none", seed), fixed_delay_ms=delay_ms)
        latencies += commit_latencies(run(scenario), delay_ms)
    return latencies


def rounds_per_height(results: list[RunResult]) -> float:
    """Mean number of rounds an honest instance took to decide a height."""
    rounds = [c.round + 1 for r in results for c in r.commits if c.honest]
    return sum(rounds) / len(rounds) if rounds else 0.0
