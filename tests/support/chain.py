"""Driving a ChainStore the way a validator does, for tests: build, validate, commit."""

from __future__ import annotations

from typing import Any

from genesis.demo_keys import demo_key
from genesis.document import Genesis, load_genesis
from genesis.examples.make_consortium import OUTPUT as EXAMPLE_GENESIS
from genesis.examples.make_consortium import VALIDATORS
from ledger.accounts import next_nonce
from ledger.block_builder import build_block
from ledger.certificates import make_commit
from ledger.crypto import SigningKey
from ledger.store.chain import ChainStore
from ledger.transition import BlockExecution, apply_block
from ledger.types import Block, Commit, SignedTransaction, Transaction
from tests.support.notes_contract import NotesRegistry

REGISTRY = NotesRegistry()
VALIDATOR_KEYS = [demo_key(f"{m}/validator") for m in VALIDATORS]


def example_genesis() -> Genesis:
    return load_genesis(EXAMPLE_GENESIS)


def member_key(member_id: str) -> SigningKey:
    return demo_key(member_id)


def note_tx(chain: ChainStore, member_id: str, method: str = "set", nonce: int | None = None,
            **args: Any) -> SignedTransaction:
    key = member_key(member_id)
    if nonce is None:
        nonce = next_nonce(chain.state(), key.public_key)
    return Transaction(chain.genesis.chain_id, key.public_key, nonce, "notes", method,
                       args).sign(key)


def last_commit_for(chain: ChainStore) -> Commit | None:
    return None if chain.height == 0 else chain.commit(chain.height)


def build(chain: ChainStore, txs: list[SignedTransaction], *, step_ms: int = 1000) -> BlockExecution:
    tip = chain.tip()
    execution, _ = build_block(chain, tip, txs, time_ms=tip.time_ms + step_ms,
                               proposer=VALIDATOR_KEYS[tip.height % 4].public_key,
                               last_commit=last_commit_for(chain), registry=REGISTRY,
                               max_txs=1000)
    return execution


def certify(chain: ChainStore, block: Block, signers: int = 3) -> Commit:
    return make_commit(chain_id=chain.genesis.chain_id, height=block.header.height, round=0,
                       block_hash=block.hash, signers=VALIDATOR_KEYS[:signers])


def commit_block(chain: ChainStore, txs: list[SignedTransaction]) -> BlockExecution:
    """Proposer builds, a validator re-executes from scratch, the block is committed."""
    built = build(chain, txs)
    validated = apply_block(chain, chain.tip(), built.block, REGISTRY)
    chain.append(validated, certify(chain, built.block))
    return validated
