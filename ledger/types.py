"""The signed and hashed structures of the ledger, as frozen dataclasses.

Wire layout, byte by byte, is in docs/transaction-format.md; each class lists
its fields in wire order in `LAYOUT` (see ledger/structure.py). Identities:

* tx id       = SHA-256("scf/hash/tx/v1" || encode(SignedTransaction))
* block hash  = SHA-256("scf/hash/block-header/v1" || encode(BlockHeader))
* commit hash = SHA-256("scf/hash/commit/v1" || encode(Commit))
* receipt hash= SHA-256("scf/hash/receipt/v1" || encode(Receipt))

A transaction is signed over `signing_bytes(TX_SIGN, chain_id, encode(tx))`,
a vote over `signing_bytes(VOTE_SIGN, chain_id, encode(vote))`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ClassVar

from ledger import codec, merkle
from ledger.crypto import (
    HASH_SIZE,
    PUBLIC_KEY_SIZE,
    SIGNATURE_SIZE,
    SigningKey,
    Tag,
    signing_bytes,
    tagged_hash,
    verify_signature,
)
from ledger.errors import Code, LedgerError
from ledger.structure import (
    Bytes,
    Field,
    Int,
    ListOf,
    Nested,
    Optional,
    Str,
    StrMap,
    Structure,
)

MAX_TX_SIZE = 64 * 1024
#: 15 MiB, so that a maximal block wrapped in a consensus input (proposal or
#: certified block, with its signatures) fits one 16 MiB WAL record.
MAX_BLOCK_SIZE = 15 * 1024 * 1024
MAX_TXS_PER_BLOCK = 10_000
MAX_VALIDATORS = 1_000
MAX_EVENTS_PER_RECEIPT = 256

CHAIN_ID = Str(max_bytes=64, pattern=r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
IDENTIFIER = Str(max_bytes=64, pattern=r"[a-z][a-z0-9_]{0,63}")
HASH = Bytes(size=HASH_SIZE)
PUBLIC_KEY = Bytes(size=PUBLIC_KEY_SIZE)
SIGNATURE = Bytes(size=SIGNATURE_SIZE)
HEIGHT = Int(0)
ROUND = Int(0, 2**31 - 1)

#: Stands for "no such hash": the last-commit hash of block 1, which has no last commit.
ZERO_HASH = bytes(HASH_SIZE)


@dataclass(frozen=True, slots=True)
class Transaction(Structure):
    """What a member signs: one call of a contract method."""

    chain_id: str
    sender: bytes
    nonce: int
    contract: str
    method: str
    args: dict[str, Any]
    expiry_height: int | None = None
    #: the canonical bytes, computed on first use or kept from decoding (a cache)
    _encoding: bytes | None = field(default=None, init=False, repr=False, compare=False)

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("chain_id", CHAIN_ID),
        ("sender", PUBLIC_KEY),
        ("nonce", Int(0)),
        ("contract", IDENTIFIER),
        ("method", IDENTIFIER),
        # SignedTransaction > Transaction > args: the map sits at depth 2.
        ("args", StrMap(max_depth=codec.MAX_DEPTH - 2)),
        ("expiry_height", Optional(Int(1))),
    )
    MAX_SIZE: ClassVar[int] = MAX_TX_SIZE

    def signing_bytes(self) -> bytes:
        return signing_bytes(Tag.TX_SIGN, self.chain_id, self.encode())

    def sign(self, key: SigningKey) -> SignedTransaction:
        if key.public_key != self.sender:
            raise LedgerError(Code.INVALID_KEY, "signing key does not match the sender")
        return SignedTransaction(tx=self, signature=key.sign(self.signing_bytes()))


@dataclass(frozen=True, slots=True)
class SignedTransaction(Structure):
    tx: Transaction
    signature: bytes
    #: the id, computed on first use (a cache: not a wire field, not compared)
    _tx_id: bytes | None = field(default=None, init=False, repr=False, compare=False)
    #: the canonical bytes, computed on first use or kept from decoding (a cache)
    _encoding: bytes | None = field(default=None, init=False, repr=False, compare=False)

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("tx", Nested(Transaction)),
        ("signature", SIGNATURE),
    )
    MAX_SIZE: ClassVar[int] = MAX_TX_SIZE

    @property
    def tx_id(self) -> bytes:
        """SHA-256("scf/hash/tx/v1" || canonical bytes); encoded and hashed once per value."""
        cached = self._tx_id
        if cached is None:
            cached = tagged_hash(Tag.TX_ID, self.encode())
            object.__setattr__(self, "_tx_id", cached)
        return cached

    @classmethod
    def decode(cls, data: bytes) -> SignedTransaction:
        value = codec.decode(data, max_size=cls.MAX_SIZE)
        signed = cls.from_value(value)
        signed._remember_encodings(value, bytes(data))
        return signed

    def _remember_encodings(self, value: Any, data: bytes | None = None) -> None:
        """Keeps the canonical bytes of this value and of its transaction,
        `value` being what `codec.decode` returned for it."""
        self._remember_encoding(codec.reencode_decoded(value) if data is None else data)
        self.tx._remember_encoding(codec.reencode_decoded(value[1]))

    def has_valid_signature(self) -> bool:
        return verify_signature(self.tx.sender, self.tx.signing_bytes(), self.signature)

    def validate(self, chain_id: str) -> None:
        """Raises WRONG_CHAIN_ID or INVALID_SIGNATURE."""
        if self.tx.chain_id != chain_id:
            raise LedgerError(
                Code.WRONG_CHAIN_ID,
                f"transaction is for chain {self.tx.chain_id!r}, this is {chain_id!r}",
            )
        if not self.has_valid_signature():
            raise LedgerError(Code.INVALID_SIGNATURE, "transaction signature does not verify")


class VoteType(IntEnum):
    PREVOTE = 1
    PRECOMMIT = 2


@dataclass(frozen=True, slots=True)
class Vote(Structure):
    """A validator's prevote or precommit; `block_hash` None is a nil vote."""

    chain_id: str
    vote_type: int
    height: int
    round: int
    block_hash: bytes | None
    validator: bytes

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("chain_id", CHAIN_ID),
        ("vote_type", Int(VoteType.PREVOTE, VoteType.PRECOMMIT)),
        ("height", Int(1)),
        ("round", ROUND),
        ("block_hash", Optional(HASH)),
        ("validator", PUBLIC_KEY),
    )

    def signing_bytes(self) -> bytes:
        return signing_bytes(Tag.VOTE_SIGN, self.chain_id, self.encode())


