"""The authenticated state: a versioned, path-compressed sparse Merkle tree.

Every block header carries `state_root`, the root of this tree after the
block, so that a bank can be shown "invoice X is registered and carries no
lien" (a value, or an absence) by a proof it checks against a certified
header. The hashing and the proofs are in `ledger.smt_proof` (what a light
client imports); a node's bytes are written and read by `ledger.smt_nodes`;
this module keeps the tree across versions. The layout, byte by byte, is in
docs/state-tree.md.

Theory of operation (after Diem's Jellyfish Merkle tree, binary):

* A key lives at the bits of SHA-256(key); a subtree with one leaf is that
  leaf, an empty one is absent (hash: 32 zero bytes), and only subtrees with
  two leaves or more are internal nodes. So the root is a function of the
  key-value set alone, whatever the history or the order of the updates.
* Nodes are immutable and stored under `NodeKey(version, depth, path)`, path
  being the first `depth` bits of the key hash. `apply` rewrites only the
  paths an update touches; an internal node names, for each child, the
  version under which that child is stored, so older versions stay readable
  until pruned. The root of version v is always stored at
  `NodeKey(v, 0, b"")`, also when v changed nothing (the root is copied).
* The tree never writes. `apply` returns a `TreeUpdate` (new nodes, and the
  nodes that stop being reachable at this version) for the caller's atomic
  batch. Pruning at k deletes every node that became stale at a version
  <= k: every version >= k, and the latest version before k (the state at
  height k), stay whole; an older version has lost its root and reads as
  STATE_VERSION_NOT_FOUND. STATE_NODE_MISSING means the store lacks (or
  holds garbage for) a node below a root it has: corruption.

Speed (bench/store.py): `apply` walks the base tree once for the whole
batch, sorted by key hash, splitting it at each node by bisection, and
places an internal node as soon as it is built (only leaves move, when a
neighbour comes or goes). Nodes are encoded and decoded by hand in this one
fixed layout, which gives exactly `ledger.codec`'s canonical bytes (the tests
hold them equal; anything unusual goes through the codec). With
`cache_depth=D`, decoded nodes of depth 1..D are kept between versions, one
per tree position (so fewer than 2**(D+1) of them): the nodes of each
`committed` update, and those `apply` reads. A position's entry serves only
the exact node key it holds, and nodes are immutable until pruned (the
caller reports those: `forget`), so the cache changes no result: it only
spares reads. Uncommitted updates (a proposal that loses a round) never
enter it.

Pure and deterministic: no I/O, clock or randomness; storage is injected as
a `NodeReader`. A batch is applied in key-hash order, so the same updates on
the same base give byte-identical nodes, whatever the mapping's order.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import NamedTuple, TypeAlias

from ledger import codec
from ledger.errors import Code, LedgerError
from ledger.smt_nodes import (
    INTERNAL,
    LEAF,
    NULL_ROOT,
    Child,
    Node,
    NodeKey,
    NodeReader,
    corrupt_node,
    decode_node,
    encode_internal,
    encode_leaf,
    load_bytes,
)
from ledger.smt_proof import (
    EMPTY_HASH,
    MAX_KEY_SIZE,
    MAX_VALUE_SIZE,
    SparseMerkleProof,
    bit_at,
    hash_key,
    hash_value,
    leaf_hash,
    node_hash,
)

MAX_CACHE_DEPTH = 24
_MAX_DEPTH = 256  # of a node: a path is at most the 256 bits of a key hash
_RECENT_UPDATES = 4  # uncommitted updates whose decoded nodes are kept for `committed`

# NodeKey and StaleNode are NamedTuples rather than frozen dataclasses: a
# block of 1,000 updates makes tens of thousands of them, and tuples are
# several times cheaper to build, hash and sort. They are values all the same.
# Where `apply` makes them by the thousand it calls `_new(NodeKey, (v, d, p))`:
# the same instance as `NodeKey(v, d, p)`, without the Python-level __new__
# that a NamedTuple has (half the cost of each). It makes them last, in
# `finish`, and keys nodes by plain (version, depth, path) tuples until then:
# CPython's collector stops tracking an exact tuple of untracked items, never
# a NamedTuple (nor a tuple holding one), so each one made early is walked by
# every collection while the block is applied and committed (made in `_join`,
# they cost bench/node_pipeline.py's commit stage 20 % more CPU).
_new = tuple.__new__
# A node key during `apply`: (version, depth, path), a NodeKey or a plain tuple.
_Key: TypeAlias = "tuple[int, int, bytes]"


class StaleNode(NamedTuple):
    """`node_key` is not reachable from version `stale_since_version` on."""

    stale_since_version: int
    node_key: NodeKey


@dataclass(frozen=True, slots=True)
class TreeUpdate:
    """What `apply` made: `new_nodes` go into the block's atomic batch, and
    `stale` is kept (e.g. indexed by version) for pruning. Both are sorted
    by node key, and every stale node's `stale_since_version` is `version`."""

    version: int
    root: bytes
    new_nodes: tuple[tuple[NodeKey, bytes], ...]
    stale: tuple[StaleNode, ...]


