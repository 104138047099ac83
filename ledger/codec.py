"""Canonical msgpack: one value, one encoding.

Everything that is hashed or signed in scf-ledger is encoded here. The rules
(specified byte by byte in docs/transaction-format.md):

* Allowed values: int in the signed 64-bit range, bytes, str (UTF-8), bool,
  None, lists, and maps whose keys are str, written in ascending order of
  their UTF-8 bytes. Nothing else: no floats, no ext types, no timestamps.
* Every value takes its shortest msgpack form; non-negative ints use the
  positive fixint / uint family, negative ints the negative fixint / int
  family; str uses fixstr/str8/16/32 and bytes bin8/16/32.
* Containers nest at most `MAX_DEPTH` levels; an encoding is at most
  `max_size` bytes.

`decode` accepts exactly the outputs of `encode`: anything else (floats, ext,
unsorted or duplicate keys, a longer-than-needed length or int, trailing
bytes, deep nesting, oversize input) raises `LedgerError` with a `CODEC_*`
code, and only `LedgerError` ever escapes it. The final guarantee is checked
directly: a decoded value must re-encode to the very bytes it came from.
"""

from __future__ import annotations

from typing import Any, Union

import msgpack

from ledger.errors import Code, LedgerError

MAX_DEPTH = 32
DEFAULT_MAX_SIZE = 8 * 1024 * 1024
INT_MIN = -(2**63)
INT_MAX = 2**63 - 1

# The value model; recursive aliases are spelled loosely for mypy's sake.
Value = Union[None, bool, int, bytes, str, list[Any], dict[str, Any]]


def encode(value: Any, max_size: int = DEFAULT_MAX_SIZE) -> bytes:
    """The canonical encoding of `value` (tuples are encoded as lists)."""
    try:
        data = _pack(_prepared(value, 0))
    except (_Refused, UnicodeEncodeError, OverflowError, TypeError, ValueError):
        # The fast walk only accelerates the common case: anything it refuses,
        # the reference walk re-checks and names precisely (same codes, same
        # order of checks as always), or encodes if it is in fact acceptable.
        data = _pack(_canonical_copy(value, 0))
    if len(data) > max_size:
        raise LedgerError(
            Code.CODEC_TOO_LARGE, f"encoding is {len(data)} bytes, limit is {max_size}"
        )
    return data


def encode_canonical(value: Any, max_size: int = DEFAULT_MAX_SIZE) -> bytes:
    """`encode` of a value the caller knows to be canonical already (exact
    types, ints in range, valid str, no map, shallow), without walking it
    again: ledger/structure.py's checked scalar fields. The size limit holds."""
    data = _pack(value)
    if len(data) > max_size:
        raise LedgerError(
            Code.CODEC_TOO_LARGE, f"encoding is {len(data)} bytes, limit is {max_size}"
        )
    return data


def canonical(value: Any, depth: int = 0) -> Any:
    """`value` checked as `encode` checks it, with every map key-sorted: the
    value itself when it already is canonical, else a copy. `depth` is how
    deep the value sits in what will be encoded (the limit counts from the
    outermost value), so it may nest at most `MAX_DEPTH - depth` levels."""
    try:
        prepared = _prepared(value, depth)
        size = len(_pack(prepared))  # a str with a lone surrogate fails here
    except (_Refused, UnicodeEncodeError, OverflowError, TypeError, ValueError):
        prepared = _canonical_copy(value, 0)
        if depth_of(value) > MAX_DEPTH - depth:
            raise LedgerError(Code.CODEC_TOO_DEEP, f"nesting deeper than {MAX_DEPTH}") from None
        size = len(_pack(prepared))
    if size > DEFAULT_MAX_SIZE:
        raise LedgerError(
            Code.CODEC_TOO_LARGE, f"encoding is {size} bytes, limit is {DEFAULT_MAX_SIZE}"
        )
    return prepared


def reencode_decoded(value: Value) -> bytes:
    """The encoding of a value exactly as `decode` returned it (or any part
    of one), without checking it again: such a value is canonical already.
    Anything else must go through `encode`."""
    return _pack(value)


