"""A state tree with a node cache behaves exactly as one without.

The contract, stated plainly: whatever the history (updates, versions with
gaps, proposals computed on the head and never committed, updates committed
by identity or as an equal copy, pruning), a tree with `cache_depth` d gives
byte-identical `TreeUpdate`s (nodes, stale records, roots) to a tree without
a cache, the same reads and proofs at every kept version, and the same
STATE_VERSION_NOT_FOUND for pruned ones; its cache holds only nodes that are
in the store, with the bytes there, and never more than 2**(d + 1) of them.
"""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import Code, LedgerError
from ledger.smt import NodeKey, SparseMerkleTree
from ledger.smt_memory import MemoryNodeStore
from ledger.smt_nodes import decode_node

CRAFTED = [b"k2861205", b"k3180416", b"k3821709"]  # long shared prefixes (test_smt.py)
KEYS = [b"", b"a", b"b", b"c", b"d", b"e", b"f", b"g", b"h", b"i", b"j", *CRAFTED]
VALUES = [b"", b"0", b"1", b"long value " * 3]
changes = st.dictionaries(st.sampled_from(KEYS), st.none() | st.sampled_from(VALUES), max_size=8)

steps = st.lists(
    st.fixed_dictionaries({
        "step": st.integers(1, 3),
        "changes": changes,
        "proposals": st.lists(changes, max_size=2),  # computed, then lost
        "copy": st.booleans(),  # commit an equal copy, not the object apply returned
        "prune": st.none() | st.integers(0, 3),  # prune all but the last n + 1 versions
    }),
    min_size=1,
    max_size=10,
)


def check_cache(tree: SparseMerkleTree, store: MemoryNodeStore, depth: int) -> None:
    # Reads the private cache: what it holds must be in the store, as stored.
    assert tree.cached_nodes <= 2 ** (depth + 1)
    for node_depth, level in enumerate(tree._levels):
        for path, (version, node) in level.items():
            key = NodeKey(version, node_depth, path)
            assert key in store.nodes, f"the cache holds {key}, which the store lacks"
            assert decode_node(store.nodes[key], key) == node


def read_all(tree: SparseMerkleTree, version: int) -> object:
    try:
        return tree.root_at(version), [tree.get_with_proof(key, version) for key in KEYS]
    except LedgerError as error:
        assert error.code is Code.STATE_VERSION_NOT_FOUND
        return error.code


@given(steps, st.integers(1, 6))
def test_a_cached_tree_gives_identical_bytes_and_reads(history: list[dict], depth: int) -> None:
    plain_store, cached_store = MemoryNodeStore(), MemoryNodeStore()
    plain = SparseMerkleTree(plain_store)
    cached = SparseMerkleTree(cached_store, cache_depth=depth)
    previous: int | None = None
    version = 0
    versions = []
    for step in history:
        version += step["step"]
        for proposal in step["proposals"]:
            cached.apply(previous, version, proposal)
        expected = plain.apply(previous, version, step["changes"])
        update = cached.apply(previous, version, step["changes"])
        assert update == expected
        plain_store.put_update(expected)
        cached_store.put_update(update)
        cached.committed(dataclasses.replace(update) if step["copy"] else update)
        versions.append(version)
        previous = version
        if step["prune"] is not None and len(versions) > step["prune"]:
            keep_from = versions[-1 - step["prune"]]
            plain_store.prune(keep_from)
            cached.forget(cached_store.prune(keep_from))
        check_cache(cached, cached_store, depth)
        for seen in versions:
            assert read_all(cached, seen) == read_all(plain, seen)


def test_a_lost_proposal_never_reaches_the_cache() -> None:
    store = MemoryNodeStore()
    tree = SparseMerkleTree(store, cache_depth=8)
    store.put_update(update := tree.apply(None, 1, {key: b"1" for key in KEYS}))
    tree.committed(update)
    lost = tree.apply(1, 2, {b"a": b"lost", b"b": None})
    kept = tree.apply(1, 2, {b"a": b"kept"})
    assert {k for k, _ in lost.new_nodes} & {k for k, _ in kept.new_nodes}  # same keys...
    store.put_update(kept)
    tree.committed(kept)
    check_cache(tree, store, 8)  # ...yet only the committed bytes are cached
    assert tree.get(b"a", 2) == b"kept" and tree.get(b"b", 2) == b"1"


def test_no_cache_depth_beyond_the_limit() -> None:
    for bad in (-1, 25, True, 2.0):
        try:
            SparseMerkleTree(MemoryNodeStore(), cache_depth=bad)  # type: ignore[arg-type]
        except ValueError:
            continue
        raise AssertionError(f"cache_depth={bad!r} accepted")
