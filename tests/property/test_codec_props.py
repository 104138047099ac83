"""Properties of the canonical codec: round trip, uniqueness, closed errors."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import codec
from ledger.errors import Code, LedgerError
from tests.independent import spec_codec
from tests.support.values import same, scalars, values


@given(values)
def test_round_trip(value: object) -> None:
    data = codec.encode(value)
    decoded = codec.decode(data)
    assert same(decoded, value)
    assert codec.encode(decoded) == data


@given(values, st.data())
def test_every_mutation_fails_or_changes_the_value(value: object, data: st.DataObject) -> None:
    """One value, one encoding: no other bytes decode to the same value."""
    original = codec.encode(value)
    position = data.draw(st.integers(0, len(original)), label="position")
    how = data.draw(st.sampled_from(["flip", "delete", "insert", "truncate"]), label="how")
    mutated = bytearray(original)
    if how == "flip" and position < len(original):
        mutated[position] ^= data.draw(st.integers(1, 255), label="xor")
    elif how == "delete" and position < len(original):
        del mutated[position]
    elif how == "insert":
        mutated.insert(position, data.draw(st.integers(0, 255), label="byte"))
    else:
        del mutated[position:]
    if bytes(mutated) == original:
        return
    try:
        decoded = codec.decode(bytes(mutated))
    except LedgerError:
        return
    assert not same(decoded, value)


@given(st.binary(max_size=200))
def test_only_ledger_errors_escape_decode(data: bytes) -> None:
    try:
        codec.decode(data)
    except LedgerError:
        pass


@given(st.dictionaries(st.text(max_size=6), st.integers(0, 9), max_size=8), st.randoms())
def test_map_encoding_ignores_insertion_order(mapping: dict[str, int], rng: object) -> None:
    items = list(mapping.items())
    rng.shuffle(items)  # type: ignore[attr-defined]
    assert codec.encode(dict(items)) == codec.encode(mapping)


# -- the fast paths agree with the reference walk and the independent decoder ------------------

# Anything msgpack can write, canonical or not: floats, ints past int64,
# unsorted or duplicate-free maps with any key type, deep nesting, ext types.
raw_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False)
    | st.binary(max_size=40) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=3) | st.integers(0, 3), children, max_size=4),
    max_leaves=20,
)
# What a caller might hand `encode`: odd types and values among the good ones.
odd = st.sampled_from([1.5, 2**63, -(2**63) - 1, "\ud800", bytearray(b"ab"), memoryview(b"cd"),
                       Code.INVALID_ARGUMENT, {1, 2}, (1, 2)])
encodable_or_not = st.recursive(
    scalars | odd,
    lambda children: st.lists(children, max_size=4) | st.tuples(children, children)
    | st.dictionaries(st.text(max_size=3) | st.sampled_from([b"k", 7, "\udfff"]), children,
                      max_size=4),
    max_leaves=16,
)


def _reference_encode(value: object) -> bytes:
    """The encoder as it was: the validating copy, then msgpack."""
    return msgpack.packb(codec._canonical_copy(value, 0), use_bin_type=True)


def _outcome(call: Any, *args: object) -> tuple[str, object]:
    try:
        return "ok", call(*args)
    except LedgerError as error:
        return "error", error.code


@given(encodable_or_not)
def test_encode_gives_what_the_reference_walk_gives(value: object) -> None:
    assert _outcome(codec.encode, value) == _outcome(_reference_encode, value)
    if _outcome(codec.encode, value)[0] == "ok":
        assert codec.encode(codec.canonical(value)) == codec.encode(value)


@given(raw_values)
def test_decode_accepts_exactly_what_the_independent_decoder_accepts(value: object) -> None:
    data = msgpack.packb(value, use_bin_type=True)
    try:
        expected = spec_codec.decode(data)
    except spec_codec.CanonicalError:
        with pytest.raises(LedgerError):
            codec.decode(data)
        return
    decoded = codec.decode(data)
    assert same(decoded, expected)
    assert codec.reencode_decoded(decoded) == data


@given(st.integers(0, 40), scalars)
def test_nesting_at_any_depth_is_refused_past_the_limit(depth: int, leaf: object) -> None:
    value: object = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    data = msgpack.packb(value, use_bin_type=True)
    if depth <= codec.MAX_DEPTH:
        assert same(codec.decode(data), value)
        assert codec.encode(value) == data
    else:
        for call in (codec.decode, codec.encode):
            with pytest.raises(LedgerError) as caught:
                call(data if call is codec.decode else value)
            assert caught.value.code is Code.CODEC_TOO_DEEP
