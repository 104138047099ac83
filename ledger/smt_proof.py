"""State proofs: the hashing of the state tree and the one proof verifier.

A bank that holds only a certified block header (and so its `state_root`)
must be able to check "key K has value V" or "key K is absent" from a short
proof, without trusting the node that sent it. This module is everything
such a light client needs, and nothing else (it never touches storage); the
tree that produces the proofs is `ledger.smt`. The byte-level rules are in
docs/state-tree.md, written so that another language can verify proofs:

* a key's position is `key_hash = SHA-256(key)`, read as 256 bits, most
  significant bit of the first byte first; bit `d` chooses the child at
  depth `d` (0 = left, 1 = right). `value_hash = SHA-256(value)`;
* the empty subtree hashes to 32 zero bytes (`EMPTY_HASH`);
* leaf = SHA-256("scf/hash/smt-leaf/v1" || key_hash || value_hash);
* internal node = SHA-256("scf/hash/smt-node/v1" || left || right);
* a subtree holding exactly one leaf is that leaf (path compression), so
  a leaf sits at the shallowest depth where no other key shares its path.

A proof is the leaf found at the end of the key's path, if any, as
`(key_hash, value_hash)`, and the sibling hashes along the path **from the
root down** (`siblings[d]` is the hash of the child at depth d + 1 that is
not on the path; an empty sibling is 32 zero bytes). Wire form (canonical
msgpack): `[1, nil | [key_hash, value_hash], [sibling, ...]]`.

Guarantees: `verify_proof` is pure and total. It accepts a proof only if the
claim (the value, or absence for `value=None`) holds in the tree with that
root, under SHA-256 collision resistance; it raises only
`LedgerError(STATE_PROOF_INVALID)`, whatever it is given. `decode` raises
only `LedgerError` (codec codes, `SCHEMA_MISMATCH`, `UNSUPPORTED_VERSION`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeGuard

from ledger import codec
from ledger.crypto import Tag
from ledger.errors import Code, LedgerError

HASH_SIZE = 32
KEY_BITS = 256
MAX_KEY_SIZE = 1024
MAX_VALUE_SIZE = 1 << 20
EMPTY_HASH = bytes(HASH_SIZE)
PROOF_VERSION = 1
# At most 8,779 bytes: header 2, leaf 1 + 2 * 34, list header 3, 256 * 34.
MAX_PROOF_SIZE = 9 * 1024


# The tags as plain bytes: these run for every node the tree writes, and
# `tagged_hash(Tag.X, ...)` costs twice the hashing itself in lookups.
_LEAF_TAG: bytes = Tag.SMT_LEAF.value
_NODE_TAG: bytes = Tag.SMT_NODE.value
_sha256 = hashlib.sha256


def hash_key(key: bytes) -> bytes:
    """The key's position in the tree: SHA-256(key)."""
    return _sha256(key).digest()


def hash_value(value: bytes) -> bytes:
    return _sha256(value).digest()


def leaf_hash(key_hash: bytes, value_hash: bytes) -> bytes:
    """`tagged_hash(Tag.SMT_LEAF, key_hash + value_hash)`."""
    return _sha256(_LEAF_TAG + key_hash + value_hash).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """`tagged_hash(Tag.SMT_NODE, left + right)`."""
    return _sha256(_NODE_TAG + left + right).digest()


def bit_at(key_hash: bytes, depth: int) -> int:
    """Bit `depth` of the key hash, MSB of byte 0 first: 0 left, 1 right."""
    return (key_hash[depth >> 3] >> (7 - (depth & 7))) & 1


def common_prefix_bits(a: bytes, b: bytes) -> int:
    """How many leading bits two 32-byte hashes share (256 if equal)."""
    diff = int.from_bytes(a, "big") ^ int.from_bytes(b, "big")
    return KEY_BITS - diff.bit_length()


@dataclass(frozen=True, slots=True)
class SparseMerkleProof:
    """The leaf ending a key's path (or None: an empty subtree) and the
    sibling hashes from the root down. Constructing one checks its shape."""

    leaf: tuple[bytes, bytes] | None
    siblings: tuple[bytes, ...]

    def __post_init__(self) -> None:
        leaf, siblings = _load_shape(self.leaf, self.siblings, _schema_error)
        object.__setattr__(self, "leaf", leaf)
        object.__setattr__(self, "siblings", siblings)

    def to_value(self) -> list[Any]:
        leaf = None if self.leaf is None else list(self.leaf)
        return [PROOF_VERSION, leaf, list(self.siblings)]

    def encode(self) -> bytes:
        return codec.encode(self.to_value(), max_size=MAX_PROOF_SIZE)

    @classmethod
    def decode(cls, data: bytes) -> SparseMerkleProof:
        value = codec.decode(data, max_size=MAX_PROOF_SIZE)
        if type(value) is not list or not value:
            raise _schema_error("expected a [version, leaf, siblings] array")
        if type(value[0]) is not int or value[0] != PROOF_VERSION:
            raise LedgerError(
                Code.UNSUPPORTED_VERSION,
                f"SparseMerkleProof: version {value[0]!r:.20} is not supported "
                f"(expected {PROOF_VERSION})",
            )
        if len(value) != 3:
            raise _schema_error(f"expected 3 elements, got {len(value)}")
        return cls(leaf=value[1], siblings=value[2])


