"""Properties of ledger.merkle, checked against a naive transcription of RFC 9162.

The contract, stated plainly:
* the root, every audit path and every consistency proof equal those of the
  naive recursive definitions (RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1);
* every honest proof verifies; changing the leaf, the index (leaves being
  distinct), the root or any single byte of the proof makes it fail;
* another tree size is accepted exactly when it gives the same path shape:
  an inclusion proof does not authenticate the tree size on its own, the
  root has to be bound to its size elsewhere (e.g. in a signed header);
* only `LedgerError` ever escapes a verifier, whatever it is given.
"""

from __future__ import annotations

import hashlib
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import LedgerError
from ledger.merkle import (
    InclusionProof,
    MerkleTree,
    is_consistent,
    is_included,
    leaf_hash,
    root,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
    verify_inclusion_hash,
)



def _leaf_lists(min_size: int = 0, unique: bool = False) -> st.SearchStrategy[list[bytes]]:
    # The size is drawn first: plain st.lists mostly yields very short lists.
    return st.integers(min_size, 70).flatmap(
        lambda n: st.lists(st.binary(max_size=40), min_size=n, max_size=n, unique=unique)
    )


leaf_lists = _leaf_lists()
nonempty_leaf_lists = _leaf_lists(min_size=1)
# With a repeated leaf, "leaf x is at index j" can be true for several j.
distinct_leaf_lists = _leaf_lists(min_size=1, unique=True)
masks = st.integers(min_value=1, max_value=255)

# --- naive references, straight from the RFC text --------------------------


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_root(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = _split(len(leaves))
    return hashlib.sha256(b"\x01" + naive_root(leaves[:k]) + naive_root(leaves[k:])).digest()


def naive_path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if m < k:
        return naive_path(m, leaves[:k]) + [naive_root(leaves[k:])]
    return naive_path(m - k, leaves[k:]) + [naive_root(leaves[:k])]


def naive_subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    if m == len(leaves):
        return [] if complete else [naive_root(leaves)]
    k = _split(len(leaves))
    if m <= k:
        return naive_subproof(m, leaves[:k], complete) + [naive_root(leaves[k:])]
    return naive_subproof(m - k, leaves[k:], False) + [naive_root(leaves[:k])]


def path_shape(m: int, n: int) -> list[bool]:
    """For each audit path element, bottom-up: is the sibling on the left?"""
    if n == 1:
        return []
    k = _split(n)
    return path_shape(m, k) + [False] if m < k else path_shape(m - k, n - k) + [True]


def _flip(data: bytes, pos: int, mask: int) -> bytes:
    return data[:pos] + bytes([data[pos] ^ mask]) + data[pos + 1 :]


def _included(leaf: bytes, index: int, size: int, path: Any, root_: bytes) -> bool:
    try:
        verify_inclusion_hash(leaf_hash(leaf), index, size, path, root_)
    except LedgerError:
        return False
    return True


# --- roots and provers ---------------------------------------------------------


@settings(deadline=None)
@given(leaf_lists)
def test_root_equals_naive_reference(leaves: list[bytes]) -> None:
    want = naive_root(leaves)
    assert root(leaves) == want
    assert root_from_leaf_hashes([leaf_hash(x) for x in leaves]) == want
    assert MerkleTree(leaves).root == want


@settings(deadline=None)
@given(nonempty_leaf_lists)
def test_every_inclusion_proof_is_the_rfc_path_and_verifies(leaves: list[bytes]) -> None:
    tree = MerkleTree(leaves)
    for index, leaf in enumerate(leaves):
        proof = tree.inclusion_proof(index)
        assert proof == InclusionProof(index, len(leaves), tuple(naive_path(index, leaves)))
        verify_inclusion(leaf, proof, tree.root)


@settings(deadline=None)
@given(leaf_lists.filter(bool))
def test_every_consistency_proof_is_the_rfc_proof_and_verifies(leaves: list[bytes]) -> None:
    tree = MerkleTree(leaves)
    for old_size in range(1, len(leaves) + 1):
        proof = tree.consistency_proof(old_size)
        assert list(proof) == naive_subproof(old_size, leaves, True)
        verify_consistency(old_size, len(leaves), root(leaves[:old_size]), tree.root, proof)


# --- tampering ------------------------------------------------------------------


@settings(deadline=None)
@given(nonempty_leaf_lists, st.data())
def test_inclusion_proof_fails_for_another_leaf(leaves: list[bytes], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(leaves) - 1))
    other = data.draw(st.binary(max_size=40).filter(lambda x: x != leaves[index]))
    tree = MerkleTree(leaves)
    proof = tree.inclusion_proof(index)
    assert is_included(leaves[index], proof, tree.root)
    assert not is_included(other, proof, tree.root)


