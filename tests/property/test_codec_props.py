"""Properties of the canonical codec: round trip, uniqueness, closed errors."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ledger import codec
from ledger.errors import LedgerError
from tests.support.values import same, values


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
