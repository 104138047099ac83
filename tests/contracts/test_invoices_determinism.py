"""The same transactions give the same blocks and state root in every process.

Python's str/bytes hashing is randomised per process (PYTHONHASHSEED), so
any contract that iterated a set or a dict in hash order would diverge
between validators. The fixed scenario of `scenario_digest` runs here and
in fresh interpreters under different seeds; all must agree.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.contracts.support import scenario_digest

ROOT = Path(__file__).resolve().parents[2]


def _digest_in_subprocess(seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c",
         "from tests.contracts.support import scenario_digest; print(scenario_digest())"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True)
    return result.stdout.strip()


def test_same_blocks_same_state_root_across_hash_seeds() -> None:
    here = scenario_digest()
    assert len(here.split()) == 5  # the root and four block hashes
    assert here == scenario_digest()
    for seed in ("0", "1", "4242"):
        assert _digest_in_subprocess(seed) == here, f"PYTHONHASHSEED={seed} diverged"
