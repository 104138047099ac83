"""Check the published vectors against the independent implementation.

``spec_impl`` was written from docs/transaction-format.md alone; this file
reads only tests/vectors/transactions.json and never imports ``ledger``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from . import spec_impl as S

VECTORS_PATH = Path(__file__).resolve().parents[1] / "vectors" / "transactions.json"
VECTORS = S.load_json_strict(VECTORS_PATH.read_text(encoding="utf-8"))
CASES = VECTORS["cases"]
BY_NAME = {c["name"]: c for c in CASES}


def _tx(case) -> S.Transaction:
    args = S.from_typed_json(case["args"])
    assert type(args) is dict
    exp = case["expiry_height"]
    return S.Transaction(
        chain_id=case["chain_id"],
        sender=bytes.fromhex(case["public_key_hex"]),
        nonce=S.parse_decimal_int(case["nonce"]),
        contract=case["contract"],
        method=case["method"],
        args=args,
        expiry_height=None if exp is None else S.parse_decimal_int(exp),
    )


def test_vector_file_shape():
    assert len(CASES) >= 1
    assert len(BY_NAME) == len(CASES), "duplicate case names"


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_vector(case):
    seed = bytes.fromhex(case["secret_seed_hex"])
    priv = Ed25519PrivateKey.from_private_bytes(seed)
    pub = priv.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert pub.hex() == case["public_key_hex"]

    tx = _tx(case)

    # args and body
    assert S.encode(tx.args).hex() == case["args_hex"]
    body = S.encode(S.transaction_array(tx))
    assert body.hex() == case["tx_body_hex"]

    # tags (§2)
    assert S.SIGN_TX_TAG.hex() == case["sign_tag_hex"]
    assert S.HASH_TX_TAG.hex() == case["hash_tag_hex"]

    # signing bytes (§3, §4.2)
    sb = S.signing_bytes(tx)
    assert sb.hex() == case["signing_bytes_hex"]
    assert sb == S.SIGN_TX_TAG + S.encode(case["chain_id"]) + body

    # signature (deterministic Ed25519)
    sig = S.sign(seed, tx)
    assert sig.hex() == case["signature_hex"]

    # signed transaction (§4.2)
    signed = S.encode_signed_transaction(tx, sig)
    assert signed.hex() == case["signed_tx_hex"]
    assert signed == b"\x93\x01" + body + b"\xc4\x40" + sig

    # id (§4.3)
    tid = S.tx_id(signed)
    assert tid.hex() == case["tx_id_hex"]
    assert tid == hashlib.sha256(S.HASH_TX_TAG + signed).digest()

    # strict verification (§3)
    assert S.verify_strict(pub, sb, sig)
    assert not S.verify_strict(pub, sb + b"\x00", sig)

    # strict decode back to the same structure (type-exact comparison)
    raw = bytes.fromhex(case["signed_tx_hex"])
    decoded = S.decode(raw, max_size=S.TX_SIZE_LIMIT)
    assert S.to_typed_json(decoded) == S.to_typed_json(S.signed_transaction_array(tx, sig))
    assert S.encode(decoded) == raw
    dtx, dsig = S.decode_signed_transaction(raw)
    assert S.to_typed_json(S.transaction_array(dtx)) == S.to_typed_json(S.transaction_array(tx))
    assert dsig == sig
    assert S.verify_strict(dtx.sender, S.signing_bytes(dtx), dsig)

    # typed JSON round trip of args
    assert S.to_typed_json(S.decode(bytes.fromhex(case["args_hex"]))) == case["args"]


def test_worked_example_in_spec():
    """§4.4 numbers, copied from the page."""
    case = BY_NAME["empty-args"]
    tx = _tx(case)
    body = S.encode(S.transaction_array(tx))
    assert len(body) == 64
    sig = S.sign(bytes.fromhex(
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"), tx)
    assert sig.hex() == (
        "af239664c4a3e9c8d22e52215819f987918eab4b64cc4ad589dcc2abf531b99f"
        "b5f5be20271aa35aa17d71d10ff00c85abd7177e521531631202804a37c2410d")
    assert S.tx_id(S.encode_signed_transaction(tx, sig)).hex() == (
        "bf7a3b59399b8f89bbd8739cbca8474186201e62720a98fb6a13202d1696e8aa")


# ---------------------------------------------------------------------------
# decoder strictness (§1)
# ---------------------------------------------------------------------------

NON_CANONICAL = {
    "int8 for positive 1 (d0 01)": "d001",
    "uint8 for fixint 1 (cc 01)": "cc01",
    "int8 for fixint -1": "d0ff",
    "uint16 for 255": "cd00ff",
    "uint32 for 65535": "ce0000ffff",
    "uint64 for 2^32-1": "cf00000000ffffffff",
    "uint64 above 2^63-1": "cf8000000000000000",
    "int16 for -128": "d1ff80",
    "int32 for -32768": "d2ffff8000",
    "int64 for -2^31": "d3ffffffff80000000",
    "int16 carrying a positive value": "d10100",
    "float32 (ca 00000000)": "ca00000000",
    "float64": "cb0000000000000000",
    "reserved c1": "c1",
    "fixext1 (d4)": "d40000",
    "ext8 (c7)": "c70100aa",
    "timestamp ext (d6 ff)": "d6ff00000000",
    "str8 for short str": "d90161",
    "str16 for 255-byte length": "da00ff" + "61" * 255,
    "bin16 for short bytes": "c5000100",
    "array16 for 1 item": "dc000100",
    "map16 for 1 entry": "de0001a16100",
    "unsorted map keys": "82a16200a16100",
    "duplicate map keys": "82a16100a16101",
    "é sorted before z": "82a2c3a900a17a00",
    "non-str map key": "810100",
    "bytes map key": "81c4016100",
    "invalid UTF-8": "a1ff",
    "overlong UTF-8": "a2c0af",
    "encoded surrogate": "a3eda080",
    "trailing bytes": "0000",
    "trailing bytes after array": "910100",
    "truncated str": "a3616263"[:-2],
    "truncated array": "92 01".replace(" ", ""),
    "empty input": "",
    "depth 33": "91" * 33 + "00",
    "depth 33 via maps": "81a178" * 33 + "00",
}


@pytest.mark.parametrize("hexdata", NON_CANONICAL.values(), ids=NON_CANONICAL.keys())
def test_decoder_rejects(hexdata):
    with pytest.raises(S.CanonicalError):
        S.decode(bytes.fromhex(hexdata))


def test_decoder_accepts_boundaries():
    assert S.decode(bytes.fromhex("91" * 32 + "00")) is not None  # depth 32 is fine
    assert S.decode(bytes.fromhex("82a17a00a2c3a901")) == {"z": 0, "é": 1}
    assert S.decode(bytes.fromhex("82a16100a2616100")) == {"a": 0, "aa": 0}
    assert S.decode(bytes.fromhex("c400")) == b""
    assert S.decode(bytes.fromhex("cf0000000100000000")) == 2 ** 32
    assert S.decode(bytes.fromhex("d38000000000000000")) == -(2 ** 63)
    for v in (True, False, None):
        assert S.decode(S.encode(v)) is v
    with pytest.raises(S.CanonicalError):
        S.encode(2 ** 63)
    with pytest.raises(S.CanonicalError):
        S.encode(1.0)
    with pytest.raises(S.CanonicalError):
        S.encode([[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]])


def test_size_limit():
    big = S.encode(b"\x00" * (S.TX_SIZE_LIMIT + 10))
    S.decode(big)  # within the generic 8 MiB limit
    with pytest.raises(S.CanonicalError):
        S.decode(big, max_size=S.TX_SIZE_LIMIT)


def test_signed_transaction_field_rules():
    raw = bytes.fromhex(BY_NAME["empty-args"]["signed_tx_hex"])
    S.decode_signed_transaction(raw)
    bad_version = raw[:3] + b"\x02" + raw[4:]  # Transaction version 2
    with pytest.raises(S.FormatError):
        S.decode_signed_transaction(bad_version)
    with pytest.raises(S.CanonicalError):
        S.decode_signed_transaction(raw + b"\x00")


def test_typed_json_strictness():
    for bad in ({"int": "01"}, {"int": "-0"}, {"int": "+1"}, {"int": 1},
                {"int": "9223372036854775808"}, {"bytes": "0F"}, {"bytes": "0"},
                {"bool": 1}, {"nil": 0}, {"str": "\ud800"}, {"float": "1"},
                {"str": "a", "int": "1"}, {}):
        with pytest.raises(S.TypedJSONError):
            S.from_typed_json(bad)
    with pytest.raises(S.TypedJSONError):
        S.load_json_strict('{"map": {"a": {"nil": null}, "a": {"nil": null}}}')
    assert S.from_typed_json({"int": "-9223372036854775808"}) == -(2 ** 63)


# ---------------------------------------------------------------------------
# strict verification (§3)
# ---------------------------------------------------------------------------

def _vector_sig(name="empty-args"):
    c = BY_NAME[name]
    return (bytes.fromhex(c["public_key_hex"]), bytes.fromhex(c["signing_bytes_hex"]),
            bytes.fromhex(c["signature_hex"]))


def test_verifier_rejects_s_plus_l():
    pub, msg, sig = _vector_sig()
    s = int.from_bytes(sig[32:], "little")
    mall = sig[:32] + (s + S.L).to_bytes(32, "little")
    assert S.verify_strict(pub, msg, sig)
    assert not S.verify_strict(pub, msg, mall)


def _clamped_scalar(seed: bytes) -> int:
    h = bytearray(hashlib.sha512(seed).digest()[:32])
    h[0] &= 248
    h[31] &= 127
    h[31] |= 64
    return int.from_bytes(h, "little")


def test_verifier_rejects_small_order_public_key():
    # With A = identity, [k]A = 0, so R = [a]B, S = a mod L satisfies the
    # cofactorless equation for ANY message: only rule 4 stops it.
    pub, msg, _sig = _vector_sig()
    a = _clamped_scalar(bytes.fromhex(BY_NAME["empty-args"]["secret_seed_hex"]))
    forged = pub + (a % S.L).to_bytes(32, "little")
    identity = bytes.fromhex("01" + "00" * 31)
    assert not S.verify_strict(identity, msg, forged)
    assert not S.verify_strict(identity, b"anything", forged)
    for point in S.SMALL_ORDER_POINTS:
        assert not S.verify_strict(point, msg, forged)


def test_verifier_rejects_small_order_r():
    pub, msg, sig = _vector_sig()
    for point in S.SMALL_ORDER_POINTS:
        assert not S.verify_strict(pub, msg, point + sig[32:])


def test_canonical_point_rule():
    p = S.P
    assert S.is_canonical_point((1).to_bytes(32, "little"))
    assert not S.is_canonical_point((1 | (1 << 255)).to_bytes(32, "little"))
    assert not S.is_canonical_point((p - 1 | (1 << 255)).to_bytes(32, "little"))
    assert not S.is_canonical_point(p.to_bytes(32, "little"))
    assert not S.is_canonical_point((p + 1).to_bytes(32, "little"))
    assert S.is_canonical_point((p - 2).to_bytes(32, "little"))
    assert S.is_canonical_point((p - 2 | (1 << 255)).to_bytes(32, "little"))
    # a non-canonical R can never verify, a non-canonical A is rejected outright
    pub, msg, sig = _vector_sig()
    assert not S.verify_strict(pub, msg, sig[:31] + bytes([sig[31] ^ 0x80]) + sig[32:])


def test_verifier_rejects_wrong_lengths_and_types():
    pub, msg, sig = _vector_sig()
    assert not S.verify_strict(pub[:31], msg, sig)
    assert not S.verify_strict(pub, msg, sig[:63])
    assert not S.verify_strict(pub, msg, sig + b"\x00")
    assert not S.verify_strict(pub.hex(), msg, sig)
    assert not S.verify_strict(pub, msg, bytearray(sig))


def test_rule4_is_load_bearing():
    """The identity-key forgery satisfies the cofactorless equation on its own
    (the library accepts it), so it is the §3 blocklist that rejects it."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    pub, _msg, _sig = _vector_sig()
    a = _clamped_scalar(bytes.fromhex(BY_NAME["empty-args"]["secret_seed_hex"]))
    forged = pub + (a % S.L).to_bytes(32, "little")
    identity = bytes.fromhex("01" + "00" * 31)
    try:
        Ed25519PublicKey.from_public_bytes(identity).verify(forged, b"anything")
    except (InvalidSignature, ValueError):
        pytest.skip("this OpenSSL already rejects small-order keys")
    assert not S.verify_strict(identity, b"anything", forged)
