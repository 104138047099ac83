"""Hypothesis strategies that stand in for libFuzzer where atheris is not installed.

Without coverage feedback, blind bytes rarely get past the codec, so most
inputs start from a harness's seeds and break them in two ways: bytes
mutated (flips, cuts, insertions, splices), and values mutated (the seed
decoded, one sub-value replaced or tweaked, the result re-encoded
canonically), which reaches the structure and message checks behind the codec.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from ledger import codec
from ledger.errors import LedgerError

INTERESTING_INTS = (0, 1, -1, 2, 31, 32, 33, 127, 128, 255, 256, 999, 1000, 1001, 2**31 - 1,
                    2**31, 2**32, 2**53, codec.INT_MAX, codec.INT_MIN)

codec_scalars = st.one_of(
    st.none(), st.booleans(), st.sampled_from(INTERESTING_INTS),
    st.integers(codec.INT_MIN, codec.INT_MAX), st.binary(max_size=70),
    st.text(max_size=24),
)
codec_values = st.recursive(
    codec_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5),
                            st.dictionaries(st.text(max_size=10), inner, max_size=5)),
    max_leaves=12,
)


def fuzz_inputs(seeds: Sequence[bytes]) -> st.SearchStrategy[bytes]:
    values = mutated_values(seeds)
    return st.one_of(st.binary(max_size=300), st.sampled_from(list(seeds)), mutated_bytes(seeds),
                     values, values, values, values)


@st.composite
def mutated_bytes(draw: st.DrawFn, seeds: Sequence[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(list(seeds))))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        operation = draw(st.sampled_from(("flip", "set", "insert", "delete", "truncate", "splice")))
        if operation == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif operation == "set" and at < len(data):
            data[at] = draw(st.sampled_from((0x00, 0x7F, 0x80, 0x90, 0xC0, 0xC1, 0xC4, 0xCA,
                                             0xCF, 0xD3, 0xDC, 0xDE, 0xFF)))
        elif operation == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif operation == "delete":
            del data[at:at + draw(st.integers(1, 16))]
        elif operation == "truncate":
            del data[at:]
        elif operation == "splice":
            other = draw(st.sampled_from(list(seeds)))
            start = draw(st.integers(0, len(other)))
            data[at:at] = other[start:start + draw(st.integers(1, 64))]
    return bytes(data)


@st.composite
def mutated_values(draw: st.DrawFn, seeds: Sequence[bytes]) -> bytes:
    seed = draw(st.sampled_from(list(seeds)))
    prefix, value = _decode_with_prefix(seed)
    if value is _UNDECODABLE:
        return seed
    for _ in range(draw(st.integers(1, 3))):
        value = _mutate(draw, value, depth=0)
    try:
        return prefix + codec.encode(value)
    except LedgerError:
        return seed


_UNDECODABLE = object()


def _decode_with_prefix(data: bytes) -> tuple[bytes, Any]:
    """Seeds are canonical values, or one selector byte then a canonical value."""
    for cut in (0, 1):
        try:
            return data[:cut], codec.decode(data[cut:])
        except LedgerError:
            continue
    return b"", _UNDECODABLE


def _mutate(draw: st.DrawFn, value: Any, depth: int) -> Any:
    descend = draw(st.integers(0, 3)) > 0  # mostly change something deep, not the whole
    if isinstance(value, list) and value and descend and depth < 12:
        at = draw(st.integers(0, len(value) - 1))
        return [*value[:at], _mutate(draw, value[at], depth + 1), *value[at + 1:]]
    if isinstance(value, dict) and value and descend and depth < 12:
        key = draw(st.sampled_from(sorted(value)))
        return {**value, key: _mutate(draw, value[key], depth + 1)}
    return draw(st.one_of(codec_values, _tweaks(value)))


def _tweaks(value: Any) -> st.SearchStrategy[Any]:
    """Small changes that keep the type: what gets past shape checks to range checks."""
    if type(value) is int:
        return st.sampled_from([value - 1, value + 1, -value, value * 2**32, 0]).filter(
            lambda v: codec.INT_MIN <= v <= codec.INT_MAX)
    if type(value) is bytes:
        return st.one_of(st.just(value[:-1]), st.just(value + b"\x00"),
                         st.binary(min_size=len(value), max_size=len(value)))
    if type(value) is str:
        return st.one_of(st.just(value[:-1]), st.just(value + "x"), st.just(value.upper()),
                         st.just(value + "\u00e9"), st.just(""))
    if type(value) is list:
        return st.one_of(st.just(value[:-1]), st.just(value + value[-1:]), st.just(value * 2),
                         st.just(list(reversed(value))), st.just([]))
    if type(value) is dict:
        return st.one_of(st.just(dict(list(value.items())[:-1])),
                         st.builds(lambda k, v: {**value, k: v}, st.text(max_size=8), codec_scalars))
    return codec_values
