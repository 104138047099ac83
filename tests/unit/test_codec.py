"""Canonical msgpack: what encodes, how, and every way decoding refuses."""

from __future__ import annotations

import pytest

from ledger import codec
from ledger.errors import Code, LedgerError

# (value, canonical encoding in hex)
ENCODINGS = [
    (None, "c0"),
    (False, "c2"),
    (True, "c3"),
    (0, "00"),
    (127, "7f"),
    (128, "cc80"),
    (255, "ccff"),
    (256, "cd0100"),
    (65536, "ce00010000"),
    (2**32, "cf0000000100000000"),
    (2**63 - 1, "cf7fffffffffffffff"),
    (-1, "ff"),
    (-32, "e0"),
    (-33, "d0df"),
    (-129, "d1ff7f"),
    (-(2**63), "d38000000000000000"),
    ("", "a0"),
    ("a", "a161"),
    ("x" * 32, "d920" + "78" * 32),
    ("é", "a2c3a9"),
    (b"", "c400"),
    (b"\x01", "c40101"),
    ([], "90"),
    ([1, [2]], "920191" + "02"),
    ({}, "80"),
    ({"b": 1, "a": 2}, "82a16102a16201"),  # keys sorted on encode
    ({"é": 1, "z": 2}, "82a17a02a2c3a901"),  # UTF-8 byte order: "z" < "é"
]


@pytest.mark.parametrize("value,hexed", ENCODINGS, ids=[h for _, h in ENCODINGS])
def test_canonical_encoding(value: object, hexed: str) -> None:
    assert codec.encode(value).hex() == hexed
    assert codec.decode(bytes.fromhex(hexed)) == value


def test_tuples_encode_as_lists() -> None:
    assert codec.encode((1, (2,))) == codec.encode([1, [2]])


# (input hex, expected code, why)
REJECTIONS = [
    ("ca00000000", Code.CODEC_FLOAT_NOT_ALLOWED, "float32"),
    ("cb0000000000000000", Code.CODEC_FLOAT_NOT_ALLOWED, "float64"),
    ("91cb3ff0000000000000", Code.CODEC_FLOAT_NOT_ALLOWED, "float inside a list"),
    ("d40100", Code.CODEC_EXT_NOT_ALLOWED, "fixext1"),
    ("c7010100", Code.CODEC_EXT_NOT_ALLOWED, "ext8"),
    ("d6ff00000000", Code.CODEC_EXT_NOT_ALLOWED, "timestamp ext"),
    ("82a16201a16102", Code.CODEC_MAP_KEYS_UNSORTED, "b before a"),
    ("82a16101a16102", Code.CODEC_MAP_KEY_DUPLICATE, "a twice"),
    ("810101", Code.CODEC_MAP_KEY_NOT_STR, "int key"),
    ("81c4016101", Code.CODEC_MAP_KEY_NOT_STR, "bytes key"),
    ("819001", Code.CODEC_MAP_KEY_NOT_STR, "list key"),
    ("cc01", Code.CODEC_NON_CANONICAL, "uint8 for a fixint"),
    ("cd00ff", Code.CODEC_NON_CANONICAL, "uint16 for a uint8"),
    ("cf00000000ffffffff", Code.CODEC_NON_CANONICAL, "uint64 for a uint32"),
    ("d001", Code.CODEC_NON_CANONICAL, "int8 for a positive fixint"),
    ("d0ff", Code.CODEC_NON_CANONICAL, "int8 for a negative fixint"),
    ("d1ff80", Code.CODEC_NON_CANONICAL, "int16 for an int8"),
    ("d90161", Code.CODEC_NON_CANONICAL, "str8 for a fixstr"),
    ("c5000161", Code.CODEC_NON_CANONICAL, "bin16 for a bin8"),
    ("dc000101", Code.CODEC_NON_CANONICAL, "array16 for a fixarray"),
    ("de0001a16101", Code.CODEC_NON_CANONICAL, "map16 for a fixmap"),
    ("cfffffffffffffffff", Code.CODEC_INT_OUT_OF_RANGE, "uint64 above int64"),
    ("cf8000000000000000", Code.CODEC_INT_OUT_OF_RANGE, "2**63"),
    ("0102", Code.CODEC_TRAILING_BYTES, "two values"),
    ("c000", Code.CODEC_TRAILING_BYTES, "a zero byte after nil"),
    ("", Code.CODEC_TRUNCATED, "empty"),
    ("9201", Code.CODEC_TRUNCATED, "array missing an item"),
    ("cd01", Code.CODEC_TRUNCATED, "uint16 missing a byte"),
    ("a261", Code.CODEC_TRUNCATED, "str missing a byte"),
    ("c405", Code.CODEC_TRUNCATED, "bin length past the end"),
    ("a1ff", Code.CODEC_INVALID_UTF8, "0xff in a str"),
    ("a2eda080", Code.CODEC_INVALID_UTF8, "encoded surrogate"),
    ("c1", Code.CODEC_MALFORMED, "reserved type byte"),
    ("91" * 33 + "01", Code.CODEC_TOO_DEEP, "33 nested lists"),
    ("91" * 2000 + "01", Code.CODEC_TOO_DEEP, "2000 nested lists"),
    ("81a161" * 33 + "01", Code.CODEC_TOO_DEEP, "33 nested maps"),
]


