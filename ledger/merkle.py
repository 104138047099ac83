"""RFC 6962 Merkle trees: one root per list, and proofs a light client can check.

A block commits to its transactions (and a log to its entries) by one 32-byte
root, so that a peer holding only the root can be shown that an item is in
the list (inclusion proof) and that a longer list extends a shorter one
(consistency proof) without seeing the rest. The hashing is exactly RFC 6962
§2.1 (= RFC 9162 §2.1.1), so our roots and proofs interoperate with
Certificate Transparency tooling and are checked against its test vectors:

* leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || left || right); the
  prefixes keep a leaf from ever passing for an inner node;
* the empty list has root SHA-256(b""); a list of n > 1 items splits at the
  largest power of two below n; an odd node is carried up, never duplicated
  (duplication is what let Bitcoin's tree give two lists the same root).

Guarantees: everything is pure and deterministic. Building a tree costs
O(n) hashes (level by level, no recursion over the leaves); a proof then
costs O(log n). The verifiers take untrusted input: every hash must be 32
bytes, sizes and indices are integers in [0, 2**64), a proof must have
exactly the expected length, and the only exception that ever escapes
them is `LedgerError` with a `MERKLE_*` code. Policy (as transparency-dev):
a consistency proof from size 0 is an error, and equal sizes need an empty
proof and equal roots. An inclusion proof binds a leaf to a root, not to a
tree size (another size with the same path shape also verifies): bind each
root to its size elsewhere, e.g. in the signed block header. The builders
(`root`, `MerkleTree`) trust their argument types; the verifiers trust none.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from ledger.errors import Code, LedgerError

HASH_SIZE = 32
MAX_SIZE = 2**64 - 1
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """The hash of one leaf: SHA-256(0x00 || data)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an inner node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """The audit path of leaf `index` in a tree of `tree_size`, bottom-up."""

    index: int
    tree_size: int
    path: tuple[bytes, ...]


class MerkleTree:
    """A tree built once from its leaves; every level is kept for proofs.

    Level 0 holds the leaf hashes; level k+1 pairs up level k and carries an
    odd last node up unchanged, which yields the RFC 6962 tree. Node j of
    level k covers leaves [j * 2**k, min((j + 1) * 2**k, size)).
    """

    __slots__ = ("_levels",)

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self._levels = _build_levels([leaf_hash(data) for data in leaves])

    @classmethod
    def from_leaf_hashes(cls, hashes: Sequence[bytes]) -> MerkleTree:
        """A tree over already-hashed leaves (each 32 bytes)."""
        tree = cls.__new__(cls)
        tree._levels = _build_levels([_as_hash(h, "leaf hash") for h in hashes])
        return tree

    @property
    def size(self) -> int:
        return len(self._levels[0])

    @property
    def root(self) -> bytes:
        return self._levels[-1][0] if self.size else EMPTY_ROOT

    def inclusion_proof(self, index: int) -> InclusionProof:
        """The proof that leaf `index` is in this tree (RFC 9162 §2.1.3.1)."""
        index = _as_int(index, "index", Code.MERKLE_INDEX_OUT_OF_RANGE)
        if index >= self.size:
            raise LedgerError(Code.MERKLE_INDEX_OUT_OF_RANGE, f"{index} >= size {self.size}")
        path: list[bytes] = []
        node = index
        for level in self._levels[:-1]:
            sibling = node ^ 1
            if sibling < len(level):  # else the node is carried up as is
                path.append(level[sibling])
            node >>= 1
        return InclusionProof(index=index, tree_size=self.size, path=tuple(path))

    def consistency_proof(self, old_size: int) -> tuple[bytes, ...]:
        """Proof that this tree extends its first `old_size` (in [1, size]) leaves."""
        old_size = _as_int(old_size, "old_size", Code.MERKLE_BAD_TREE_SIZE)
        if not 0 < old_size <= self.size:
            raise LedgerError(Code.MERKLE_BAD_TREE_SIZE, f"{old_size} not in [1, {self.size}]")
        return tuple(self._subproof(old_size, 0, self.size, True))

    def _subproof(self, m: int, start: int, end: int, complete: bool) -> list[bytes]:
        # SUBPROOF(m, D[start:end], b) of RFC 9162 §2.1.4.1; depth O(log n).
        if m == end - start:
            return [] if complete else [self._node(start, end)]
        k = _split_point(end - start)
        if m <= k:
            return self._subproof(m, start, start + k, complete) + [self._node(start + k, end)]
        return self._subproof(m - k, start + k, end, False) + [self._node(start, start + k)]

    def _node(self, start: int, end: int) -> bytes:
        # Every node that SUBPROOF asks for starts at a multiple of 2**k,
        # where 2**k is the smallest power of two >= its width.
        k = (end - start - 1).bit_length()
        return self._levels[k][start >> k]


def root(leaves: Sequence[bytes]) -> bytes:
    """The Merkle Tree Hash of the raw leaf data (RFC 6962 §2.1)."""
    return root_from_leaf_hashes([leaf_hash(data) for data in leaves])


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """The Merkle Tree Hash of a list given by its leaf hashes."""
    level = [_as_hash(h, "leaf hash") for h in hashes]
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


def inclusion_proof(leaves: Sequence[bytes], index: int) -> InclusionProof:
    """The inclusion proof of `leaves[index]` (build a `MerkleTree` for many)."""
    return MerkleTree(leaves).inclusion_proof(index)


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> tuple[bytes, ...]:
    """The proof that `leaves` extends `leaves[:old_size]`."""
    return MerkleTree(leaves).consistency_proof(old_size)


