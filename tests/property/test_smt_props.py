"""Properties of the state tree, checked against a dict model and a naive root.

The contract, stated plainly:
* at every version ever written, `get` of every key equals the model's
  value at that version, and the root equals the naive recursive root of
  the model's key-value set (so it depends on the set, not on the history);
* every key, present or absent, has a proof that verifies against that
  version's root, and a proof is sound: it verifies a claim (key, value or
  absence, root) only if the claim is true. So a value proof never verifies
  for another key, another value or another root, and no proof survives a
  flipped sibling. (An absence proof can rightly serve several absent keys
  whose paths end in the same place: that claim is true for each of them);
* after pruning at k, every version >= k still reads as before, older ones
  raise STATE_VERSION_NOT_FOUND, and the store holds exactly the nodes the
  kept versions reach (stale tracking neither leaks nor deletes too much);
* applying a batch is independent of its order;
* only `LedgerError(STATE_PROOF_INVALID)` escapes `verify_proof`, whatever
  it is given.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from hypothesis import given
from hypothesis import strategies as st

from ledger import codec
from ledger.errors import Code, LedgerError
from ledger.smt import NodeKey, SparseMerkleTree, TreeUpdate
from ledger.smt_memory import MemoryNodeStore
from ledger.smt_proof import (
    EMPTY_HASH,
    SparseMerkleProof,
    bit_at,
    hash_key,
    hash_value,
    is_valid_proof,
    leaf_hash,
    node_hash,
    verify_proof,
)

# SHA-256 of these shares 46 leading bits (the first two) and 22 bits (the
# third with both): found by a search over b"k%d", see tests/unit/test_smt.py.
CRAFTED = [b"k2861205", b"k3180416", b"k3821709"]
# A small alphabet, so that paths collide and deletes hit present keys.
KEYS = [b"", b"a", b"b", b"c", b"d", b"e", b"f", b"g", b"h", *CRAFTED]
VALUES = [b"", b"0", b"1", b"\x00" * 3, b"long value " * 4]

batches = st.lists(
    st.tuples(
        st.integers(1, 3),  # the version step: heights need not be consecutive
        st.dictionaries(st.sampled_from(KEYS), st.none() | st.sampled_from(VALUES), max_size=8),
    ),
    min_size=1,
    max_size=8,
)


def naive_root(entries: Mapping[bytes, bytes]) -> bytes:
    """The definition: empty is zero, one leaf is the leaf, else split on the bit."""

    def subtree(items: list[tuple[bytes, bytes]], depth: int) -> bytes:
        if not items:
            return EMPTY_HASH
        if len(items) == 1:
            return leaf_hash(*items[0])
        left = [item for item in items if not bit_at(item[0], depth)]
        right = [item for item in items if bit_at(item[0], depth)]
        return node_hash(subtree(left, depth + 1), subtree(right, depth + 1))

    return subtree(sorted((hash_key(k), hash_value(v)) for k, v in entries.items()), 0)


def run(history: list[tuple[int, dict[bytes, bytes | None]]]) -> tuple[
    SparseMerkleTree, MemoryNodeStore, dict[int, dict[bytes, bytes]], list[TreeUpdate]
]:
    """Commits each batch on the previous version; returns the model per version."""
    store = MemoryNodeStore()
    tree = SparseMerkleTree(store)
    models: dict[int, dict[bytes, bytes]] = {}
    updates: list[TreeUpdate] = []
    model: dict[bytes, bytes] = {}
    previous: int | None = None
    version = 0
    for step, batch in history:
        version += step
        update = tree.apply(previous, version, batch)
        store.put_update(update)
        updates.append(update)
        for key, value in batch.items():
            if value is None:
                model.pop(key, None)
            else:
                model[key] = value
        models[version] = dict(model)
        previous = version
    return tree, store, models, updates


def reachable(store: MemoryNodeStore, versions: list[int]) -> set[NodeKey]:
    seen: set[NodeKey] = set()
    stack = [NodeKey(v, 0, b"") for v in versions]
    while stack:
        key = stack.pop()
        seen.add(key)
        node = codec.decode(store.nodes[key])
        if node[1] != 2:
            continue
        for bit, child in enumerate(node[2:]):
            if child is not None:
                path = bytearray(key.path + (b"\x00" if key.depth % 8 == 0 else b""))
                path[key.depth // 8] |= (0x80 >> (key.depth % 8)) * bit
                stack.append(NodeKey(child[1], key.depth + 1, bytes(path)))
    return seen


@given(batches)
def test_reads_and_roots_match_the_model_at_every_version(
    history: list[tuple[int, dict[bytes, bytes | None]]],
) -> None:
    tree, _, models, updates = run(history)
    for update, (version, model) in zip(updates, models.items()):
        assert update.root == tree.root_at(version) == naive_root(model)
        for key in KEYS:
            assert tree.get(key, version) == model.get(key)


@given(batches)
def test_every_proof_verifies_and_proves_only_true_claims(
    history: list[tuple[int, dict[bytes, bytes | None]]],
) -> None:
    tree, _, models, _ = run(history)
    roots = {version: tree.root_at(version) for version in models}
    for version, model in models.items():
        root = roots[version]
        for key in KEYS:
            value, proof = tree.get_with_proof(key, version)
            assert value == model.get(key)
            verify_proof(root, key, value, proof)
            assert SparseMerkleProof.decode(proof.encode()) == proof
            # Sound: any claim it verifies is true.
            for other in KEYS:
                for claim in [None, *VALUES]:
                    if is_valid_proof(root, other, claim, proof):
                        assert model.get(other) == claim, (key, other, claim)
            for other_root in set(roots.values()) - {root}:
                assert not is_valid_proof(other_root, key, value, proof)
            for i, sibling in enumerate(proof.siblings):
                for flip in (0x01, 0x80):
                    changed = bytes([sibling[0] ^ flip]) + sibling[1:]
                    siblings = proof.siblings[:i] + (changed,) + proof.siblings[i + 1:]
                    forged = SparseMerkleProof(proof.leaf, siblings)
                    assert not is_valid_proof(root, key, value, forged)


@given(batches, st.data())
def test_pruning_keeps_exactly_what_kept_versions_reach(
    history: list[tuple[int, dict[bytes, bytes | None]]], data: st.DataObject
) -> None:
    tree, store, models, _ = run(history)
    versions = sorted(models)
    keep = data.draw(st.integers(0, versions[-1] + 1))
    store.prune(keep)
    # The state at `keep` is that of the latest version <= keep, which stays.
    state_at_keep = max((v for v in versions if v <= keep), default=None)
    kept = [v for v in versions if v >= keep or v == state_at_keep]
    assert reachable(store, kept) == set(store.nodes)
    for version in versions:
        if version in kept:
            assert tree.root_at(version) == naive_root(models[version])
            for key in KEYS:
                assert tree.get(key, version) == models[version].get(key)
        else:
            try:
                tree.get(KEYS[1], version)
            except LedgerError as error:
                assert error.code is Code.STATE_VERSION_NOT_FOUND
            else:
                raise AssertionError(f"version {version} readable after pruning at {keep}")


@given(batches, st.randoms(use_true_random=False))
def test_a_batch_gives_the_same_bytes_in_any_order(
    history: list[tuple[int, dict[bytes, bytes | None]]], rng: random.Random
) -> None:
    _, _, _, updates = run(history)
    shuffled = []
    for step, batch in history:
        items = list(batch.items())
        rng.shuffle(items)
        shuffled.append((step, dict(items)))
    assert run(shuffled)[3] == updates


garbage = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=4), st.binary(max_size=40),
    st.binary(min_size=32, max_size=32), st.just(EMPTY_HASH),
    st.lists(st.binary(min_size=31, max_size=33), max_size=4),
)


@st.composite
def forged_proofs(draw: st.DrawFn) -> object:
    """Proof objects with any fields, set behind the constructor's back."""
    hashes = st.binary(min_size=32, max_size=32)
    leaf = draw(st.none() | st.tuples(hashes, hashes) | garbage)
    siblings = draw(st.lists(hashes, max_size=260).map(tuple) | garbage)
    if draw(st.booleans()):
        try:
            return SparseMerkleProof(leaf, siblings)  # type: ignore[arg-type]
        except LedgerError:
            pass
    forged = object.__new__(SparseMerkleProof)
    object.__setattr__(forged, "leaf", leaf)
    object.__setattr__(forged, "siblings", siblings)
    return forged


@given(garbage | st.binary(min_size=32, max_size=32), garbage | st.sampled_from(KEYS),
       garbage, garbage | forged_proofs())
def test_verify_raises_only_state_proof_invalid(
    root: object, key: object, value: object, proof: object
) -> None:
    try:
        verify_proof(root, key, value, proof)  # type: ignore[arg-type]
    except LedgerError as error:
        assert error.code is Code.STATE_PROOF_INVALID
    assert is_valid_proof(root, key, value, proof) in (True, False)  # type: ignore[arg-type]


@given(st.binary(max_size=9300))
def test_decode_raises_only_ledger_error(data: bytes) -> None:
    try:
        SparseMerkleProof.decode(data)
    except LedgerError:
        pass