def verify_proof(root: bytes, key: bytes, value: bytes | None, proof: SparseMerkleProof) -> None:
    """Check that, in the tree with `root`, `key` maps to `value` (None: is absent).

    Raises `LedgerError(STATE_PROOF_INVALID)` on any failure; returns None.
    """
    # Verify the inputs are what they claim to be (exact types: no subclass
    # may bring its own __eq__ or __len__, and with it other exceptions).
    if type(root) is not bytes or len(root) != HASH_SIZE:
        raise _invalid("the root is not 32 bytes")
    if type(key) is not bytes or len(key) > MAX_KEY_SIZE:
        raise _invalid(f"the key is not bytes of at most {MAX_KEY_SIZE}")
    if value is not None and (type(value) is not bytes or len(value) > MAX_VALUE_SIZE):
        raise _invalid(f"the value is neither None nor bytes of at most {MAX_VALUE_SIZE}")
    if type(proof) is not SparseMerkleProof:
        raise _invalid(f"the proof is a {type(proof).__name__}")
    leaf, siblings = _load_shape(
        getattr(proof, "leaf", False), getattr(proof, "siblings", None), _invalid
    )
    key_hash = hash_key(key)
    depth = len(siblings)
    # Verify the leaf at the end of the path says what is claimed.
    if value is not None:
        if leaf is None or leaf[0] != key_hash:
            raise _invalid("the path does not end in this key's leaf")
        if leaf[1] != hash_value(value):
            raise _invalid("the leaf holds another value")
    elif leaf is not None:
        if leaf[0] == key_hash:
            raise _invalid("the key is present")
        if common_prefix_bits(leaf[0], key_hash) < depth:
            raise _invalid("the leaf found is not on this key's path")
    # Verify the path hashes up to the root.
    current = EMPTY_HASH if leaf is None else leaf_hash(leaf[0], leaf[1])
    for d in range(depth - 1, -1, -1):
        if bit_at(key_hash, d):
            current = node_hash(siblings[d], current)
        else:
            current = node_hash(current, siblings[d])
    if current != root:
        raise _invalid("the proof does not lead to the root")


def is_valid_proof(root: bytes, key: bytes, value: bytes | None, proof: SparseMerkleProof) -> bool:
    """Whether `verify_proof` accepts: for callers that only branch."""
    try:
        verify_proof(root, key, value, proof)
    except LedgerError:
        return False
    return True


def _load_shape(
    leaf: object, siblings: object, error: Callable[[str], LedgerError]
) -> tuple[tuple[bytes, bytes] | None, tuple[bytes, ...]]:
    """The proof's fields as exact tuples of 32-byte hashes, or `error(...)`."""
    loaded_leaf: tuple[bytes, bytes] | None = None
    if leaf is not None:
        if not _is_sequence(leaf) or len(leaf) != 2:
            raise error("leaf is not a (key_hash, value_hash) pair")
        loaded_leaf = (_as_hash(leaf[0], "leaf key_hash", error),
                       _as_hash(leaf[1], "leaf value_hash", error))
    if not _is_sequence(siblings):
        raise error("siblings is not a list")
    if len(siblings) > KEY_BITS:
        raise error(f"{len(siblings)} siblings, at most {KEY_BITS}")
    return loaded_leaf, tuple(_as_hash(s, "a sibling", error) for s in siblings)


def _is_sequence(value: object) -> TypeGuard[list[object] | tuple[object, ...]]:
    return type(value) is list or type(value) is tuple


def _as_hash(value: object, what: str, error: Callable[[str], LedgerError]) -> bytes:
    if type(value) is not bytes or len(value) != HASH_SIZE:
        raise error(f"{what} is not 32 bytes")
    return value


def _schema_error(message: str) -> LedgerError:
    return LedgerError(Code.SCHEMA_MISMATCH, f"SparseMerkleProof: {message}")


def _invalid(message: str) -> LedgerError:
    return LedgerError(Code.STATE_PROOF_INVALID, message)
