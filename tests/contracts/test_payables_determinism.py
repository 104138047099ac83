"""Payable certificates give the same blocks and state root in every process.

`scenario_digest` (test_payables_support.py) issues two certificates, splits
and transfers parts down and back up the tiers, discounts two parts (one
ACT/360, one with a fee), rejects and repeats a payment, settles one
certificate and defaults a part of the other (penalty interest, exposure);
here and in fresh interpreters under different PYTHONHASHSEED values, all
must agree.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.contracts.test_payables_support import scenario_digest

ROOT = Path(__file__).resolve().parents[2]


def _digest_in_subprocess(seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", "from tests.contracts.test_payables_support import "
                               "scenario_digest; print(scenario_digest())"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True)
    return result.stdout.strip()


def test_same_blocks_same_state_root_across_hash_seeds() -> None:
    here = scenario_digest()
    assert len(here.split()) > 25   # the root and every block hash
    assert here == scenario_digest()
    for seed in ("0", "1", "4242"):
        assert _digest_in_subprocess(seed) == here, f"PYTHONHASHSEED={seed} diverged"