def decode(data: bytes, max_size: int = DEFAULT_MAX_SIZE) -> Value:
    """The value whose canonical encoding is exactly `data`."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise LedgerError(Code.CODEC_MALFORMED, f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_size:
        raise LedgerError(
            Code.CODEC_TOO_LARGE, f"input is {len(data)} bytes, limit is {max_size}"
        )
    value = _unpack(data)
    _validate_decoded(value, 0)
    if _pack(value) != data:
        raise LedgerError(
            Code.CODEC_NON_CANONICAL,
            "input is not the canonical encoding of its value "
            "(a longer-than-needed length or integer form, or bytes/str mix-up)",
        )
    return value


def depth_of(value: Any) -> int:
    """Nesting depth as the limit counts it: a scalar is 0, `[1]` is 1."""
    if isinstance(value, dict):
        return 1 + max((depth_of(item) for item in value.values()), default=0)
    if isinstance(value, (list, tuple)):
        return 1 + max((depth_of(item) for item in value), default=0)
    return 0


def _unpack(data: bytes) -> Value:
    try:
        return msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=False,
            object_pairs_hook=_sorted_map,
            ext_hook=_reject_ext,
        )
    except LedgerError:
        raise
    except msgpack.ExtraData as exc:
        raise LedgerError(
            Code.CODEC_TRAILING_BYTES, f"{len(exc.extra)} bytes follow the value"
        ) from None
    except msgpack.StackError:
        raise LedgerError(Code.CODEC_TOO_DEEP, f"nesting deeper than {MAX_DEPTH}") from None
    except UnicodeDecodeError as exc:
        raise LedgerError(Code.CODEC_INVALID_UTF8, f"str is not valid UTF-8: {exc.reason}") from None
    except msgpack.FormatError:
        raise LedgerError(Code.CODEC_MALFORMED, "reserved or unknown msgpack type byte") from None
    except ValueError as exc:
        # A declared length longer than the input is reported by msgpack as
        # "exceeds max_*_len" (the limits default to the input's size).
        if "incomplete" in str(exc) or "exceeds max_" in str(exc) or not data:
            raise LedgerError(Code.CODEC_TRUNCATED, "input ends inside a value") from None
        raise LedgerError(Code.CODEC_MALFORMED, f"not msgpack: {exc}") from None
    except Exception as exc:  # the C unpacker's remaining failure modes
        raise LedgerError(Code.CODEC_MALFORMED, f"not msgpack: {type(exc).__name__}") from None


def _sorted_map(pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
    previous: str | None = None
    for key, _ in pairs:
        if not isinstance(key, str):
            raise LedgerError(
                Code.CODEC_MAP_KEY_NOT_STR, f"map key of type {type(key).__name__}, only str allowed"
            )
        if previous is not None:
            if key == previous:
                raise LedgerError(Code.CODEC_MAP_KEY_DUPLICATE, f"map key {key!r} appears twice")
            if key < previous:
                raise LedgerError(
                    Code.CODEC_MAP_KEYS_UNSORTED, f"map key {key!r} comes after {previous!r}"
                )
        previous = key
    return dict(pairs)


def _reject_ext(code: int, data: bytes) -> None:
    raise LedgerError(Code.CODEC_EXT_NOT_ALLOWED, f"ext type {code} is not allowed")


def _validate_decoded(value: Any, depth: int) -> None:
    """An allow-list walk over what the unpacker produced: types, range, depth.

    Scalars inside a container are checked inline (no call per item): this
    walk runs on every decoded value, so its cost is per item.
    """
    kind = type(value)
    if kind is list:
        items: Any = value
    elif kind is dict:
        items = value.values()
    else:
        _validate_decoded_scalar(value)
        return
    if depth >= MAX_DEPTH:
        raise LedgerError(Code.CODEC_TOO_DEEP, f"nesting deeper than {MAX_DEPTH}")
    for item in items:
        kind = type(item)
        if kind is bytes or kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if INT_MIN <= item <= INT_MAX:
                continue
        elif kind is list or kind is dict:
            _validate_decoded(item, depth + 1)
            continue
        _validate_decoded_scalar(item)


def _validate_decoded_scalar(value: Any) -> None:
    kind = type(value)
    if kind is int:
        if not INT_MIN <= value <= INT_MAX:
            raise LedgerError(Code.CODEC_INT_OUT_OF_RANGE, f"{value} is outside int64")
    elif kind is float:
        raise LedgerError(Code.CODEC_FLOAT_NOT_ALLOWED, "floats are not allowed")
    elif kind is msgpack.Timestamp:
        # The timestamp extension (type -1) is decoded without the ext hook.
        raise LedgerError(Code.CODEC_EXT_NOT_ALLOWED, "ext type -1 (timestamp) is not allowed")
    elif not (value is None or kind is bool or kind is str or kind is bytes):
        raise LedgerError(Code.CODEC_MALFORMED, f"unexpected decoded type {kind.__name__}")


class _Refused(Exception):
    """The fast encoding walk met something it leaves to `_canonical_copy`."""


def _pack(value: Any) -> bytes:
    data: bytes = msgpack.packb(value, use_bin_type=True)
    return data


def _prepared(value: Any, depth: int) -> Any:
    """`value` ready for msgpack: itself when it is already canonical (no map
    out of key order), else a copy with maps key-sorted.

    Checks exact types, int range, map key types and depth, inline for the
    scalars of a container. A str that is not valid UTF-8 (a lone surrogate)
    makes msgpack raise UnicodeEncodeError, which `encode` handles. Anything
    unusual (bytearray, a subclass, a float, ...) raises `_Refused`.
    """
    kind = type(value)
    if kind is list or kind is tuple:
        if depth >= MAX_DEPTH:
            raise _Refused
        copy: list[Any] | None = None
        for index, item in enumerate(value):
            kind = type(item)
            if kind is bytes or kind is str or kind is bool or item is None:
                continue
            if kind is int:
                if INT_MIN <= item <= INT_MAX:
                    continue
                raise _Refused
            prepared = _prepared(item, depth + 1)
            if prepared is not item:
                if copy is None:
                    copy = list(value)
                copy[index] = prepared
        return value if copy is None else copy
    if kind is dict:
        if depth >= MAX_DEPTH:
            raise _Refused
        keys = list(value)
        for key in keys:
            if type(key) is not str:
                raise _Refused
        # Python orders str by code point, which is the order of their UTF-8 bytes.
        ordered = sorted(keys)
        changed = ordered != keys
        prepared_values = []
        for key in ordered:
            item = value[key]
            kind = type(item)
            if kind is int:
                if not INT_MIN <= item <= INT_MAX:
                    raise _Refused
            elif not (kind is bytes or kind is str or kind is bool or item is None):
                prepared = _prepared(item, depth + 1)
                if prepared is not item:
                    changed = True
                    item = prepared
            prepared_values.append(item)
        return dict(zip(ordered, prepared_values)) if changed else value
    if kind is int:
        if INT_MIN <= value <= INT_MAX:
            return value
        raise _Refused
    if kind is bytes or kind is str or kind is bool or value is None:
        return value
    raise _Refused


def _canonical_copy(value: Any, depth: int) -> Any:
    """Validates `value` for encoding; returns it with every map key-sorted."""
    if value is None or value is True or value is False:
        return value
    kind = type(value)
    if kind is int:
        if not INT_MIN <= value <= INT_MAX:
            raise LedgerError(Code.CODEC_INT_OUT_OF_RANGE, f"{value} is outside int64")
        return value
    if kind is str:
        _validate_utf8(value)
        return value
    if kind is bytes:
        return value
    if kind is bytearray or kind is memoryview:
        return bytes(value)
    if kind is float:
        raise LedgerError(Code.CODEC_FLOAT_NOT_ALLOWED, "floats are not allowed")
    if kind is list or kind is tuple or kind is dict:
        if depth >= MAX_DEPTH:
            raise LedgerError(Code.CODEC_TOO_DEEP, f"nesting deeper than {MAX_DEPTH}")
        if kind is dict:
            return _canonical_map(value, depth)
        return [_canonical_copy(item, depth + 1) for item in value]
    raise LedgerError(
        Code.CODEC_UNSUPPORTED_TYPE, f"cannot encode a value of type {kind.__name__}"
    )


def _canonical_map(value: dict[Any, Any], depth: int) -> dict[str, Any]:
    for key in value:
        if type(key) is not str:
            raise LedgerError(
                Code.CODEC_MAP_KEY_NOT_STR, f"map key of type {type(key).__name__}, only str allowed"
            )
        _validate_utf8(key)
    # Python orders str by code point, which is the order of their UTF-8 bytes.
    return {key: _canonical_copy(value[key], depth + 1) for key in sorted(value)}


def _validate_utf8(text: str) -> None:
    # Lone surrogates are valid Python str but have no UTF-8 encoding.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise LedgerError(Code.CODEC_INVALID_UTF8, "str holds a lone surrogate") from None
