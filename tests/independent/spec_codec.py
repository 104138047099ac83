"""Independent canonical msgpack codec and typed JSON (spec §1, §7).

Part of the independent cross-check written from docs/transaction-format.md
alone; it does not import the ``ledger`` package, ``msgpack`` or ``nacl``.
The transaction and signature part is in ``spec_impl.py``.
"""

from __future__ import annotations

import json
import re
import struct
from typing import Any


# ---------------------------------------------------------------------------
# §1 canonical encoding
# ---------------------------------------------------------------------------

INT64_MIN = -(2 ** 63)
INT64_MAX = 2 ** 63 - 1
MAX_DEPTH = 32                      # §1.3: a scalar has depth 0, [1] depth 1
TX_SIZE_LIMIT = 65_536              # §1.3 / §4.2
BLOCK_SIZE_LIMIT = 15 * 1024 * 1024  # §1.3 / §5.4
DEFAULT_SIZE_LIMIT = 8 * 1024 * 1024  # §1.3 "anything else"


class CanonicalError(ValueError):
    """Value cannot be encoded, or input is not a canonical encoding."""


def _key_bytes(key: str) -> bytes:
    try:
        return key.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates
        raise CanonicalError(f"map key is not valid UTF-8: {exc}") from None


def encode(value: Any) -> bytes:
    """Canonical encoding of ``value`` (spec §1.1, §1.2)."""
    out = bytearray()
    _enc(value, out, 0)
    return bytes(out)


def _enc_len(n: int, out: bytearray, fix_base: int | None, fix_max: int,
             c8: int | None, c16: int, c32: int) -> None:
    if fix_base is not None and n <= fix_max:
        out.append(fix_base + n)
    elif c8 is not None and n <= 0xFF:
        out += bytes((c8, n))
    elif n <= 0xFFFF:
        out.append(c16)
        out += struct.pack(">H", n)
    elif n <= 0xFFFFFFFF:
        out.append(c32)
        out += struct.pack(">I", n)
    else:
        raise CanonicalError("length does not fit in 32 bits")


def _enc(v: Any, out: bytearray, depth: int) -> None:
    if v is None:
        out.append(0xC0)
    elif v is False:
        out.append(0xC2)
    elif v is True:
        out.append(0xC3)
    elif type(v) is int:
        _enc_int(v, out)
    elif type(v) is str:
        try:
            b = v.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise CanonicalError(f"str is not valid UTF-8: {exc}") from None
        _enc_len(len(b), out, 0xA0, 31, 0xD9, 0xDA, 0xDB)
        out += b
    elif type(v) is bytes:
        _enc_len(len(v), out, None, -1, 0xC4, 0xC5, 0xC6)
        out += v
    elif type(v) is list:
        if depth + 1 > MAX_DEPTH:
            raise CanonicalError("nesting deeper than 32")
        _enc_len(len(v), out, 0x90, 15, None, 0xDC, 0xDD)
        for item in v:
            _enc(item, out, depth + 1)
    elif type(v) is dict:
        if depth + 1 > MAX_DEPTH:
            raise CanonicalError("nesting deeper than 32")
        items = []
        for k, item in v.items():
            if type(k) is not str:
                raise CanonicalError("map keys must be str")
            items.append((_key_bytes(k), k, item))
        items.sort(key=lambda t: t[0])  # bytewise UTF-8 order (§1.2)
        _enc_len(len(items), out, 0x80, 15, None, 0xDE, 0xDF)
        for _kb, k, item in items:
            _enc(k, out, depth + 1)
            _enc(item, out, depth + 1)
    else:
        raise CanonicalError(f"type {type(v).__name__} is not in the value model")


def _enc_int(n: int, out: bytearray) -> None:
    if n < INT64_MIN or n > INT64_MAX:
        raise CanonicalError("integer outside the signed 64-bit range")
    if n >= 0:
        if n <= 0x7F:
            out.append(n)
        elif n <= 0xFF:
            out += bytes((0xCC, n))
        elif n <= 0xFFFF:
            out.append(0xCD)
            out += struct.pack(">H", n)
        elif n <= 0xFFFFFFFF:
            out.append(0xCE)
            out += struct.pack(">I", n)
        else:
            out.append(0xCF)
            out += struct.pack(">Q", n)
    else:
        if n >= -32:
            out.append(0xE0 + (n + 32))
        elif n >= -128:
            out.append(0xD0)
            out += struct.pack(">b", n)
        elif n >= -32768:
            out.append(0xD1)
            out += struct.pack(">h", n)
        elif n >= -(2 ** 31):
            out.append(0xD2)
            out += struct.pack(">i", n)
        else:
            out.append(0xD3)
            out += struct.pack(">q", n)


