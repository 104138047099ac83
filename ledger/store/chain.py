"""The chain on a key-value store: blocks, certificates, receipts, state.

`ChainStore` is the only writer of a node's ledger data. Each block is
committed with `append` as ONE synced write batch holding the block, the
commit certificate that finalised it, the tx index, the receipts, the event
index, the state tree's new nodes and stale records, the latest-value index
and the new head. A crash therefore leaves the old head or the new one, never
a mix.

The event index lists, per subject ("member:<id>", "invoice:<fp hex>", ...),
the events of successful receipts whose `subjects` attribute names it:
`events_for(subject, after=..., limit=...)`, in chain order, paginated.

Opening checks the store against the genesis it is meant to serve (format
version, chain id, genesis hash) and says precisely what differs. An empty
store is initialised from genesis: its state becomes version 0 of the tree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ledger.certificates import validate_commit
from ledger.errors import Code, LedgerError
from ledger.smt import NodeKey, SparseMerkleTree, TreeUpdate
from ledger.smt_proof import SparseMerkleProof
from ledger.state import EmptyState, Overlay, StateReader
from ledger.store import schema
from ledger.store.kv import KVStore, WriteBatch
from ledger.system_state import get_validator_set
from ledger.transition import BlockExecution, ChainTip
from ledger.types import Block, Commit, Event, Receipt

if TYPE_CHECKING:
    from genesis.document import Genesis


MAX_EVENTS_PAGE = 1000
# Decoded state tree nodes kept between blocks: depths 1..16, fewer than
# 2**17 nodes, about 550 bytes each (70 MiB once the state has a few
# 100,000 keys). Deeper nodes are read from the store (see bench/store.py).
TREE_CACHE_DEPTH = 16


@dataclass(frozen=True)
class IndexedEvent:
    """One event of a successful transaction, where it sits in the chain."""

    height: int
    tx_index: int
    event_index: int
    tx_id: bytes
    event: Event

    @property
    def position(self) -> tuple[int, int, int]:
        """The cursor to pass as `after` for the next page."""
        return self.height, self.tx_index, self.event_index


class _TreeNodes:
    """The state tree's node storage, read through the schema."""

    def __init__(self, kv: KVStore) -> None:
        self._kv = kv

    def get_node(self, key: NodeKey) -> bytes | None:
        return self._kv.get(schema.state_node(key))


class StateAt:
    """Read-only state as of one height, through the authenticated tree."""

    def __init__(self, tree: SparseMerkleTree, version: int) -> None:
        self._tree = tree
        self.version = version

    def get(self, key: bytes) -> bytes | None:
        return self._tree.get(key, self.version)

    def get_with_proof(self, key: bytes) -> tuple[bytes | None, SparseMerkleProof]:
        return self._tree.get_with_proof(key, self.version)

    @property
    def root(self) -> bytes:
        return self._tree.root_at(self.version)


