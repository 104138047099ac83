"""Codec values as JSON without loss: every value is a one-key object.

JSON has no bytes, cannot tell 1 from true in every parser, and loses ints
above 2^53 in many languages, so codec values are written as

    {"nil": null}  {"bool": true}  {"int": "-42"}  {"str": "..."}
    {"bytes": "<lowercase hex>"}  {"list": [...]}  {"map": {"key": ..., ...}}

Ints are decimal strings. This is the form used by the test vectors and by
the JSON variant of the HTTP API; the canonical bytes are always the msgpack
encoding of the decoded value.
"""

from __future__ import annotations

import json
from typing import Any

from ledger import codec
from ledger.errors import Code, LedgerError


def to_json(value: Any) -> dict[str, Any]:
    """The typed JSON form of a codec value."""
    if value is None:
        return {"nil": None}
    if value is True or value is False:
        return {"bool": value}
    if type(value) is int:
        return {"int": str(value)}
    if type(value) is str:
        return {"str": value}
    if type(value) is bytes:
        return {"bytes": value.hex()}
    if isinstance(value, (list, tuple)):
        return {"list": [to_json(item) for item in value]}
    if isinstance(value, dict):
        return {"map": {key: to_json(value[key]) for key in sorted(value)}}
    raise LedgerError(Code.CODEC_UNSUPPORTED_TYPE, f"no JSON form for {type(value).__name__}")


def loads(text: str | bytes) -> Any:
    """Parses JSON text holding one typed value; duplicate keys are refused."""
    try:
        node = json.loads(text, object_pairs_hook=_unique_object)
    except ValueError as exc:
        if isinstance(exc, LedgerError):
            raise
        raise LedgerError(Code.SCHEMA_MISMATCH, f"not JSON: {exc}") from None
    return from_json(node)


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise LedgerError(Code.SCHEMA_MISMATCH, "a JSON object has the same key twice")
    return dict(pairs)


def from_json(node: Any, path: str = "$") -> Any:
    """The codec value of a typed JSON node; the result is codec-validated."""
    value = _from_json(node, path, 0)
    codec.encode(value)  # int range, depth, UTF-8: the codec's rules apply
    return value


def _from_json(node: Any, path: str, depth: int) -> Any:
    if not isinstance(node, dict) or len(node) != 1:
        raise _bad(path, "an object with exactly one key")
    if depth > codec.MAX_DEPTH:
        raise LedgerError(Code.CODEC_TOO_DEEP, f"{path}: nesting deeper than {codec.MAX_DEPTH}")
    ((kind, inner),) = node.items()
    if kind == "nil" and inner is None:
        return None
    if kind == "bool" and isinstance(inner, bool):
        return inner
    if kind == "int" and isinstance(inner, str):
        return _parse_int(inner, path)
    if kind == "str" and isinstance(inner, str):
        return inner
    if kind == "bytes" and isinstance(inner, str):
        return _parse_hex(inner, path)
    if kind == "list" and isinstance(inner, list):
        return [_from_json(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(inner)]
    if kind == "map" and isinstance(inner, dict):
        return {key: _from_json(inner[key], f"{path}.{key}", depth + 1) for key in sorted(inner)}
    raise _bad(path, "one of nil, bool, int (decimal string), str, bytes (hex), list, map")


def _parse_int(text: str, path: str) -> int:
    digits = text[1:] if text.startswith("-") else text
    canonical = digits.isascii() and digits.isdigit() and (digits == "0" or not digits.startswith("0"))
    if not canonical or text == "-0":
        raise _bad(path, "a decimal integer string without leading zeros")
    return int(text)


def _parse_hex(text: str, path: str) -> bytes:
    if len(text) % 2 or any(c not in "0123456789abcdef" for c in text):
        raise _bad(path, "lowercase hex with an even number of digits")
    return bytes.fromhex(text)


def _bad(path: str, expected: str) -> LedgerError:
    return LedgerError(Code.SCHEMA_MISMATCH, f"{path}: expected {expected}")
