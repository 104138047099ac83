"""Ledger structures: layouts, construction rules, decoding errors."""

from __future__ import annotations

import pytest

from ledger import codec
from ledger.crypto import SigningKey
from ledger.errors import Code, LedgerError
from ledger.structure import Structure
from ledger.types import (
    Block,
    BlockHeader,
    Commit,
    CommitSignature,
    Event,
    Receipt,
    SignedTransaction,
    Transaction,
    Vote,
    VoteType,
    ZERO_HASH,
    compute_commit_hash,
    compute_receipts_root,
    compute_txs_root,
)

KEY = SigningKey(bytes(range(32)))
H = bytes(range(32))


def _tx(**changes: object) -> Transaction:
    fields: dict[str, object] = dict(chain_id="scf-test", sender=KEY.public_key, nonce=0,
                                     contract="invoices", method="register", args={"a": 1})
    fields.update(changes)
    return Transaction(**fields)  # type: ignore[arg-type]


def _header(**changes: object) -> BlockHeader:
    fields: dict[str, object] = dict(chain_id="scf-test", height=1, time_ms=1_700_000_000_000,
                                     previous_hash=ZERO_HASH, proposer=KEY.public_key, tx_count=0, txs_root=H,
                                     receipts_root=H, state_root=H, validator_set_hash=H,
                                     last_commit_hash=ZERO_HASH)
    fields.update(changes)
    return BlockHeader(**fields)  # type: ignore[arg-type]


ALL_TYPES = [Transaction, SignedTransaction, Vote, CommitSignature, Commit, BlockHeader, Block,
             Event, Receipt]


@pytest.mark.parametrize("kind", ALL_TYPES, ids=lambda k: k.__name__)
def test_layout_matches_dataclass_fields(kind: type[Structure]) -> None:
    kind.check_layout()


def _samples() -> list[Structure]:
    signed = _tx().sign(KEY)
    sig = CommitSignature(KEY.public_key, bytes(64))
    commit = Commit(1, 0, H, (sig,))
    receipt = Receipt(signed.tx_id, "OK", "", (Event("invoice.registered", {"fp": H}),))
    return [_tx(), signed, Vote("scf-test", VoteType.PREVOTE, 3, 1, None, KEY.public_key),
            sig, commit, _header(), Block(_header(height=2), (signed,), commit), receipt]


@pytest.mark.parametrize("sample", _samples(), ids=lambda s: type(s).__name__)
def test_round_trip(sample: Structure) -> None:
    data = sample.encode()
    assert type(sample).decode(data) == sample
    assert type(sample).decode(data).encode() == data


def test_signed_transaction_validates_chain_and_signature() -> None:
    signed = _tx().sign(KEY)
    signed.validate("scf-test")
    with pytest.raises(LedgerError) as caught:
        signed.validate("scf-other")
    assert caught.value.code is Code.WRONG_CHAIN_ID
    forged = SignedTransaction(_tx(nonce=1), signed.signature)
    with pytest.raises(LedgerError) as caught:
        forged.validate("scf-test")
    assert caught.value.code is Code.INVALID_SIGNATURE


def test_sign_with_the_wrong_key_is_refused() -> None:
    with pytest.raises(LedgerError) as caught:
        _tx().sign(SigningKey(bytes(32)))
    assert caught.value.code is Code.INVALID_KEY


@pytest.mark.parametrize(
    "changes,fragment",
    [
        ({"nonce": -1}, "Transaction.nonce"),
        ({"nonce": True}, "Transaction.nonce"),
        ({"sender": bytes(31)}, "Transaction.sender"),
        ({"chain_id": ""}, "Transaction.chain_id"),
        ({"chain_id": "has space"}, "Transaction.chain_id"),
        ({"contract": "Invoices"}, "Transaction.contract"),
        ({"method": "x" * 65}, "Transaction.method"),
        ({"args": [1]}, "Transaction.args"),
        ({"expiry_height": 0}, "Transaction.expiry_height"),
    ],
)
def test_construction_is_validated(changes: dict[str, object], fragment: str) -> None:
    with pytest.raises(LedgerError) as caught:
        _tx(**changes)
    assert caught.value.code is Code.SCHEMA_MISMATCH
    assert fragment in caught.value.message


