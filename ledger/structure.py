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
from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypeVar

from ledger import codec
from ledger.errors import Code, LedgerError

S = TypeVar("S", bound="Structure")


def _mismatch(path: str, expected: str, got: Any) -> LedgerError:
    shown = type(got).__name__ if not isinstance(got, (int, str)) else repr(got)[:40]
    return LedgerError(Code.SCHEMA_MISMATCH, f"{path}: expected {expected}, got {shown}")


class Field:
    """A field kind: validates decoded values, converts to codec values."""

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
    def load(self, value: Any, path: str) -> bool:
        if type(value) is not bool:
            raise _mismatch(path, "bool", value)
        return value


@dataclass(frozen=True)
class Bytes(Field):
    size: int | None = None  # exact size; None: any size up to `max_size`
    max_size: int = 1 << 20

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

    def load(self, value: Any, path: str) -> str:
        if type(value) is not str:
            raise _mismatch(path, "str", value)
        if len(value.encode("utf-8")) > self.max_bytes:
            raise _mismatch(path, f"str of at most {self.max_bytes} UTF-8 bytes", value)
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise _mismatch(path, f"str matching {self.pattern}", value)
        return value


@dataclass(frozen=True)
class Optional(Field):
    inner: Field

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
        name_of_type = type(self).__name__
        for name, kind in self.LAYOUT:
            checked = kind.check(getattr(self, name), f"{name_of_type}.{name}")
            object.__setattr__(self, name, checked)
        self._check_invariants()

    def _check_invariants(self) -> None:
        """Rules across fields (raise SCHEMA_MISMATCH); none by default."""

    def to_value(self) -> list[Any]:
        return [self.VERSION] + [kind.dump(getattr(self, name)) for name, kind in self.LAYOUT]

    def encode(self) -> bytes:
        plan = _plan_of(type(self))
        if plan.caches_encoding:
            cached: bytes | None = getattr(self, "_encoding")
            if cached is None:
                cached = codec.encode(self.to_value(), max_size=self.MAX_SIZE)
                object.__setattr__(self, "_encoding", cached)
            return cached
        return codec.encode(self.to_value(), max_size=self.MAX_SIZE)

    def _remember_encoding(self, data: bytes) -> None:
        """Sets the encoding cache (if the class has one) to `data`, which
        the caller guarantees is this value's canonical encoding."""
        if _plan_of(type(self)).caches_encoding:
            object.__setattr__(self, "_encoding", data)

    @classmethod
    def from_value(cls: type[S], value: Any, path: str = "") -> S:
        plan = _plan_of(cls)
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
        paths = plan.paths if not path else tuple(f"{path}.{name}" for name in plan.names)
        loaded = [kind.load(item, field_path)
                  for kind, item, field_path in zip(plan.kinds, value[1:], paths)]
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


_PLANS: dict[type, _Plan] = {}


def _plan_of(cls: type) -> _Plan:
    plan = _PLANS.get(cls)
    if plan is None:
        layout = cls.LAYOUT  # type: ignore[attr-defined]
        names = tuple(name for name, _ in layout)
        cache_fields = tuple(f for f in fields(cls) if not f.init)
        plan = _PLANS[cls] = _Plan(
            names, tuple(kind for _, kind in layout),
            tuple(f"{cls.__name__}.{name}" for name in names),
            tuple((f.name, f.default) for f in cache_fields),
            getattr(cls, "__post_init__") is Structure.__post_init__
            and tuple(f.name for f in fields(cls) if f.init) == names,
            any(f.name == "_encoding" for f in cache_fields))
    return plan
