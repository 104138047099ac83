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
    INVALID_CONSENSUS_MESSAGE = "INVALID_CONSENSUS_MESSAGE"
    SIGN_STATE_CORRUPTED = "SIGN_STATE_CORRUPTED"
    SIGN_STATE_INSECURE = "SIGN_STATE_INSECURE"
    SIGN_STATE_IO_ERROR = "SIGN_STATE_IO_ERROR"
    WAL_CORRUPTED = "WAL_CORRUPTED"
    WAL_RECORD_INVALID = "WAL_RECORD_INVALID"
    WAL_BAD_HEIGHT = "WAL_BAD_HEIGHT"
    WAL_LOCKED = "WAL_LOCKED"
    WAL_IO_ERROR = "WAL_IO_ERROR"

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

    # contracts: invoices and liens
    INVOICE_NOT_FOUND = "INVOICE_NOT_FOUND"
    DUPLICATE_INVOICE = "DUPLICATE_INVOICE"
    INVALID_STATE_TRANSITION = "INVALID_STATE_TRANSITION"
    CANCEL_CONSENT_REQUIRED = "CANCEL_CONSENT_REQUIRED"
    INVOICE_NOT_FINANCEABLE = "INVOICE_NOT_FINANCEABLE"
    ASSET_ENCUMBERED = "ASSET_ENCUMBERED"
    LIEN_NOT_FOUND = "LIEN_NOT_FOUND"

    # e-invoice import (ledger/einvoice.py)
    EINVOICE_TOO_LARGE = "EINVOICE_TOO_LARGE"
    EINVOICE_MALFORMED = "EINVOICE_MALFORMED"
    EINVOICE_UNSUPPORTED = "EINVOICE_UNSUPPORTED"
    EINVOICE_CREDIT_NOTE = "EINVOICE_CREDIT_NOTE"
    EINVOICE_FIELD_MISSING = "EINVOICE_FIELD_MISSING"
    EINVOICE_FIELD_INVALID = "EINVOICE_FIELD_INVALID"
    EINVOICE_AMOUNT_INVALID = "EINVOICE_AMOUNT_INVALID"
    EINVOICE_AMOUNT_PRECISION = "EINVOICE_AMOUNT_PRECISION"

    # contracts: governance (contracts/governance.py, genesis/contract_pins.py)
    PROPOSAL_NOT_FOUND = "PROPOSAL_NOT_FOUND"
    PROPOSAL_CLOSED = "PROPOSAL_CLOSED"
    ALREADY_APPROVED = "ALREADY_APPROVED"
    ADMISSION_RULE = "ADMISSION_RULE"
    MEMBER_EXISTS = "MEMBER_EXISTS"
    MEMBER_NOT_FOUND = "MEMBER_NOT_FOUND"
    ROLE_ALREADY_HELD = "ROLE_ALREADY_HELD"
    ROLE_NOT_HELD = "ROLE_NOT_HELD"
    KEY_NOT_FOUND = "KEY_NOT_FOUND"
    MEMBER_ALREADY_FROZEN = "MEMBER_ALREADY_FROZEN"
    MEMBER_NOT_FROZEN = "MEMBER_NOT_FROZEN"
    CONTRACT_CODE_MISMATCH = "CONTRACT_CODE_MISMATCH"


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