class _Decoder:
    """Strict single-pass parser: each branch accepts only the shortest form."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise CanonicalError("truncated input")
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack(">H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack(">I", self.take(4))[0]

    def value(self, depth: int) -> Any:
        b = self.u8()
        # --- integers -----------------------------------------------------
        if b <= 0x7F:
            return b
        if b >= 0xE0:
            return b - 0x100
        if b == 0xCC:
            n = self.u8()
            if n < 0x80:
                raise CanonicalError("uint8 used for a fixint value")
            return n
        if b == 0xCD:
            n = self.u16()
            if n <= 0xFF:
                raise CanonicalError("uint16 used for a shorter value")
            return n
        if b == 0xCE:
            n = self.u32()
            if n <= 0xFFFF:
                raise CanonicalError("uint32 used for a shorter value")
            return n
        if b == 0xCF:
            n = struct.unpack(">Q", self.take(8))[0]
            if n <= 0xFFFFFFFF:
                raise CanonicalError("uint64 used for a shorter value")
            if n > INT64_MAX:
                raise CanonicalError("integer above 2^63-1")
            return n
        if b == 0xD0:
            n = struct.unpack(">b", self.take(1))[0]
            if n >= -32:
                raise CanonicalError("int8 used for a fixint / non-negative value")
            return n
        if b == 0xD1:
            n = struct.unpack(">h", self.take(2))[0]
            if n >= -128:
                raise CanonicalError("int16 used for a shorter / non-negative value")
            return n
        if b == 0xD2:
            n = struct.unpack(">i", self.take(4))[0]
            if n >= -32768:
                raise CanonicalError("int32 used for a shorter / non-negative value")
            return n
        if b == 0xD3:
            n = struct.unpack(">q", self.take(8))[0]
            if n >= -(2 ** 31):
                raise CanonicalError("int64 used for a shorter / non-negative value")
            return n
        # --- nil / bool ---------------------------------------------------
        if b == 0xC0:
            return None
        if b == 0xC2:
            return False
        if b == 0xC3:
            return True
        # --- str ----------------------------------------------------------
        if 0xA0 <= b <= 0xBF:
            return self.text(b - 0xA0)
        if b == 0xD9:
            n = self.u8()
            if n < 32:
                raise CanonicalError("str8 used for a fixstr length")
            return self.text(n)
        if b == 0xDA:
            n = self.u16()
            if n <= 0xFF:
                raise CanonicalError("str16 used for a shorter length")
            return self.text(n)
        if b == 0xDB:
            n = self.u32()
            if n <= 0xFFFF:
                raise CanonicalError("str32 used for a shorter length")
            return self.text(n)
        # --- bytes (bin) --------------------------------------------------
        if b == 0xC4:
            return self.take(self.u8())
        if b == 0xC5:
            n = self.u16()
            if n <= 0xFF:
                raise CanonicalError("bin16 used for a shorter length")
            return self.take(n)
        if b == 0xC6:
            n = self.u32()
            if n <= 0xFFFF:
                raise CanonicalError("bin32 used for a shorter length")
            return self.take(n)
        # --- arrays -------------------------------------------------------
        if 0x90 <= b <= 0x9F:
            return self.array(b - 0x90, depth)
        if b == 0xDC:
            n = self.u16()
            if n <= 15:
                raise CanonicalError("array16 used for a fixarray length")
            return self.array(n, depth)
        if b == 0xDD:
            n = self.u32()
            if n <= 0xFFFF:
                raise CanonicalError("array32 used for a shorter length")
            return self.array(n, depth)
        # --- maps ---------------------------------------------------------
        if 0x80 <= b <= 0x8F:
            return self.map(b - 0x80, depth)
        if b == 0xDE:
            n = self.u16()
            if n <= 15:
                raise CanonicalError("map16 used for a fixmap length")
            return self.map(n, depth)
        if b == 0xDF:
            n = self.u32()
            if n <= 0xFFFF:
                raise CanonicalError("map32 used for a shorter length")
            return self.map(n, depth)
        # --- everything else: c1, ca/cb floats, ext c7-c9 / d4-d8 --------
        if b in (0xCA, 0xCB):
            raise CanonicalError("floats are not allowed")
        if b == 0xC1:
            raise CanonicalError("reserved byte c1")
        raise CanonicalError(f"ext type 0x{b:02x} is not allowed")

    def text(self, n: int) -> str:
        raw = self.take(n)
        try:
            return raw.decode("utf-8", errors="strict")  # rejects surrogates
        except UnicodeDecodeError as exc:
            raise CanonicalError(f"invalid UTF-8 in str: {exc}") from None

    def _enter(self, depth: int, n: int) -> int:
        if depth + 1 > MAX_DEPTH:
            raise CanonicalError("containers nested more than 32 deep")
        # Cheap sanity check: every item takes at least one byte.
        if n > len(self.data) - self.pos:
            raise CanonicalError("truncated input (container longer than data)")
        return depth + 1

    def array(self, n: int, depth: int) -> list:
        d = self._enter(depth, n)
        return [self.value(d) for _ in range(n)]

    def map(self, n: int, depth: int) -> dict:
        d = self._enter(depth, n)
        result: dict = {}
        prev: bytes | None = None
        for _ in range(n):
            key = self.value(d)
            if type(key) is not str:
                raise CanonicalError("map key is not a str")
            kb = key.encode("utf-8")
            if prev is not None:
                if kb == prev:
                    raise CanonicalError(f"duplicate map key {key!r}")
                if kb < prev:
                    raise CanonicalError(f"map keys not in ascending order at {key!r}")
            prev = kb
            result[key] = self.value(d)
        return result


def decode(data: bytes, max_size: int = DEFAULT_SIZE_LIMIT) -> Any:
    """Return the value whose canonical encoding is exactly ``data``."""
    if type(data) is not bytes:
        raise CanonicalError("input must be bytes")
    if len(data) > max_size:
        raise CanonicalError(f"input larger than the size limit {max_size}")
    dec = _Decoder(data)
    value = dec.value(0)
    if dec.pos != len(data):
        raise CanonicalError("bytes after the value")
    return value


# ---------------------------------------------------------------------------
# §7 typed JSON
# ---------------------------------------------------------------------------

class TypedJSONError(ValueError):
    """Input is not valid typed JSON."""


_INT_RE = re.compile(r"-?(?:0|[1-9][0-9]*)")
_HEX_RE = re.compile(r"(?:[0-9a-f]{2})*")


def _no_duplicates(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise TypedJSONError(f"duplicate JSON key {k!r}")
        obj[k] = v
    return obj


def load_json_strict(text: str) -> Any:
    """json.loads that rejects duplicate object keys."""
    return json.loads(text, object_pairs_hook=_no_duplicates)


def parse_decimal_int(s: Any) -> int:
    """Decimal string, no leading zeros, no ``-0``, within int64."""
    if type(s) is not str or not _INT_RE.fullmatch(s) or s == "-0":
        raise TypedJSONError(f"not a canonical decimal integer string: {s!r}")
    n = int(s)
    if n < INT64_MIN or n > INT64_MAX:
        raise TypedJSONError(f"integer outside the signed 64-bit range: {s}")
    return n


def _check_text(s: str) -> str:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise TypedJSONError("string contains a lone surrogate") from None
    return s


def from_typed_json(obj: Any) -> Any:
    """Typed JSON (§7) -> value model."""
    if type(obj) is not dict or len(obj) != 1:
        raise TypedJSONError(f"typed value must be a one-key object: {obj!r}")
    (tag, payload), = obj.items()
    if tag == "nil":
        if payload is not None:
            raise TypedJSONError("nil payload must be null")
        return None
    if tag == "bool":
        if type(payload) is not bool:
            raise TypedJSONError("bool payload must be true/false")
        return payload
    if tag == "int":
        return parse_decimal_int(payload)
    if tag == "str":
        if type(payload) is not str:
            raise TypedJSONError("str payload must be a JSON string")
        return _check_text(payload)
    if tag == "bytes":
        if type(payload) is not str or not _HEX_RE.fullmatch(payload):
            raise TypedJSONError("bytes payload must be lowercase even-length hex")
        return bytes.fromhex(payload)
    if tag == "list":
        if type(payload) is not list:
            raise TypedJSONError("list payload must be a JSON array")
        return [from_typed_json(x) for x in payload]
    if tag == "map":
        if type(payload) is not dict:
            raise TypedJSONError("map payload must be a JSON object")
        return {_check_text(k): from_typed_json(v) for k, v in payload.items()}
    raise TypedJSONError(f"unknown type tag {tag!r}")


def to_typed_json(v: Any) -> Any:
    """Value model -> typed JSON (§7). Also useful as a type-exact comparison."""
    if v is None:
        return {"nil": None}
    if type(v) is bool:
        return {"bool": v}
    if type(v) is int:
        return {"int": str(v)}
    if type(v) is str:
        return {"str": v}
    if type(v) is bytes:
        return {"bytes": v.hex()}
    if type(v) is list:
        return {"list": [to_typed_json(x) for x in v]}
    if type(v) is dict:
        return {"map": {k: to_typed_json(x) for k, x in v.items()}}
    raise TypedJSONError(f"type {type(v).__name__} is not in the value model")
