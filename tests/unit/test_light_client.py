"""The light client against a real chain: what it trusts, and every lie it catches.

The chain is the example consortium's, driven like a validator drives it
(tests/support/chain.py). A test-only privileged contract changes the
validator set, so following a change height by height is exercised too.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from genesis.demo_keys import demo_key
from ledger import merkle
from ledger.accounts import member_key
from ledger.block_builder import build_block
from ledger.certificates import make_commit
from ledger.contract_api import CallContext, Method
from ledger.errors import Code, LedgerError
from ledger.light_client import LightClient, TrustedHeader, check_fresh, newest
from ledger.store.chain import ChainStore
from ledger.store.memory import MemoryStore
from ledger.system_state import VALIDATORS_KEY, put_validator_set
from ledger.transition import apply_block
from ledger.types import Commit, CommitSignature, SignedTransaction, Transaction
from ledger.validators import Validator, ValidatorSet
from tests.support.chain import VALIDATOR_KEYS, example_genesis

NEW_KEYS = [demo_key(f"NEW-VALIDATOR-{i}") for i in range(4)]


def _replace_validators(ctx: CallContext, args: dict[str, Any]) -> None:
    assert ctx.system_writer is not None
    put_validator_set(ctx.system_writer, ValidatorSet.of(
        [Validator(key.public_key, 1) for key in NEW_KEYS]))


class ValsetRegistry:
    """`valset.replace` swaps the whole validator set for NEW_KEYS (tests only)."""

    def has_contract(self, contract: str) -> bool:
        return contract == "valset"

    def method(self, contract: str, name: str) -> Method | None:
        return _replace_validators if (contract, name) == ("valset", "replace") else None

    def is_privileged(self, contract: str) -> bool:
        return contract == "valset"


REGISTRY = ValsetRegistry()


def _commit(chain: ChainStore, txs: list[SignedTransaction]) -> None:
    tip = chain.tip()
    signers = VALIDATOR_KEYS if tip.validators.is_member(VALIDATOR_KEYS[0].public_key) \
        else NEW_KEYS
    last = None if tip.height == 0 else chain.commit(tip.height)
    built, _ = build_block(chain, tip, txs, time_ms=tip.time_ms + 1000,
                           proposer=signers[0].public_key, last_commit=last, registry=REGISTRY,
                           max_txs=100)
    execution = apply_block(chain, tip, built.block, REGISTRY)
    chain.append(execution, make_commit(chain_id=tip.chain_id, height=built.block.header.height,
                                        round=0, block_hash=built.block.hash,
                                        signers=signers[:3]))


def _tx(chain: ChainStore, nonce: int) -> SignedTransaction:
    key = demo_key("CORE-01")
    return Transaction(chain.genesis.chain_id, key.public_key, nonce, "valset", "replace",
                       {}).sign(key)


@pytest.fixture(scope="module")
def chain() -> ChainStore:
    """Heights 1-3 signed by the genesis validators; block 3 replaces them;
    heights 4-5 are signed by the new set."""
    store = ChainStore(MemoryStore(), example_genesis())
    _commit(store, [])
    _commit(store, [])
    _commit(store, [_tx(store, 0)])
    _commit(store, [])
    _commit(store, [])
    return store


def trusted(client: LightClient, chain: ChainStore, height: int) -> TrustedHeader:
    return client.trust(chain.block(height).header, chain.commit(height))


def test_a_header_certified_by_the_genesis_validators_is_trusted(chain: ChainStore) -> None:
    client = LightClient(chain.genesis)
    assert trusted(client, chain, 2).height == 2


@pytest.mark.parametrize("lie", ["forged", "too_few", "stranger", "other_block", "other_chain"])
def test_a_bad_certificate_is_refused(chain: ChainStore, lie: str) -> None:
    client = LightClient(chain.genesis)
    header, commit = chain.block(2).header, chain.commit(2)
    signatures = list(commit.signatures)
    if lie == "forged":
        first = signatures[0]
        signatures[0] = CommitSignature(first.validator, bytes(64))
        commit = dataclasses.replace(commit, signatures=tuple(signatures))
    elif lie == "too_few":
        commit = dataclasses.replace(commit, signatures=tuple(signatures[:2]))
    elif lie == "stranger":
        commit = make_commit(chain_id=header.chain_id, height=2, round=0, block_hash=header.hash,
                             signers=NEW_KEYS[:3])
    elif lie == "other_block":
        header = chain.block(1).header
    else:
        header = dataclasses.replace(header, chain_id="another-chain")
    with pytest.raises(LedgerError) as caught:
        client.trust(header, commit)
    assert caught.value.code == Code.UNTRUSTED_HEADER


def test_a_validator_set_change_is_followed_height_by_height(chain: ChainStore) -> None:
    client = LightClient(chain.genesis)
    with pytest.raises(LedgerError) as caught:
        trusted(client, chain, 5)            # signed by a set genesis does not know
    assert caught.value.code == Code.UNKNOWN_VALIDATOR_SET
    # block 3 changed the set: the state after 3 holds the set that signs 4 on
    before = trusted(client, chain, 3)
    value, proof = chain.state_at(3).get_with_proof(VALIDATORS_KEY)
    learned = client.learn_validator_set(before, value, proof)
    assert learned.is_member(NEW_KEYS[0].public_key)
    assert trusted(client, chain, 5).height == 5


def test_a_forged_validator_set_is_not_learned(chain: ChainStore) -> None:
    client = LightClient(chain.genesis)
    before = trusted(client, chain, 3)
    _, proof = chain.state_at(3).get_with_proof(VALIDATORS_KEY)
    forged = ValidatorSet.of([Validator(demo_key("MALLORY").public_key, 1)]).encode()
    with pytest.raises(LedgerError) as caught:
        client.learn_validator_set(before, forged, proof)
    assert caught.value.code == Code.STATE_PROOF_INVALID
    assert client.known_validator_sets == 1


def test_values_and_absences_are_checked_against_the_state_root(chain: ChainStore) -> None:
    client = LightClient(chain.genesis)
    header = trusted(client, chain, 2)
    state = chain.state_at(2)
    key = member_key("BANK-A")
    value, proof = state.get_with_proof(key)
    client.check_value(header, key, value, proof)
    absent_key = member_key("NOBODY")
    nothing, absence = state.get_with_proof(absent_key)
    assert nothing is None
    client.check_value(header, absent_key, None, absence)
    for lie_key, lie_value, lie_proof in (
            (key, b"not the member", proof),         # wrong value
            (key, None, proof),                       # claims absent
            (member_key("BANK-B"), value, proof),     # a proof for another key
            (absent_key, b"x", absence)):             # claims present
        with pytest.raises(LedgerError) as caught:
            client.check_value(header, lie_key, lie_value, lie_proof)
        assert caught.value.code == Code.STATE_PROOF_INVALID


def test_transactions_are_checked_against_the_header(chain: ChainStore) -> None:
    client = LightClient(chain.genesis)
    header = trusted(client, chain, 3)
    txs = [tx.encode() for tx in chain.block(3).txs]
    proof = merkle.inclusion_proof(txs, 0)
    client.check_tx(header, txs[0], proof)
    with pytest.raises(LedgerError) as caught:
        client.check_tx(header, txs[0] + b"x", proof)
    assert caught.value.code == Code.MERKLE_INVALID_PROOF
    padded = merkle.inclusion_proof(txs + [b"extra"], 0)
    with pytest.raises(LedgerError) as caught:
        client.check_tx(header, txs[0], padded)
    assert caught.value.code == Code.ANSWER_MISMATCH
    receipts = [r.encode() for r in chain.receipts(3)]
    client.check_receipt(header, receipts[0], merkle.inclusion_proof(receipts, 0))


def test_a_stale_header_is_refused(chain: ChainStore) -> None:
    header = trusted(LightClient(chain.genesis), chain, 2)
    check_fresh(header, now_ms=header.header.time_ms + 60_000, max_age_ms=60_000)
    with pytest.raises(LedgerError) as caught:
        check_fresh(header, now_ms=header.header.time_ms + 60_001, max_age_ms=60_000)
    assert caught.value.code == Code.STALE_HEADER


def test_newest_keeps_the_highest_and_reports_two_blocks_at_one_height(chain: ChainStore
                                                                       ) -> None:
    client = LightClient(chain.genesis)
    one, two = trusted(client, chain, 1), trusted(client, chain, 2)
    assert newest([one, two, one]) is two
    fake = TrustedHeader(dataclasses.replace(two.header, time_ms=two.header.time_ms + 1),
                         Commit(2, 0, bytes(32), ()))
    with pytest.raises(LedgerError) as caught:
        newest([two, fake])
    assert caught.value.code == Code.UNTRUSTED_HEADER
