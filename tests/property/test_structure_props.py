"""The fast paths of ledger/structure.py and ledger/state.py equal the general ones.

A structure's construction, `from_value` and `encode` skip the full field
checks and the codec walk for values a field kind `accepts`; an overlay reads
down its chain in a loop. Each property runs the general path (the code as it
was before those fast paths) next to the fast one on the same, often invalid,
inputs: same values stored, same bytes, same error code and message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import codec
from ledger.errors import Code
from ledger.state import EmptyState, MappingState, Namespace, Overlay
from ledger.structure import (
    Bool,
    Bytes,
    Field,
    Int,
    ListOf,
    Nested,
    Optional,
    Str,
    StrMap,
    Structure,
    _plan_of,
)
from ledger.types import BlockHeader, Event, Receipt, SignedTransaction, Transaction


class Level(IntEnum):
    LOW = 1
    HIGH = 7


@dataclass(frozen=True, slots=True)
class Inner(Structure):
    n: int

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (("n", Int(0, 9)),)


@dataclass(frozen=True, slots=True)
class Flat(Structure):
    small: int
    signed: int
    flag: bool
    digest: bytes
    blob: bytes
    name: str
    code: str
    maybe: int | None
    items: tuple[bytes, ...]

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("small", Int(1, 100)),
        ("signed", Int(codec.INT_MIN, codec.INT_MAX)),
        ("flag", Bool()),
        ("digest", Bytes(size=4)),
        ("blob", Bytes(max_size=8)),
        ("name", Str(max_bytes=8)),
        ("code", Str(max_bytes=16, pattern=r"[a-z]{1,5}")),
        ("maybe", Optional(Int(0, 5))),
        ("items", ListOf(Bytes(size=2), 3)),
    )


@dataclass(frozen=True, slots=True)
class Mixed(Structure):
    inner: Inner
    inners: tuple[Inner, ...]
    attributes: dict[str, Any]
    label: str | None

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("inner", Nested(Inner)),
        ("inners", ListOf(Nested(Inner), 2)),
        ("attributes", StrMap(max_depth=3)),
        ("label", Optional(Str(max_bytes=4, pattern=r"[A-Z]+"))),
    )


# Values of every shape, valid and not, around the kinds' bounds.
scalars = (
    st.none() | st.booleans() | st.sampled_from([Level.LOW, Level.HIGH])
    | st.integers(-3, 110) | st.sampled_from([codec.INT_MIN - 1, codec.INT_MIN, codec.INT_MAX,
                                              codec.INT_MAX + 1])
    | st.binary(max_size=10) | st.binary(max_size=4).map(bytearray)
    | st.text(max_size=10) | st.from_regex(r"[a-zA-Z]{0,6}", fullmatch=True)
    | st.sampled_from(["\ud800", "é", "ab\udfffc", "ABC", "abcde", "abcdef"])
    | st.integers(0, 9).map(Inner)
)
anything = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.lists(children, max_size=4).map(tuple)
    | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=8,
)

#: Values each field accepts, so that whole structures often construct.
VALID: dict[str, st.SearchStrategy[Any]] = {
    "small": st.integers(1, 100), "signed": st.integers(codec.INT_MIN, codec.INT_MAX),
    "flag": st.booleans(), "digest": st.binary(min_size=4, max_size=4),
    "blob": st.binary(max_size=8), "name": st.text(max_size=3),
    "code": st.from_regex(r"[a-z]{1,5}", fullmatch=True), "maybe": st.none() | st.integers(0, 5),
    "items": st.lists(st.binary(min_size=2, max_size=2), max_size=3).map(tuple),
    "inner": st.integers(0, 9).map(Inner),
    "inners": st.lists(st.integers(0, 9).map(Inner), max_size=2).map(tuple),
    "attributes": st.dictionaries(st.text(max_size=3), st.integers() | st.text(max_size=3),
                                  max_size=3),
    "label": st.none() | st.from_regex(r"[A-Z]{1,4}", fullmatch=True),
}


#: Values at and just past the bounds of each field.
NEAR: dict[str, st.SearchStrategy[Any]] = {
    "small": st.sampled_from([-1, 0, 1, 100, 101, Level.LOW, True]),
    "signed": st.sampled_from([codec.INT_MIN - 1, codec.INT_MIN, codec.INT_MAX,
                               codec.INT_MAX + 1, Level.HIGH, False]),
    "flag": st.sampled_from([0, 1, None, True]),
    "digest": st.binary(min_size=3, max_size=5) | st.binary(min_size=4, max_size=4).map(bytearray),
    "blob": st.binary(min_size=7, max_size=9),
    "name": st.sampled_from(["\ud800", "ééé", "éééé", "abcdefgh", "abcdefghi", "", b"ab"]),
    "code": st.sampled_from(["", "a", "abcde", "abcdef", "ABC", "é", "a\n", b"ab"]),
    "maybe": st.sampled_from([-1, 0, 5, 6, None, Level.LOW, True]),
    "items": st.lists(st.binary(min_size=1, max_size=3), max_size=4).flatmap(
        lambda items: st.sampled_from([items, tuple(items)])),
    "inner": st.sampled_from([None, [1, 3], (Inner(1),), Inner(2)]),
    "inners": st.lists(st.integers(0, 9).map(Inner), max_size=3).flatmap(
        lambda items: st.sampled_from([items, tuple(items), (*items, 3)])),
    "attributes": st.sampled_from([{"a": 1.5}, {1: 2}, {"a": (1, [2])}, {"b": 1, "a": 2},
                                   {"a": [[[[1]]]]}, {"a": "\ud800"}, {"a": 2**64}, []]),
    "label": st.sampled_from(["", "A", "ABCD", "ABCDE", "Ab", "É", None, b"A"]),
}


def field_values(cls: type[Structure], data: st.DataObject) -> list[Any]:
    """Valid values but in up to two fields, which get values near or far
    past their bounds (two, to see which error comes first)."""
    names = [name for name, _ in cls.LAYOUT]
    bad = data.draw(st.sets(st.sampled_from(names), max_size=2), label="bad fields")
    return [data.draw(NEAR[name] | anything if name in bad else VALID[name], label=name)
            for name in names]


def outcome(work: Callable[[], Any]) -> Any:
    """What `work` returns, or the error it raises, in a comparable form."""
    try:
        return ("ok", work())
    except Exception as error:  # noqa: BLE001 - the error itself is the outcome
        return ("error", type(error), getattr(error, "code", None), str(error))


def typed(value: Any) -> Any:
    """A value with the type of every part spelled out (True != 1, () != [])."""
    if isinstance(value, (list, tuple)):
        return (type(value), tuple(typed(item) for item in value))
    if isinstance(value, dict):
        return (dict, tuple((key, typed(value[key])) for key in value))
    if isinstance(value, Structure):
        return (type(value), typed(general_to_value(value)))
    return (type(value), value)


def stored(value: Structure) -> Any:
    return typed([getattr(value, name) for name, _ in value.LAYOUT])


# -- the general paths, as they were before the fast paths --------------------

def as_decoded(value: Any) -> Any:
    """A field value in the shape `codec.decode` gives (lists, no structures)."""
    if isinstance(value, Structure):
        return as_decoded(general_to_value(value))
    if isinstance(value, (list, tuple)):
        return [as_decoded(item) for item in value]
    return value


def general_construct(cls: type[Structure], values: list[Any]) -> Structure:
    built = object.__new__(cls)
    for (name, _), value in zip(cls.LAYOUT, values):
        object.__setattr__(built, name, value)
    for name, kind in cls.LAYOUT:
        object.__setattr__(built, name, kind.check(getattr(built, name), f"{cls.__name__}.{name}"))
    built._check_invariants()
    return built


def general_to_value(value: Structure) -> list[Any]:
    return [value.VERSION] + [kind.dump(getattr(value, name)) for name, kind in value.LAYOUT]


def general_from_value(cls: type[Structure], value: list[Any]) -> Structure:
    assert type(value) is list and len(value) == len(cls.LAYOUT) + 1 and value[0] == cls.VERSION
    built = object.__new__(cls)
    for (name, kind), item in zip(cls.LAYOUT, value[1:]):
        object.__setattr__(built, name, kind.load(item, f"{cls.__name__}.{name}"))
    built._check_invariants()
    return built


# -- properties ----------------------------------------------------------------

@settings(max_examples=300)
@given(st.data())
def test_an_accepted_value_is_what_check_and_load_keep(data: st.DataObject) -> None:
    for name, kind in Flat.LAYOUT + Mixed.LAYOUT:
        value = data.draw(NEAR[name] | anything, label=name)
        if kind.accepts(value):
            assert typed(kind.check(value, "p")) == typed(value)
            if kind.loads_as_is:
                assert kind.load(value, "p") is value


@given(st.sampled_from([Flat, Mixed]), st.data())
def test_construction_equals_the_general_checks(cls: type[Structure], data: st.DataObject) -> None:
    values = field_values(cls, data)
    fast = outcome(lambda: cls(*values))
    general = outcome(lambda: general_construct(cls, values))
    assert fast[:1] == general[:1]
    if fast[0] == "error":
        assert fast == general
        return
    assert stored(fast[1]) == stored(general[1])
    assert fast[1].to_value() == general_to_value(general[1])
    encoded = outcome(fast[1].encode)
    assert encoded == outcome(lambda: codec.encode(general_to_value(general[1])))
    if encoded[0] == "ok":
        assert cls.decode(encoded[1]).encode() == encoded[1]


@given(st.sampled_from([Flat, Mixed]), st.data())
def test_from_value_equals_the_general_loads(cls: type[Structure], data: st.DataObject) -> None:
    value = [cls.VERSION] + [as_decoded(item) for item in field_values(cls, data)]
    fast = outcome(lambda: cls.from_value(value))
    general = outcome(lambda: general_from_value(cls, value))
    assert fast[:1] == general[:1]
    if fast[0] == "error":
        assert fast == general
    else:
        assert stored(fast[1]) == stored(general[1])


def test_only_scalar_layouts_skip_the_codec_walk() -> None:
    assert _plan_of(Flat).flat and _plan_of(BlockHeader).flat
    for cls in (Mixed, Event, Receipt, Transaction, SignedTransaction):
        assert not _plan_of(cls).flat
    # An Int wider than int64 is left to the codec, which refuses it.
    assert not _plan_of(_wide_int_class()).flat


def _wide_int_class() -> type[Structure]:
    @dataclass(frozen=True, slots=True)
    class Wide(Structure):
        n: int

        LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (("n", Int(0, 2**64)),)

    return Wide


def test_a_kind_that_redefines_its_checks_is_checked_in_full() -> None:
    class Even(Int):
        def load(self, value: Any, path: str) -> int:
            value = super().load(value, path)
            if value % 2:
                raise ValueError(path)
            return value

    assert not Even().accepts(2) and not Even().loads_as_is


keys = st.binary(min_size=1, max_size=2)


@given(st.dictionaries(keys, st.binary(max_size=2)),
       st.lists(st.tuples(st.integers(0, 2), keys, st.none() | st.binary(max_size=2)),
                max_size=20),
       st.lists(keys, max_size=10))
def test_overlay_reads_as_the_nearest_write(committed: dict[bytes, bytes],
                                           writes: list[tuple[int, bytes, bytes | None]],
                                           reads: list[bytes]) -> None:
    block = Overlay(MappingState(committed))
    chain = [block, block.child()]
    chain.append(chain[1].child())
    layers: list[dict[bytes, bytes | None]] = [{}, {}, {}]
    for level, key, value in writes:
        if value is None:
            chain[level].delete(key)
        else:
            chain[level].put(key, value)
        layers[level][key] = value
    for key in reads + [key for _, key, _ in writes]:
        for level, overlay in enumerate(chain):
            expected = committed.get(key)
            for layer in layers[: level + 1]:
                expected = layer.get(key, expected)
            assert overlay.get(key) == expected
    assert Namespace(Overlay(EmptyState()), b"p/").get(b"k") is None


def test_a_flat_encoding_over_the_size_limit_is_refused_as_the_codec_refuses_it() -> None:
    @dataclass(frozen=True, slots=True)
    class Small(Structure):
        data: bytes

        LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (("data", Bytes()),)
        MAX_SIZE: ClassVar[int] = 16

    assert _plan_of(Small).flat
    assert outcome(Small(bytes(12)).encode) == ("ok", codec.encode([1, bytes(12)], max_size=16))
    assert outcome(Small(bytes(13)).encode) == outcome(
        lambda: codec.encode([1, bytes(13)], max_size=16))
    assert outcome(Small(bytes(13)).encode)[2] is Code.CODEC_TOO_LARGE
