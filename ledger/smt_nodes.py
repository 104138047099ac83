"""The byte layout of a state tree node, written and read by hand.

A node is stored as canonical msgpack (docs/state-tree.md):

    [1, 0]                    the null root (an empty tree)
    [1, 1, key, value]        a leaf
    [1, 2, left, right]       an internal node; a child is nil or [hash, version, is_leaf]

`ledger.smt` writes tens of thousands of nodes per block, so this module
encodes them directly, byte for byte what `codec.encode` gives for these
values, and decodes them with a fast path for exactly that form; anything
else goes through the general canonical decoder, so a damaged node is
refused (STATE_NODE_MISSING) as before, never read as another value.
Decoded nodes are plain tuples (see `Node`), not dataclasses.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol, TypeAlias

from ledger import codec
from ledger.errors import Code, LedgerError
from ledger.smt_proof import MAX_KEY_SIZE, MAX_VALUE_SIZE

NODE_VERSION = 1
NULL, LEAF, INTERNAL = 0, 1, 2  # node kinds, the second item of a node
MAX_NODE_SIZE = MAX_KEY_SIZE + MAX_VALUE_SIZE + 64


class NodeKey(NamedTuple):
    """Where a node is stored: the first `depth` bits of its path, packed
    MSB-first in ceil(depth / 8) bytes (unused low bits zero), and a version."""

    version: int
    depth: int
    path: bytes


class NodeReader(Protocol):
    def get_node(self, key: NodeKey) -> bytes | None: ...


# Decoded nodes are plain tuples of bytes, ints and bools, which Python's
# garbage collector stops tracking: the cache may hold 100,000 of them, and
# as NamedTuples they made every full collection scan them all (more than
# half of the time of a block, measured at 100,000 keys).
#
# An internal node's reference to a child, stored at (version, depth + 1, path):
Child: TypeAlias = "tuple[bytes, int, bool]"  # (hash, version, is_leaf)
# A node below a root: (LEAF, key, value) or (INTERNAL, left, right), a child
# being a Child or None. (A root may also be None: the empty tree.)
Node: TypeAlias = "tuple[int, Any, Any]"


# --- nodes on the wire: [1, 0] null root | [1, 1, key, value] leaf |
# [1, 2, left, right] internal, a child being nil | [hash, version, is_leaf].
# Written by hand, byte for byte what codec.encode gives for these values
# (fixarray, positive fixint, bin 8/16/32, the shortest uint, true/false).

NULL_ROOT = b"\x92\x01\x00"
_INTERNAL_HEAD = b"\x94\x01\x02"
_LEAF_HEAD = b"\x94\x01\x01"
_CHILD_HEAD = b"\x93\xc4\x20"
_NIL, _FALSE, _TRUE = 0xC0, 0xC2, 0xC3
_BYTE = [bytes((i,)) for i in range(256)]
# Type byte -> (width of what follows, least value that needs this form).
_UINT_FORMS = {0xCC: (1, 0x80), 0xCD: (2, 0x100), 0xCE: (4, 0x10000), 0xCF: (8, 0x100000000)}
_BIN_FORMS = {0xC4: (1, 0), 0xC5: (2, 0x100), 0xC6: (4, 0x10000)}
_NOT_A_FORM = (0, 0)


def encode_internal(left: Child | None, right: Child | None) -> bytes:
    if left is not None and right is not None:  # the usual case, in one join
        left_hash, left_version, left_leaf = left
        right_hash, right_version, right_leaf = right
        return b"".join((_INTERNAL_HEAD, _CHILD_HEAD, left_hash, _encode_uint(left_version),
                         b"\xc3" if left_leaf else b"\xc2", _CHILD_HEAD, right_hash,
                         _encode_uint(right_version), b"\xc3" if right_leaf else b"\xc2"))
    parts = [_INTERNAL_HEAD]
    for child in (left, right):
        if child is None:
            parts.append(b"\xc0")
        else:
            hash_, version, is_leaf = child
            parts += (_CHILD_HEAD, hash_, _encode_uint(version), b"\xc3" if is_leaf else b"\xc2")
    return b"".join(parts)


def _encode_uint(value: int) -> bytes:
    if value < 0x80:
        return _BYTE[value]
    if value < 0x100:
        return b"\xcc" + _BYTE[value]
    if value < 0x10000:
        return b"\xcd" + value.to_bytes(2, "big")
    if value < 0x100000000:
        return b"\xce" + value.to_bytes(4, "big")
    return b"\xcf" + value.to_bytes(8, "big")


def encode_leaf(key: bytes, value: bytes) -> bytes:
    return _LEAF_HEAD + _encode_bin_head(len(key)) + key + _encode_bin_head(len(value)) + value


def _encode_bin_head(size: int) -> bytes:
    if size < 0x100:
        return b"\xc4" + _BYTE[size]
    if size < 0x10000:
        return b"\xc5" + size.to_bytes(2, "big")
    return b"\xc6" + size.to_bytes(4, "big")


def load_bytes(store: NodeReader, key: NodeKey) -> bytes:
    data = store.get_node(key)
    if data is None:
        raise LedgerError(Code.STATE_NODE_MISSING, f"node {key} is not in the store")
    return data


def decode_node(data: bytes, key: NodeKey) -> Node | None:
    """The node `data` holds; raises STATE_NODE_MISSING if it holds none."""
    if type(data) is bytes:
        node = _decode_common(data)
        if node is not None:
            return node
    return _decode_checked(data, key)


def _decode_common(data: bytes) -> Node | None:
    """The node if `data` is a canonical leaf or internal node; None for
    anything else (which `_decode_checked` then judges)."""
    head = data[:3]
    if head == _INTERNAL_HEAD:
        left, at = _decode_child(data, 3)
        if at < 0:
            return None
        right, at = _decode_child(data, at)
        if at != len(data):
            return None
        return (INTERNAL, left, right)
    if head == _LEAF_HEAD and len(data) <= MAX_NODE_SIZE:
        key, at = _decode_bin(data, 3)
        if at < 0:
            return None
        value, at = _decode_bin(data, at)
        if at != len(data):
            return None
        return (LEAF, key, value)
    return None


def _decode_child(data: bytes, at: int) -> tuple[Child | None, int]:
    """The child reference at `at` and the offset after it; offset -1 if not canonical."""
    if at >= len(data):
        return None, -1
    if data[at] == _NIL:
        return None, at + 1
    if data[at:at + 3] != _CHILD_HEAD:
        return None, -1
    hash_ = data[at + 3:at + 35]
    version, at = _decode_uint(data, at + 35)
    if at < 0 or at >= len(data) or len(hash_) != 32:
        return None, -1
    flag = data[at]
    if flag != _TRUE and flag != _FALSE:
        return None, -1
    return (hash_, version, flag == _TRUE), at + 1


def _decode_uint(data: bytes, at: int) -> tuple[int, int]:
    """A non-negative int in its shortest form (at most INT_MAX); offset -1 otherwise."""
    if at >= len(data):
        return 0, -1
    first = data[at]
    if first < 0x80:
        return first, at + 1
    width, least = _UINT_FORMS.get(first, _NOT_A_FORM)
    raw = data[at + 1:at + 1 + width]
    if not width or len(raw) != width:
        return 0, -1
    value = int.from_bytes(raw, "big")
    if not least <= value <= codec.INT_MAX:
        return 0, -1
    return value, at + 1 + width


def _decode_bin(data: bytes, at: int) -> tuple[bytes | None, int]:
    """A bin in its shortest form and the offset after it; offset -1 otherwise."""
    width, least = _BIN_FORMS.get(data[at] if at < len(data) else -1, _NOT_A_FORM)
    if not width:
        return None, -1
    size = int.from_bytes(data[at + 1:at + 1 + width], "big")
    start = at + 1 + width
    if size < least or start + size > len(data):
        return None, -1
    return data[start:start + size], start + size


def _decode_checked(data: bytes, key: NodeKey) -> Node | None:
    """The general decoder: through the canonical codec, with a reason for every refusal."""
    try:
        value = codec.decode(data, max_size=MAX_NODE_SIZE)
    except LedgerError as exc:
        raise corrupt_node(key, exc.message) from None
    if type(value) is not list or [type(v) for v in value[:2]] != [int, int]:
        raise corrupt_node(key, "not a [version, kind, ...] array")
    if value[0] != NODE_VERSION:
        raise corrupt_node(key, f"node version {value[0]}")
    kind, fields = value[1], value[2:]
    if kind == NULL and not fields and key.depth == 0:
        return None
    if kind == LEAF and len(fields) == 2 and all(type(f) is bytes for f in fields):
        return (LEAF, fields[0], fields[1])
    if kind == INTERNAL and len(fields) == 2:
        return (INTERNAL, _checked_child(fields[0], key), _checked_child(fields[1], key))
    raise corrupt_node(key, f"no node of kind {kind} with {len(fields)} fields here")


def _checked_child(value: Any, key: NodeKey) -> Child | None:
    if value is None:
        return None
    if (
        type(value) is list and len(value) == 3
        and type(value[0]) is bytes and len(value[0]) == 32
        and type(value[1]) is int and type(value[2]) is bool
    ):
        return (value[0], value[1], value[2])
    raise corrupt_node(key, "malformed child reference")


def corrupt_node(key: NodeKey, why: str) -> LedgerError:
    return LedgerError(Code.STATE_NODE_MISSING, f"node {key} is unreadable: {why}")
