"""The one exception type of scf-ledger and the closed set of its codes.

Every failure that a user, an integrator or a peer can cause surfaces as a
`LedgerError` carrying a stable machine code (SCREAMING_SNAKE, never renamed
once released) and a human message. Codes are listed, with their meaning, in
`docs/errors.md`; a test keeps that page and this enum in step.
"""

from __future__ import annotations

from enum import StrEnum


class Code(StrEnum):
    """Stable error codes. Add new ones; never rename or reuse an old one."""

    # codec: canonical msgpack
    CODEC_UNSUPPORTED_TYPE = "CODEC_UNSUPPORTED_TYPE"
    CODEC_INT_OUT_OF_RANGE = "CODEC_INT_OUT_OF_RANGE"
    CODEC_FLOAT_NOT_ALLOWED = "CODEC_FLOAT_NOT_ALLOWED"
    CODEC_EXT_NOT_ALLOWED = "CODEC_EXT_NOT_ALLOWED"
    CODEC_MAP_KEY_NOT_STR = "CODEC_MAP_KEY_NOT_STR"
    CODEC_MAP_KEYS_UNSORTED = "CODEC_MAP_KEYS_UNSORTED"
    CODEC_MAP_KEY_DUPLICATE = "CODEC_MAP_KEY_DUPLICATE"
    CODEC_TOO_DEEP = "CODEC_TOO_DEEP"
    CODEC_TOO_LARGE = "CODEC_TOO_LARGE"
    CODEC_TRUNCATED = "CODEC_TRUNCATED"
    CODEC_TRAILING_BYTES = "CODEC_TRAILING_BYTES"
    CODEC_INVALID_UTF8 = "CODEC_INVALID_UTF8"
    CODEC_NON_CANONICAL = "CODEC_NON_CANONICAL"
    CODEC_MALFORMED = "CODEC_MALFORMED"

    # structures built on the codec (transactions, blocks, ...)
    SCHEMA_MISMATCH = "SCHEMA_MISMATCH"
    UNSUPPORTED_VERSION = "UNSUPPORTED_VERSION"

    # crypto
    INVALID_KEY = "INVALID_KEY"
    INVALID_SIGNATURE = "INVALID_SIGNATURE"
    WRONG_CHAIN_ID = "WRONG_CHAIN_ID"

    # merkle
    MERKLE_INVALID_PROOF = "MERKLE_INVALID_PROOF"
    MERKLE_INDEX_OUT_OF_RANGE = "MERKLE_INDEX_OUT_OF_RANGE"
    MERKLE_BAD_HASH_LENGTH = "MERKLE_BAD_HASH_LENGTH"
    MERKLE_BAD_TREE_SIZE = "MERKLE_BAD_TREE_SIZE"

    # state tree
    STATE_PROOF_INVALID = "STATE_PROOF_INVALID"
    STATE_VERSION_NOT_FOUND = "STATE_VERSION_NOT_FOUND"
    STATE_VERSION_INVALID = "STATE_VERSION_INVALID"
    STATE_KEY_TOO_LARGE = "STATE_KEY_TOO_LARGE"
    STATE_VALUE_TOO_LARGE = "STATE_VALUE_TOO_LARGE"
    STATE_NODE_MISSING = "STATE_NODE_MISSING"

    # store: the key-value layer under the chain (ledger/store/)
    STORE_BAD_KEY = "STORE_BAD_KEY"
    STORE_LOCKED = "STORE_LOCKED"
    STORE_NOT_FOUND = "STORE_NOT_FOUND"
    STORE_CORRUPTED = "STORE_CORRUPTED"
    STORE_IO_ERROR = "STORE_IO_ERROR"
    STORE_CLOSED = "STORE_CLOSED"

    # ledger core: genesis, members, validators
    INVALID_GENESIS = "INVALID_GENESIS"
    INVALID_VALIDATOR_SET = "INVALID_VALIDATOR_SET"
    KEY_IN_USE = "KEY_IN_USE"

    # consensus
    DOUBLE_SIGN_REFUSED = "DOUBLE_SIGN_REFUSED"

    # chain store
    STORE_FORMAT_MISMATCH = "STORE_FORMAT_MISMATCH"
    CHAIN_MISMATCH = "CHAIN_MISMATCH"
    BLOCK_DOES_NOT_EXTEND_HEAD = "BLOCK_DOES_NOT_EXTEND_HEAD"
    BLOCK_NOT_FOUND = "BLOCK_NOT_FOUND"

    # state transition: a block that breaks these is rejected whole
    INVALID_BLOCK = "INVALID_BLOCK"
    UNKNOWN_SENDER = "UNKNOWN_SENDER"
    BAD_NONCE = "BAD_NONCE"
    TX_EXPIRED = "TX_EXPIRED"

    # state transition: these fail the transaction (failed receipt, nonce used)
    MEMBER_FROZEN = "MEMBER_FROZEN"
    UNKNOWN_CONTRACT = "UNKNOWN_CONTRACT"
    UNKNOWN_METHOD = "UNKNOWN_METHOD"
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    FORBIDDEN = "FORBIDDEN"
    CONTRACT_BUG = "CONTRACT_BUG"

    # archive: exporting and importing the chain (ledger/archive.py)
    ARCHIVE_CORRUPTED = "ARCHIVE_CORRUPTED"
    ARCHIVE_MISMATCH = "ARCHIVE_MISMATCH"


class LedgerError(Exception):
    """A failure with a stable `code` for machines and a `message` for people."""

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message

    def __reduce__(self) -> tuple[type[LedgerError], tuple[Code, str]]:
        # Keeps the error intact across process pools (pickling).
        return (type(self), (self.code, self.message))

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code.value, "message": self.message}
