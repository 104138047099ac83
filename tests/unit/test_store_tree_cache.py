"""The chain store's state tree cache and its write path.

A `ChainStore` keeps decoded upper tree nodes between blocks. Stated
plainly: a warm store (cache full from earlier blocks) and a cold one (just
opened on the same data) compute byte-identical state updates; a proposal
computed and never committed leaves no trace; after pruning, the cache holds
only nodes that are still in the store. Also: the storage keys of tree nodes
read back, and `WriteBatch.put_all` is `put` in a loop.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.contract_api import contract_prefix
from ledger.errors import Code, LedgerError
from ledger.smt import NodeKey
from ledger.smt_nodes import decode_node
from ledger.store import MemoryStore, WriteBatch, schema
from ledger.store.chain import TREE_CACHE_DEPTH, ChainStore
from tests.support.chain import commit_block, example_genesis, note_tx

GENESIS = example_genesis()
NOTES = contract_prefix("notes")


def changes(round_: int, count: int = 40) -> dict[bytes, bytes | None]:
    """Writes of new and old keys, and a few deletes, different each round."""
    out: dict[bytes, bytes | None] = {NOTES + b"n%d-%d" % (round_, i): b"%d" % i
                                      for i in range(count)}
    if round_:
        out.update({NOTES + b"n%d-%d" % (round_ - 1, i): None for i in range(0, count, 7)})
        out.update({NOTES + b"n%d-%d" % (round_ - 1, i): b"again" for i in range(1, count, 7)})
    return out


def commit_notes(chain: ChainStore, rounds: int) -> None:
    for round_ in range(rounds):
        commit_block(chain, [note_tx(chain, "SUPPLIER-01", key=f"r{round_}", value=round_)])


def assert_cache_in_store(chain: ChainStore, kv: MemoryStore) -> None:
    # Reads the private cache: what it holds must be in the store, as stored.
    for depth, level in enumerate(chain.tree._levels):
        for path, (version, node) in level.items():
            key = NodeKey(version, depth, path)
            data = kv.get(schema.state_node(key))
            assert data is not None, f"the cache holds {key}, which the store lacks"
            assert decode_node(data, key) == node


def test_warm_and_cold_stores_compute_identical_updates() -> None:
    kv = MemoryStore()
    warm = ChainStore(kv, GENESIS)
    commit_notes(warm, 4)
    assert warm.tree.cached_nodes > 0
    cold = ChainStore(kv, GENESIS)
    assert cold.tree.cached_nodes == 0
    for round_ in range(3):
        assert warm.compute_update(changes(round_), 5) == cold.compute_update(changes(round_), 5)
    assert_cache_in_store(warm, kv)


def test_a_lost_proposal_leaves_no_trace() -> None:
    kv = MemoryStore()
    chain = ChainStore(kv, GENESIS)
    commit_notes(chain, 2)
    chain.compute_update(changes(0, 200), 3)  # a proposal that loses its round
    commit_notes(chain, 1)  # another block at height 3
    assert_cache_in_store(chain, kv)
    fresh = ChainStore(kv, GENESIS)
    assert chain.compute_update(changes(1), 4) == fresh.compute_update(changes(1), 4)


def test_pruning_empties_the_cache_of_deleted_nodes() -> None:
    kv = MemoryStore()
    chain = ChainStore(kv, GENESIS, keep_versions=2)
    commit_notes(chain, 6)
    assert chain.pruned_below == 5
    assert_cache_in_store(chain, kv)
    with pytest.raises(LedgerError) as caught:
        chain.state_at(4)
    assert caught.value.code is Code.STATE_VERSION_NOT_FOUND
    assert chain.state_at(5).root == chain.block(5).header.state_root


def test_the_cache_is_bounded_by_its_depth() -> None:
    chain = ChainStore(MemoryStore(), GENESIS)
    commit_notes(chain, 3)
    assert 0 < chain.tree.cached_nodes < 2 ** (TREE_CACHE_DEPTH + 1)


@given(st.integers(0, 2**63 - 1), st.integers(0, 256).flatmap(
    lambda depth: st.tuples(st.just(depth), st.binary(min_size=(depth + 7) // 8,
                                                      max_size=(depth + 7) // 8))))
def test_state_node_keys_read_back(version: int, depth_path: tuple[int, bytes]) -> None:
    key = NodeKey(version, *depth_path)
    stored = schema.state_node(key)
    assert schema.read_state_node(stored) == key
    assert schema.read_stale_since(schema.stale_nodes(version)) == version


def test_put_all_is_put_in_a_loop() -> None:
    batch, expected = WriteBatch(), WriteBatch()
    pairs = [(b"a", b"1"), (b"b", b""), (b"a", b"2")]
    batch.put_all(iter(pairs))
    for key, value in pairs:
        expected.put(key, value)
    assert batch.ops == expected.ops
    for bad in ([("a", b"1")], [(b"a", bytearray(b"1"))], [(b"a", None)]):
        with pytest.raises(LedgerError) as caught:
            WriteBatch().put_all(bad)  # type: ignore[arg-type]
        assert caught.value.code is Code.STORE_BAD_KEY


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2**63 - 1), st.integers(0, 256)
                          .flatmap(lambda d: st.tuples(st.just(d), st.binary(
                              min_size=(d + 7) // 8, max_size=(d + 7) // 8)))), max_size=20))
def test_batch_key_builders_equal_the_single_ones(
    items: list[tuple[int, int, tuple[int, bytes]]]
) -> None:
    keys = [NodeKey(version, *depth_path) for _, version, depth_path in items]
    assert list(schema.state_node_keys(keys)) == [schema.state_node(key) for key in keys]
    packed = schema.pack_node_keys(keys)
    assert packed == b"".join(schema.state_node(key)[1:] for key in keys)
    assert schema.unpack_state_node_keys(packed) == [schema.state_node(key) for key in keys]


@pytest.mark.parametrize("packed", [
    b"\x00" * 9,  # cut inside the depth
    b"\x00" * 8 + b"\x00\x09" + b"\x80",  # depth 9 needs 2 path bytes
    b"\x00" * 8 + b"\x01\x01" + b"\x00" * 33,  # depth 257
    b"\x00" * 10 + b"\x00",  # a key of depth 0, then one stray byte
])
def test_a_broken_stale_record_is_corruption(packed: bytes) -> None:
    with pytest.raises(LedgerError) as caught:
        schema.unpack_state_node_keys(packed)
    assert caught.value.code is Code.STORE_CORRUPTED


def test_one_stale_record_per_version_names_what_pruning_deletes() -> None:
    kv = MemoryStore()
    chain = ChainStore(kv, GENESIS)
    commit_notes(chain, 4)
    records = {schema.read_stale_since(key): schema.unpack_state_node_keys(value)
               for key, value in kv.iterate(schema.STALE_NODE)}
    assert sorted(records) == [1, 2, 3, 4]  # genesis stales nothing
    named = [node for nodes in records.values() for node in nodes]
    assert len(named) == len(set(named)) and all(kv.get(node) is not None for node in named)
    assert chain.prune(3) == sum(len(records[v]) for v in (1, 2, 3))
    assert all(kv.get(node) is None for v in (1, 2, 3) for node in records[v])
    assert [schema.read_stale_since(key) for key, _ in kv.iterate(schema.STALE_NODE)] == [4]
    assert all(kv.get(node) is not None for node in records[4])
    assert chain.state_at(3).root == chain.block(3).header.state_root
