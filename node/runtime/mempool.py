"""The pool of admitted transactions waiting for a block.

Theory of operation. The node admits a transaction (node/runtime/admission.py)
and `add`s it here. The pool keeps, per sender, at most one transaction per
nonce, within `nonce_window` of the sender's next nonce; a second transaction
for a pending (sender, nonce) is refused, not swapped in: there are no fees to
say which of the two should win. A full pool refuses new transactions rather
than evicting old ones, for the same reason.

The proposer asks `reap` for the next block's candidates: per sender only the
run of consecutive nonces that starts at the sender's next nonce (a gap stops
the run, since nothing after it can commit yet), senders taken round robin in
the order of their oldest pending transaction, so one busy sender cannot fill
a block while others wait. After a block commits, `remove_committed` drops its
transactions and every pending one whose nonce the chain has now used.

`take_new` hands out, once each, the transactions added since it was last
called, for gossip to peers. `is_verified` tells block validation which
transactions it need not verify again.

The pool is plain data, not thread-safe, with no clock and no I/O: the node's
event loop owns it. Cost per call: `add`, `remove`, `get` O(1);
`remove_committed` O(committed + pending txs of their senders); `reap`
O(result + S log S) for S senders with pending transactions (S is bounded by
the members' keys); `take_new` O(result).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ledger.errors import Code, LedgerError
from ledger.types import SignedTransaction
from node.runtime.admission import Admitted


@dataclass(frozen=True, slots=True)
class MempoolLimits:
    max_count: int = 20_000
    max_bytes: int = 64 * 1024 * 1024
    #: How far ahead of its next nonce a sender may queue transactions.
    nonce_window: int = 256

    def __post_init__(self) -> None:
        for name in ("max_count", "max_bytes", "nonce_window"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise LedgerError(Code.CONFIG_INVALID,
                                  f"mempool {name} must be a positive integer, got {value!r}")


@dataclass(frozen=True, slots=True)
class _Entry:
    tx: SignedTransaction
    size: int
    sender: bytes
    nonce: int


@dataclass(slots=True)
class _SenderQueue:
    """One sender's pending transactions."""

    by_nonce: dict[int, bytes] = field(default_factory=dict)
    #: tx id -> arrival number, oldest first (OrderedDict: O(1) oldest after deletions).
    arrivals: OrderedDict[bytes, int] = field(default_factory=OrderedDict)

    def oldest_arrival(self) -> int:
        return self.arrivals[next(iter(self.arrivals))]


