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

Memory stays flat in the chain's length: the state is rebuilt in a scratch
`KVStore` the caller injects (a LevelDB directory for a long chain; a
`MemoryStore` by default), holding only the state tree of the tip and the
latest value of each key; older tree nodes are deleted as each block is
applied, and blocks and receipts are never kept. To keep a verified copy of
the chain instead (the export of `scf audit export --node`), pass a
`ChainStore` as `into`: every verified block is appended to it.

Decoding a block and checking its transaction signatures are independent
per block, so they run through `map_fn` (`check_entry` on a window of raw
entries): the builtin `map` by default, or a process pool's `map` supplied
by the caller to use every core (this module stays free of I/O and
concurrency). The worker hands back the decoded block, so the main process
never decodes it again; while it executes one window, the next `ahead`
windows are already submitted. Execution itself is sequential, as it must be.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledger.certificates import validate_commit
from ledger.contract_api import Registry
from ledger.errors import Code, LedgerError
from ledger.smt import NodeKey, SparseMerkleTree, TreeUpdate
from ledger.state import EmptyState, Overlay
from ledger.store import schema
from ledger.store.chain import ChainStore
from ledger.store.kv import KVStore, WriteBatch
from ledger.store.memory import MemoryStore
from ledger.system_state import get_validator_set
from ledger.transition import BlockExecution, ChainTip, apply_block
from ledger.types import Block, Commit

if TYPE_CHECKING:
    from genesis.document import Genesis

#: (block bytes, commit bytes, receipt bytes ...) for one height.
RawEntry = tuple[bytes, bytes, tuple[bytes, ...]]
MapFn = Callable[..., Iterable[Any]]
Progress = Callable[[int, int], None]

#: A window of entries closes at this many bytes of blocks (or `window` blocks).
WINDOW_BYTES = 512 * 1024
#: Decoded state tree nodes of depths 1..14 stay cached between blocks (at
#: most 2**15 of them, a few MiB): they are read by almost every block.
TREE_CACHE_DEPTH = 14
#: For the process that runs a long replay: the garbage collector's young
#: threshold (net allocations between collections). A block of 1,000
#: transactions allocates more than 50,000 objects before it frees them by
#: reference counting (a replay makes no reference cycles block after
#: block), so at a node's threshold (50,000) about every block paid a young
#: collection walking them all: 35 us per transaction, a fifth of the
#: replay's CPU (bench/replay.py at 300,000 transactions); at this one, none
#: ran. Cyclic garbage, if any, stays bounded by this many objects.
GC_YOUNG_THRESHOLD = 500_000


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


@dataclass(frozen=True, slots=True)
class CheckedEntry:
    """A worker's answer for one raw entry: the decoded block and commit, or
    the (field, reason) of the first fault found."""

    block: Block | None
    commit: Commit | None
    fault: tuple[str, str] | None = None


class _Stop(Exception):
    def __init__(self, mismatch: Mismatch) -> None:
        self.mismatch = mismatch


def check_entry(entry: RawEntry) -> CheckedEntry:
    """Worker: decodes the block and its commit and checks every transaction signature."""
    checked = decode_entry(entry)
    if checked.block is None:
        return checked
    for index, tx in enumerate(checked.block.txs):
        if not tx.has_valid_signature():
            return CheckedEntry(None, None, (
                "signature", f"transaction #{index} ({tx.tx_id.hex()[:16]}…) does not verify"))
        tx.tx_id  # computed here, in parallel, and carried back with the block
    return checked


def decode_entry(entry: RawEntry) -> CheckedEntry:
    """Worker without signature checks (to measure their share of the cost)."""
    try:
        block = Block.decode(entry[0])
    except LedgerError as error:
        return CheckedEntry(None, None, ("block", f"does not decode: {error}"))
    try:
        commit = Commit.decode(entry[1])
    except LedgerError as error:
        return CheckedEntry(None, None, ("commit", f"does not decode: {error}"))
    return CheckedEntry(block, commit)


