"""Independent implementation of the scf-ledger transaction format.

Written from ``docs/transaction-format.md`` alone (plus the published test
vectors in ``tests/vectors/transactions.json``) as an independent
cross-check of that specification.  It deliberately does NOT import the
``ledger`` package (nor ``msgpack`` / ``nacl``): everything here -- the
canonical MessagePack encoder, the strict decoder, typed JSON (spec §7),
Transaction / SignedTransaction construction, signing bytes, transaction id
and the extra Ed25519 rules of spec §3 -- is re-derived from the page.  The
only third-party dependency is ``cryptography`` for the Ed25519 group
operations (RFC 8032 signing and the cofactorless verification equation).

Python value model (spec §1.1):
    nil -> None, bool -> bool, int -> int (signed 64-bit), str -> str,
    bytes -> bytes, list -> list, map -> dict with str keys.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

__all__ = [
    "CanonicalError", "TypedJSONError", "FormatError",
    "encode", "decode", "MAX_DEPTH",
    "TX_SIZE_LIMIT", "BLOCK_SIZE_LIMIT", "DEFAULT_SIZE_LIMIT",
    "from_typed_json", "to_typed_json", "load_json_strict", "parse_decimal_int",
    "SIGN_TX_TAG", "HASH_TX_TAG", "Transaction", "transaction_array",
    "signing_bytes", "signed_transaction_array", "encode_signed_transaction",
    "tx_id", "sign", "decode_signed_transaction", "verify_strict",
    "is_canonical_point", "SMALL_ORDER_POINTS", "L", "P",
]

from .spec_codec import (
    BLOCK_SIZE_LIMIT,
    DEFAULT_SIZE_LIMIT,
    INT64_MAX,
    MAX_DEPTH,
    TX_SIZE_LIMIT,
    CanonicalError,
    TypedJSONError,
    decode,
    encode,
    from_typed_json,
    load_json_strict,
    parse_decimal_int,
    to_typed_json,
)

# ---------------------------------------------------------------------------
# §2 tags, §4 transactions
# ---------------------------------------------------------------------------

SIGN_TX_TAG = b"scf/sign/tx/v1"
HASH_TX_TAG = b"scf/hash/tx/v1"


class FormatError(ValueError):
    """A structure violates the field rules of §4."""


_CHAIN_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")


class Transaction(NamedTuple):
    chain_id: str
    sender: bytes
    nonce: int
    contract: str
    method: str
    args: dict
    expiry_height: int | None
    version: int = 1


def _check_tx(tx: Transaction) -> None:
    if type(tx.version) is not int or tx.version != 1:
        raise FormatError("version must be 1")
    if type(tx.chain_id) is not str or not _CHAIN_ID_RE.fullmatch(tx.chain_id):
        raise FormatError(f"bad chain_id {tx.chain_id!r}")
    if type(tx.sender) is not bytes or len(tx.sender) != 32:
        raise FormatError("sender must be 32 bytes")
    if type(tx.nonce) is not int or not 0 <= tx.nonce <= INT64_MAX:
        raise FormatError("nonce out of range")
    for name, val in (("contract", tx.contract), ("method", tx.method)):
        if type(val) is not str or not _NAME_RE.fullmatch(val):
            raise FormatError(f"bad {name} {val!r}")
    if type(tx.args) is not dict:
        raise FormatError("args must be a map")
    exp = tx.expiry_height
    if exp is not None and (type(exp) is not int or not 1 <= exp <= INT64_MAX):
        raise FormatError("expiry_height must be nil or 1..2^63-1")


def transaction_array(tx: Transaction) -> list:
    """The 8-item ``Transaction`` array of §4.1."""
    _check_tx(tx)
    return [tx.version, tx.chain_id, tx.sender, tx.nonce, tx.contract,
            tx.method, tx.args, tx.expiry_height]


def signing_bytes(tx: Transaction) -> bytes:
    """§3/§4.2: tag || canonical(chain_id) || canonical(Transaction)."""
    return SIGN_TX_TAG + encode(tx.chain_id) + encode(transaction_array(tx))


def signed_transaction_array(tx: Transaction, signature: bytes) -> list:
    """§4.2: ``[1, Transaction, signature]`` with the body nested in place."""
    if type(signature) is not bytes or len(signature) != 64:
        raise FormatError("signature must be 64 bytes")
    return [1, transaction_array(tx), signature]


def encode_signed_transaction(tx: Transaction, signature: bytes) -> bytes:
    data = encode(signed_transaction_array(tx, signature))
    if len(data) > TX_SIZE_LIMIT:
        raise FormatError("signed transaction larger than 65,536 bytes")
    return data


def tx_id(signed_tx_bytes: bytes) -> bytes:
    """§4.3: SHA-256("scf/hash/tx/v1" || canonical(SignedTransaction))."""
    return hashlib.sha256(HASH_TX_TAG + signed_tx_bytes).digest()


def sign(seed: bytes, tx: Transaction) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(seed).sign(signing_bytes(tx))


def decode_signed_transaction(data: bytes) -> tuple[Transaction, bytes]:
    """Strictly decode and field-check a SignedTransaction (does not verify)."""
    v = decode(data, max_size=TX_SIZE_LIMIT)
    if type(v) is not list or len(v) != 3:
        raise FormatError("SignedTransaction must be an array of 3")
    version, body, sig = v
    if type(version) is not int or version != 1:
        raise FormatError("SignedTransaction version must be 1")
    if type(body) is not list or len(body) != 8:
        raise FormatError("Transaction must be an array of 8")
    if type(sig) is not bytes or len(sig) != 64:
        raise FormatError("signature must be 64 bytes")
    tx = Transaction(version=body[0], chain_id=body[1], sender=body[2],
                     nonce=body[3], contract=body[4], method=body[5],
                     args=body[6], expiry_height=body[7])
    _check_tx(tx)
    return tx, sig


# ---------------------------------------------------------------------------
# §3 strict signature verification
# ---------------------------------------------------------------------------

P = 2 ** 255 - 19
L = 2 ** 252 + 27742317777372353535851937790883648493

SMALL_ORDER_POINTS = frozenset(bytes.fromhex(h) for h in (
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
))


def is_canonical_point(enc: bytes) -> bool:
    """§3 rule 3: y < p, and x's sign bit is 0 when y is 1 or p-1 (x = 0)."""
    if type(enc) is not bytes or len(enc) != 32:
        return False
    n = int.from_bytes(enc, "little")
    y = n & ((1 << 255) - 1)
    sign = n >> 255
    if y >= P:
        return False
    if y in (1, P - 1) and sign:
        return False
    return True


def verify_strict(public_key: Any, message: Any, signature: Any) -> bool:
    """Verdict of the §3 rule set; never raises."""
    if type(public_key) is not bytes or type(signature) is not bytes:
        return False
    if type(message) is not bytes:
        return False
    # rule 1
    if len(public_key) != 32 or len(signature) != 64:
        return False
    r_enc, s_enc = signature[:32], signature[32:]
    # rule 2
    if int.from_bytes(s_enc, "little") >= L:
        return False
    # rule 3
    if not is_canonical_point(public_key) or not is_canonical_point(r_enc):
        return False
    # rule 4
    if public_key in SMALL_ORDER_POINTS or r_enc in SMALL_ORDER_POINTS:
        return False
    # rule 5: cofactorless [S]B = R + [k]A (OpenSSL compares encode([S]B-[k]A)
    # with R byte-for-byte, which is the same check once R is canonical).
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
