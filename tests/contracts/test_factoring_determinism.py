"""Factoring and dynamic discounting give the same blocks and state root in every process.

`scenario_digest` (test_factoring_support.py) runs offers, acceptances,
fundings, partial payments, a reserve release, a reverse-factoring default
with its exposure index, and a sliding-table early payment; here and in
fresh interpreters under different PYTHONHASHSEED values, all must agree.
"""

from __future__ import annotations

from tests.contracts.support import digest_under_hash_seed
from tests.contracts.test_factoring_support import scenario_digest


def test_same_blocks_same_state_root_across_hash_seeds() -> None:
    here = scenario_digest()
    assert len(here.split()) > 20   # the root and every block hash
    assert here == scenario_digest()
    for seed in ("0", "1", "4242"):
        assert digest_under_hash_seed("tests.contracts.test_factoring_support", seed) == here, \
            f"PYTHONHASHSEED={seed} diverged"