def replay(genesis: Genesis, entries: Iterable[RawEntry], registry: Registry, *,
           store: KVStore | None = None, into: ChainStore | None = None, map_fn: MapFn = map,
           window: int = 64, window_bytes: int = WINDOW_BYTES, ahead: int = 2,
           progress: Progress | None = None, check_tx_signatures: bool = True) -> ReplayReport:
    """Replays `entries` (heights 1, 2, ... in order) on a fresh chain from `genesis`.

    `store`: an empty scratch store for the rebuilt state (default: a new
    `MemoryStore`); `into`: a `ChainStore` at genesis to append every
    verified block to, instead. `window` and `window_bytes` bound the
    entries given to one `map_fn` call; `ahead` windows are in flight while
    one executes. `check_tx_signatures=False` skips transaction signatures
    only (to measure their share of the cost); certificates are always checked.
    """
    if into is not None and store is not None:
        raise ValueError("give a scratch store or a chain store to replay into, not both")
    target: ChainStore | ScratchChain = (
        into if into is not None else ScratchChain(store if store is not None else MemoryStore(),
                                                   genesis))
    if target.height != 0:
        raise ValueError("a replay starts from genesis: the target store must be empty")
    worker = check_entry if check_tx_signatures else decode_entry
    blocks = transactions = 0
    pending: deque[tuple[list[RawEntry], Iterator[CheckedEntry]]] = deque()
    try:
        windows = _windows(iter(entries), window, window_bytes)
        while True:
            while len(pending) <= ahead:
                batch = next(windows, None)
                if batch is None:
                    break
                pending.append((batch, iter(map_fn(worker, batch))))
            if not pending:
                break
            batch, results = pending.popleft()
            for entry, checked in zip(batch, results):
                transactions += _replay_block(target, entry, checked, registry)
                blocks += 1
            if progress is not None:
                progress(target.height, transactions)
    except _Stop as stop:
        return _report(target, blocks, transactions, stop.mismatch)
    return _report(target, blocks, transactions, None)


def replay_chain(chain: ChainStore, registry: Registry, **options: Any) -> ReplayReport:
    """Replays everything stored in `chain` (heights 1..head) from its genesis."""
    entries = (chain.raw_entry(h) for h in range(1, chain.height + 1))
    return replay(chain.genesis, entries, registry, **options)


