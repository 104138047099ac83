"""The proposer's block size follows its build cost (node/runtime/build_budget.py)."""

from __future__ import annotations

from itertools import count

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.store.chain import ChainStore
from ledger.store.memory import MemoryStore
from node.runtime.admission import admit
from node.runtime.application import LedgerApplication
from node.runtime.build_budget import MIN_SAMPLE_TXS, MIN_TXS, BuildBudget
from node.runtime.mempool import Mempool, MempoolLimits
from tests.support.chain import REGISTRY, certify, example_genesis, note_tx


@pytest.mark.parametrize(("seconds_per_tx", "timeout_ms", "expected"), [
    (None, 3000, 1000),     # nothing learnt yet: the chain's limit
    (0.001, 3000, 1000),    # 1 s budget / 1 ms = 1000
    (0.002, 3000, 500),
    (0.004, 1500, 125),     # 0.5 s / 4 ms
    (0.1, 3000, MIN_TXS),   # never below the floor
])
def test_limit_table(seconds_per_tx: float | None, timeout_ms: int, expected: int) -> None:
    assert BuildBudget(seconds_per_tx).limit(1000, timeout_ms) == expected


def test_the_floor_never_exceeds_the_chains_limit() -> None:
    assert BuildBudget(1.0).limit(10, 3000) == 10


def test_record_averages_and_ignores_small_builds() -> None:
    budget = BuildBudget()
    budget.record(MIN_SAMPLE_TXS - 1, 100.0)
    assert budget.seconds_per_tx is None
    budget.record(100, 0.2)
    assert budget.seconds_per_tx == pytest.approx(0.002)
    budget.record(100, 0.4)
    assert budget.seconds_per_tx == pytest.approx(0.003)


@given(st.lists(st.tuples(st.integers(0, 5000), st.floats(0, 60, allow_nan=False)), max_size=30),
       st.integers(1, 10_000), st.integers(1, 600_000))
def test_limit_stays_within_floor_and_chain_limit(builds: list[tuple[int, float]],
                                                  max_txs: int, timeout_ms: int) -> None:
    budget = BuildBudget()
    for txs, seconds in builds:
        budget.record(txs, seconds)
    assert min(MIN_TXS, max_txs) <= budget.limit(max_txs, timeout_ms) <= max_txs


def test_a_slow_build_makes_the_next_block_smaller() -> None:
    chain = ChainStore(MemoryStore(), example_genesis())  # timeout_propose_ms 3000: 1 s budget
    ticks = count()
    # every reading of the clock is 3 s after the last: each build "takes" 3 s
    app = LedgerApplication(chain, REGISTRY, Mempool(MempoolLimits(nonce_window=1000)),
                            b"\x02" * 32, clock=lambda: 3.0 * next(ticks))
    def add(nonces: range) -> None:
        for nonce in nonces:
            tx = note_tx(chain, "SUPPLIER-01", nonce=nonce, key=f"k{nonce}", value="v")
            app.mempool.add(admit(tx, chain_id=chain.genesis.chain_id, state=chain.state(),
                                  next_height=chain.height + 1))

    add(range(400))
    first = app.build(1, chain.genesis.genesis_time_ms + 1000)
    assert len(first.txs) == 400            # 3 s for 400: 7.5 ms a transaction
    app.commit(first, certify(chain, first))
    add(range(400, 800))
    second = app.build(2, first.header.time_ms + 1000)
    assert len(second.txs) == 133           # the 1 s budget / 7.5 ms
