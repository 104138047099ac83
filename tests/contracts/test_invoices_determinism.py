"""The same transactions give the same blocks and state root in every process.

Python's str/bytes hashing is randomised per process (PYTHONHASHSEED), so
any contract that iterated a set or a dict in hash order would diverge
between validators. The fixed scenario of `scenario_digest` runs here and
in fresh interpreters under different seeds; all must agree.
"""

from __future__ import annotations

from tests.contracts.support import digest_under_hash_seed, scenario_digest


def test_same_blocks_same_state_root_across_hash_seeds() -> None:
    here = scenario_digest()
    assert len(here.split()) == 5  # the root and four block hashes
    assert here == scenario_digest()
    for seed in ("0", "1", "4242"):
        assert digest_under_hash_seed("tests.contracts.support", seed) == here, \
            f"PYTHONHASHSEED={seed} diverged"
