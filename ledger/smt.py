"""The authenticated state: a versioned, path-compressed sparse Merkle tree.

Every block header carries `state_root`, the root of this tree after the
block, so that a bank can be shown "invoice X is registered and carries no
lien" (a value, or an absence) by a proof it checks against a certified
header. The hashing and the proofs are in `ledger.smt_proof` (what a light
client imports); this module keeps the tree across versions. The layout,
byte by byte, is in docs/state-tree.md.

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

Pure and deterministic: no I/O, clock or randomness; storage is injected as
a `NodeReader`. A batch is applied in key-hash order, so the same updates on
the same base give byte-identical nodes, whatever the mapping's order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias

from ledger import codec
from ledger.errors import Code, LedgerError
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

NODE_VERSION = 1
NULL, LEAF, INTERNAL = 0, 1, 2  # node kinds, the second item of a node
_MAX_NODE_SIZE = MAX_KEY_SIZE + MAX_VALUE_SIZE + 64


@dataclass(frozen=True, slots=True, order=True)
class NodeKey:
    """Where a node is stored: the first `depth` bits of its path, packed
    MSB-first in ceil(depth / 8) bytes (unused low bits zero), and a version."""

    version: int
    depth: int
    path: bytes


@dataclass(frozen=True, slots=True, order=True)
class StaleNode:
    """`node_key` is not reachable from version `stale_since_version` on."""

    stale_since_version: int
    node_key: NodeKey


@dataclass(frozen=True, slots=True)
class TreeUpdate:
    """What `apply` made: `new_nodes` go into the block's atomic batch, and
    `stale` is kept (e.g. indexed by version) for pruning. Both are sorted."""

    version: int
    root: bytes
    new_nodes: tuple[tuple[NodeKey, bytes], ...]
    stale: tuple[StaleNode, ...]


class NodeReader(Protocol):
    def get_node(self, key: NodeKey) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class Child:
    """An internal node's reference to a child, stored at (version, depth + 1, path)."""

    hash: bytes
    version: int
    is_leaf: bool


@dataclass(frozen=True, slots=True)
class _Leaf:
    key: bytes
    value: bytes


@dataclass(frozen=True, slots=True)
class _Internal:
    left: Child | None
    right: Child | None


@dataclass(frozen=True, slots=True)
class _Update:
    key_hash: bytes
    key: bytes
    value: bytes | None  # None deletes


@dataclass(frozen=True, slots=True)
class _PendingLeaf:
    """A leaf not yet placed; `origin` is where it is stored now, if anywhere."""

    key_hash: bytes
    leaf: _Leaf
    hash: bytes
    origin: NodeKey | None = None


@dataclass(frozen=True, slots=True)
class _PendingNode:
    left: _Sub
    right: _Sub
    hash: bytes


# A subtree during `apply`: empty, unchanged where it is stored, or new.
_Sub: TypeAlias = "Child | _PendingLeaf | _PendingNode | None"


class SparseMerkleTree:
    """Reads and updates of the versioned tree over an injected node store."""

    __slots__ = ("_store",)

    def __init__(self, store: NodeReader) -> None:
        self._store = store

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
        writer = _Writer(self._store, version)
        base_root = None if base_version is None else self._root_child(base_version)
        root = writer.materialize(writer.update(base_root, 0, b"", batch), 0, b"")
        if base_version is not None:
            writer.mark_stale(NodeKey(base_version, 0, b""))
        return writer.finish(root)

    def root_at(self, version: int) -> bytes:
        """The root hash of `version` (32 zero bytes for the empty tree)."""
        _check_version(version)
        root = self._root_child(version)
        return EMPTY_HASH if root is None else root.hash

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
        if isinstance(node, _Leaf):
            return Child(leaf_hash(hash_key(node.key), hash_value(node.value)), version, True)
        if isinstance(node, _Internal):
            return Child(node_hash(_hash_of(node.left), _hash_of(node.right)), version, False)
        return None

    def _walk(self, key_hash: bytes, version: int) -> tuple[_Leaf | None, tuple[bytes, ...]]:
        """The leaf ending `key_hash`'s path (None: empty) and the siblings, root down."""
        node = self._load_root(version)
        siblings: list[bytes] = []
        path = b""
        while isinstance(node, _Internal):
            depth = len(siblings)
            bit = bit_at(key_hash, depth)
            child, other = (node.right, node.left) if bit else (node.left, node.right)
            siblings.append(_hash_of(other))
            if child is None:
                return None, tuple(siblings)
            path = _child_path(path, depth, bit)
            node = _load(self._store, NodeKey(child.version, depth + 1, path))
        return node, tuple(siblings)

    def _load_root(self, version: int) -> _Leaf | _Internal | None:
        key = NodeKey(version, 0, b"")
        data = self._store.get_node(key)
        if data is None:
            raise LedgerError(
                Code.STATE_VERSION_NOT_FOUND, f"version {version} was never written or is pruned"
            )
        return _decode_node(data, key)


