"""The mempool: each rule and error code, reap's order and bounds, eviction after a commit."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from genesis.demo_keys import demo_key
from ledger.errors import Code, LedgerError
from ledger.types import SignedTransaction, Transaction
from node.runtime.admission import Admitted
from node.runtime.mempool import Mempool, MempoolLimits

CHAIN_ID = "scf-test"
KEYS = {key.public_key: key for key in map(demo_key, ("SENDER-A", "SENDER-B", "SENDER-C"))}
A, B, C = KEYS


def signed(sender: bytes, nonce: int, *, variant: int = 0, pad: int = 0) -> SignedTransaction:
    args = {"key": f"v{variant}", "value": nonce, "pad": "x" * pad}
    return Transaction(CHAIN_ID, sender, nonce, "notes", "set", args).sign(KEYS[sender])


def admitted(sender: bytes, nonce: int, *, next_nonce: int = 0, variant: int = 0,
             pad: int = 0) -> Admitted:
    tx = signed(sender, nonce, variant=variant, pad=pad)
    return Admitted(tx=tx, tx_id=tx.tx_id, size=len(tx.encode()), next_nonce=next_nonce)


def nonces(start: dict[bytes, int]) -> Callable[[bytes], int]:
    return lambda sender: start.get(sender, 0)


ALL_ZERO = nonces({})
NO_LIMIT = 10**9


def summary(pool: Mempool) -> tuple[int, int, list[bytes]]:
    """What must not change when an operation is refused."""
    reaped = pool.reap(NO_LIMIT, NO_LIMIT, ALL_ZERO)
    return len(pool), pool.total_bytes, [tx.tx_id for tx in reaped]


def refused(pool: Mempool, entry: Admitted) -> LedgerError:
    before = summary(pool)
    with pytest.raises(LedgerError) as caught:
        pool.add(entry)
    assert summary(pool) == before
    assert entry.tx_id not in pool and pool.get(entry.tx_id) is None
    return caught.value


def ids(txs: list[SignedTransaction]) -> list[tuple[bytes, int]]:
    return [(tx.tx.sender, tx.tx.nonce) for tx in txs]


# --- limits ---------------------------------------------------------------------------------

@pytest.mark.parametrize("field", ["max_count", "max_bytes", "nonce_window"])
@pytest.mark.parametrize("value", [0, -1, True, 1.5, "10"])
def test_limits_must_be_positive_integers(field: str, value: object) -> None:
    with pytest.raises(LedgerError) as caught:
        MempoolLimits(**{field: value})  # type: ignore[arg-type]
    assert caught.value.code is Code.CONFIG_INVALID


def test_default_limits() -> None:
    assert MempoolLimits() == MempoolLimits(20_000, 64 * 1024 * 1024, 256)
    assert Mempool().limits == MempoolLimits()


# --- add ------------------------------------------------------------------------------------

def test_add_files_a_transaction_and_is_idempotent() -> None:
    pool = Mempool()
    entry = admitted(A, 0)
    assert pool.add(entry) is True
    assert pool.add(entry) is False
    assert len(pool) == 1 and pool.total_bytes == entry.size
    assert entry.tx_id in pool and pool.get(entry.tx_id) == entry.tx
    assert pool.is_verified(entry.tx_id)
    assert pool.get(bytes(32)) is None and bytes(32) not in pool
    assert not pool.is_verified(bytes(32))


def test_nonce_window_is_counted_from_the_senders_next_nonce() -> None:
    pool = Mempool(MempoolLimits(nonce_window=4))
    assert pool.add(admitted(A, 13, next_nonce=10))
    error = refused(pool, admitted(A, 14, next_nonce=10))
    assert error.code is Code.NONCE_TOO_FAR
    assert "14" in error.message


def test_a_second_transaction_for_a_pending_nonce_is_refused_naming_the_first() -> None:
    pool = Mempool()
    first = admitted(A, 0)
    pool.add(first)
    error = refused(pool, admitted(A, 0, variant=1))
    assert error.code is Code.BAD_NONCE
    assert first.tx_id.hex()[:16] in error.message
    assert pool.add(admitted(B, 0, variant=1))  # another sender's nonce 0 is no conflict


def test_a_nonce_below_the_next_is_refused() -> None:
    pool = Mempool()
    error = refused(pool, admitted(A, 4, next_nonce=5))
    assert error.code is Code.BAD_NONCE and "already used" in error.message


def test_a_full_pool_refuses_by_count() -> None:
    pool = Mempool(MempoolLimits(max_count=2))
    first, second = admitted(A, 0), admitted(A, 1)
    pool.add(first)
    pool.add(second)
    assert refused(pool, admitted(B, 0)).code is Code.MEMPOOL_FULL
    assert pool.add(first) is False  # a duplicate is not an error, even when full
    pool.remove(first.tx_id)
    assert pool.add(admitted(B, 0))


def test_a_full_pool_refuses_by_bytes() -> None:
    small, big = admitted(A, 0), admitted(B, 0, pad=500)
    pool = Mempool(MempoolLimits(max_bytes=small.size + big.size - 1))
    pool.add(small)
    assert refused(pool, big).code is Code.MEMPOOL_FULL
    pool.add(admitted(C, 0))  # a transaction as small as the first still fits
    alone = Mempool(MempoolLimits(max_bytes=big.size - 1))
    assert refused(alone, big).code is Code.MEMPOOL_FULL
    exact = Mempool(MempoolLimits(max_bytes=big.size))
    assert exact.add(big) and exact.total_bytes == exact.limits.max_bytes


def test_a_refused_add_is_not_handed_to_gossip() -> None:
    pool = Mempool(MempoolLimits(max_count=1))
    kept = admitted(A, 0)
    pool.add(kept)
    for entry in (admitted(A, 0, variant=1), admitted(B, 0)):
        with pytest.raises(LedgerError):
            pool.add(entry)
    assert pool.take_new(10) == [kept.tx]


# --- reap -----------------------------------------------------------------------------------

def test_reap_takes_only_the_run_of_consecutive_nonces_from_the_next() -> None:
    pool = Mempool()
    for nonce in (8, 6, 5, 3):
        pool.add(admitted(A, nonce, next_nonce=3 if nonce == 3 else 5))
    start = nonces({A: 5})  # nonce 3 is stale (not yet evicted), 7 is missing
    assert ids(pool.reap(NO_LIMIT, NO_LIMIT, start)) == [(A, 5), (A, 6)]
    assert ids(pool.reap(NO_LIMIT, NO_LIMIT, nonces({A: 4}))) == []
    assert len(pool) == 4  # reap removes nothing


def test_reap_interleaves_senders_by_their_oldest_pending_transaction() -> None:
    pool = Mempool()
    for sender, nonce in [(B, 0), (A, 0), (B, 1), (C, 0), (A, 1), (B, 2), (A, 2), (A, 3)]:
        pool.add(admitted(sender, nonce))
    assert ids(pool.reap(NO_LIMIT, NO_LIMIT, ALL_ZERO)) == [
        (B, 0), (A, 0), (C, 0), (B, 1), (A, 1), (B, 2), (A, 2), (A, 3)]


def test_a_sender_whose_oldest_transaction_committed_moves_back() -> None:
    pool = Mempool()
    a0 = admitted(A, 0)
    for entry in (a0, admitted(B, 0), admitted(A, 1)):
        pool.add(entry)
    assert pool.remove_committed([a0.tx], nonces({A: 1})) == 1
    assert ids(pool.reap(NO_LIMIT, NO_LIMIT, nonces({A: 1}))) == [(B, 0), (A, 1)]


def test_reap_order_does_not_depend_on_nonce_arrival_order() -> None:
    pool = Mempool()
    for sender, nonce in [(A, 1), (B, 0), (A, 0)]:
        pool.add(admitted(sender, nonce))
    assert ids(pool.reap(NO_LIMIT, NO_LIMIT, ALL_ZERO)) == [(A, 0), (B, 0), (A, 1)]


def test_reap_stops_at_max_txs() -> None:
    pool = Mempool()
    for sender in (A, B):
        for nonce in range(3):
            pool.add(admitted(sender, nonce))
    assert ids(pool.reap(3, NO_LIMIT, ALL_ZERO)) == [(A, 0), (B, 0), (A, 1)]
    assert pool.reap(0, NO_LIMIT, ALL_ZERO) == []


def test_reap_stops_before_the_first_transaction_that_would_pass_max_bytes() -> None:
    pool = Mempool()
    a0, b0, a1 = admitted(A, 0), admitted(B, 0, pad=400), admitted(A, 1)
    for entry in (a0, b0, a1):
        pool.add(entry)
    # b0 does not fit: reap stops there, though a1 alone would have fitted.
    assert pool.reap(NO_LIMIT, a0.size + a1.size, ALL_ZERO) == [a0.tx]
    assert pool.reap(NO_LIMIT, a0.size + b0.size, ALL_ZERO) == [a0.tx, b0.tx]
    assert pool.reap(NO_LIMIT, a0.size - 1, ALL_ZERO) == []


def test_reap_refuses_negative_limits() -> None:
    with pytest.raises(ValueError):
        Mempool().reap(-1, 10, ALL_ZERO)
    with pytest.raises(ValueError):
        Mempool().reap(10, -1, ALL_ZERO)


# --- removal --------------------------------------------------------------------------------

def test_remove_drops_one_transaction() -> None:
    pool = Mempool()
    a0, a1 = admitted(A, 0), admitted(A, 1)
    pool.add(a0)
    pool.add(a1)
    assert pool.remove(a0.tx_id) is True
    assert pool.remove(a0.tx_id) is False
    assert len(pool) == 1 and pool.total_bytes == a1.size
    assert not pool.is_verified(a0.tx_id)
    assert pool.reap(NO_LIMIT, NO_LIMIT, ALL_ZERO) == []  # nonce 0 is now a gap
    assert pool.add(admitted(A, 0, variant=1))  # the nonce is free again


def test_remove_committed_drops_the_block_and_every_stale_nonce_of_its_senders() -> None:
    pool = Mempool()
    a0, a1, a2, b0 = admitted(A, 0), admitted(A, 1), admitted(A, 2), admitted(B, 0)
    for entry in (a0, a1, a2, b0):
        pool.add(entry)
    # Another node's block used A's nonces 0 and 1 with other transactions.
    theirs = [signed(A, 0, variant=7), signed(A, 1, variant=7)]
    assert pool.remove_committed(theirs, nonces({A: 2})) == 2
    assert a0.tx_id not in pool and a1.tx_id not in pool
    assert a2.tx_id in pool and b0.tx_id in pool
    assert ids(pool.reap(NO_LIMIT, NO_LIMIT, nonces({A: 2}))) == [(A, 2), (B, 0)]


def test_remove_committed_counts_committed_and_stale_together() -> None:
    pool = Mempool()
    b = [admitted(B, n) for n in range(4)]
    for entry in b:
        pool.add(entry)
    # b[0] committed; a gap-filling tx of another node used nonce 1 too.
    removed = pool.remove_committed([b[0].tx, signed(B, 1, variant=3)], nonces({B: 2}))
    assert removed == 2
    assert len(pool) == 2 and pool.total_bytes == b[2].size + b[3].size


def test_remove_committed_checks_only_the_senders_of_the_block() -> None:
    pool = Mempool()
    a0, b0 = admitted(A, 0), admitted(B, 0)
    pool.add(a0)
    pool.add(b0)
    assert pool.remove_committed([a0.tx], nonces({A: 1, B: 5})) == 1
    assert b0.tx_id in pool  # B was not in the block: its nonce is not read


def test_remove_committed_of_an_empty_block_removes_nothing() -> None:
    pool = Mempool()
    pool.add(admitted(A, 0))
    assert pool.remove_committed([], nonces({A: 9})) == 0 and len(pool) == 1


# --- gossip ---------------------------------------------------------------------------------

def test_take_new_hands_out_each_added_transaction_once_oldest_first() -> None:
    pool = Mempool()
    entries = [admitted(A, 0), admitted(B, 0), admitted(A, 1), admitted(C, 0)]
    for entry in entries:
        pool.add(entry)
    assert pool.take_new(3) == [e.tx for e in entries[:3]]
    pool.add(entries[0])  # a duplicate is not new
    later = admitted(B, 1)
    pool.add(later)
    assert pool.take_new(10) == [entries[3].tx, later.tx]
    assert pool.take_new(10) == []
    assert len(pool) == 5  # taking removes nothing from the pool


def test_take_new_skips_transactions_that_left_the_pool() -> None:
    pool = Mempool()
    a0, a1, b0 = admitted(A, 0), admitted(A, 1), admitted(B, 0)
    for entry in (a0, a1, b0):
        pool.add(entry)
    pool.remove(a1.tx_id)
    pool.remove_committed([a0.tx], nonces({A: 1}))
    assert pool.take_new(10) == [b0.tx]
    assert pool.take_new(0) == []



def test_next_free_nonce_skips_the_senders_pending_run() -> None:
    pool = Mempool()
    for nonce in (3, 4, 6):
        pool.add(admitted(A, nonce, next_nonce=3))
    assert pool.next_free_nonce(A, 3) == 5
    assert pool.next_free_nonce(A, 5) == 5
    assert pool.next_free_nonce(B, 0) == 0
