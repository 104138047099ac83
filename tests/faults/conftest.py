"""Markers and the seed of the fault tests.

`SCF_FAULTS=long` adds the long runs (several minutes each); without it
only the short subset runs, as part of `make test`. `SCF_FAULTS_SEED=<n>`
replays the nemesis' choices of a failed run (which node, when, how).
"""

from __future__ import annotations

import os
import random

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "faults: fault injection on a real localnet (tests/faults)")
    config.addinivalue_line("markers", "faults_long: a long fault run, only with SCF_FAULTS=long")


def long_runs_enabled() -> bool:
    return os.environ.get("SCF_FAULTS", "") == "long"


@pytest.fixture
def fault_seed() -> int:
    given = os.environ.get("SCF_FAULTS_SEED")
    seed = int(given) if given else random.SystemRandom().randrange(2**32)
    print(f"\nfault seed: {seed} (SCF_FAULTS_SEED={seed} replays the nemesis' choices)")
    return seed