class ScratchChain:
    """The state a replay rebuilds, on a scratch store: the tip's state tree
    and latest values only. It offers what `apply_block` and the replay need
    of a `ChainStore` (tip, state reads, tree update, append), writes nothing
    else, and deletes the tree nodes the new tip no longer reaches as it
    applies each block, so the store holds one state, whatever the height."""

    def __init__(self, kv: KVStore, genesis: Genesis) -> None:
        if next(iter(kv.iterate(b"")), None) is not None:
            raise ValueError("the scratch store of a replay must be empty")
        self._kv = kv
        self.genesis = genesis
        self.tree = SparseMerkleTree(_ScratchNodes(kv), cache_depth=TREE_CACHE_DEPTH)
        overlay = Overlay(EmptyState())
        genesis.build_state(overlay)
        changes = overlay.changes()
        update = self.tree.apply(None, 0, changes)
        self._write(update, changes)
        self.root = update.root
        validators = get_validator_set(self)
        self._tip = ChainTip(genesis.chain_id, 0, genesis.hash, genesis.genesis_time_ms,
                             validators, validators)

    @property
    def height(self) -> int:
        return self._tip.height

    def tip(self) -> ChainTip:
        return self._tip

    def get(self, key: bytes) -> bytes | None:
        return self._kv.get(schema.latest_state(key))

    def compute_update(self, changes: Mapping[bytes, bytes | None], version: int) -> TreeUpdate:
        return self.tree.apply(version - 1, version, changes)

    def append(self, execution: BlockExecution, commit: Commit) -> None:
        """Checks the certificate of the executed block, then makes it the tip."""
        block, tip = execution.block, self._tip
        height = block.header.height
        # Verify the block extends the tip, and the certificate is for it
        if height != tip.height + 1 or block.header.previous_hash != tip.block_hash:
            raise LedgerError(Code.BLOCK_DOES_NOT_EXTEND_HEAD,
                              f"block {height} does not extend head {tip.height}")
        update = execution.state_update
        if not isinstance(update, TreeUpdate) or update.version != height:
            raise LedgerError(Code.BLOCK_DOES_NOT_EXTEND_HEAD,
                              "the state update was not computed on this store's head")
        validate_commit(commit, chain_id=tip.chain_id, height=height, block_hash=block.hash,
                        validators=tip.validators)
        self._write(update, execution.changes)
        self.root = update.root
        self._tip = ChainTip(tip.chain_id, height, block.hash, block.header.time_ms,
                             get_validator_set(self), tip.validators)

    def _write(self, update: TreeUpdate, changes: Mapping[bytes, bytes | None]) -> None:
        batch = WriteBatch()
        for node_key, node in update.new_nodes:
            batch.put(schema.state_node(node_key), node)
        # Nothing reads an older version again: what it alone reached goes now.
        for stale in update.stale:
            batch.delete(schema.state_node(stale.node_key))
        for key, value in changes.items():
            if value is None:
                batch.delete(schema.latest_state(key))
            else:
                batch.put(schema.latest_state(key), value)
        self._kv.write(batch, sync=False)  # scratch: losing it loses nothing
        self.tree.committed(update)
        self.tree.forget(stale.node_key for stale in update.stale)  # deleted above


class _ScratchNodes:
    def __init__(self, kv: KVStore) -> None:
        self._kv = kv

    def get_node(self, key: NodeKey) -> bytes | None:
        return self._kv.get(schema.state_node(key))


def _replay_block(target: ChainStore | ScratchChain, entry: RawEntry, checked: CheckedEntry,
                  registry: Registry) -> int:
    height = target.height + 1
    if checked.fault is not None:
        raise _Stop(Mismatch(height, *checked.fault))
    block, commit = checked.block, checked.commit
    assert block is not None and commit is not None
    try:
        execution = apply_block(target, target.tip(), block, registry, signatures_verified=True)
    except LedgerError as error:
        raise _Stop(Mismatch(height, _field_of(error.message), error.message)) from None
    stored_receipts = entry[2]
    executed = execution.receipt_encodings()
    if executed != stored_receipts:
        first = next((i for i, (a, b) in enumerate(zip(executed, stored_receipts)) if a != b),
                     min(len(executed), len(stored_receipts)))
        raise _Stop(Mismatch(height, "receipts",
                             f"stored receipt #{first} differs from re-execution "
                             f"({len(stored_receipts)} stored, {len(executed)} executed)"))
    try:
        target.append(execution, commit)
    except LedgerError as error:
        raise _Stop(Mismatch(height, "commit", error.message)) from None
    return len(block.txs)


def _field_of(message: str) -> str:
    """The header field an INVALID_BLOCK message starts with, if any."""
    first = message.split(" ", 1)[0]
    return first if first.isidentifier() else "block"


def _windows(entries: Iterator[RawEntry], size: int, max_bytes: int) -> Iterator[list[RawEntry]]:
    batch: list[RawEntry] = []
    weight = 0
    for entry in entries:
        batch.append(entry)
        weight += len(entry[0])
        if len(batch) >= size or weight >= max_bytes:
            yield batch
            batch, weight = [], 0
    if batch:
        yield batch


def _report(target: ChainStore | ScratchChain, blocks: int, transactions: int,
            mismatch: Mismatch | None) -> ReplayReport:
    height = target.height
    root = target.root if isinstance(target, ScratchChain) else target.state_at(height).root
    return ReplayReport(blocks, transactions, height, root, mismatch)
