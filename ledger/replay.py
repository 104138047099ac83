"""Auditor replay: re-verify a whole chain from genesis, trusting nothing stored.

For every block, in order: it decodes canonically; every transaction
signature verifies; the header extends the previous block (hash chain,
height, time, proposer, validator set) and its txs root, tx count and last
commit are right (`apply_block`); every transaction is re-executed and the
receipts root and state root computed here equal the header's; the stored
receipts are byte-identical to the re-executed ones; and the stored
certificate carries signatures of more than 2/3 of the voting power of the
validator set at that height. The first failure stops the replay and is
reported with its height, the field and the reason.

Signature checks dominate the cost and are independent per block, so they
go through `map_fn`: the builtin `map` by default, or a process pool's `map`
supplied by the caller to use every core (this module stays free of I/O and
concurrency). Execution itself is sequential, as it must be.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any

from ledger.errors import LedgerError
from ledger.store.chain import ChainStore
from ledger.store.kv import KVStore
from ledger.store.memory import MemoryStore
from ledger.contract_api import Registry
from ledger.transition import apply_block
from ledger.types import Block, Commit

if TYPE_CHECKING:
    from genesis.document import Genesis

#: (block bytes, commit bytes, receipt bytes ...) for one height.
RawEntry = tuple[bytes, bytes, tuple[bytes, ...]]
MapFn = Callable[..., Iterable[Any]]
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Mismatch:
    height: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"height {self.height}: {self.field}: {self.reason}"


@dataclass(frozen=True)
class ReplayReport:
    blocks: int
    transactions: int
    final_height: int
    final_state_root: bytes
    mismatch: Mismatch | None

    @property
    def ok(self) -> bool:
        return self.mismatch is None


class _Stop(Exception):
    def __init__(self, mismatch: Mismatch) -> None:
        self.mismatch = mismatch


def check_signatures(entry: RawEntry) -> tuple[str, str] | None:
    """Worker: (field, reason) of the first bad transaction signature, else None."""
    try:
        block = Block.decode(entry[0])
    except LedgerError as error:
        return "block", f"does not decode: {error}"
    for index, tx in enumerate(block.txs):
        if not tx.has_valid_signature():
            return "signature", f"transaction #{index} ({tx.tx_id.hex()[:16]}…) does not verify"
    return None


def replay(genesis: Genesis, entries: Iterable[RawEntry], registry: Registry, *,
           store: KVStore | None = None, map_fn: MapFn = map, window: int = 64,
           progress: Progress | None = None, check_tx_signatures: bool = True) -> ReplayReport:
    """Replays `entries` (heights 1, 2, ... in order) on a fresh chain from `genesis`.

    `check_tx_signatures=False` skips transaction signatures only (to measure
    their share of the cost); certificates are always checked.
    """
    # only the last two state versions are read again (the tip and its parent's
    # validator set): prune the older ones, so memory follows the state, not the chain
    chain = ChainStore(store if store is not None else MemoryStore(), genesis, keep_versions=2)
    blocks = transactions = 0
    try:
        for batch in _windows(iter(entries), window):
            verdicts = (list(map_fn(check_signatures, batch)) if check_tx_signatures
                        else [None] * len(batch))
            for entry, verdict in zip(batch, verdicts):
                height = chain.height + 1
                if verdict is not None:
                    raise _Stop(Mismatch(height, *verdict))
                transactions += _replay_block(chain, entry, registry)
                blocks += 1
            if progress is not None:
                progress(chain.height, transactions)
    except _Stop as stop:
        return _report(chain, blocks, transactions, stop.mismatch)
    return _report(chain, blocks, transactions, None)


def replay_chain(chain: ChainStore, registry: Registry, **options: Any) -> ReplayReport:
    """Replays everything stored in `chain` (heights 1..head) from its genesis."""
    entries = (chain.raw_entry(h) for h in range(1, chain.height + 1))
    return replay(chain.genesis, entries, registry, **options)


def _replay_block(chain: ChainStore, entry: RawEntry, registry: Registry) -> int:
    height = chain.height + 1
    block_bytes, commit_bytes, stored_receipts = entry
    block = _decoded(Block, block_bytes, height, "block")
    commit = _decoded(Commit, commit_bytes, height, "commit")
    try:
        execution = apply_block(chain, chain.tip(), block, registry, signatures_verified=True)
    except LedgerError as error:
        raise _Stop(Mismatch(height, _field_of(error.message), error.message)) from None
    executed = tuple(receipt.encode() for receipt in execution.receipts)
    if executed != stored_receipts:
        first = next((i for i, (a, b) in enumerate(zip(executed, stored_receipts)) if a != b),
                     min(len(executed), len(stored_receipts)))
        raise _Stop(Mismatch(height, "receipts",
                             f"stored receipt #{first} differs from re-execution "
                             f"({len(stored_receipts)} stored, {len(executed)} executed)"))
    try:
        chain.append(execution, commit)
    except LedgerError as error:
        raise _Stop(Mismatch(height, "commit", error.message)) from None
    return len(block.txs)


def _decoded(kind: type[Any], data: bytes, height: int, field: str) -> Any:
    try:
        return kind.decode(data)
    except LedgerError as error:
        raise _Stop(Mismatch(height, field, f"does not decode: {error}")) from None


def _field_of(message: str) -> str:
    """The header field an INVALID_BLOCK message starts with, if any."""
    first = message.split(" ", 1)[0]
    return first if first.isidentifier() else "block"


def _windows(entries: Iterator[RawEntry], size: int) -> Iterator[list[RawEntry]]:
    while batch := list(islice(entries, size)):
        yield batch


def _report(chain: ChainStore, blocks: int, transactions: int,
            mismatch: Mismatch | None) -> ReplayReport:
    height = chain.height
    return ReplayReport(blocks, transactions, height, chain.state_at(height).root, mismatch)