# A new node the cache may keep: (depth, path, (version, node)), plain tuples
# too, the last one being the cache's entry as it is stored.
_Made: TypeAlias = "tuple[int, bytes, tuple[int, Node]]"


class _Leaf(NamedTuple):
    key: bytes
    value: bytes


class _PendingLeaf(NamedTuple):
    """A leaf whose depth is not known yet; `origin` is where it is stored now, if anywhere."""

    key_hash: bytes
    key: bytes
    value: bytes
    hash: bytes
    origin: _Key | None


# A subtree during `apply`: empty, placed (unchanged, or new and written), or a loose leaf.
_Sub: TypeAlias = "Child | _PendingLeaf | None"
# One update of a batch: (key hash, key, value or None to delete).
_Update: TypeAlias = "tuple[bytes, bytes, bytes | None]"


class SparseMerkleTree:
    """Reads and updates of the versioned tree over an injected node store.

    `cache_depth` (0: no cache) keeps decoded nodes of depth 1..cache_depth
    between versions; the owner of the store then calls `committed` after
    writing an update and `forget` after deleting nodes (see the module
    docstring)."""

    __slots__ = ("_store", "_cache_depth", "_levels", "_recent")

    def __init__(self, store: NodeReader, *, cache_depth: int = 0) -> None:
        if type(cache_depth) is not int or not 0 <= cache_depth <= MAX_CACHE_DEPTH:
            raise ValueError(f"cache_depth is an int from 0 to {MAX_CACHE_DEPTH}")
        self._store = store
        self._cache_depth = cache_depth
        # _levels[d][path] = (version, node): the cached node at (d, path), if any.
        self._levels: list[dict[bytes, tuple[int, Node]]] = [{} for _ in range(cache_depth + 1)]
        self._recent: deque[tuple[TreeUpdate, list[_Made]]] = deque(maxlen=_RECENT_UPDATES)

    def apply(
        self, base_version: int | None, version: int, updates: Mapping[bytes, bytes | None]
    ) -> TreeUpdate:
        """The tree of `base_version` (None: the empty tree) with `updates`
        applied (a None value deletes), as version `version`."""
        _check_version(version)
        if base_version is not None:
            _check_version(base_version)
            if version <= base_version:
                raise LedgerError(
                    Code.STATE_VERSION_INVALID, f"version {version} is not above {base_version}"
                )
        batch = _sorted_updates(updates)
        writer = _Writer(self, version, batch)
        base_root = None if base_version is None else self._root_child(base_version)
        root = writer.place(writer.update(base_root, 0, b"", 0, len(batch)), 0, b"")
        if base_version is not None:
            writer.stale[NodeKey(base_version, 0, b"")] = None
        update = writer.finish(root)
        if self._cache_depth:
            self._recent.append((update, writer.made))
        return update

    def committed(self, update: TreeUpdate) -> None:
        """`update` is now in the store: its upper nodes enter the cache, each
        in place of the one at its position. Without a cache, does nothing."""
        if not self._cache_depth:
            return
        made = next((m for u, m in self._recent if u is update), None)
        if made is None:  # not made here (or long ago): decode what is needed
            made = [(key.depth, key.path, (key.version, decode_node(data, key)))
                    for key, data in update.new_nodes if 0 < key.depth <= self._cache_depth]
        levels = self._levels
        for depth, path, entry in made:
            levels[depth][path] = entry
        self._recent.clear()  # the others were computed on a base that is no longer the head

    def forget(self, keys: Iterable[NodeKey]) -> None:
        """Drops these nodes (pruned from the store) from the cache."""
        if not self._cache_depth:
            return
        levels, limit = self._levels, self._cache_depth
        for version, depth, path in keys:
            if 0 < depth <= limit:
                entry = levels[depth].get(path)
                if entry is not None and entry[0] == version:
                    del levels[depth][path]

    @property
    def cached_nodes(self) -> int:
        """How many decoded nodes the cache holds now."""
        return sum(len(level) for level in self._levels)

    def root_at(self, version: int) -> bytes:
        """The root hash of `version` (32 zero bytes for the empty tree)."""
        _check_version(version)
        root = self._root_child(version)
        return _hash_of(root)

    def get(self, key: bytes, version: int) -> bytes | None:
        """The value of `key` at `version`, None if absent."""
        _check_key(key)
        _check_version(version)
        leaf, _ = self._walk(hash_key(key), version)
        return leaf.value if leaf is not None and leaf.key == key else None

    def get_with_proof(self, key: bytes, version: int) -> tuple[bytes | None, SparseMerkleProof]:
        """The value of `key` at `version` and the proof of it (or of its absence)."""
        _check_key(key)
        _check_version(version)
        leaf, siblings = self._walk(hash_key(key), version)
        if leaf is None:
            return None, SparseMerkleProof(None, siblings)
        proof = SparseMerkleProof((hash_key(leaf.key), hash_value(leaf.value)), siblings)
        return (leaf.value if leaf.key == key else None), proof

    def _root_child(self, version: int) -> Child | None:
        node = self._load_root(version)
        if node is None:
            return None
        kind, first, second = node
        if kind == LEAF:
            return (leaf_hash(hash_key(first), hash_value(second)), version, True)
        return (node_hash(_hash_of(first), _hash_of(second)), version, False)

    def _walk(self, key_hash: bytes, version: int) -> tuple[_Leaf | None, tuple[bytes, ...]]:
        """The leaf ending `key_hash`'s path (None: empty) and the siblings, root down."""
        node = self._load_root(version)
        siblings: list[bytes] = []
        path = b""
        while node is not None and node[0] == INTERNAL:
            depth = len(siblings)
            bit = bit_at(key_hash, depth)
            child, other = (node[2], node[1]) if bit else (node[1], node[2])
            siblings.append(_hash_of(other))
            if child is None:
                return None, tuple(siblings)
            path = _children(path, depth)[bit]
            node = self._read(NodeKey(child[1], depth + 1, path), remember=False)
        return (None if node is None else _Leaf(node[1], node[2])), tuple(siblings)

    def _load_root(self, version: int) -> Node | None:
        key = NodeKey(version, 0, b"")
        data = self._store.get_node(key)
        if data is None:
            raise LedgerError(
                Code.STATE_VERSION_NOT_FOUND, f"version {version} was never written or is pruned"
            )
        return decode_node(data, key)

    def _read(self, key: _Key, *, remember: bool) -> Node:
        """The node below a root at `key`, from the cache or the store."""
        version, depth, path = key
        cached = 0 < depth <= self._cache_depth  # never a root: pruning removes those
        if cached:
            entry = self._levels[depth].get(path)
            if entry is not None and entry[0] == version:
                return entry[1]
        node_key = _new(NodeKey, key)  # the store and the errors see NodeKeys
        node = decode_node(load_bytes(self._store, node_key), node_key)
        if node is None:
            raise corrupt_node(node_key, "an empty root below the root")
        if cached and remember:
            self._levels[depth][path] = (version, node)
        return node