@dataclass(frozen=True, slots=True)
class CommitSignature(Structure):
    validator: bytes
    signature: bytes

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("validator", PUBLIC_KEY),
        ("signature", SIGNATURE),
    )


@dataclass(frozen=True, slots=True)
class Commit(Structure):
    """Precommits for one block: its certificate of finality.

    Each signature is over the precommit `Vote(chain_id, PRECOMMIT, height,
    round, block_hash, validator)`; signatures are sorted by validator key
    with no key twice, so a commit has one encoding.
    """

    height: int
    round: int
    block_hash: bytes
    signatures: tuple[CommitSignature, ...]

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("height", Int(1)),
        ("round", ROUND),
        ("block_hash", HASH),
        ("signatures", ListOf(Nested(CommitSignature), MAX_VALIDATORS)),
    )

    #: the canonical bytes (a cache: not a wire field, not compared)
    _encoding: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def _check_invariants(self) -> None:
        keys = [s.validator for s in self.signatures]
        if any(a >= b for a, b in zip(keys, keys[1:])):
            raise LedgerError(
                Code.SCHEMA_MISMATCH,
                "Commit.signatures: must be sorted by validator key, each key once",
            )

    @property
    def hash(self) -> bytes:
        return tagged_hash(Tag.COMMIT, self.encode())

    def vote_for(self, chain_id: str, validator: bytes) -> Vote:
        """The precommit that `validator`'s signature in this commit covers."""
        return Vote(chain_id, VoteType.PRECOMMIT, self.height, self.round, self.block_hash, validator)