class ChainStore:
    """`keep_versions`: None keeps every state version (auditors want history);
    N keeps the state of the last N heights readable, pruning older tree nodes
    after each append. Blocks, receipts and certificates are never pruned."""

    def __init__(self, kv: KVStore, genesis: Genesis, *, keep_versions: int | None = None) -> None:
        if keep_versions is not None and keep_versions < 1:
            raise ValueError("keep_versions must be at least 1 (or None to keep all)")
        self._kv = kv
        self.genesis = genesis
        self.keep_versions = keep_versions
        self.tree = SparseMerkleTree(_TreeNodes(kv), cache_depth=TREE_CACHE_DEPTH)
        self._tip_cache: ChainTip | None = None
        self._open()

    # -- opening ---------------------------------------------------------

    def _open(self) -> None:
        stored_format = self._kv.get(schema.FORMAT)
        if stored_format is None:
            if next(iter(self._kv.iterate(b"")), None) is not None:
                raise LedgerError(Code.STORE_FORMAT_MISMATCH,
                                  "the store holds data but no format version: not a chain store")
            self._initialise()
            return
        if schema.read_u64(stored_format) != schema.FORMAT_VERSION:
            raise LedgerError(Code.STORE_FORMAT_MISMATCH,
                              f"store format {schema.read_u64(stored_format)}, this node reads "
                              f"format {schema.FORMAT_VERSION}: upgrade the node or re-sync")
        chain_id = (self._kv.get(schema.CHAIN_ID) or b"").decode()
        if chain_id != self.genesis.chain_id:
            raise LedgerError(Code.CHAIN_MISMATCH,
                              f"the store is for chain {chain_id!r}, genesis is {self.genesis.chain_id!r}")
        if self._kv.get(schema.GENESIS_HASH) != self.genesis.hash:
            raise LedgerError(Code.CHAIN_MISMATCH,
                              f"the store was created from another genesis of chain {chain_id!r} "
                              f"(genesis hash {self.genesis.hash.hex()[:16]}… differs)")

    def _initialise(self) -> None:
        state = Overlay(EmptyState())
        self.genesis.build_state(state)
        changes = state.changes()
        update = self.tree.apply(None, 0, changes)
        batch = WriteBatch()
        batch.put(schema.FORMAT, schema.u64(schema.FORMAT_VERSION))
        batch.put(schema.CHAIN_ID, self.genesis.chain_id.encode())
        batch.put(schema.GENESIS_HASH, self.genesis.hash)
        _put_state(batch, update, changes)
        batch.put(schema.HEAD, schema.u64(0))
        self._kv.write(batch, sync=True)
        self.tree.committed(update)

    # -- reading ---------------------------------------------------------

    @property
    def height(self) -> int:
        return schema.read_u64(self._required(schema.HEAD, "head"))

    def state(self) -> StateReader:
        """The state at the head, from the latest-value index (fast reads)."""
        return _LatestState(self._kv)

    def state_at(self, height: int) -> StateAt:
        if not 0 <= height <= self.height:
            raise LedgerError(Code.BLOCK_NOT_FOUND, f"height {height} is not in 0..{self.height}")
        if height < self.pruned_below:
            raise LedgerError(Code.STATE_VERSION_NOT_FOUND,
                              f"state at height {height} was pruned (kept from {self.pruned_below})")
        return StateAt(self.tree, height)

    @property
    def pruned_below(self) -> int:
        """The lowest height whose state is still readable."""
        data = self._kv.get(schema.PRUNED_BELOW)
        return 0 if data is None else schema.read_u64(data)

    def block(self, height: int) -> Block:
        return Block.decode(self._required(schema.block(height), f"block {height}"))

    def commit(self, height: int) -> Commit:
        return Commit.decode(self._required(schema.commit(height), f"commit of block {height}"))

    def receipts(self, height: int) -> list[Receipt]:
        return [Receipt.decode(v) for _, v in self._kv.iterate(schema.receipts_of(height))]

    def raw_entry(self, height: int) -> tuple[bytes, bytes, tuple[bytes, ...]]:
        """The stored bytes of block `height`, its commit and its receipts, as
        an auditor re-checks them (nothing decoded, nothing trusted)."""
        block = self._required(schema.block(height), f"block {height}")
        commit = self._required(schema.commit(height), f"commit of block {height}")
        receipts = tuple(v for _, v in self._kv.iterate(schema.receipts_of(height)))
        return block, commit, receipts

    def tx_location(self, tx_id: bytes) -> tuple[int, int] | None:
        data = self._kv.get(schema.tx_location(tx_id))
        return None if data is None else schema.read_tx_location(data)

    def events_for(self, subject: str, *, after: tuple[int, int, int] | None = None,
                   limit: int = 100) -> list[IndexedEvent]:
        """Up to `limit` events naming `subject`, in chain order, after the
        position `after` (exclusive; None: from the start)."""
        if type(limit) is not int or not 1 <= limit <= MAX_EVENTS_PAGE:
            raise LedgerError(Code.INVALID_ARGUMENT, f"limit: an int from 1 to {MAX_EVENTS_PAGE}")
        if not schema.is_indexable_subject(subject):
            raise LedgerError(Code.INVALID_ARGUMENT,
                              f"subject: a str of 1 to {schema.MAX_SUBJECT_BYTES} UTF-8 bytes")
        prefix = schema.event_subject(subject)
        # Every key under the prefix has the same length, so the least key
        # above `after`'s is that key followed by a zero byte.
        start = None if after is None else schema.event_index(subject, *after) + b"\x00"
        found: list[IndexedEvent] = []
        receipts: dict[tuple[int, int], Receipt] = {}
        for key, tx_id in self._kv.iterate(prefix, start=start):
            height, tx_index, event_index = schema.read_event_index(key)
            receipt = receipts.get((height, tx_index))
            if receipt is None:
                data = self._required(schema.receipt(height, tx_index),
                                      f"receipt {height}/{tx_index} of the event index")
                receipt = receipts[(height, tx_index)] = Receipt.decode(data)
            if event_index >= len(receipt.events):
                raise LedgerError(Code.STORE_CORRUPTED, f"the event index names event "
                                  f"{event_index} of receipt {height}/{tx_index}, which has "
                                  f"{len(receipt.events)}")
            found.append(IndexedEvent(height, tx_index, event_index, tx_id,
                                      receipt.events[event_index]))
            if len(found) == limit:
                break
        return found

    def block_hash(self, height: int) -> bytes:
        return self.genesis.hash if height == 0 else self.block(height).hash

    def tip(self) -> ChainTip:
        """What the next block must extend (kept per head height: building,
        checking and committing a block each ask for it, and it decodes the
        head block)."""
        height = self.height
        cached = self._tip_cache
        if cached is not None and cached.height == height:
            return cached
        self._tip_cache = self._compute_tip(height)
        return self._tip_cache

    def _compute_tip(self, height: int) -> ChainTip:
        head = None if height == 0 else self.block(height)
        time_ms = self.genesis.genesis_time_ms if head is None else head.header.time_ms
        block_hash = self.genesis.hash if head is None else head.hash
        validators = get_validator_set(self.state())
        signed_tip = validators if height == 0 else get_validator_set(self.state_at(height - 1))
        return ChainTip(self.genesis.chain_id, height, block_hash, time_ms, validators, signed_tip)

    # -- the StateBackend of the transition ---------------------------------

    def get(self, key: bytes) -> bytes | None:
        return self._kv.get(schema.latest_state(key))

    def compute_update(self, changes: Mapping[bytes, bytes | None], version: int) -> TreeUpdate:
        return self.tree.apply(version - 1, version, changes)

    # -- writing ---------------------------------------------------------

    def append(self, execution: BlockExecution, commit: Commit) -> None:
        """Commits an executed block and its certificate in one synced batch."""
        block = execution.block
        tip = self.tip()
        # Verify the block extends the head, and the certificate is for it
        if block.header.height != tip.height + 1 or block.header.previous_hash != tip.block_hash:
            raise LedgerError(Code.BLOCK_DOES_NOT_EXTEND_HEAD,
                              f"block {block.header.height} does not extend head {tip.height}")
        if not isinstance(execution.state_update, TreeUpdate) or \
                execution.state_update.version != block.header.height:
            raise LedgerError(Code.BLOCK_DOES_NOT_EXTEND_HEAD,
                              "the state update was not computed on this store's head")
        validate_commit(commit, chain_id=tip.chain_id, height=block.header.height,
                        block_hash=block.hash, validators=tip.validators)
        height = block.header.height
        batch = WriteBatch()
        batch.put(schema.block(height), block.encode())
        batch.put(schema.block_height_by_hash(block.hash), schema.u64(height))
        batch.put(schema.commit(height), commit.encode())
        for index, (tx, receipt) in enumerate(zip(block.txs, execution.receipts)):
            batch.put(schema.tx_location(tx.tx_id), schema.tx_location_value(height, index))
            batch.put(schema.receipt(height, index), receipt.encode())
            _put_event_index(batch, height, index, receipt)
        _put_state(batch, execution.state_update, execution.changes)
        batch.put(schema.HEAD, schema.u64(height))
        self._kv.write(batch, sync=True)
        self.tree.committed(execution.state_update)
        if self.keep_versions is not None and height - self.keep_versions + 1 > self.pruned_below:
            self.prune(height - self.keep_versions + 1)

    def prune(self, keep_from: int) -> int:
        """Drops tree nodes only versions below `keep_from` need; returns how many.

        The state at `keep_from` and every later height stays readable (and
        provable); earlier heights give STATE_VERSION_NOT_FOUND.
        """
        if not 0 <= keep_from <= self.height:
            raise LedgerError(Code.BLOCK_NOT_FOUND, f"height {keep_from} is not in 0..{self.height}")
        batch = WriteBatch()
        doomed: list[bytes] = []
        for key, packed in self._kv.iterate(schema.STALE_NODE):
            if schema.read_stale_since(key) > keep_from:
                break
            nodes = schema.unpack_state_node_keys(packed)
            for node in nodes:
                batch.delete(node)
            batch.delete(key)
            doomed += nodes
        batch.put(schema.PRUNED_BELOW, schema.u64(max(keep_from, self.pruned_below)))
        self._kv.write(batch, sync=True)
        self.tree.forget(schema.read_state_node(node) for node in doomed)
        return len(doomed)

    def _required(self, key: bytes, what: str) -> bytes:
        data = self._kv.get(key)
        if data is None:
            code = Code.STORE_CORRUPTED if key == schema.HEAD else Code.BLOCK_NOT_FOUND
            raise LedgerError(code, f"the store has no {what}")
        return data


