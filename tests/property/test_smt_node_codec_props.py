"""The state tree's hand-written node codec is the canonical codec, exactly.

`ledger.smt` encodes and decodes its three node layouts by hand, for speed.
The contract, stated plainly:
* every node it writes is byte for byte `codec.encode` of the node's value
  (docs/state-tree.md §5.2), for every int width of a version and every bin
  width of a key or value;
* its fast decoder accepts only such bytes, and reads them as the general
  (codec-based) decoder does; anything else it leaves to the general decoder,
  so a damaged node is refused with STATE_NODE_MISSING as before;
* the leaf and node hashes are the tagged hashes of ledger.crypto.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ledger import codec
from ledger.crypto import Tag, tagged_hash
from ledger.errors import Code, LedgerError
from ledger.smt_nodes import (
    INTERNAL,
    LEAF,
    Child,
    NodeKey,
    _decode_checked,
    _decode_common,
    decode_node,
    encode_internal,
    encode_leaf,
)
from ledger.smt_proof import leaf_hash, node_hash

# Around every boundary between msgpack's int and bin forms.
EDGES = [0, 1, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 0xFFFFFFFF, 0x100000000, codec.INT_MAX]
versions = st.sampled_from(EDGES) | st.integers(0, codec.INT_MAX)
hashes = st.binary(min_size=32, max_size=32)
children = st.none() | st.tuples(hashes, versions, st.booleans())
sizes = st.sampled_from([0, 1, 255, 256, 65535, 65536]) | st.integers(0, 300)
blobs = sizes.flatmap(lambda n: st.binary(min_size=n, max_size=n))
KEY = NodeKey(7, 3, b"\xa0")


def value_of(child: Child | None) -> list[object] | None:
    return None if child is None else list(child)


@given(children, children)
def test_internal_nodes_are_canonical(left: Child | None, right: Child | None) -> None:
    data = encode_internal(left, right)
    assert data == codec.encode([1, 2, value_of(left), value_of(right)])
    assert _decode_common(data) == _decode_checked(data, KEY) == (INTERNAL, left, right)


@given(blobs, blobs)
def test_leaves_are_canonical(key: bytes, value: bytes) -> None:
    data = encode_leaf(key, value)
    assert data == codec.encode([1, 1, key, value])
    assert _decode_common(data) == _decode_checked(data, KEY) == (LEAF, key, value)


def damaged(data: bytes, draw: st.DrawFn) -> bytes:
    how = draw(st.sampled_from(["flip", "cut", "extend", "splice"]))
    if how == "cut":
        return data[:draw(st.integers(0, len(data) - 1))]
    if how == "extend":
        return data + draw(st.binary(min_size=1, max_size=3))
    at = draw(st.integers(0, len(data) - 1))
    if how == "flip":
        return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:]
    return data[:at] + draw(st.binary(max_size=4)) + data[at + draw(st.integers(0, 4)):]


@st.composite
def node_bytes(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        data = encode_internal(draw(children), draw(children))
    else:
        data = encode_leaf(draw(blobs), draw(blobs))
    return damaged(data, draw) if draw(st.booleans()) else data


def uint_any_width(value: int, draw: st.DrawFn) -> bytes:
    """`value` in a msgpack uint form wide enough for it, not always the shortest."""
    forms = [(b"", 1, 0x80), (b"\xcc", 1, 0x100), (b"\xcd", 2, 0x10000),
             (b"\xce", 4, 0x100000000), (b"\xcf", 8, 1 << 64)]
    head, width, _ = draw(st.sampled_from([f for f in forms if value < f[2]]))
    return head + value.to_bytes(width, "big")


def bin_any_width(data: bytes, draw: st.DrawFn) -> bytes:
    head, width = draw(st.sampled_from([(b"\xc4", 1), (b"\xc5", 2), (b"\xc6", 4)]
                                       [0 if len(data) < 256 else 1:]))
    return head + len(data).to_bytes(width, "big") + data


@st.composite
def loose_node_bytes(draw: st.DrawFn) -> bytes:
    """Nodes whose ints and lengths may take a longer form than the canonical one."""
    if draw(st.booleans()):
        return b"\x94\x01\x01" + bin_any_width(draw(blobs), draw) + bin_any_width(draw(blobs), draw)
    parts = [b"\x94\x01\x02"]
    for child in (draw(children), draw(children)):
        if child is None:
            parts.append(b"\xc0")
        else:
            hash_, version, is_leaf = child
            parts.append(b"\x93\xc4\x20" + hash_ + uint_any_width(version, draw)
                         + (b"\xc3" if is_leaf else b"\xc2"))
    return b"".join(parts)


@given(node_bytes() | loose_node_bytes() | st.binary(max_size=100),
       st.sampled_from([KEY, NodeKey(3, 0, b"")]))
def test_the_fast_decoder_never_disagrees(data: bytes, key: NodeKey) -> None:
    fast = _decode_common(data)
    try:
        checked = _decode_checked(data, key)
    except LedgerError as error:
        assert error.code is Code.STATE_NODE_MISSING
        assert fast is None, "the fast decoder accepted what the codec refuses"
        try:
            decode_node(data, key)
        except LedgerError as again:
            assert again.code is Code.STATE_NODE_MISSING
        else:
            raise AssertionError("a refused node decoded")
        return
    assert fast is None or fast == checked
    assert decode_node(data, key) == checked


@given(hashes, hashes)
def test_hashes_are_the_tagged_hashes(a: bytes, b: bytes) -> None:
    assert leaf_hash(a, b) == tagged_hash(Tag.SMT_LEAF, a + b)
    assert node_hash(a, b) == tagged_hash(Tag.SMT_NODE, a + b)
