"""Declarative layout of signed structures: fixed-order arrays with a version.

Each ledger type (transaction, block, vote, ...) is a frozen dataclass that
lists its fields once, in wire order, with a `Field` kind that both checks a
decoded value and turns a Python value back into codec values. From that one
list come `encode`, `decode` and the error messages, so the byte layout in
docs/transaction-format.md and the code cannot drift apart field by field.

Decoding goes bytes -> `codec.decode` (canonical msgpack) -> `from_value`
(shape and ranges); any mismatch raises `LedgerError(SCHEMA_MISMATCH)` naming
the field path, or `UNSUPPORTED_VERSION`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any, ClassVar, TypeVar

from ledger import codec
from ledger.errors import Code, LedgerError

S = TypeVar("S", bound="Structure")


def _mismatch(path: str, expected: str, got: Any) -> LedgerError:
    shown = type(got).__name__ if not isinstance(got, (int, str)) else repr(got)[:40]
    return LedgerError(Code.SCHEMA_MISMATCH, f"{path}: expected {expected}, got {shown}")


class Field:
    """A field kind: validates decoded values, converts to codec values.

    `accepts` is a fast, conservative test used to skip the full check: True
    only when `check` would keep the value as it is (and, if `loads_as_is`,
    `load` too); False says nothing, and the full `check`/`load` runs.
    """

    #: `load` returns an accepted decoded value itself (scalars; not lists,
    #: nested structures or maps).
    loads_as_is: bool = False
    #: `dump` returns the value itself.
    dumps_as_is: bool = True

    def accepts(self, value: Any) -> bool:
        return False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A kind that redefines its checks or its dump without saying what it
        # accepts as is falls back to the full checks (and dump).
        if ("load" in vars(cls) or "check" in vars(cls)) and "accepts" not in vars(cls):
            cls.accepts = Field.accepts  # type: ignore[method-assign]
            cls.loads_as_is = False
        if "dump" in vars(cls) and "dumps_as_is" not in vars(cls):
            cls.dumps_as_is = False

    def load(self, value: Any, path: str) -> Any:
        """A decoded codec value -> the Python value, or SCHEMA_MISMATCH."""
        raise NotImplementedError

    def dump(self, value: Any) -> Any:
        """The Python value -> codec values."""
        return value

    def check(self, value: Any, path: str) -> Any:
        """A Python value given to a constructor -> the value to store."""
        return self.load(value, path)


@dataclass(frozen=True)
class Int(Field):
    low: int = 0
    high: int = codec.INT_MAX

    loads_as_is = True

    def accepts(self, value: Any) -> bool:
        return type(value) is int and self.low <= value <= self.high

    def load(self, value: Any, path: str) -> int:
        if type(value) is not int or not self.low <= value <= self.high:
            raise _mismatch(path, f"int in [{self.low}, {self.high}]", value)
        return value

    def check(self, value: Any, path: str) -> int:
        # IntEnum members are accepted from Python callers and stored as int.
        if isinstance(value, int) and not isinstance(value, bool):
            value = int(value)
        return self.load(value, path)


@dataclass(frozen=True)
class Bool(Field):
    loads_as_is = True

    def accepts(self, value: Any) -> bool:
        return type(value) is bool

    def load(self, value: Any, path: str) -> bool:
        if type(value) is not bool:
            raise _mismatch(path, "bool", value)
        return value


@dataclass(frozen=True)
class Bytes(Field):
    size: int | None = None  # exact size; None: any size up to `max_size`
    max_size: int = 1 << 20

    loads_as_is = True

    def accepts(self, value: Any) -> bool:
        return (type(value) is bytes and len(value) <= self.max_size
                and (self.size is None or len(value) == self.size))

    def load(self, value: Any, path: str) -> bytes:
        if type(value) is not bytes:
            raise _mismatch(path, "bytes", value)
        if self.size is not None and len(value) != self.size:
            raise _mismatch(path, f"{self.size} bytes", f"{len(value)} bytes")
        if len(value) > self.max_size:
            raise _mismatch(path, f"at most {self.max_size} bytes", f"{len(value)} bytes")
        return value


@dataclass(frozen=True)
class Str(Field):
    max_bytes: int = 256
    pattern: str | None = None

    loads_as_is = True

    def __post_init__(self) -> None:
        # Compiled once: `re.fullmatch(pattern, ...)` looks its cache up per call.
        fullmatch = None if self.pattern is None else re.compile(self.pattern).fullmatch
        object.__setattr__(self, "_fullmatch", fullmatch)

    def accepts(self, value: Any) -> bool:
        # An ASCII str has as many UTF-8 bytes as characters (others: `load`).
        return (type(value) is str and value.isascii() and len(value) <= self.max_bytes
                and (self._fullmatch is None or self._fullmatch(value) is not None))

    def load(self, value: Any, path: str) -> str:
        if type(value) is not str:
            raise _mismatch(path, "str", value)
        if len(value.encode("utf-8")) > self.max_bytes:
            raise _mismatch(path, f"str of at most {self.max_bytes} UTF-8 bytes", value)
        if self._fullmatch is not None and not self._fullmatch(value):
            raise _mismatch(path, f"str matching {self.pattern}", value)
        return value


@dataclass(frozen=True)
class Optional(Field):
    inner: Field

    def __post_init__(self) -> None:
        object.__setattr__(self, "loads_as_is", self.inner.loads_as_is)
        object.__setattr__(self, "dumps_as_is", self.inner.dumps_as_is)

    def accepts(self, value: Any) -> bool:
        return value is None or self.inner.accepts(value)

    def load(self, value: Any, path: str) -> Any:
        return None if value is None else self.inner.load(value, path)

    def check(self, value: Any, path: str) -> Any:
        return None if value is None else self.inner.check(value, path)

    def dump(self, value: Any) -> Any:
        return None if value is None else self.inner.dump(value)


@dataclass(frozen=True)
class ListOf(Field):
    item: Field
    max_items: int = 10_000

    dumps_as_is = False

    def accepts(self, value: Any) -> bool:
        # `check` would make an equal tuple of the very same items.
        if type(value) is not tuple or len(value) > self.max_items:
            return False
        accepts = self.item.accepts
        for item in value:
            if not accepts(item):
                return False
        return True

    def load(self, value: Any, path: str) -> tuple[Any, ...]:
        if type(value) is not list:
            raise _mismatch(path, "list", value)
        if len(value) > self.max_items:
            raise _mismatch(path, f"at most {self.max_items} items", f"{len(value)} items")
        return tuple(self.item.load(item, f"{path}[{i}]") for i, item in enumerate(value))

    def dump(self, value: Any) -> list[Any]:
        return [self.item.dump(item) for item in value]

    def check(self, value: Any, path: str) -> tuple[Any, ...]:
        if not isinstance(value, (list, tuple)):
            raise _mismatch(path, "list or tuple", value)
        if len(value) > self.max_items:
            raise _mismatch(path, f"at most {self.max_items} items", f"{len(value)} items")
        return tuple(self.item.check(item, f"{path}[{i}]") for i, item in enumerate(value))


@dataclass(frozen=True)
class StrMap(Field):
    """A map with str keys holding any codec value (contract arguments).

    `max_depth` is the nesting the map may have where it sits: the codec's
    limit counts from the outermost value, so a map nested two levels deep in
    its structure may itself be at most `MAX_DEPTH - 2` deep.
    """

    max_depth: int = codec.MAX_DEPTH

    def load(self, value: Any, path: str) -> dict[str, Any]:
        if type(value) is not dict:
            raise _mismatch(path, "map", value)
        return value

    def check(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _mismatch(path, "map", value)
        # One walk checks what the codec refuses and the depth allowed here
        # (by starting it as deep as the map sits), and key-sorts every map,
        # so encoding the structure later finds nothing to reorder.
        try:
            canonical = codec.canonical(value, codec.MAX_DEPTH - self.max_depth)
        except LedgerError as error:
            if error.code is not Code.CODEC_TOO_DEEP:
                raise
            raise LedgerError(
                Code.CODEC_TOO_DEEP, f"{path}: nested deeper than {self.max_depth} here"
            ) from None
        return dict(canonical)


@dataclass(frozen=True)
class Nested(Field):
    kind: type[Structure]

    dumps_as_is = False

    def accepts(self, value: Any) -> bool:
        return isinstance(value, self.kind)

    def load(self, value: Any, path: str) -> Structure:
        return self.kind.from_value(value, path)

    def dump(self, value: Structure) -> list[Any]:
        return value.to_value()

    def check(self, value: Any, path: str) -> Structure:
        if not isinstance(value, self.kind):
            raise _mismatch(path, self.kind.__name__, value)
        return value


class Structure:
    """Base of every versioned array structure.

    Subclasses are frozen dataclasses that set `VERSION` and `LAYOUT`, a tuple
    of `(field name, Field)` in wire order matching the dataclass fields.
    Rules that tie fields together go in `_check_invariants`, which runs both
    when Python code constructs a value and when one is decoded.

    A subclass may declare the cache field `_encoding` (init=False, default
    None, compare=False): `encode` then computes its bytes once, and decoding
    fills it with the very bytes decoded.
    """

    __slots__ = ()

    VERSION: ClassVar[int] = 1
    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = ()
    MAX_SIZE: ClassVar[int] = codec.DEFAULT_MAX_SIZE

    def __post_init__(self) -> None:
        # Constructing a structure in Python is held to the same rules as
        # decoding one, so an invalid value can never be encoded and signed.
        # Field by field in wire order: a value the kind `accepts` is one its
        # `check` would keep as is, so only the others go through `check`.
        plan = _PLANS.get(type(self)) or _plan_of(type(self))
        for name, kind, value in zip(plan.names, plan.kinds, plan.values_of(self)):
            if not kind.accepts(value):
                object.__setattr__(self, name, kind.check(value, f"{type(self).__name__}.{name}"))
        self._check_invariants()

    def _check_invariants(self) -> None:
        """Rules across fields (raise SCHEMA_MISMATCH); none by default."""

    def to_value(self) -> list[Any]:
        plan = _PLANS.get(type(self)) or _plan_of(type(self))
        value = [self.VERSION, *plan.values_of(self)]
        for index, kind in plan.dumped:
            value[index] = kind.dump(value[index])
        return value

    def encode(self) -> bytes:
        plan = _PLANS.get(type(self)) or _plan_of(type(self))
        if plan.caches_encoding:
            cached: bytes | None = getattr(self, "_encoding")
            if cached is None:
                cached = self._encode(plan)
                object.__setattr__(self, "_encoding", cached)
            return cached
        return self._encode(plan)

    def _encode(self, plan: _Plan) -> bytes:
        if plan.flat:
            # Every field is a checked int64, bool, bytes, str, None or tuple
            # of those (frozen since): canonical already, as `codec.encode`
            # would find it (it packs a tuple as a list, too).
            return codec.encode_canonical([self.VERSION, *plan.values_of(self)],
                                          max_size=self.MAX_SIZE)
        return codec.encode(self.to_value(), max_size=self.MAX_SIZE)

    def _remember_encoding(self, data: bytes) -> None:
        """Sets the encoding cache (if the class has one) to `data`, which
        the caller guarantees is this value's canonical encoding."""
        if _plan_of(type(self)).caches_encoding:
            object.__setattr__(self, "_encoding", data)

    @classmethod
    def from_value(cls: type[S], value: Any, path: str = "") -> S:
        plan = _PLANS.get(cls) or _plan_of(cls)
        where = path or cls.__name__
        if type(value) is not list or not value:
            raise _mismatch(where, f"{cls.__name__} array", value)
        if type(value[0]) is not int or value[0] != cls.VERSION:
            raise LedgerError(
                Code.UNSUPPORTED_VERSION,
                f"{where}: version {value[0]!r} is not supported (expected {cls.VERSION})",
            )
        if len(value) != len(cls.LAYOUT) + 1:
            raise _mismatch(where, f"{len(cls.LAYOUT) + 1} elements", f"{len(value)} elements")
        # A scalar the kind accepts is what its `load` would return: the
        # others are loaded (and their path, for messages, worked out).
        loaded = value[1:]
        for index, kind in enumerate(plan.kinds):
            item = loaded[index]
            if not (kind.loads_as_is and kind.accepts(item)):
                field_path = plan.paths[index] if not path else f"{path}.{plan.names[index]}"
                loaded[index] = kind.load(item, field_path)
        if not plan.direct:
            return cls(**dict(zip(plan.names, loaded)))
        # Every field was just checked by `load`, at least as strictly as the
        # constructor's `check` would: build the value without checking twice.
        built = object.__new__(cls)
        for name, item in zip(plan.names, loaded):
            object.__setattr__(built, name, item)
        for name, default in plan.defaults:
            object.__setattr__(built, name, default)
        built._check_invariants()
        return built

    @classmethod
    def decode(cls: type[S], data: bytes) -> S:
        value = codec.decode(data, max_size=cls.MAX_SIZE)
        decoded = cls.from_value(value)
        decoded._remember_encoding(bytes(data))
        return decoded

    @classmethod
    def check_layout(cls) -> None:
        """Raises if LAYOUT and the dataclass fields disagree (used by tests).
        Fields with init=False are caches of derived values, not wire fields."""
        names = tuple(f.name for f in fields(cls) if f.init)  # type: ignore[arg-type]
        if names != tuple(name for name, _ in cls.LAYOUT):
            raise TypeError(f"{cls.__name__}: LAYOUT {cls.LAYOUT} != fields {names}")