class _Writer:
    """One `apply`: `update` walks the base tree along the sorted batch,
    building each changed internal node once its children are known; a leaf
    stays loose (`_PendingLeaf`) until its parent fixes its depth (`place`)."""

    __slots__ = ("_tree", "_read", "_version", "_batch", "_hashes", "_cache_depth", "new",
                 "stale", "made")

    def __init__(self, tree: SparseMerkleTree, version: int, batch: list[_Update]) -> None:
        self._tree = tree
        self._read = tree._read
        self._version = version
        self._batch = batch
        self._hashes = [update[0] for update in batch]
        self._cache_depth = tree._cache_depth
        # new[depth]: (path, node bytes) of each new node at that depth, in
        # the order made: path order, but for a leaf its parent places after
        # the (new) internal node on its right, so `finish` sorts little.
        self.new: list[list[tuple[bytes, bytes]]] = [[] for _ in range(_MAX_DEPTH + 1)]
        self.stale: dict[_Key, None] = {}  # a dict: ordered, no duplicates
        self.made: list[_Made] = []  # decoded new nodes the cache may keep

    def update(self, existing: Child | None, depth: int, path: bytes, lo: int, hi: int) -> _Sub:
        """The subtree at (depth, path), now `existing`, with batch[lo:hi] applied."""
        if lo == hi:
            return existing
        if existing is None:
            return self._build(depth, path, self._new_leaves(lo, hi, None))
        key = (existing[1], depth, path)
        if existing[2]:
            return self._merge_leaf(existing, key, lo, hi)
        kind, old_left, old_right = self._read(key, remember=True)
        if kind != INTERNAL:
            raise corrupt_node(NodeKey(*key), "expected an internal node")
        left_path, right_path = _children(path, depth)
        split = bisect_left(self._hashes, right_path, lo, hi)
        left, right = old_left, old_right  # a side no update reaches (deep down, most) stays
        if lo < split:
            left = self.update(old_left, depth + 1, left_path, lo, split)
        if split < hi:
            right = self.update(old_right, depth + 1, right_path, split, hi)
        if left is old_left and right is old_right:
            return existing
        self.stale[key] = None
        return self._join(left, right, depth, path, left_path, right_path)

    def place(self, sub: _Sub, depth: int, path: bytes) -> Child | None:
        """Places `sub` at (depth, path) and says how its parent refers to it."""
        if type(sub) is not _PendingLeaf:
            return sub
        origin = sub.origin
        if origin is not None:
            if origin[1] == depth:
                return (sub.hash, origin[0], True)
            self.stale[origin] = None
        self.new[depth].append((path, encode_leaf(sub.key, sub.value)))
        if 0 < depth <= self._cache_depth:
            self.made.append((depth, path, (self._version, (LEAF, sub.key, sub.value))))
        return (sub.hash, self._version, True)

    def finish(self, root: Child | None) -> TreeUpdate:
        """Stores the root under this version (copying an unchanged one)."""
        version = self._version
        if root is None:
            self.new[0].append((b"", NULL_ROOT))
        elif root[1] != version:
            self.new[0].append((b"", load_bytes(self._tree._store, NodeKey(root[1], 0, b""))))
        # Sorted by node key: they all have this version, so by depth, then
        # path. The NodeKeys are made only now: see `_new`.
        new_nodes: list[tuple[NodeKey, bytes]] = []
        for depth, nodes in enumerate(self.new):
            if nodes:
                nodes.sort(key=_first)  # nearly sorted: a few steps of a merge
                new_nodes += [(_new(NodeKey, (version, depth, path)), data)
                              for path, data in nodes]
        stale = tuple([_new(StaleNode, (version, _new(NodeKey, key)))
                       for key in sorted(self.stale)])
        return TreeUpdate(version, _hash_of(root), tuple(new_nodes), stale)

    def _merge_leaf(self, existing: Child, key: _Key, lo: int, hi: int) -> _Sub:
        kind, old_key, old_value = self._read(key, remember=True)
        if kind != LEAF:
            raise corrupt_node(NodeKey(*key), "expected a leaf")
        old_hash = hash_key(old_key)
        at = bisect_left(self._hashes, old_hash, lo, hi)
        own = at if at < hi and self._hashes[at] == old_hash else None
        if own is not None and self._batch[own][2] != old_value:
            self.stale[key] = None  # rewritten or deleted: its new leaf, if any, is in the batch
            leaves = self._new_leaves(lo, hi, None)
        else:
            leaves = self._new_leaves(lo, hi, own)
            if not leaves:
                return existing  # the batch only rewrites it or deletes absent keys
            moved = _PendingLeaf(old_hash, old_key, old_value, existing[0], key)
            leaves.insert(bisect_left(leaves, old_hash, key=_key_hash), moved)
        return self._build(key[1], key[2], leaves)

    def _new_leaves(self, lo: int, hi: int, skip: int | None) -> list[_PendingLeaf]:
        """The leaves that the writes in batch[lo:hi] create (deletes create none)."""
        return [
            _new(_PendingLeaf, (key_hash, key, value, leaf_hash(key_hash, hash_value(value)), None))
            for index, (key_hash, key, value) in enumerate(self._batch[lo:hi], lo)
            if value is not None and index != skip
        ]

    def _build(self, depth: int, path: bytes, leaves: list[_PendingLeaf]) -> _Sub:
        """The subtree at (depth, path) holding exactly `leaves` (sorted by key hash)."""
        if len(leaves) <= 1:
            return leaves[0] if leaves else None
        left_path, right_path = _children(path, depth)
        split = bisect_left(leaves, right_path, key=_key_hash)
        left = self._build(depth + 1, left_path, leaves[:split])
        right = self._build(depth + 1, right_path, leaves[split:])
        return self._join(left, right, depth, path, left_path, right_path)

    def _join(self, left: _Sub, right: _Sub, depth: int, path: bytes,
              left_path: bytes, right_path: bytes) -> _Sub:
        """The node over two subtrees, written now, or a lone leaf lifted to take its place."""
        if left is None and right is None:
            return None
        if left is None or right is None:
            only, side = (left, left_path) if right is None else (right, right_path)
            if type(only) is _PendingLeaf:
                return only
            if only[2]:  # type: ignore[index]
                return self._loose(only, NodeKey(only[1], depth + 1, side))  # type: ignore[index]
        version = self._version
        left_child = self.place(left, depth + 1, left_path) if type(left) is _PendingLeaf else left
        right_child = (self.place(right, depth + 1, right_path) if type(right) is _PendingLeaf
                       else right)
        self.new[depth].append((path, encode_internal(left_child, right_child)))
        if 0 < depth <= self._cache_depth:
            self.made.append((depth, path, (version, (INTERNAL, left_child, right_child))))
        return (node_hash(EMPTY_HASH if left_child is None else left_child[0],
                          EMPTY_HASH if right_child is None else right_child[0]), version, False)

    def _loose(self, child: Child, key: NodeKey) -> _PendingLeaf:
        """The stored leaf `child`, to be moved up."""
        kind, leaf_key, leaf_value = self._read(key, remember=True)
        if kind != LEAF:
            raise corrupt_node(key, "expected a leaf")
        return _PendingLeaf(hash_key(leaf_key), leaf_key, leaf_value, child[0], key)


