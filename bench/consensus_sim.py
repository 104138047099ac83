"""Consensus in the deterministic simulation: latency, rounds per height, violations.

Runs the seeded scenarios of tests/sim (the same generator as the CI test)
and prints, per fault mix, how many rounds an honest validator needed per
height, how often a run broke an invariant, and the simulation's speed; plus
the fault-free commit latency in message delays (every message takes exactly
100 ms; equal powers). The `thorough` profile is this script with
`--scenarios 100000`.

Run: .venv/bin/python bench/consensus_sim.py [--scenarios N] [--processes P]
     (N defaults to SCF_SIM_SCENARIOS or 1,200, spread evenly over the mixes)
Prints `RESULT name=value unit` lines last. Exits 1 if any scenario failed,
after listing the replay command of each failure.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the simulator lives in tests/

from tests.sim.metrics import commit_latencies, fault_free_latency  # noqa: E402
from tests.sim.scenario import MIXES, Scenario, generate  # noqa: E402
from tests.sim.simulator import run  # noqa: E402


def run_batch(mix: str, seeds: range) -> tuple[str, int, int, int, list[str], int]:
    """(mix, runs, rounds summed, honest commits, failure reports, events)."""
    rounds = commits = events = 0
    failures = []
    for seed in seeds:
        result = run(generate(mix, seed))
        events += result.events
        for commit in result.commits:
            if commit.honest:
                rounds += commit.round + 1
                commits += 1
        if result.violations:
            failures.append(result.report())
    return mix, len(seeds), rounds, commits, failures, events


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenarios", type=int,
                        default=int(os.environ.get("SCF_SIM_SCENARIOS", "1200")))
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()
    per_mix = max(1, -(-args.scenarios // len(MIXES)))
    chunk = 200
    jobs = [(mix, range(start, min(start + chunk, per_mix)))
            for mix in MIXES for start in range(0, per_mix, chunk)]
    totals: dict[str, list[int]] = {mix: [0, 0, 0, 0] for mix in MIXES}
    failures: list[str] = []
    began = time.perf_counter()
    if args.processes > 1:
        with ProcessPoolExecutor(args.processes) as pool:
            outcomes = list(pool.map(run_batch, *zip(*jobs)))
    else:
        outcomes = [run_batch(mix, seeds) for mix, seeds in jobs]
    elapsed = time.perf_counter() - began
    events = 0
    for mix, batch_runs, rounds, commits, batch_failures, batch_events in outcomes:
        total = totals[mix]
        total[0] += batch_runs
        total[1] += rounds
        total[2] += commits
        total[3] += len(batch_failures)
        failures += batch_failures
        events += batch_events
    latencies = fault_free_latency(seeds=20)
    equal = commit_latencies(run(Scenario(mix="none", seed=0, powers=(1, 1, 1, 1),
                                          fixed_delay_ms=100, target_height=5)), 100)

    print(f"{'mix':<11} {'runs':>7} {'rounds/height':>14} {'failed':>7}")
    for mix in MIXES:
        mix_runs, rounds, commits, failed = totals[mix]
        print(f"{mix:<11} {mix_runs:>7} {rounds / max(1, commits):>14.3f} {failed:>7}")
    for report in failures:
        print("\nFAILED " + report)
    runs = sum(t[0] for t in totals.values())
    print(f"RESULT scenarios={runs} runs")
    print(f"RESULT failed_scenarios={len(failures)} runs")
    print(f"RESULT fault_free_commit_latency_equal_power={sum(equal) / len(equal):.2f} "
          "message_delays")
    print(f"RESULT fault_free_commit_latency_mixed_power_mean={sum(latencies) / len(latencies):.2f}"
          " message_delays")
    for mix in MIXES:
        _, rounds, commits, _ = totals[mix]
        print(f"RESULT rounds_per_height_{mix}={rounds / max(1, commits):.3f} rounds")
    print(f"RESULT sim_throughput={runs / elapsed:.1f} scenarios_per_second "
          f"({args.processes} process{'es' if args.processes > 1 else ''})")
    print(f"RESULT sim_events={events / elapsed:.0f} events_per_second")
    print(f"RESULT sim_wall_time={elapsed:.1f} seconds")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
