"""Payable certificates give the same blocks and state root in every process.

`scenario_digest` (test_payables_support.py) issues two certificates, splits
and transfers parts down and back up the tiers, discounts two parts (one
ACT/360, one with a fee), rejects and repeats a payment, settles one
certificate and defaults a part of the other (penalty interest, exposure);
here and in fresh interpreters under different PYTHONHASHSEED values, all
must agree.
"""

from __future__ import annotations

from tests.contracts.support import digest_under_hash_seed
from tests.contracts.test_payables_support import scenario_digest


def test_same_blocks_same_state_root_across_hash_seeds() -> None:
    here = scenario_digest()
    assert len(here.split()) > 25   # the root and every block hash
    assert here == scenario_digest()
    for seed in ("0", "1", "4242"):
        assert digest_under_hash_seed("tests.contracts.test_payables_support", seed) == here, \
            f"PYTHONHASHSEED={seed} diverged"