def compute_prunable(stale: Iterable[StaleNode], keep_from_version: int) -> tuple[NodeKey, ...]:
    """The nodes that no version >= `keep_from_version` reaches, sorted."""
    _check_version(keep_from_version)
    return tuple(sorted(s.node_key for s in stale if s.stale_since_version <= keep_from_version))


# --- small pure helpers ---


_first = _key_hash = itemgetter(0)


def _hash_of(child: Child | None) -> bytes:
    return EMPTY_HASH if child is None else child[0]


def _children(path: bytes, depth: int) -> tuple[bytes, bytes]:
    """The packed paths (depth + 1 bits) of the left and right child of (depth, path).

    The right one is also the least key hash that goes right: the batch is
    split there by bisection."""
    shift = depth & 7
    if shift == 0:
        return path + b"\x00", path + b"\x80"
    return path, path[:-1] + bytes((path[-1] | (0x80 >> shift),))


def _sorted_updates(updates: Mapping[bytes, bytes | None]) -> list[_Update]:
    if not isinstance(updates, Mapping):
        raise LedgerError(Code.SCHEMA_MISMATCH, "updates are a mapping of key to value or None")
    batch = []
    for key, value in updates.items():
        _check_key(key)
        if value is not None:
            _check_value(value)
        batch.append((hash_key(key), key, value))
    batch.sort(key=_key_hash)
    if any(a[0] == b[0] for a, b in zip(batch, batch[1:])):
        raise LedgerError(Code.SCHEMA_MISMATCH, "two keys with the same SHA-256")
    return batch


def _check_key(key: bytes) -> None:
    if type(key) is not bytes:
        raise LedgerError(Code.SCHEMA_MISMATCH, f"a key is bytes, not {type(key).__name__}")
    if len(key) > MAX_KEY_SIZE:
        raise LedgerError(Code.STATE_KEY_TOO_LARGE, f"{len(key)} bytes, limit {MAX_KEY_SIZE}")


def _check_value(value: bytes) -> None:
    if type(value) is not bytes:
        raise LedgerError(Code.SCHEMA_MISMATCH, f"a value is bytes, not {type(value).__name__}")
    if len(value) > MAX_VALUE_SIZE:
        raise LedgerError(Code.STATE_VALUE_TOO_LARGE, f"{len(value)} bytes, limit {MAX_VALUE_SIZE}")


def _check_version(version: int) -> None:
    if type(version) is not int or not 0 <= version <= codec.INT_MAX:
        raise LedgerError(Code.STATE_VERSION_INVALID, f"not an int in [0, 2**63): {version!r:.40}")