@pytest.mark.parametrize("hexed,code,why", REJECTIONS, ids=[w for _, _, w in REJECTIONS])
def test_decode_rejects(hexed: str, code: Code, why: str) -> None:
    with pytest.raises(LedgerError) as caught:
        codec.decode(bytes.fromhex(hexed))
    assert caught.value.code is code, caught.value.message


def test_depth_limit_is_inclusive() -> None:
    nested: list[object] = [1]
    for _ in range(codec.MAX_DEPTH - 1):
        nested = [nested]
    data = codec.encode(nested)
    assert data == bytes.fromhex("91" * codec.MAX_DEPTH + "01")
    assert codec.decode(data) == nested
    with pytest.raises(LedgerError) as caught:
        codec.encode([nested])
    assert caught.value.code is Code.CODEC_TOO_DEEP


def test_size_limit() -> None:
    data = codec.encode(b"x" * 100)
    assert codec.decode(data, max_size=len(data)) == b"x" * 100
    for call in (lambda: codec.decode(data, max_size=len(data) - 1),
                 lambda: codec.encode(b"x" * 100, max_size=len(data) - 1)):
        with pytest.raises(LedgerError) as caught:
            call()
        assert caught.value.code is Code.CODEC_TOO_LARGE


def test_decode_rejects_non_bytes() -> None:
    with pytest.raises(LedgerError) as caught:
        codec.decode("c0")  # type: ignore[arg-type]
    assert caught.value.code is Code.CODEC_MALFORMED


ENCODE_REJECTIONS = [
    (1.5, Code.CODEC_FLOAT_NOT_ALLOWED),
    ([0.0], Code.CODEC_FLOAT_NOT_ALLOWED),
    (2**63, Code.CODEC_INT_OUT_OF_RANGE),
    (-(2**63) - 1, Code.CODEC_INT_OUT_OF_RANGE),
    ({1: 2}, Code.CODEC_MAP_KEY_NOT_STR),
    ({b"k": 2}, Code.CODEC_MAP_KEY_NOT_STR),
    ({"a": {1, 2}}, Code.CODEC_UNSUPPORTED_TYPE),
    (object(), Code.CODEC_UNSUPPORTED_TYPE),
    ("\ud800", Code.CODEC_INVALID_UTF8),
    ({"\udfff": 1}, Code.CODEC_INVALID_UTF8),
]


@pytest.mark.parametrize("value,code", ENCODE_REJECTIONS, ids=[c.value for _, c in ENCODE_REJECTIONS])
def test_encode_rejects(value: object, code: Code) -> None:
    with pytest.raises(LedgerError) as caught:
        codec.encode(value)
    assert caught.value.code is code