def test_float_argument_is_refused_at_construction() -> None:
    with pytest.raises(LedgerError) as caught:
        _tx(args={"amount": 1.5})
    assert caught.value.code is Code.CODEC_FLOAT_NOT_ALLOWED


def test_decode_reports_version_and_shape() -> None:
    body = _tx().to_value()
    with pytest.raises(LedgerError) as caught:
        Transaction.decode(codec.encode([2] + body[1:]))
    assert caught.value.code is Code.UNSUPPORTED_VERSION
    with pytest.raises(LedgerError) as caught:
        Transaction.decode(codec.encode(body[:-1]))
    assert caught.value.code is Code.SCHEMA_MISMATCH
    with pytest.raises(LedgerError) as caught:
        SignedTransaction.decode(codec.encode([1, body, bytes(63)]))
    assert caught.value.code is Code.SCHEMA_MISMATCH
    assert "SignedTransaction.signature" in caught.value.message
    with pytest.raises(LedgerError) as caught:
        SignedTransaction.decode(codec.encode([1, body[:3], bytes(64)]))
    assert "SignedTransaction.tx" in caught.value.message


def test_oversized_transaction_is_refused() -> None:
    with pytest.raises(LedgerError) as caught:
        _tx(args={"blob": bytes(70_000)}).encode()
    assert caught.value.code is Code.CODEC_TOO_LARGE


def test_commit_signatures_must_be_sorted_and_unique() -> None:
    low = CommitSignature(bytes(32), bytes(64))
    high = CommitSignature(b"\xff" * 32, bytes(64))
    Commit(1, 0, H, (low, high))
    for order in ((high, low), (low, low)):
        with pytest.raises(LedgerError) as caught:
            Commit(1, 0, H, order)
        assert caught.value.code is Code.SCHEMA_MISMATCH


def test_commit_names_the_precommit_it_certifies() -> None:
    commit = Commit(5, 2, H, ())
    vote = commit.vote_for("scf-test", KEY.public_key)
    assert vote == Vote("scf-test", VoteType.PRECOMMIT, 5, 2, H, KEY.public_key)


def test_roots_and_hashes_are_domain_separated() -> None:
    signed = _tx().sign(KEY)
    receipt = Receipt(signed.tx_id, "OK", "", ())
    assert compute_txs_root([signed]) != compute_receipts_root([receipt])
    assert compute_txs_root([]) == compute_receipts_root([])  # the empty RFC 6962 root
    assert compute_commit_hash(None) == ZERO_HASH
    header = _header()
    assert header.hash != signed.tx_id and Block(header, (), None).hash == header.hash
    assert receipt.succeeded and not Receipt(signed.tx_id, "FORBIDDEN", "no", ()).succeeded


def test_args_depth_limit_counts_from_the_signed_transaction() -> None:
    """The deepest args a Transaction accepts still encode as a signed tx."""
    deepest: object = 1
    for _ in range(29):
        deepest = [deepest]
    signed = _tx(args={"a": deepest}).sign(KEY)  # args map has depth 30
    assert SignedTransaction.decode(signed.encode()) == signed
    with pytest.raises(LedgerError) as caught:
        _tx(args={"a": [deepest]})
    assert caught.value.code is Code.CODEC_TOO_DEEP


def test_event_attributes_depth_limit() -> None:
    deepest: object = 1
    for _ in range(28):
        deepest = [deepest]
    receipt = Receipt(H, "OK", "", (Event("x", {"a": deepest}),))
    assert Receipt.decode(receipt.encode()) == receipt
    with pytest.raises(LedgerError) as caught:
        Event("x", {"a": [deepest]})
    assert caught.value.code is Code.CODEC_TOO_DEEP
