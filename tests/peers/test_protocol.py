"""Framing: what goes in comes out, and untrusted bytes fail only one way."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import codec
from ledger.errors import Code, LedgerError
from ledger.types import MAX_BLOCK_SIZE
from node.peers.protocol import (
    MAX_FRAME_SIZE,
    CloseCode,
    FrameKind,
    close_code_for,
    close_reason,
    decode_frame,
    encode_frame,
)
from tests.support.values import same, values

kinds = st.sampled_from(list(FrameKind))


def test_the_frame_limit_holds_a_full_block_and_is_17_mib() -> None:
    assert MAX_FRAME_SIZE == 17 * 1024 * 1024
    assert MAX_FRAME_SIZE > MAX_BLOCK_SIZE


def test_the_kind_numbers_are_fixed() -> None:
    assert {kind.name: int(kind) for kind in FrameKind} == {
        "HELLO": 1, "AUTH": 2, "CONSENSUS": 10, "TXS": 11, "STATUS": 12,
        "GET_BLOCKS": 13, "BLOCKS": 14,
    }


@given(kinds, values)
def test_a_frame_decodes_to_what_was_encoded(kind: FrameKind, body: object) -> None:
    data = encode_frame(kind, body)
    assert data == codec.encode([int(kind), body])
    decoded_kind, decoded_body = decode_frame(data, MAX_FRAME_SIZE)
    assert decoded_kind is kind
    assert same(decoded_body, codec.decode(codec.encode(body)))


@given(st.binary(max_size=200))
def test_random_bytes_fail_only_with_a_protocol_error(data: bytes) -> None:
    try:
        decode_frame(data, MAX_FRAME_SIZE)
    except LedgerError as exc:
        assert exc.code is Code.PEER_PROTOCOL_ERROR
        assert exc.message


@given(values)
def test_any_codec_value_that_is_not_a_frame_fails_with_a_protocol_error(value: object) -> None:
    data = codec.encode(value)
    try:
        kind, _ = decode_frame(data, MAX_FRAME_SIZE)
    except LedgerError as exc:
        assert exc.code is Code.PEER_PROTOCOL_ERROR
    else:  # it happened to be a valid frame
        assert isinstance(value, list) and value[0] == int(kind)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "canonical msgpack"),
        (b"\xc1", "canonical msgpack"),
        (codec.encode([1, None]) + b"\x00", "canonical msgpack"),
        (bytes([0x92, 0xCC, 0x01, 0xC0]), "canonical msgpack"),  # kind 1 in a uint8: non-canonical
        (codec.encode({"kind": 1}), "[kind, body]"),
        (codec.encode([1]), "[kind, body]"),
        (codec.encode([1, None, None]), "[kind, body]"),
        (codec.encode([99, None]), "unknown frame kind 99"),
        (codec.encode([0, None]), "unknown frame kind 0"),
        (codec.encode([True, None]), "unknown frame kind True"),
        (codec.encode(["1", None]), "unknown frame kind '1'"),
    ],
)
def test_malformed_frames_say_why(data: bytes, why: str) -> None:
    with pytest.raises(LedgerError) as raised:
        decode_frame(data, MAX_FRAME_SIZE)
    assert raised.value.code is Code.PEER_PROTOCOL_ERROR
    assert why in raised.value.message


def test_a_frame_above_the_limit_is_refused_before_decoding() -> None:
    data = encode_frame(FrameKind.BLOCKS, b"\x00" * 100)
    decode_frame(data, len(data))
    with pytest.raises(LedgerError) as raised:
        decode_frame(data, len(data) - 1)
    assert raised.value.code is Code.PEER_PROTOCOL_ERROR
    assert f"limit is {len(data) - 1}" in raised.value.message


def test_encoding_refuses_unknown_kinds_and_oversize_bodies() -> None:
    with pytest.raises(LedgerError) as raised:
        encode_frame(99, None)
    assert raised.value.code is Code.PEER_PROTOCOL_ERROR
    with pytest.raises(LedgerError) as raised:
        encode_frame(FrameKind.TXS, b"\x00" * 100, max_size=50)
    assert raised.value.code is Code.CODEC_TOO_LARGE


def test_close_codes_and_reasons() -> None:
    assert close_code_for(Code.PEER_NOT_MEMBER) is CloseCode.NOT_MEMBER
    assert close_code_for(Code.INVALID_CONSENSUS_MESSAGE) is CloseCode.REFUSED_CONTENT
    long = "é" * 100  # 200 bytes in UTF-8
    reason = close_reason(long)
    assert len(reason) <= 123 and reason.decode("utf-8") == "é" * 61