class _LatestState:
    def __init__(self, kv: KVStore) -> None:
        self._kv = kv

    def get(self, key: bytes) -> bytes | None:
        return self._kv.get(schema.latest_state(key))


def _put_state(batch: WriteBatch, update: TreeUpdate, changes: Mapping[bytes, bytes | None]) -> None:
    nodes = update.new_nodes
    batch.put_all(zip(schema.state_node_keys(key for key, _ in nodes), (n for _, n in nodes)))
    if update.stale:  # all stale since update.version: one record
        batch.put(schema.stale_nodes(update.version),
                  schema.pack_node_keys(node for _, node in update.stale))
    for key, value in changes.items():
        if value is None:
            batch.delete(schema.latest_state(key))
        else:
            batch.put(schema.latest_state(key), value)


def _put_event_index(batch: WriteBatch, height: int, tx_index: int, receipt: Receipt) -> None:
    """Index entries for the events of a successful receipt, by each subject."""
    if not receipt.succeeded:
        return
    for event_index, event in enumerate(receipt.events):
        subjects = event.attributes.get("subjects")
        if type(subjects) is not list:
            continue
        for subject in subjects:
            if schema.is_indexable_subject(subject):
                batch.put(schema.event_index(subject, height, tx_index, event_index), receipt.tx_id)