def verify_inclusion_hash(
    leaf_hash: bytes, index: int, tree_size: int, path: Sequence[bytes], root: bytes
) -> None:
    """Check that `leaf_hash` is leaf `index` of the tree with `root`.

    RFC 9162 §2.1.3.2. Raises `LedgerError` on any failure, returns None.
    """
    seed = _as_hash(leaf_hash, "leaf hash")
    expected_root = _as_hash(root, "root")
    size = _as_int(tree_size, "tree size", Code.MERKLE_BAD_TREE_SIZE)
    fn = _as_int(index, "index", Code.MERKLE_INDEX_OUT_OF_RANGE)
    proof = _as_path(path)
    if fn >= size:
        raise LedgerError(Code.MERKLE_INDEX_OUT_OF_RANGE, f"index {fn} >= tree size {size}")
    _check_path_length(proof, _inclusion_length(fn, size))
    sn = size - 1
    r = seed
    for p in proof:
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    _check_root(sn == 0 and r == expected_root, "inclusion proof")


def verify_inclusion(leaf: bytes, proof: InclusionProof, root: bytes) -> None:
    """Check that the raw `leaf` data is in the tree with `root`."""
    if type(proof) is not InclusionProof:
        raise LedgerError(Code.MERKLE_INVALID_PROOF, f"proof is a {type(proof).__name__}")
    if type(leaf) not in (bytes, bytearray):
        raise LedgerError(Code.MERKLE_INVALID_PROOF, f"leaf is a {type(leaf).__name__}")
    verify_inclusion_hash(leaf_hash(leaf), proof.index, proof.tree_size, proof.path, root)


def is_included(leaf: bytes, proof: InclusionProof, root: bytes) -> bool:
    """Whether `verify_inclusion` accepts: for callers that only branch."""
    try:
        verify_inclusion(leaf, proof, root)
    except LedgerError:
        return False
    return True


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree (new_size, new_root) extends (old_size, old_root).

    RFC 9162 §2.1.4.2. Raises `LedgerError` on any failure, returns None.
    """
    first = _as_hash(old_root, "old root")
    second = _as_hash(new_root, "new root")
    m = _as_int(old_size, "old size", Code.MERKLE_BAD_TREE_SIZE)
    n = _as_int(new_size, "new size", Code.MERKLE_BAD_TREE_SIZE)
    path = _as_path(proof)
    if m == 0 or m > n:
        raise LedgerError(Code.MERKLE_BAD_TREE_SIZE, f"need 0 < old <= new size, got {m}, {n}")
    if m == n:
        _check_path_length(path, 0)
        _check_root(first == second, "consistency proof (equal sizes)")
        return
    _check_path_length(path, _consistency_length(m, n))
    if m & (m - 1) == 0:  # m is a power of two: its root is the seed
        path = (first, *path)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    _check_root(sn == 0 and fr == first and sr == second, "consistency proof")


def is_consistent(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether `verify_consistency` accepts."""
    try:
        verify_consistency(old_size, new_size, old_root, new_root, proof)
    except LedgerError:
        return False
    return True


def _build_levels(hashes: list[bytes]) -> list[list[bytes]]:
    levels = [hashes]
    while len(levels[-1]) > 1:
        levels.append(_next_level(levels[-1]))
    return levels


def _next_level(level: list[bytes]) -> list[bytes]:
    up = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        up.append(level[-1])
    return up


def _split_point(n: int) -> int:
    """The largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _inclusion_length(index: int, size: int) -> int:
    # Levels where the paths to `index` and `size - 1` differ, plus one
    # left sibling per set bit above them (the right border).
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def _consistency_length(m: int, n: int) -> int:
    # The suffix of leaf m-1's inclusion path above the complete subtree
    # ending at m, plus that subtree's root unless m itself is a power of 2.
    shift = (m & -m).bit_length() - 1
    seed = 0 if m & (m - 1) == 0 else 1
    return seed + _inclusion_length(m - 1, n) - shift


# Untrusted input is checked by exact type, so that no subclass can bring
# its own __len__, __eq__ or __iter__ (and its own exceptions) along.


def _as_hash(value: object, what: str) -> bytes:
    if not isinstance(value, (bytes, bytearray)) or type(value) not in (bytes, bytearray):
        raise LedgerError(Code.MERKLE_BAD_HASH_LENGTH, f"{what} is a {type(value).__name__}")
    if len(value) != HASH_SIZE:
        raise LedgerError(Code.MERKLE_BAD_HASH_LENGTH, f"{what} is {len(value)} bytes, not 32")
    return bytes(value)


def _as_int(value: object, what: str, code: Code) -> int:
    if type(value) is not int:  # also refuses bool
        raise LedgerError(code, f"{what} must be an int, got {type(value).__name__}")
    if not 0 <= value <= MAX_SIZE:
        raise LedgerError(code, f"{what} must be in [0, 2**64), got {value}")
    return value


def _as_path(path: object) -> tuple[bytes, ...]:
    if not isinstance(path, (list, tuple)) or type(path) not in (list, tuple):
        raise LedgerError(Code.MERKLE_INVALID_PROOF, f"proof is a {type(path).__name__}")
    return tuple(_as_hash(h, "proof hash") for h in path)


def _check_path_length(path: tuple[bytes, ...], want: int) -> None:
    if len(path) != want:
        raise LedgerError(Code.MERKLE_INVALID_PROOF, f"proof has {len(path)} hashes, want {want}")


def _check_root(ok: bool, what: str) -> None:
    if not ok:
        raise LedgerError(Code.MERKLE_INVALID_PROOF, f"{what} does not match the root")
