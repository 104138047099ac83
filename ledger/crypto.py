"""Hashing with domain tags and the one strict Ed25519 verifier of the ledger.

Two nodes that disagree on whether a signature is valid fork the chain, and
Ed25519 libraries disagree on edge cases (non-canonical encodings, low-order
points, cofactored or cofactorless equations). So every signature in the
system is checked by `verify_signature` and nothing else, and its verdicts on
the public edge-case suites (Wycheproof, C2SP CCTV) are pinned in the tests.
The rules are written out here, not left to the library:

* the signature is 64 bytes and its S half is canonical (S < L);
* the public key A and the commitment R are canonical point encodings
  (y < p, and no sign bit on a point whose x is 0);
* neither A nor R is one of the eight points of small order;
* then libsodium's (cofactorless) equation [S]B = R + [k]A decides.

Hashes are SHA-256(tag || data) with one ASCII tag per kind of object (`Tag`),
so a transaction hash can never be mistaken for a block hash, and what is
signed is `tag || canonical(chain_id) || body`, so a signature cannot be
replayed on another chain or as another kind of message.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import Enum

import nacl.exceptions
import nacl.signing

from ledger import codec
from ledger.errors import Code, LedgerError

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
SEED_SIZE = 32
HASH_SIZE = 32

_P = 2**255 - 19
# Order of the prime subgroup of edwards25519.
_L = 2**252 + 27742317777372353535851937790883648493

# The eight points of order dividing 8, canonically encoded (non-canonical
# encodings of them are already refused by the canonicity rule). The tests
# recompute this set from the curve equation.
SMALL_ORDER_POINTS = frozenset(
    bytes.fromhex(h)
    for h in (
        "0100000000000000000000000000000000000000000000000000000000000000",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    )
)


class Tag(Enum):
    """Domain tags. No tag is a prefix of another (a test checks it)."""

    TX_SIGN = b"scf/sign/tx/v1"
    TX_ID = b"scf/hash/tx/v1"
    VOTE_SIGN = b"scf/sign/vote/v1"
    PROPOSAL_SIGN = b"scf/sign/proposal/v1"
    BLOCK_HEADER = b"scf/hash/block-header/v1"
    COMMIT = b"scf/hash/commit/v1"
    RECEIPT = b"scf/hash/receipt/v1"
    VALIDATOR_SET = b"scf/hash/validator-set/v1"
    SMT_LEAF = b"scf/hash/smt-leaf/v1"
    SMT_NODE = b"scf/hash/smt-node/v1"
    GENESIS = b"scf/hash/genesis/v1"
    ARCHIVE_HEADER = b"scf/hash/archive-header/v1"
    ARCHIVE = b"scf/hash/archive/v1"
    PEER_AUTH = b"scf/sign/peer-auth/v1"


def tagged_hash(tag: Tag, data: bytes) -> bytes:
    """SHA-256(tag || data)."""
    return hashlib.sha256(tag.value + data).digest()


def signing_bytes(tag: Tag, chain_id: str, body: bytes) -> bytes:
    """What is signed: tag || canonical(chain_id) || body."""
    return tag.value + codec.encode(chain_id) + body


@dataclass(frozen=True, slots=True)
class SigningKey:
    """An Ed25519 key pair from its 32-byte seed. The seed never prints."""

    seed: bytes = field(repr=False)
    public_key: bytes = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.seed, bytes) or len(self.seed) != SEED_SIZE:
            raise LedgerError(Code.INVALID_KEY, f"an Ed25519 seed is {SEED_SIZE} bytes")
        verify_key = nacl.signing.SigningKey(self.seed).verify_key
        object.__setattr__(self, "public_key", bytes(verify_key))

    def sign(self, message: bytes) -> bytes:
        return nacl.signing.SigningKey(self.seed).sign(message).signature


def is_canonical_point(encoding: bytes) -> bool:
    """True if `encoding` is the one canonical 32-byte form of its y and sign."""
    if len(encoding) != PUBLIC_KEY_SIZE:
        return False
    word = int.from_bytes(encoding, "little")
    y = word & ((1 << 255) - 1)
    x_is_negative = word >> 255
    if y >= _P:
        return False
    # x = 0 exactly when y = 1 or y = -1; "negative zero" is not canonical.
    return not (x_is_negative and y in (1, _P - 1))


def is_valid_public_key(public_key: bytes) -> bool:
    return (
        isinstance(public_key, bytes)
        and is_canonical_point(public_key)
        and public_key not in SMALL_ORDER_POINTS
    )


def validate_public_key(public_key: bytes) -> None:
    """Raises INVALID_KEY unless `public_key` may sign on this ledger."""
    if not isinstance(public_key, bytes) or len(public_key) != PUBLIC_KEY_SIZE:
        raise LedgerError(Code.INVALID_KEY, f"a public key is {PUBLIC_KEY_SIZE} bytes")
    if not is_canonical_point(public_key):
        raise LedgerError(Code.INVALID_KEY, "public key is not a canonical point encoding")
    if public_key in SMALL_ORDER_POINTS:
        raise LedgerError(Code.INVALID_KEY, "public key is a point of small order")


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """The ledger's verdict on an Ed25519 signature. Never raises."""
    if not (
        isinstance(signature, bytes)
        and len(signature) == SIGNATURE_SIZE
        and isinstance(message, bytes)
        and is_valid_public_key(public_key)
    ):
        return False
    r, s = signature[:32], signature[32:]
    if int.from_bytes(s, "little") >= _L:
        return False
    if not is_canonical_point(r) or r in SMALL_ORDER_POINTS:
        return False
    try:
        nacl.signing.VerifyKey(public_key).verify(message, signature)
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        return False
    return True


def validate_signature(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Raises INVALID_SIGNATURE unless `verify_signature` accepts."""
    if not verify_signature(public_key, message, signature):
        raise LedgerError(Code.INVALID_SIGNATURE, "signature does not verify")
