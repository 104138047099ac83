"""Strict verification rules, tags and signing bytes."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import codec
from ledger.crypto import (
    SMALL_ORDER_POINTS,
    SigningKey,
    Tag,
    is_canonical_point,
    signing_bytes,
    tagged_hash,
    validate_public_key,
    validate_signature,
    verify_signature,
)
from ledger.errors import Code, LedgerError

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
KEY = SigningKey(bytes(range(32)))


def _decode_point(encoding: bytes) -> tuple[int, int]:
    word = int.from_bytes(encoding, "little")
    y, sign = word & ((1 << 255) - 1), word >> 255
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x2 = u * pow(v, P - 2, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if x * x % P != x2:
        x = x * pow(2, (P - 1) // 4, P) % P
    assert x * x % P == x2, "not on the curve"
    if (x & 1) != sign:
        x = P - x
    return x, y


def _add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    return ((x1 * y2 + x2 * y1) * pow(1 + t, P - 2, P) % P,
            (y1 * y2 + x1 * x2) * pow(1 - t, P - 2, P) % P)


def test_small_order_points_are_exactly_the_eight_torsion_points() -> None:
    assert len(SMALL_ORDER_POINTS) == 8
    points = set()
    for encoding in SMALL_ORDER_POINTS:
        point = _decode_point(encoding)
        multiple = point
        for _ in range(3):
            multiple = _add(multiple, multiple)
        assert multiple == (0, 1), encoding.hex()  # [8]P is the identity
        points.add(point)
    assert len(points) == 8


def test_tags_are_distinct_and_prefix_free() -> None:
    tags = [t.value for t in Tag]
    for a in tags:
        assert a.isascii()
        for b in tags:
            assert a == b or not b.startswith(a), (a, b)


def test_tagged_hash_and_signing_bytes() -> None:
    assert tagged_hash(Tag.TX_ID, b"x") == hashlib.sha256(b"scf/hash/tx/v1x").digest()
    assert signing_bytes(Tag.TX_SIGN, "c", b"\x90") == b"scf/sign/tx/v1" + codec.encode("c") + b"\x90"


def test_signature_binds_message_key_and_chain() -> None:
    body = codec.encode([1, "hello"])
    message = signing_bytes(Tag.TX_SIGN, "chain-a", body)
    signature = KEY.sign(message)
    assert verify_signature(KEY.public_key, message, signature)
    assert not verify_signature(KEY.public_key, signing_bytes(Tag.TX_SIGN, "chain-b", body), signature)
    assert not verify_signature(KEY.public_key, signing_bytes(Tag.VOTE_SIGN, "chain-a", body), signature)
    other = SigningKey(bytes(32))
    assert not verify_signature(other.public_key, message, signature)


def test_malleated_s_is_rejected() -> None:
    message = b"m"
    signature = KEY.sign(message)
    s = int.from_bytes(signature[32:], "little")
    assert not verify_signature(KEY.public_key, message, signature[:32] + (s + L).to_bytes(32, "little"))


@pytest.mark.parametrize(
    "encoding,canonical",
    [
        ((P - 1).to_bytes(32, "little"), True),  # y = -1
        (P.to_bytes(32, "little"), False),  # y = p
        ((2**255 - 1).to_bytes(32, "little"), False),  # y > p
        ((1 | 1 << 255).to_bytes(32, "little"), False),  # x = 0 with the sign bit
        (((P - 1) | 1 << 255).to_bytes(32, "little"), False),
        (KEY.public_key, True),
    ],
)
def test_canonical_point(encoding: bytes, canonical: bool) -> None:
    assert is_canonical_point(encoding) is canonical


@pytest.mark.parametrize("bad", [b"", bytes(31), bytes(33), P.to_bytes(32, "little"),
                                 *sorted(SMALL_ORDER_POINTS)])
def test_validate_public_key_rejects(bad: bytes) -> None:
    with pytest.raises(LedgerError) as caught:
        validate_public_key(bad)
    assert caught.value.code is Code.INVALID_KEY


def test_validate_signature_raises_with_code() -> None:
    with pytest.raises(LedgerError) as caught:
        validate_signature(KEY.public_key, b"m", bytes(64))
    assert caught.value.code is Code.INVALID_SIGNATURE


@given(st.one_of(st.none(), st.integers(), st.binary(max_size=80), st.text(max_size=5)),
       st.one_of(st.none(), st.binary(max_size=10)),
       st.one_of(st.none(), st.integers(), st.binary(max_size=80)))
def test_verify_never_raises(public_key: object, message: object, signature: object) -> None:
    assert verify_signature(public_key, message, signature) is False  # type: ignore[arg-type]


@given(st.binary(min_size=32, max_size=32), st.binary(max_size=200))
def test_sign_verify_round_trip(seed: bytes, message: bytes) -> None:
    key = SigningKey(seed)
    assert verify_signature(key.public_key, message, key.sign(message))


def test_seed_is_not_printed() -> None:
    assert bytes(range(32)).hex() not in repr(KEY)
    assert "seed" not in repr(KEY)


def test_bad_seed() -> None:
    with pytest.raises(LedgerError) as caught:
        SigningKey(b"short")
    assert caught.value.code is Code.INVALID_KEY
