"""The chain store on real LevelDB (and in memory): commit, reopen, prove, refuse."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from genesis.document import parse_genesis
from ledger import codec
from ledger.accounts import next_nonce
from ledger.contract_api import contract_prefix
from ledger.errors import Code, LedgerError
from ledger.smt_proof import verify_proof
from ledger.store import LevelDBStore, MemoryStore, WriteBatch, schema
from ledger.store.chain import ChainStore
from ledger.transition import apply_block
from ledger.types import Block, ZERO_HASH
from tests.support.chain import (
    REGISTRY,
    build,
    certify,
    commit_block,
    example_genesis,
    member_key,
    note_tx,
)

GENESIS = example_genesis()


@pytest.fixture(params=["memory", "leveldb"])
def chain(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ChainStore]:
    kv = MemoryStore() if request.param == "memory" else LevelDBStore(tmp_path / "db")
    yield ChainStore(kv, GENESIS)
    kv.close()


def _note(chain: ChainStore, key: str, height: int | None = None) -> int | None:
    state = chain.state() if height is None else chain.state_at(height)
    data = state.get(contract_prefix("notes") + key.encode())
    return None if data is None else codec.decode(data)  # type: ignore[return-value]


def test_genesis_initialises_an_empty_store(chain: ChainStore) -> None:
    assert chain.height == 0
    tip = chain.tip()
    assert tip.block_hash == GENESIS.hash and tip.validators == GENESIS.validators
    assert chain.state_at(0).root != ZERO_HASH


def test_blocks_commit_with_receipts_index_and_provable_state(chain: ChainStore) -> None:
    supplier = member_key("SUPPLIER-01").public_key
    execution = commit_block(chain, [
        note_tx(chain, "SUPPLIER-01", key="a", value=1),
        note_tx(chain, "SUPPLIER-01", "set_then_fail", nonce=1, key="b", value=2),
        note_tx(chain, "SUPPLIER-01", "crash", nonce=2),
        note_tx(chain, "SUPPLIER-01", "operators_only", nonce=3),
        note_tx(chain, "BANK-A", "operators_only"),
        note_tx(chain, "BANK-A", "no_such_method", nonce=1),
    ])
    assert chain.height == 1
    codes = [r.code for r in chain.receipts(1)]
    assert codes == ["OK", "INVALID_ARGUMENT", "CONTRACT_BUG", "FORBIDDEN", "OK", "UNKNOWN_METHOD"]
    assert chain.receipts(1)[2].message == "ZeroDivisionError"
    assert chain.receipts(1)[0].events[0].attributes == {"by": "SUPPLIER-01", "key": "a", "value": 1}
    # failed transactions used their nonces and left no other write
    assert next_nonce(chain.state(), supplier) == 4
    assert _note(chain, "a") == 1 and _note(chain, "b") is None
    assert chain.state().get(contract_prefix("notes") + b"half") is None
    # every tx is indexed; state is provable against the certified header
    block = chain.block(1)
    for index, tx in enumerate(block.txs):
        assert chain.tx_location(tx.tx_id) == (1, index)
    key = contract_prefix("notes") + b"a"
    value, proof = chain.state_at(1).get_with_proof(key)
    verify_proof(block.header.state_root, key, value, proof)
    assert execution.block == block and chain.commit(1).block_hash == block.hash


def test_history_stays_readable(chain: ChainStore) -> None:
    for value in range(1, 4):
        commit_block(chain, [note_tx(chain, "SUPPLIER-01", key="a", value=value)])
    assert [_note(chain, "a", h) for h in range(4)] == [None, 1, 2, 3]
    assert chain.block(3).header.previous_hash == chain.block(2).hash
    assert chain.block(1).header.previous_hash == GENESIS.hash


def test_reopen_keeps_everything(tmp_path: Path) -> None:
    with LevelDBStore(tmp_path / "db") as kv:
        chain = ChainStore(kv, GENESIS)
        commit_block(chain, [note_tx(chain, "SUPPLIER-01", key="a", value=7)])
        commit_block(chain, [note_tx(chain, "SUPPLIER-01", key="a", value=8)])
        root = chain.state_at(2).root
    with LevelDBStore(tmp_path / "db") as kv:
        chain = ChainStore(kv, GENESIS)
        assert chain.height == 2 and chain.state_at(2).root == root and _note(chain, "a") == 8
        commit_block(chain, [note_tx(chain, "SUPPLIER-01", key="a", value=9)])
        assert chain.height == 3


def test_another_genesis_is_refused(tmp_path: Path) -> None:
    with LevelDBStore(tmp_path / "db") as kv:
        ChainStore(kv, GENESIS)
    other = dict(GENESIS.document, genesis_time_ms=GENESIS.genesis_time_ms + 1)
    renamed = dict(GENESIS.document, chain_id="scf-other")
    import json

    for document, fragment in ((other, "another genesis"), (renamed, "scf-other")):
        with LevelDBStore(tmp_path / "db") as kv, pytest.raises(LedgerError) as caught:
            ChainStore(kv, parse_genesis(json.dumps(document)))
        assert caught.value.code is Code.CHAIN_MISMATCH and fragment in caught.value.message


def test_a_store_of_another_format_is_refused() -> None:
    kv = MemoryStore()
    ChainStore(kv, GENESIS)
    assert schema.read_u64(kv.get(schema.FORMAT) or b"") == schema.FORMAT_VERSION == 2
    batch = WriteBatch()
    batch.put(schema.FORMAT, schema.u64(1))  # format 1: one stale record per node
    kv.write(batch)
    with pytest.raises(LedgerError) as caught:
        ChainStore(kv, GENESIS)
    assert caught.value.code is Code.STORE_FORMAT_MISMATCH and "format 1" in caught.value.message


def test_append_refuses_what_does_not_extend_or_is_not_certified(chain: ChainStore) -> None:
    execution = build(chain, [note_tx(chain, "SUPPLIER-01", key="a", value=1)])
    with pytest.raises(LedgerError) as caught:
        chain.append(execution, certify(chain, execution.block, signers=2))  # 2 of 4 is no quorum
    assert caught.value.code is Code.INVALID_BLOCK and "needs more than 2/3" in caught.value.message
    chain.append(execution, certify(chain, execution.block))
    with pytest.raises(LedgerError) as caught:
        chain.append(execution, certify(chain, execution.block))  # the same block again
    assert caught.value.code is Code.BLOCK_DOES_NOT_EXTEND_HEAD
    assert chain.height == 1


def _tampered(block: Block, **changes: object) -> Block:
    return dataclasses.replace(block, header=dataclasses.replace(block.header, **changes))


INVALID_HEADERS = [
    ({"state_root": bytes(32)}, "state_root"),
    ({"txs_root": bytes(32)}, "txs_root"),
    ({"receipts_root": bytes(32)}, "receipts_root"),
    ({"tx_count": 2}, "tx_count"),
    ({"height": 3}, "height"),
    ({"time_ms": 0}, "time_ms"),
    ({"previous_hash": bytes(32)}, "previous_hash"),
    ({"proposer": member_key("SUPPLIER-01").public_key}, "proposer"),
    ({"validator_set_hash": bytes(32)}, "validator_set_hash"),
    ({"chain_id": "scf-other"}, "chain_id"),
    ({"last_commit_hash": bytes(32)}, "last_commit_hash"),
]


@pytest.mark.parametrize("changes,fragment", INVALID_HEADERS, ids=[f for _, f in INVALID_HEADERS])
def test_invalid_block_is_rejected_whole(chain: ChainStore, changes: dict[str, object],
                                         fragment: str) -> None:
    commit_block(chain, [])
    block = build(chain, [note_tx(chain, "SUPPLIER-01", key="a", value=1)]).block
    with pytest.raises(LedgerError) as caught:
        apply_block(chain, chain.tip(), _tampered(block, **changes), REGISTRY)
    assert caught.value.code is Code.INVALID_BLOCK and fragment in caught.value.message
    assert chain.height == 1 and _note(chain, "a") is None


def test_block_without_the_previous_certificate_is_invalid(chain: ChainStore) -> None:
    commit_block(chain, [])
    block = build(chain, []).block
    stripped = dataclasses.replace(block, last_commit=None)
    stripped = _tampered(stripped, last_commit_hash=ZERO_HASH)
    with pytest.raises(LedgerError) as caught:
        apply_block(chain, chain.tip(), stripped, REGISTRY)
    assert "lacks the commit" in caught.value.message


@pytest.mark.parametrize("fault", ["bad nonce", "unknown sender", "other chain", "bad signature"])
def test_inadmissible_transaction_invalidates_the_block(chain: ChainStore, fault: str) -> None:
    good = note_tx(chain, "SUPPLIER-01", key="a", value=1)
    block = build(chain, [good]).block
    if fault == "bad nonce":
        bad = note_tx(chain, "SUPPLIER-01", nonce=5, key="a", value=1)
    elif fault == "unknown sender":
        from ledger.crypto import SigningKey
        from ledger.types import Transaction

        stranger = SigningKey(bytes(32))
        bad = Transaction("scf-demo", stranger.public_key, 0, "notes", "set", {}).sign(stranger)
    elif fault == "other chain":
        from ledger.types import Transaction

        key = member_key("SUPPLIER-01")
        bad = Transaction("scf-other", key.public_key, 0, "notes", "set", {}).sign(key)
    else:
        bad = dataclasses.replace(good, signature=bytes(64))
    from ledger.types import compute_txs_root

    forged = dataclasses.replace(block, txs=(bad,))
    forged = _tampered(forged, txs_root=compute_txs_root([bad]))
    with pytest.raises(LedgerError) as caught:
        apply_block(chain, chain.tip(), forged, REGISTRY)
    assert caught.value.code is Code.INVALID_BLOCK and "transaction #0" in caught.value.message


def test_builder_leaves_out_inadmissible_transactions(chain: ChainStore) -> None:
    execution = commit_block(chain, [note_tx(chain, "SUPPLIER-01", nonce=9, key="x", value=1),
                                     note_tx(chain, "SUPPLIER-01", key="y", value=2)])
    assert len(execution.block.txs) == 1 and _note(chain, "y") == 2


def test_two_nodes_compute_the_same_state(tmp_path: Path) -> None:
    with LevelDBStore(tmp_path / "a") as kv_a:
        a = ChainStore(kv_a, GENESIS)
        b = ChainStore(MemoryStore(), GENESIS)
        for value in range(5):
            txs = [note_tx(a, "SUPPLIER-01", key=f"k{value}", value=value),
                   note_tx(a, "BANK-A", key="shared", value=value)]
            execution = build(a, txs)
            commit = certify(a, execution.block)
            for node in (a, b):
                node.append(apply_block(node, node.tip(), execution.block, REGISTRY), commit)
        assert a.state_at(5).root == b.state_at(5).root == a.block(5).header.state_root


def test_pruning_keeps_recent_state_and_all_blocks(tmp_path: Path) -> None:
    with LevelDBStore(tmp_path / "db") as kv:
        chain = ChainStore(kv, GENESIS, keep_versions=3)
        for value in range(1, 7):
            commit_block(chain, [note_tx(chain, "SUPPLIER-01", key="a", value=value)])
        assert chain.pruned_below == 4
        assert [_note(chain, "a", h) for h in (4, 5, 6)] == [4, 5, 6]
        key = contract_prefix("notes") + b"a"
        value, proof = chain.state_at(4).get_with_proof(key)
        verify_proof(chain.block(4).header.state_root, key, value, proof)
        with pytest.raises(LedgerError) as caught:
            chain.state_at(3)
        assert caught.value.code is Code.STATE_VERSION_NOT_FOUND
        assert chain.block(1).header.height == 1 and len(chain.receipts(1)) == 1
    with LevelDBStore(tmp_path / "db") as kv:  # pruning survives a restart
        assert ChainStore(kv, GENESIS).pruned_below == 4


def test_keep_all_by_default(chain: ChainStore) -> None:
    for value in range(1, 5):
        commit_block(chain, [note_tx(chain, "SUPPLIER-01", key="a", value=value)])
    assert chain.pruned_below == 0 and _note(chain, "a", 1) == 1


def test_explicit_prune_deletes_tree_nodes(chain: ChainStore) -> None:
    for value in range(1, 7):
        commit_block(chain, [note_tx(chain, "SUPPLIER-01", key="a", value=value)])
    assert chain.prune(4) > 0
    with pytest.raises(LedgerError) as caught:
        chain.tree.get(contract_prefix("notes") + b"a", 2)  # below the marker, nodes are gone
    assert caught.value.code in (Code.STATE_VERSION_NOT_FOUND, Code.STATE_NODE_MISSING)
    assert chain.prune(4) == 0 and _note(chain, "a", 4) == 4
    commit_block(chain, [note_tx(chain, "SUPPLIER-01", key="a", value=7)])
    assert _note(chain, "a") == 7