@dataclass(frozen=True, slots=True)
class _Plan:
    """What `from_value` and `encode` need of a class, worked out once."""

    names: tuple[str, ...]
    kinds: tuple[Field, ...]
    paths: tuple[str, ...]  # "Class.field", for messages at the top level
    defaults: tuple[tuple[str, Any], ...]  # the cache fields (init=False) and their defaults
    direct: bool  # no __post_init__ of its own: decoding may skip the constructor
    caches_encoding: bool
    values_of: Callable[[Any], tuple[Any, ...]]  # the field values, in wire order
    dumped: tuple[tuple[int, Field], ...]  # (index in the value, kind) of fields `dump` changes
    flat: bool  # every field a scalar kind: a checked value encodes without a codec walk


#: The plan of each class, made on first use. Hot paths read it as
#: `_PLANS.get(cls) or _plan_of(cls)` (a plan is always true), saving a call.
_PLANS: dict[type, _Plan] = {}


def _plan_of(cls: type) -> _Plan:
    plan = _PLANS.get(cls)
    if plan is None:
        layout = cls.LAYOUT  # type: ignore[attr-defined]
        names = tuple(name for name, _ in layout)
        kinds = tuple(kind for _, kind in layout)
        cache_fields = tuple(f for f in fields(cls) if not f.init)
        direct = (getattr(cls, "__post_init__") is Structure.__post_init__
                  and tuple(f.name for f in fields(cls) if f.init) == names)
        plan = _PLANS[cls] = _Plan(
            names, kinds,
            tuple(f"{cls.__name__}.{name}" for name in names),
            tuple((f.name, f.default) for f in cache_fields),
            direct,
            any(f.name == "_encoding" for f in cache_fields),
            _values_getter(names),
            tuple((index + 1, kind) for index, kind in enumerate(kinds) if not kind.dumps_as_is),
            # Only where every value went through the checks of this module's
            # own scalar kinds, and is encoded as they are (a class with its
            # own __post_init__ or to_value may differ).
            direct and getattr(cls, "to_value") is Structure.to_value
            and all(_is_flat(kind) for kind in kinds))
    return plan


def _values_getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    if not names:
        return lambda value: ()
    if len(names) == 1:
        name = names[0]
        return lambda value: (getattr(value, name),)
    return attrgetter(*names)


def _is_flat(kind: Field) -> bool:
    """A kind whose checked values are immutable and canonical as they are."""
    if type(kind) is Optional:
        return _is_flat(kind.inner)
    if type(kind) is ListOf:
        return _is_flat(kind.item)
    if type(kind) is Int:
        return codec.INT_MIN <= kind.low and kind.high <= codec.INT_MAX
    return type(kind) in (Bool, Bytes, Str)
