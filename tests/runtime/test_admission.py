"""Admission against real genesis state: each rule, its code, and the order of the checks."""

from __future__ import annotations

from typing import Any

import pytest

from ledger import codec
from ledger.errors import Code, LedgerError
from ledger.store.chain import ChainStore
from ledger.store.memory import MemoryStore
from ledger.types import MAX_TX_SIZE, SignedTransaction, Transaction, Vote, VoteType
from node.runtime.admission import Admitted, admit, decode_signed_tx
from tests.support.chain import commit_block, example_genesis, member_key

GENESIS = example_genesis()
CHAIN_ID = GENESIS.chain_id
MEMBERS = ["SUPPLIER-01", "CORE-01", "BANK-A", "BANK-B", "WAREHOUSE-01", "AUDITOR-01"]


@pytest.fixture
def chain() -> ChainStore:
    return ChainStore(MemoryStore(), GENESIS)


def signed(member_id: str = "SUPPLIER-01", *, nonce: int = 0, chain_id: str = CHAIN_ID,
           expiry_height: int | None = None, **args: Any) -> SignedTransaction:
    key = member_key(member_id)
    return Transaction(chain_id, key.public_key, nonce, "notes", "set",
                       args or {"key": "k", "value": 1}, expiry_height).sign(key)


def forged(tx: SignedTransaction) -> SignedTransaction:
    return SignedTransaction(tx=tx.tx, signature=bytes(64))


def refusal(tx: bytes | SignedTransaction, chain: ChainStore, *, next_height: int = 1,
            signature_verified: bool = False) -> LedgerError:
    with pytest.raises(LedgerError) as caught:
        admit(tx, chain_id=CHAIN_ID, state=chain.state(), next_height=next_height,
              signature_verified=signature_verified)
    return caught.value


# --- what an admitted transaction carries -------------------------------------------------

@pytest.mark.parametrize("member_id", MEMBERS)
def test_every_member_of_the_example_consortium_is_admitted(chain: ChainStore,
                                                            member_id: str) -> None:
    tx = signed(member_id)
    admitted = admit(tx.encode(), chain_id=CHAIN_ID, state=chain.state(), next_height=1)
    assert admitted == Admitted(tx=tx, tx_id=tx.tx_id, size=len(tx.encode()), next_nonce=0)


def test_raw_bytes_and_a_decoded_transaction_are_admitted_alike(chain: ChainStore) -> None:
    tx = signed(nonce=3)
    from_raw = admit(tx.encode(), chain_id=CHAIN_ID, state=chain.state(), next_height=1)
    from_decoded = admit(tx, chain_id=CHAIN_ID, state=chain.state(), next_height=1)
    assert from_raw == from_decoded


def test_a_future_nonce_is_admitted_the_window_is_the_mempools_business(
        chain: ChainStore) -> None:
    admitted = admit(signed(nonce=10_000), chain_id=CHAIN_ID, state=chain.state(), next_height=1)
    assert admitted.next_nonce == 0 and admitted.tx.tx.nonce == 10_000


def test_next_nonce_comes_from_the_committed_state(chain: ChainStore) -> None:
    commit_block(chain, [signed(nonce=0), signed(nonce=1)])
    admitted = admit(signed(nonce=2), chain_id=CHAIN_ID, state=chain.state(),
                     next_height=chain.height + 1)
    assert admitted.next_nonce == 2


# --- each rule ------------------------------------------------------------------------------

def test_another_chains_transaction_is_refused(chain: ChainStore) -> None:
    assert refusal(signed(chain_id="other-chain"), chain).code is Code.WRONG_CHAIN_ID


def test_a_key_of_no_member_is_refused(chain: ChainStore) -> None:
    assert refusal(signed("STRANGER-01"), chain).code is Code.UNKNOWN_SENDER


def test_a_validator_key_is_not_a_member_key(chain: ChainStore) -> None:
    assert refusal(signed("BANK-A/validator"), chain).code is Code.UNKNOWN_SENDER