class _Writer:
    """One `apply`: `update` walks the base tree along the sorted batch and
    says what changes; `materialize` places it, encoding only new nodes."""

    __slots__ = ("_store", "_version", "_new", "_stale")

    def __init__(self, store: NodeReader, version: int) -> None:
        self._store = store
        self._version = version
        self._new: dict[NodeKey, bytes] = {}
        self._stale: dict[NodeKey, None] = {}  # a dict: ordered, no duplicates

    def mark_stale(self, key: NodeKey) -> None:
        self._stale[key] = None

    def update(self, existing: Child | None, depth: int, path: bytes, batch: list[_Update]) -> _Sub:
        """The subtree at (depth, path), now `existing`, with `batch` applied."""
        if not batch:
            return existing
        if existing is None:
            return self._build(depth, _new_leaves(batch))
        key = NodeKey(existing.version, depth, path)
        if existing.is_leaf:
            return self._merge_leaf(existing, key, batch, depth)
        node = _load(self._store, key)
        if not isinstance(node, _Internal):
            raise _corrupt(key, "expected an internal node")
        split = _split_index(batch, depth)
        left = self.update(node.left, depth + 1, _child_path(path, depth, 0), batch[:split])
        right = self.update(node.right, depth + 1, _child_path(path, depth, 1), batch[split:])
        if left == node.left and right == node.right:
            return existing
        self.mark_stale(key)
        return self._join(left, right, depth, path)

    def materialize(self, sub: _Sub, depth: int, path: bytes) -> Child | None:
        """Places `sub` at (depth, path) and says how its parent refers to it."""
        if sub is None or isinstance(sub, Child):
            return sub
        key = NodeKey(self._version, depth, path)
        if isinstance(sub, _PendingLeaf):
            if sub.origin is not None:
                if sub.origin.depth == depth:
                    return Child(sub.hash, sub.origin.version, True)
                self.mark_stale(sub.origin)
            self._put(key, [LEAF, sub.leaf.key, sub.leaf.value])
            return Child(sub.hash, self._version, True)
        left = self.materialize(sub.left, depth + 1, _child_path(path, depth, 0))
        right = self.materialize(sub.right, depth + 1, _child_path(path, depth, 1))
        self._put(key, [INTERNAL, _child_value(left), _child_value(right)])
        return Child(sub.hash, self._version, False)

    def finish(self, root: Child | None) -> TreeUpdate:
        """Stores the root under this version (copying an unchanged one)."""
        root_key = NodeKey(self._version, 0, b"")
        if root is None:
            self._put(root_key, [NULL])
        elif root.version != self._version:
            self._new[root_key] = _load_bytes(self._store, NodeKey(root.version, 0, b""))
        new_nodes = tuple(sorted(self._new.items(), key=lambda item: _order(item[0])))
        stale = tuple(StaleNode(self._version, key) for key in sorted(self._stale, key=_order))
        root_hash = EMPTY_HASH if root is None else root.hash
        return TreeUpdate(self._version, root_hash, new_nodes, stale)

    def _merge_leaf(self, existing: Child, key: NodeKey, batch: list[_Update], depth: int) -> _Sub:
        old = self._load_leaf(existing, key)
        own = next((u for u in batch if u.key_hash == old.key_hash), None)
        leaves = _new_leaves(u for u in batch if u is not own)
        if own is None or own.value == old.leaf.value:
            if not leaves:
                return existing  # the batch only rewrites it or deletes absent keys
            leaves.append(old)
        else:
            self.mark_stale(key)
            leaves.extend(_new_leaves([own]))
        return self._build(depth, sorted(leaves, key=lambda leaf: leaf.key_hash))

    def _build(self, depth: int, leaves: list[_PendingLeaf]) -> _Sub:
        """The subtree at `depth` holding exactly `leaves` (sorted by key hash)."""
        if len(leaves) <= 1:
            return leaves[0] if leaves else None
        split = _split_index(leaves, depth)
        left = self._build(depth + 1, leaves[:split])
        return self._join(left, self._build(depth + 1, leaves[split:]), depth, None)

    def _join(self, left: _Sub, right: _Sub, depth: int, path: bytes | None) -> _Sub:
        """The node over two subtrees, or a lone leaf lifted to take its place."""
        if left is None and right is None:
            return None
        if left is None or right is None:
            only = right if left is None else left
            if isinstance(only, _PendingLeaf):
                return only
            if isinstance(only, Child) and only.is_leaf and path is not None:
                side = _child_path(path, depth, int(left is None))
                return self._load_leaf(only, NodeKey(only.version, depth + 1, side))
        return _PendingNode(left, right, node_hash(_hash_of(left), _hash_of(right)))

    def _load_leaf(self, child: Child, key: NodeKey) -> _PendingLeaf:
        node = _load(self._store, key)
        if not isinstance(node, _Leaf):
            raise _corrupt(key, "expected a leaf")
        return _PendingLeaf(hash_key(node.key), node, child.hash, key)

    def _put(self, key: NodeKey, fields: list[Any]) -> None:
        self._new[key] = codec.encode([NODE_VERSION, *fields], max_size=_MAX_NODE_SIZE)