@dataclass(frozen=True, slots=True)
class BlockHeader(Structure):
    chain_id: str
    height: int
    time_ms: int
    previous_hash: bytes
    proposer: bytes
    tx_count: int
    txs_root: bytes
    receipts_root: bytes
    state_root: bytes
    validator_set_hash: bytes
    last_commit_hash: bytes
    #: the canonical bytes (a cache: not a wire field, not compared)
    _encoding: bytes | None = field(default=None, init=False, repr=False, compare=False)

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("chain_id", CHAIN_ID),
        ("height", Int(1)),
        ("time_ms", Int(0)),
        ("previous_hash", HASH),
        ("proposer", PUBLIC_KEY),
        # An RFC 6962 inclusion proof does not fix the tree size: the signed
        # header does, so a light client knows the size of both lists.
        ("tx_count", Int(0, MAX_TXS_PER_BLOCK)),
        ("txs_root", HASH),
        ("receipts_root", HASH),
        ("state_root", HASH),
        ("validator_set_hash", HASH),
        ("last_commit_hash", HASH),
    )

    @property
    def hash(self) -> bytes:
        return tagged_hash(Tag.BLOCK_HEADER, self.encode())


@dataclass(frozen=True, slots=True)
class Block(Structure):
    """A header, its transactions, and the certificate of the previous block."""

    header: BlockHeader
    txs: tuple[SignedTransaction, ...]
    last_commit: Commit | None

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("header", Nested(BlockHeader)),
        ("txs", ListOf(Nested(SignedTransaction), MAX_TXS_PER_BLOCK)),
        ("last_commit", Optional(Nested(Commit))),
    )
    MAX_SIZE: ClassVar[int] = MAX_BLOCK_SIZE

    @property
    def hash(self) -> bytes:
        return self.header.hash

    @classmethod
    def decode(cls, data: bytes) -> Block:
        """Decodes the block, keeping the canonical bytes of its header and of
        each transaction (for the txs root, the tx ids and the block hash)."""
        value = codec.decode(data, max_size=cls.MAX_SIZE)
        block = cls.from_value(value)
        block.header._remember_encoding(codec.reencode_decoded(value[1]))
        for tx, tx_value in zip(block.txs, value[2]):
            tx._remember_encodings(tx_value)
        return block


@dataclass(frozen=True, slots=True)
class Event(Structure):
    """Something a contract reports; part of the receipt, indexed by the node."""

    kind: str
    attributes: dict[str, Any]

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("kind", Str(max_bytes=64, pattern=r"[a-z][a-z0-9_.]{0,63}")),
        # Receipt > events > Event > attributes: the map sits at depth 3.
        ("attributes", StrMap(max_depth=codec.MAX_DEPTH - 3)),
    )


#: The status code of a transaction that succeeded.
STATUS_OK = "OK"


@dataclass(frozen=True, slots=True)
class Receipt(Structure):
    """The outcome of one transaction: "OK" or a stable error code."""

    tx_id: bytes
    code: str
    message: str
    events: tuple[Event, ...]
    #: the canonical bytes (a cache: not a wire field, not compared)
    _encoding: bytes | None = field(default=None, init=False, repr=False, compare=False)

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("tx_id", HASH),
        ("code", Str(max_bytes=64, pattern=r"[A-Z][A-Z0-9_]{0,63}")),
        ("message", Str(max_bytes=1024)),
        ("events", ListOf(Nested(Event), MAX_EVENTS_PER_RECEIPT)),
    )

    @property
    def hash(self) -> bytes:
        return tagged_hash(Tag.RECEIPT, self.encode())

    @property
    def succeeded(self) -> bool:
        return self.code == STATUS_OK


def compute_txs_root(txs: tuple[SignedTransaction, ...] | list[SignedTransaction]) -> bytes:
    """RFC 6962 root over the encodings of the signed transactions."""
    return merkle.root([tx.encode() for tx in txs])


def compute_receipts_root(receipts: tuple[Receipt, ...] | list[Receipt]) -> bytes:
    """RFC 6962 root over the encodings of the receipts."""
    return merkle.root([receipt.encode() for receipt in receipts])


def compute_commit_hash(commit: Commit | None) -> bytes:
    return ZERO_HASH if commit is None else commit.hash

