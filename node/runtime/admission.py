"""Whether a transaction may enter the mempool, checked against committed state.

A transaction is admitted when it could be included in the next block or in
one soon after: right chain, a member's key, not expired at the next height,
a nonce not yet used, and a valid signature. These are the checks of
`ledger.transition.apply_tx` with one difference: a nonce *above* the
sender's next is admitted, so that a client may queue consecutive
transactions. How far above is the mempool's business (`NONCE_TOO_FAR`),
as is a second transaction for the same nonce.

Admission is pure: it reads the state it is given and returns an `Admitted`
value (or raises `LedgerError`); the node's async shell feeds it bytes from
the API and from peers.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.accounts import member_of_signer, next_nonce
from ledger.crypto import Tag, tagged_hash
from ledger.errors import Code, LedgerError
from ledger.state import StateReader
from ledger.types import SignedTransaction


def decode_signed_tx(raw: bytes) -> SignedTransaction:
    """The signed transaction whose canonical encoding is exactly `raw`.

    `SignedTransaction.decode` already refuses anything above `MAX_TX_SIZE`
    (CODEC_TOO_LARGE) before parsing, non-canonical or malformed bytes
    (CODEC_*) and wrong layouts (SCHEMA_MISMATCH, UNSUPPORTED_VERSION); only
    `LedgerError` escapes it. This name is the node's one entry point for
    untrusted transaction bytes.
    """
    return SignedTransaction.decode(raw)


@dataclass(frozen=True, slots=True)
class Admitted:
    """A transaction that passed admission, with what the mempool needs to file it.

    `size` is the length of its canonical encoding; `next_nonce` is the
    sender's next nonce in the state it was admitted against. Whoever builds
    an `Admitted` vouches that its signature verifies: the mempool relies on it.
    """

    tx: SignedTransaction
    tx_id: bytes
    size: int
    next_nonce: int


def admit(tx: bytes | SignedTransaction, *, chain_id: str, state: StateReader,
          next_height: int, signature_verified: bool = False) -> Admitted:
    """Checks `tx` (raw bytes or already decoded) for the block at `next_height`.

    Raises LedgerError, the first that applies, in this order: the decoder's
    codes (raw bytes only), WRONG_CHAIN_ID, UNKNOWN_SENDER, TX_EXPIRED,
    BAD_NONCE (nonce already used), INVALID_SIGNATURE.

    The signature comes last because it is by far the most expensive check
    (an Ed25519 verification against a few state reads and comparisons), so
    spam for another chain, from strangers, expired or replayed is refused
    before any curve arithmetic. Checking it last reveals nothing a forger
    could not read anyway: membership and nonces are public ledger state.
    `signature_verified=True` skips it for a transaction whose exact bytes
    were verified before (its id covers the signature).
    """
    if isinstance(tx, SignedTransaction):
        signed = tx
        encoded = tx.encode()
    else:
        signed = decode_signed_tx(tx)
        # Decoding accepts only canonical bytes, so these are the encoding.
        encoded = bytes(tx)
    body = signed.tx
    # Verify the chain id
    if body.chain_id != chain_id:
        raise LedgerError(Code.WRONG_CHAIN_ID,
                          f"transaction is for chain {body.chain_id!r}, this is {chain_id!r}")
    # Verify the sender is a member
    if member_of_signer(state, body.sender) is None:
        raise LedgerError(Code.UNKNOWN_SENDER, f"key {body.sender.hex()[:16]}… is no member's")
    # Verify it can still be included in the next block
    if body.expiry_height is not None and next_height > body.expiry_height:
        raise LedgerError(Code.TX_EXPIRED, f"expired at height {body.expiry_height}, "
                                           f"the next block is {next_height}")
    # Verify the nonce is not used yet
    expected = next_nonce(state, body.sender)
    if body.nonce < expected:
        raise LedgerError(Code.BAD_NONCE, f"nonce {body.nonce} was already used: "
                                          f"the sender's next nonce is {expected}")
    # Verify the signature
    if not signature_verified and not signed.has_valid_signature():
        raise LedgerError(Code.INVALID_SIGNATURE, "transaction signature does not verify")
    return Admitted(tx=signed, tx_id=tagged_hash(Tag.TX_ID, encoded), size=len(encoded),
                    next_nonce=expected)