@settings(deadline=None)
@given(distinct_leaf_lists, st.data())
def test_inclusion_proof_fails_for_any_other_index(
    leaves: list[bytes], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(leaves) - 1))
    tree = MerkleTree(leaves)
    path = tree.inclusion_proof(index).path
    for other in range(len(leaves) + 2):
        assert _included(leaves[index], other, len(leaves), path, tree.root) is (other == index)


@settings(deadline=None)
@given(nonempty_leaf_lists, st.data())
def test_inclusion_proof_fails_for_another_root(leaves: list[bytes], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(leaves) - 1))
    tree = MerkleTree(leaves)
    other = data.draw(st.binary(min_size=32, max_size=32).filter(lambda r: r != tree.root))
    proof = tree.inclusion_proof(index)
    assert not is_included(leaves[index], proof, other)
    assert not is_included(leaves[index], proof, tree.root[:31])


@settings(deadline=None)
@given(distinct_leaf_lists, st.data())
def test_other_tree_size_is_accepted_only_with_the_same_path_shape(
    leaves: list[bytes], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(leaves) - 1))
    n = len(leaves)
    tree = MerkleTree(leaves)
    path = tree.inclusion_proof(index).path
    for size in range(0, 2 * n + 2):
        if size == n:
            continue
        same_shape = size > index and path_shape(index, size) == path_shape(index, n)
        assert _included(leaves[index], index, size, path, tree.root) is same_shape


@settings(deadline=None)
@given(nonempty_leaf_lists, st.data(), masks)
def test_inclusion_proof_fails_with_any_byte_flipped(
    leaves: list[bytes], data: st.DataObject, mask: int
) -> None:
    index = data.draw(st.integers(0, len(leaves) - 1))
    tree = MerkleTree(leaves)
    path = tree.inclusion_proof(index).path
    for i, element in enumerate(path):
        for pos in range(len(element)):
            bad = path[:i] + (_flip(element, pos, mask),) + path[i + 1 :]
            assert not _included(leaves[index], index, len(leaves), bad, tree.root)


@settings(deadline=None)
@given(nonempty_leaf_lists, st.data(), masks)
def test_consistency_proof_fails_for_tampered_roots_and_proofs(
    leaves: list[bytes], data: st.DataObject, mask: int
) -> None:
    n = len(leaves)
    old_size = data.draw(st.integers(1, n))
    pos = data.draw(st.integers(0, 31))
    tree = MerkleTree(leaves)
    old_root = root(leaves[:old_size])
    proof = tree.consistency_proof(old_size)
    assert is_consistent(old_size, n, old_root, tree.root, proof)
    assert not is_consistent(old_size, n, _flip(old_root, pos, mask), tree.root, proof)
    assert not is_consistent(old_size, n, old_root, _flip(tree.root, pos, mask), proof)
    for i, element in enumerate(proof):
        bad = proof[:i] + (_flip(element, pos, mask),) + proof[i + 1 :]
        assert not is_consistent(old_size, n, old_root, tree.root, bad)


# --- only LedgerError escapes ---------------------------------------------------

hashes = st.binary(min_size=32, max_size=32)
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=0, max_value=20),
    st.floats(),
    st.text(max_size=40),
    st.binary(max_size=40),
    hashes,
    st.builds(bytearray, hashes),
    st.lists(st.one_of(hashes, st.binary(max_size=40), st.none(), st.integers()), max_size=8),
    st.tuples(hashes, hashes),
    st.just(object()),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@settings(deadline=None)
@given(junk, junk, junk, junk, junk)
def test_only_ledger_error_escapes_verifiers(a: Any, b: Any, c: Any, d: Any, e: Any) -> None:
    for verify in (
        lambda: verify_inclusion_hash(a, b, c, d, e),
        lambda: verify_consistency(a, b, c, d, e),
        lambda: verify_inclusion(a, InclusionProof(b, c, d), e),
        lambda: verify_inclusion(a, b, c),
    ):
        try:
            verify()
        except LedgerError:
            pass
    assert is_included(a, b, c) is False or isinstance(b, InclusionProof)
    is_consistent(a, b, c, d, e)


# --- scale ----------------------------------------------------------------------


def test_large_tree_is_built_in_linear_time() -> None:
    leaves = [i.to_bytes(4, "big") for i in range(100_000)]
    tree = MerkleTree(leaves)
    assert tree.root == root_from_leaf_hashes([leaf_hash(x) for x in leaves])
    for index in (0, 1, 65_535, 65_536, 99_999):
        verify_inclusion(leaves[index], tree.inclusion_proof(index), tree.root)
    for old_size in (1, 3, 65_536, 99_999, 100_000):
        proof = tree.consistency_proof(old_size)
        verify_consistency(old_size, len(leaves), root(leaves[:old_size]), tree.root, proof)