@pytest.mark.parametrize("expiry_height, next_height, admitted", [
    (None, 1_000_000, True),
    (5, 4, True),
    (5, 5, True),   # may still be in block 5
    (5, 6, False),
])
def test_expiry_is_checked_against_the_next_height(chain: ChainStore, expiry_height: int | None,
                                                   next_height: int, admitted: bool) -> None:
    tx = signed(expiry_height=expiry_height)
    if admitted:
        admit(tx, chain_id=CHAIN_ID, state=chain.state(), next_height=next_height)
    else:
        assert refusal(tx, chain, next_height=next_height).code is Code.TX_EXPIRED


def test_a_used_nonce_is_refused_saying_it_was_used(chain: ChainStore) -> None:
    first = signed(nonce=0)
    commit_block(chain, [first])
    for tx in (first, signed(nonce=0, key="other", value=2)):
        error = refusal(tx, chain, next_height=2)
        assert error.code is Code.BAD_NONCE and "already used" in error.message


def test_a_bad_signature_is_refused(chain: ChainStore) -> None:
    assert refusal(forged(signed()), chain).code is Code.INVALID_SIGNATURE
    assert refusal(forged(signed()).encode(), chain).code is Code.INVALID_SIGNATURE


def test_signature_verified_skips_only_the_signature(chain: ChainStore) -> None:
    bad = forged(signed())
    admitted = admit(bad, chain_id=CHAIN_ID, state=chain.state(), next_height=1,
                     signature_verified=True)
    assert admitted.tx == bad
    error = refusal(forged(signed(chain_id="other-chain")), chain, signature_verified=True)
    assert error.code is Code.WRONG_CHAIN_ID


# --- the order of the checks ----------------------------------------------------------------

def test_checks_run_in_order_the_first_failing_rule_is_reported(chain: ChainStore) -> None:
    commit_block(chain, [signed(nonce=0)])  # nonce 0 of SUPPLIER-01 is now used
    state, height = chain.state(), 10
    table: list[tuple[SignedTransaction, Code]] = [
        (forged(signed("STRANGER-01", chain_id="other-chain", expiry_height=1)),
         Code.WRONG_CHAIN_ID),
        (forged(signed("STRANGER-01", expiry_height=1)), Code.UNKNOWN_SENDER),
        (forged(signed(nonce=0, expiry_height=1)), Code.TX_EXPIRED),
        (forged(signed(nonce=0)), Code.BAD_NONCE),
        (forged(signed(nonce=1)), Code.INVALID_SIGNATURE),
    ]
    for tx, code in table:
        with pytest.raises(LedgerError) as caught:
            admit(tx, chain_id=CHAIN_ID, state=state, next_height=height)
        assert caught.value.code is code, tx


# --- decoding untrusted bytes ---------------------------------------------------------------

def test_decode_round_trips_a_signed_transaction() -> None:
    tx = signed()
    assert decode_signed_tx(tx.encode()) == tx


def _oversize() -> bytes:
    return signed(key="k", value=1).encode() + bytes(MAX_TX_SIZE)


def _not_a_transaction() -> bytes:
    vote = Vote(CHAIN_ID, VoteType.PREVOTE, 1, 0, None, member_key("CORE-01").public_key)
    return vote.encode()


def _future_version() -> bytes:
    value = codec.decode(signed().encode())
    assert isinstance(value, list)
    return codec.encode([2, *value[1:]])


@pytest.mark.parametrize("raw, code", [
    (_oversize(), Code.CODEC_TOO_LARGE),
    (signed().encode()[:-1], Code.CODEC_TRUNCATED),
    (signed().encode() + b"\x00", Code.CODEC_TRAILING_BYTES),
    (b"", Code.CODEC_TRUNCATED),
    (_not_a_transaction(), Code.SCHEMA_MISMATCH),
    (_future_version(), Code.UNSUPPORTED_VERSION),
])
def test_undecodable_bytes_are_refused_before_any_state_is_read(raw: bytes, code: Code) -> None:
    with pytest.raises(LedgerError) as caught:
        decode_signed_tx(raw)
    assert caught.value.code is code

    class NoState:
        def get(self, key: bytes) -> bytes | None:
            raise AssertionError("state read before decoding succeeded")

    with pytest.raises(LedgerError) as caught:
        admit(raw, chain_id=CHAIN_ID, state=NoState(), next_height=1)
    assert caught.value.code is code