class MemoryNodeStore:
    """A dict-backed node store with a stale index, for tests and tools."""

    __slots__ = ("nodes", "stale")

    def __init__(self) -> None:
        self.nodes: dict[NodeKey, bytes] = {}
        self.stale: list[StaleNode] = []

    def get_node(self, key: NodeKey) -> bytes | None:
        return self.nodes.get(key)

    def put_update(self, update: TreeUpdate) -> None:
        self.nodes.update(update.new_nodes)
        self.stale.extend(update.stale)

    def prune(self, keep_from_version: int) -> tuple[NodeKey, ...]:
        """Deletes what `compute_prunable` allows; returns the deleted keys."""
        doomed = compute_prunable(self.stale, keep_from_version)
        for key in doomed:
            self.nodes.pop(key, None)
        self.stale = [s for s in self.stale if s.stale_since_version > keep_from_version]
        return doomed


def compute_prunable(stale: Iterable[StaleNode], keep_from_version: int) -> tuple[NodeKey, ...]:
    """The nodes that no version >= `keep_from_version` reaches, sorted."""
    _check_version(keep_from_version)
    doomed = (s.node_key for s in stale if s.stale_since_version <= keep_from_version)
    return tuple(sorted(doomed, key=_order))


# --- nodes on the wire: [1, 0] null root | [1, 1, key, value] leaf |
# [1, 2, left, right] internal, a child being nil | [hash, version, is_leaf]


def _child_value(child: Child | None) -> list[Any] | None:
    return None if child is None else [child.hash, child.version, child.is_leaf]


def _load_bytes(store: NodeReader, key: NodeKey) -> bytes:
    data = store.get_node(key)
    if data is None:
        raise LedgerError(Code.STATE_NODE_MISSING, f"node {key} is not in the store")
    return data


def _load(store: NodeReader, key: NodeKey) -> _Leaf | _Internal | None:
    return _decode_node(_load_bytes(store, key), key)


def _decode_node(data: bytes, key: NodeKey) -> _Leaf | _Internal | None:
    try:
        value = codec.decode(data, max_size=_MAX_NODE_SIZE)
    except LedgerError as exc:
        raise _corrupt(key, exc.message) from None
    if type(value) is not list or [type(v) for v in value[:2]] != [int, int]:
        raise _corrupt(key, "not a [version, kind, ...] array")
    if value[0] != NODE_VERSION:
        raise _corrupt(key, f"node version {value[0]}")
    kind, fields = value[1], value[2:]
    if kind == NULL and not fields and key.depth == 0:
        return None
    if kind == LEAF and len(fields) == 2 and all(type(f) is bytes for f in fields):
        return _Leaf(fields[0], fields[1])
    if kind == INTERNAL and len(fields) == 2:
        return _Internal(_decode_child(fields[0], key), _decode_child(fields[1], key))
    raise _corrupt(key, f"no node of kind {kind} with {len(fields)} fields here")


def _decode_child(value: Any, key: NodeKey) -> Child | None:
    if value is None:
        return None
    if (
        type(value) is list and len(value) == 3
        and type(value[0]) is bytes and len(value[0]) == 32
        and type(value[1]) is int and type(value[2]) is bool
    ):
        return Child(value[0], value[1], value[2])
    raise _corrupt(key, "malformed child reference")


def _corrupt(key: NodeKey, why: str) -> LedgerError:
    return LedgerError(Code.STATE_NODE_MISSING, f"node {key} is unreadable: {why}")


# --- small pure helpers ---


def _order(key: NodeKey) -> tuple[int, int, bytes]:
    return (key.version, key.depth, key.path)  # NodeKey's order, minus its slow __lt__


def _hash_of(sub: _Sub) -> bytes:
    return EMPTY_HASH if sub is None else sub.hash


def _new_leaves(batch: Iterable[_Update]) -> list[_PendingLeaf]:
    """The leaves that the writes in `batch` create (deletes create none)."""
    return [
        _PendingLeaf(u.key_hash, _Leaf(u.key, u.value), leaf_hash(u.key_hash, hash_value(u.value)))
        for u in batch
        if u.value is not None
    ]


def _split_index(items: list[Any], depth: int) -> int:
    """Index of the first item (sorted by key hash) whose bit `depth` is 1."""
    for i, item in enumerate(items):
        if bit_at(item.key_hash, depth):
            return i
    return len(items)


def _child_path(path: bytes, depth: int, bit: int) -> bytes:
    """The packed path of depth + 1 bits: `path` (depth bits), then `bit`."""
    packed = bytearray(path)
    if depth % 8 == 0:
        packed.append(0)
    if bit:
        packed[depth >> 3] |= 0x80 >> (depth & 7)
    return bytes(packed)


def _sorted_updates(updates: Mapping[bytes, bytes | None]) -> list[_Update]:
    if not isinstance(updates, Mapping):
        raise LedgerError(Code.SCHEMA_MISMATCH, "updates are a mapping of key to value or None")
    batch = []
    for key, value in updates.items():
        _check_key(key)
        if value is not None:
            _check_value(value)
        batch.append(_Update(hash_key(key), key, value))
    batch.sort(key=lambda u: u.key_hash)
    if any(a.key_hash == b.key_hash for a, b in zip(batch, batch[1:])):
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
