"""The mempool against a plain model, under random adds, removals, reaps and commits.

The model keeps the pending transactions in arrival order and the chain's next
nonce per sender; its reap is the rule written as directly as possible.
Invariants: the pool holds exactly the model's transactions (so len and
total_bytes agree and no (sender, nonce) is pending twice), and every reap is
a valid block body: per sender consecutive from the next nonce, within its
limits, nothing twice, and equal to the model's.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from genesis.demo_keys import demo_key
from ledger.errors import Code, LedgerError
from ledger.types import SignedTransaction, Transaction
from node.runtime.admission import Admitted
from node.runtime.mempool import Mempool, MempoolLimits

KEYS = [demo_key(f"PROP-{n}") for n in range(3)]
SENDERS = [key.public_key for key in KEYS]
WINDOW = 4


@cache
def signed(sender_index: int, nonce: int, variant: int) -> SignedTransaction:
    """Variants are different transactions for one nonce, of different sizes."""
    key = KEYS[sender_index]
    args = {"variant": variant, "pad": "x" * (40 * variant)}
    return Transaction("scf-prop", key.public_key, nonce, "notes", "set", args).sign(key)


@dataclass(frozen=True, slots=True)
class Pending:
    tx: SignedTransaction
    size: int

    @property
    def key(self) -> tuple[bytes, int]:
        return self.tx.tx.sender, self.tx.tx.nonce


def model_reap(pending: dict[bytes, Pending], next_nonce: dict[bytes, int], max_txs: int,
               max_bytes: int) -> list[SignedTransaction]:
    """The rule, plainly: `pending` is in arrival order."""
    senders: list[bytes] = []
    for item in pending.values():
        if item.tx.tx.sender not in senders:
            senders.append(item.tx.tx.sender)
    by_key = {item.key: item for item in pending.values()}
    runs: list[list[Pending]] = []
    for sender in senders:
        run, nonce = [], next_nonce[sender]
        while (sender, nonce) in by_key:
            run.append(by_key[sender, nonce])
            nonce += 1
        runs.append(run)
    result: list[SignedTransaction] = []
    used = 0
    for round_number in range(max((len(run) for run in runs), default=0)):
        for run in runs:
            if round_number < len(run):
                item = run[round_number]
                if len(result) == max_txs or used + item.size > max_bytes:
                    return result
                result.append(item.tx)
                used += item.size
    return result


class MempoolMachine(RuleBasedStateMachine):
    @initialize(max_count=st.integers(1, 16), max_bytes=st.integers(140, 3_000))
    def start(self, max_count: int, max_bytes: int) -> None:
        self.pool = Mempool(MempoolLimits(max_count, max_bytes, WINDOW))
        self.pending: dict[bytes, Pending] = {}  # arrival order
        self.fresh: list[bytes] = []  # added, not yet taken
        self.next_nonce = {sender: 0 for sender in SENDERS}

    def expected_add_error(self, tx: SignedTransaction, size: int) -> Code | None:
        sender, nonce = tx.tx.sender, tx.tx.nonce
        if nonce < self.next_nonce[sender]:
            return Code.BAD_NONCE
        if nonce >= self.next_nonce[sender] + WINDOW:
            return Code.NONCE_TOO_FAR
        if any(item.key == (sender, nonce) for item in self.pending.values()):
            return Code.BAD_NONCE
        limits = self.pool.limits
        if (len(self.pending) + 1 > limits.max_count
                or sum(item.size for item in self.pending.values()) + size > limits.max_bytes):
            return Code.MEMPOOL_FULL
        return None

    @rule(sender=st.integers(0, 2), offset=st.integers(-1, WINDOW), variant=st.integers(0, 2))
    def add(self, sender: int, offset: int, variant: int) -> None:
        self.add_one(sender, offset, variant)

    @rule(sender=st.integers(0, 2), count=st.integers(1, WINDOW + 1), variant=st.integers(0, 2))
    def add_run(self, sender: int, count: int, variant: int) -> None:
        """What a busy client does: consecutive nonces from the next."""
        for offset in range(count):
            self.add_one(sender, offset, variant)

    def add_one(self, sender: int, offset: int, variant: int) -> None:
        next_nonce = self.next_nonce[SENDERS[sender]]
        tx = signed(sender, max(0, next_nonce + offset), variant)
        size = len(tx.encode())
        entry = Admitted(tx=tx, tx_id=tx.tx_id, size=size, next_nonce=next_nonce)
        if tx.tx_id in self.pending:
            assert self.pool.add(entry) is False
            return
        expected = self.expected_add_error(tx, size)
        if expected is None:
            assert self.pool.add(entry) is True
            self.pending[tx.tx_id] = Pending(tx, size)
            self.fresh.append(tx.tx_id)
        else:
            try:
                self.pool.add(entry)
            except LedgerError as error:
                assert error.code is expected
            else:
                raise AssertionError(f"add should have raised {expected}")

    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        choices = [*self.pending, bytes(32)]
        tx_id = data.draw(st.sampled_from(choices), label="tx_id")
        assert self.pool.remove(tx_id) is (tx_id in self.pending)
        self.forget(tx_id)

    @rule(max_txs=st.integers(0, 16), max_bytes=st.integers(0, 3_000))
    def reap(self, max_txs: int, max_bytes: int) -> None:
        self.check_reap(max_txs, max_bytes)

    @invariant()
    def reaps_are_valid_block_bodies(self) -> None:
        """Unbounded, and with limits that cut it about in half, at a byte boundary too."""
        full = self.check_reap(10**9, 10**9)
        half = len(full) // 2 + 1
        self.check_reap(half, 10**9)
        boundary = sum(len(tx.encode()) for tx in full[:half])
        self.check_reap(10**9, boundary)
        self.check_reap(10**9, max(0, boundary - 1))

    def check_reap(self, max_txs: int, max_bytes: int) -> list[SignedTransaction]:
        reaped = self.pool.reap(max_txs, max_bytes, self.next_nonce.__getitem__)
        assert len(reaped) <= max_txs
        assert sum(len(tx.encode()) for tx in reaped) <= max_bytes
        assert len({tx.tx_id for tx in reaped}) == len(reaped)
        expected_nonce = dict(self.next_nonce)
        for tx in reaped:
            assert tx.tx_id in self.pending
            assert tx.tx.nonce == expected_nonce[tx.tx.sender]
            expected_nonce[tx.tx.sender] += 1
        assert reaped == model_reap(self.pending, self.next_nonce, max_txs, max_bytes)
        return reaped

    @rule(data=st.data(), foreign=st.lists(st.integers(0, 2), max_size=2))
    def commit(self, data: st.DataObject, foreign: list[int]) -> None:
        """A block commits: a prefix of our reap, then transactions we never saw."""
        reaped = self.pool.reap(10, 10_000, self.next_nonce.__getitem__)
        block = reaped[:data.draw(st.integers(0, len(reaped)), label="prefix")]
        for tx in block:
            self.next_nonce[tx.tx.sender] += 1
        for sender in foreign:
            nonce = self.next_nonce[SENDERS[sender]]
            block.append(signed(sender, nonce, 9))
            self.next_nonce[SENDERS[sender]] += 1
        touched = {tx.tx.sender for tx in block}
        gone = {tx.tx_id for tx in block} | {
            tx_id for tx_id, item in self.pending.items()
            if item.tx.tx.sender in touched and item.tx.tx.nonce < self.next_nonce[item.key[0]]}
        removed = self.pool.remove_committed(block, self.next_nonce.__getitem__)
        assert removed == len(gone & self.pending.keys())
        for tx_id in gone:
            self.forget(tx_id)

    @rule(limit=st.integers(0, 4))
    def take_new(self, limit: int) -> None:
        assert self.pool.take_new(limit) == [self.pending[i].tx for i in self.fresh[:limit]]
        self.fresh = self.fresh[limit:]

    def forget(self, tx_id: bytes) -> None:
        """A transaction left the pool: it is no longer pending, nor to be gossiped."""
        self.pending.pop(tx_id, None)
        if tx_id in self.fresh:
            self.fresh.remove(tx_id)

    @invariant()
    def holds_exactly_the_models_transactions(self) -> None:
        assert len(self.pool) == len(self.pending)
        assert self.pool.total_bytes == sum(item.size for item in self.pending.values())
        for tx_id, item in self.pending.items():
            assert self.pool.get(tx_id) == item.tx and self.pool.is_verified(tx_id)

    @invariant()
    def no_sender_nonce_is_pending_twice(self) -> None:
        keys = [item.key for item in self.pending.values()]
        assert len(set(keys)) == len(keys)


MempoolMachine.TestCase.settings = settings(MempoolMachine.TestCase.settings,
                                            stateful_step_count=40)
TestMempoolMachine = MempoolMachine.TestCase