class Mempool:
    def __init__(self, limits: MempoolLimits | None = None) -> None:
        self._limits = limits if limits is not None else MempoolLimits()
        self._entries: dict[bytes, _Entry] = {}
        self._senders: dict[bytes, _SenderQueue] = {}
        self._total_bytes = 0
        self._arrivals = 0
        # Pending ids not yet handed out by take_new; never larger than the pool.
        self._fresh: OrderedDict[bytes, None] = OrderedDict()

    @property
    def limits(self) -> MempoolLimits:
        return self._limits

    @property
    def total_bytes(self) -> int:
        return self._total_bytes

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, tx_id: object) -> bool:
        return tx_id in self._entries

    def get(self, tx_id: bytes) -> SignedTransaction | None:
        entry = self._entries.get(tx_id)
        return None if entry is None else entry.tx

    def next_free_nonce(self, sender: bytes, committed_next: int) -> int:
        """The first nonce from `committed_next` on that no pending tx of `sender` holds:
        what a client signing several transactions in a row uses next."""
        queue = self._senders.get(sender)
        nonce = committed_next
        while queue is not None and nonce in queue.by_nonce:
            nonce += 1
        return nonce

    def is_verified(self, tx_id: bytes) -> bool:
        """Whether the transaction with this id is known to have a valid signature.

        Everything pending passed admission, signature included, and an id
        covers the signature bytes, so membership is the answer. Ids that
        have left the pool are not remembered: a committed transaction's
        nonce is used and a stale one's too, so neither can be in a valid
        block again, and `remove` is for transactions found unfit.
        """
        return tx_id in self._entries

    def add(self, admitted: Admitted) -> bool:
        """Files an admitted transaction; False if it is already pending.

        Raises LedgerError (and changes nothing): NONCE_TOO_FAR beyond the
        sender's nonce window, BAD_NONCE for a nonce already used or held by
        another pending transaction, MEMPOOL_FULL past either limit.
        """
        if admitted.tx_id in self._entries:
            return False
        tx = admitted.tx.tx
        sender, nonce = tx.sender, tx.nonce
        if nonce < admitted.next_nonce:
            raise LedgerError(Code.BAD_NONCE, f"nonce {nonce} was already used: "
                                              f"the sender's next nonce is {admitted.next_nonce}")
        window_end = admitted.next_nonce + self._limits.nonce_window
        if nonce >= window_end:
            raise LedgerError(Code.NONCE_TOO_FAR,
                              f"nonce {nonce} is too far ahead: the sender's next nonce is "
                              f"{admitted.next_nonce}, at most {window_end - 1} is accepted")
        queue = self._senders.get(sender)
        pending_id = None if queue is None else queue.by_nonce.get(nonce)
        if pending_id is not None:
            raise LedgerError(Code.BAD_NONCE, f"nonce {nonce} is taken by pending transaction "
                                              f"{pending_id.hex()[:16]}…")
        if len(self._entries) + 1 > self._limits.max_count:
            raise LedgerError(Code.MEMPOOL_FULL,
                              f"mempool holds {len(self._entries)} transactions, the limit")
        if self._total_bytes + admitted.size > self._limits.max_bytes:
            raise LedgerError(Code.MEMPOOL_FULL,
                              f"mempool holds {self._total_bytes} bytes, {admitted.size} more "
                              f"would pass the limit of {self._limits.max_bytes}")
        if queue is None:
            queue = self._senders[sender] = _SenderQueue()
        queue.by_nonce[nonce] = admitted.tx_id
        queue.arrivals[admitted.tx_id] = self._arrivals
        self._arrivals += 1
        self._entries[admitted.tx_id] = _Entry(admitted.tx, admitted.size, sender, nonce)
        self._total_bytes += admitted.size
        self._fresh[admitted.tx_id] = None
        return True

    def remove(self, tx_id: bytes) -> bool:
        """Drops one transaction (say, one the proposer found inadmissible)."""
        entry = self._entries.pop(tx_id, None)
        if entry is None:
            return False
        self._total_bytes -= entry.size
        self._fresh.pop(tx_id, None)
        queue = self._senders[entry.sender]
        del queue.by_nonce[entry.nonce]
        del queue.arrivals[tx_id]
        if not queue.by_nonce:
            del self._senders[entry.sender]
        return True

    def remove_committed(self, committed: Iterable[SignedTransaction],
                         next_nonce: Callable[[bytes], int]) -> int:
        """After a block commits: drops its transactions and every pending one
        whose nonce is now used (`next_nonce` reads the new state). Returns how
        many were removed.

        The senders of all committed transactions are checked, not only of
        those that were pending here: another node's transaction may have used
        a nonce that one of ours holds too.
        """
        removed = 0
        senders: dict[bytes, None] = {}
        for signed in committed:
            senders[signed.tx.sender] = None
            removed += self.remove(signed.tx_id)
        for sender in senders:
            queue = self._senders.get(sender)
            if queue is None:
                continue
            first_unused = next_nonce(sender)
            stale = [tx_id for nonce, tx_id in queue.by_nonce.items() if nonce < first_unused]
            for tx_id in stale:
                removed += self.remove(tx_id)
        return removed

    def reap(self, max_txs: int, max_bytes: int,
             next_nonce: Callable[[bytes], int]) -> list[SignedTransaction]:
        """Candidates for the next block, in block order; removes nothing.

        Round robin over senders (oldest pending transaction first), each
        contributing its next consecutive nonce per round; stops at `max_txs`
        or at the first transaction that would pass `max_bytes` (of encoded
        transactions).
        """
        if max_txs < 0 or max_bytes < 0:
            raise ValueError("reap limits must not be negative")
        order = sorted(self._senders.items(), key=lambda item: item[1].oldest_arrival())
        runs = [(queue, next_nonce(sender)) for sender, queue in order]
        result: list[SignedTransaction] = []
        used_bytes = 0
        while runs:
            continuing = []
            for queue, nonce in runs:
                tx_id = queue.by_nonce.get(nonce)
                if tx_id is None:
                    continue  # the run ends at a gap (or the sender has nothing usable)
                entry = self._entries[tx_id]
                if len(result) >= max_txs or used_bytes + entry.size > max_bytes:
                    return result
                result.append(entry.tx)
                used_bytes += entry.size
                continuing.append((queue, nonce + 1))
            runs = continuing
        return result

    def take_new(self, limit: int) -> list[SignedTransaction]:
        """Up to `limit` transactions added since earlier calls, oldest first, each once.

        Transactions that leave the pool before being taken are never handed out.
        """
        if limit < 0:
            raise ValueError("take_new limit must not be negative")
        taken: list[SignedTransaction] = []
        while self._fresh and len(taken) < limit:
            tx_id, _ = self._fresh.popitem(last=False)
            taken.append(self._entries[tx_id].tx)
        return taken
