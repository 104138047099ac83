"""The state tree: roots, versions, proofs, pruning, limits, pinned vectors."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping

import pytest

from ledger import codec
from ledger.errors import Code, LedgerError
from ledger.smt import (
    NodeKey,
    SparseMerkleTree,
    StaleNode,
    TreeUpdate,
    compute_prunable,
)
from ledger.smt_memory import MemoryNodeStore
from ledger.smt_proof import (
    EMPTY_HASH,
    MAX_KEY_SIZE,
    MAX_VALUE_SIZE,
    SparseMerkleProof,
    bit_at,
    common_prefix_bits,
    hash_key,
    hash_value,
    is_valid_proof,
    leaf_hash,
    node_hash,
    verify_proof,
)

# Keys whose SHA-256 share long prefixes, found once by hashing b"k%d" for
# i < 2**22 and sorting (the test below re-checks the counts):
# SHA-256(LONG_A) and SHA-256(LONG_B) share their first 46 bits, and
# SHA-256(NEAR) shares 22 bits with both.
LONG_A, LONG_B, NEAR = b"k2861205", b"k3180416", b"k3821709"

# Pinned in docs/state-tree.md §4.3: the root of {alice: 100, bob: 200, carol: b""},
# bob's proof, and the same without bob.
VECTOR = {b"alice": b"100", b"bob": b"200", b"carol": b""}
VECTOR_ROOT = "962e6f840bb0997106f83fae5ce664450187689c0f59bece612bc22e5731b886"
VECTOR_BOB_PROOF = (
    "930192c42081b637d8fcd2c6da6359e6963113a1170de795e4b725b84d1e0b4cfd9ec58ce9"
    "c42027badc983df1780b60c2b3fa9d3a19a00e46aac798451f0febdca52920faaddf91"
    "c420f593b504e43c01bf1155c04ad8e3922afab8c277f560c77ae1fbf08e42166659"
)
VECTOR_ROOT_WITHOUT_BOB = "972f3b7f2a5c479ca6f176c97df622b85a6bdc09d6ef7b553f9802f5b04a40cc"
VECTOR_BOB_ABSENT = "9301c091c420f593b504e43c01bf1155c04ad8e3922afab8c277f560c77ae1fbf08e42166659"


class Chain:
    """A tree and its store, committing each update like a node would."""

    def __init__(self) -> None:
        self.store = MemoryNodeStore()
        self.tree = SparseMerkleTree(self.store)
        self.latest: int | None = None

    def commit(self, version: int, updates: Mapping[bytes, bytes | None]) -> TreeUpdate:
        update = self.tree.apply(self.latest, version, updates)
        self.store.put_update(update)
        self.latest = version
        return update

    def proven(self, key: bytes, version: int) -> tuple[bytes | None, SparseMerkleProof]:
        value, proof = self.tree.get_with_proof(key, version)
        verify_proof(self.tree.root_at(version), key, value, proof)
        assert value == self.tree.get(key, version)
        return value, proof


def _leaf(key: bytes, value: bytes) -> bytes:
    return leaf_hash(hash_key(key), hash_value(value))


def _pair(a: bytes, b: bytes, key_a: bytes) -> bytes:
    """The node over leaves a and b, which first differ at the current depth."""
    return node_hash(a, b) if bit_at(hash_key(key_a), 0) == 0 else node_hash(b, a)


def test_crafted_keys_share_the_stated_prefixes() -> None:
    assert common_prefix_bits(hash_key(LONG_A), hash_key(LONG_B)) == 46
    assert common_prefix_bits(hash_key(LONG_A), hash_key(NEAR)) == 22
    assert common_prefix_bits(hash_key(LONG_B), hash_key(NEAR)) == 22


def test_empty_tree() -> None:
    chain = Chain()
    update = chain.commit(1, {})
    assert update.root == EMPTY_HASH == bytes(32)
    assert chain.tree.root_at(1) == EMPTY_HASH
    assert update.new_nodes == ((NodeKey(1, 0, b""), codec.encode([1, 0])),)
    value, proof = chain.proven(b"anything", 1)
    assert value is None and proof == SparseMerkleProof(leaf=None, siblings=())


def test_single_key_root_is_its_leaf() -> None:
    chain = Chain()
    update = chain.commit(1, {b"a": b"1"})
    assert update.root == _leaf(b"a", b"1")
    assert update.new_nodes == ((NodeKey(1, 0, b""), codec.encode([1, 1, b"a", b"1"])),)
    leaf = (hash_key(b"a"), hash_value(b"1"))
    assert chain.proven(b"a", 1) == (b"1", SparseMerkleProof(leaf, ()))
    # Absence of another key: the path ends in a's leaf, which is not it.
    value, proof = chain.proven(b"b", 1)
    assert value is None and proof.leaf == (hash_key(b"a"), hash_value(b"1"))


def test_two_keys_differing_in_the_first_bit() -> None:
    a, b = b"a", b"c"
    assert bit_at(hash_key(a), 0) != bit_at(hash_key(b), 0)
    chain = Chain()
    update = chain.commit(1, {a: b"1", b: b"2"})
    assert update.root == _pair(_leaf(a, b"1"), _leaf(b, b"2"), a)
    assert chain.proven(a, 1)[1].siblings == (_leaf(b, b"2"),)


def test_keys_sharing_46_bits_sit_47_deep() -> None:
    chain = Chain()
    update = chain.commit(1, {LONG_A: b"x", LONG_B: b"y"})
    # Their split node at depth 46, then 46 internal nodes with one empty child.
    expected = node_hash(_leaf(LONG_A, b"x"), _leaf(LONG_B, b"y"))
    if bit_at(hash_key(LONG_A), 46):
        expected = node_hash(_leaf(LONG_B, b"y"), _leaf(LONG_A, b"x"))
    for depth in range(45, -1, -1):
        bit = bit_at(hash_key(LONG_A), depth)
        expected = node_hash(EMPTY_HASH, expected) if bit else node_hash(expected, EMPTY_HASH)
    assert update.root == expected
    assert len(update.new_nodes) == 47 + 2
    _, proof = chain.proven(LONG_A, 1)
    assert proof.siblings == (EMPTY_HASH,) * 46 + (_leaf(LONG_B, b"y"),)
    # A third key splits the chain at depth 22.
    chain.commit(2, {NEAR: b"z"})
    assert len(chain.proven(NEAR, 2)[1].siblings) == 23
    assert len(chain.proven(LONG_B, 2)[1].siblings) == 47
    # Deleting one of the pair lifts the other up to depth 23.
    chain.commit(3, {LONG_A: None})
    assert len(chain.proven(LONG_B, 3)[1].siblings) == 23
    assert chain.tree.root_at(3) == _root_of({NEAR: b"z", LONG_B: b"y"})
    # ...and deleting NEAR lifts it to the root.
    chain.commit(4, {NEAR: None})
    assert chain.tree.root_at(4) == _leaf(LONG_B, b"y")


def test_update_and_delete_back_to_empty() -> None:
    chain = Chain()
    chain.commit(1, {b"a": b"1", b"b": b"2", b"c": b"3"})
    chain.commit(2, {b"b": b"22"})
    assert chain.tree.get(b"b", 2) == b"22"
    assert chain.tree.root_at(2) == _root_of({b"a": b"1", b"b": b"22", b"c": b"3"})
    update = chain.commit(3, {b"a": None, b"b": None, b"c": None})
    assert update.root == EMPTY_HASH
    assert update.new_nodes == ((NodeKey(3, 0, b""), codec.encode([1, 0])),)
    assert chain.proven(b"a", 3) == (None, SparseMerkleProof(None, ()))


def test_old_versions_stay_readable() -> None:
    chain = Chain()
    history = [
        (1, {b"a": b"1"}),
        (2, {b"b": b"2", b"c": b"3"}),
        (5, {b"a": b"11", b"c": None}),
        (6, {}),
        (9, {b"a": None, b"b": None, LONG_A: b"4", LONG_B: b"5"}),
    ]
    models: dict[int, dict[bytes, bytes]] = {}
    model: dict[bytes, bytes] = {}
    for version, updates in history:
        chain.commit(version, updates)
        for key, value in updates.items():
            if value is None:
                model.pop(key, None)
            else:
                model[key] = value
        models[version] = dict(model)
    for version, expected in models.items():
        assert chain.tree.root_at(version) == _root_of(expected)
        for key in (b"a", b"b", b"c", LONG_A, LONG_B, NEAR):
            assert chain.proven(key, version)[0] == expected.get(key)


def test_absence_proofs_of_both_kinds() -> None:
    chain = Chain()
    chain.commit(1, {LONG_A: b"x", NEAR: b"z"})
    # LONG_B's path ends in LONG_A's leaf (they share 46 bits, LONG_A sits at 23).
    value, proof = chain.proven(LONG_B, 1)
    assert value is None and proof.leaf == (hash_key(LONG_A), hash_value(b"x"))
    # Some key's path ends in an empty subtree: the chain of one-sided nodes.
    empty_end = next(
        k for k in (b"%d" % i for i in range(10_000))
        if 1 <= common_prefix_bits(hash_key(k), hash_key(LONG_A)) < 22
    )
    value, proof = chain.proven(empty_end, 1)
    assert value is None and proof.leaf is None


def test_a_version_without_changes_copies_the_root() -> None:
    chain = Chain()
    first = chain.commit(1, {b"a": b"1", b"b": b"2"})
    second = chain.commit(2, {b"zz": None, b"a": b"1"})  # a no-op delete and rewrite
    assert second.root == first.root
    assert second.new_nodes == ((NodeKey(2, 0, b""), chain.store.nodes[NodeKey(1, 0, b"")]),)
    assert second.stale == (StaleNode(2, NodeKey(1, 0, b"")),)
    assert chain.proven(b"a", 2)[0] == b"1"


def test_same_updates_in_any_order_give_identical_bytes() -> None:
    base = {b"k%d" % i: b"v%d" % i for i in range(40)}
    changes: dict[bytes, bytes | None] = {b"k%d" % i: None for i in range(0, 40, 3)}
    changes.update({b"n%d" % i: b"w" for i in range(20)})
    orders: list[Callable[[Iterable[bytes]], list[bytes]]] = [
        sorted, lambda keys: sorted(keys, reverse=True), lambda keys: sorted(keys, key=hash_key)
    ]
    results = []
    for order in orders:
        chain = Chain()
        chain.commit(1, {k: base[k] for k in order(base)})
        results.append(chain.commit(2, {k: changes[k] for k in order(changes)}))
    assert results[0] == results[1] == results[2]


def test_pruning_keeps_versions_from_k_and_the_state_at_k() -> None:
    chain = Chain()
    for version, updates in [(1, {b"a": b"1"}), (2, {b"b": b"2"}), (5, {b"a": b"3"}),
                             (10, {b"c": b"4"}), (11, {b"b": None})]:
        chain.commit(version, updates)
    roots = {v: chain.tree.root_at(v) for v in (1, 2, 5, 10, 11)}
    stale = list(chain.store.stale)
    deleted = chain.store.prune(7)
    assert deleted == compute_prunable(stale, 7)
    assert deleted and all(key.version < 5 for key in deleted)
    for version in (1, 2):
        with pytest.raises(LedgerError) as caught:
            chain.tree.get(b"a", version)
        assert caught.value.code is Code.STATE_VERSION_NOT_FOUND
    # Version 5 is the state at height 7: it survives, as do 10 and 11.
    for version, a in ((5, b"3"), (10, b"3"), (11, b"3")):
        assert chain.tree.root_at(version) == roots[version]
        assert chain.proven(b"a", version)[0] == a
    assert _reachable(chain.store, (5, 10, 11)) == set(chain.store.nodes)


def test_a_missing_or_corrupt_node_is_reported() -> None:
    chain = Chain()
    chain.commit(1, {b"a": b"1", b"b": b"2", b"c": b"3"})
    inner = next(key for key in chain.store.nodes if key.depth > 0)
    saved = chain.store.nodes.pop(inner)
    with pytest.raises(LedgerError) as caught:
        for key in (b"a", b"b", b"c"):
            chain.tree.get_with_proof(key, 1)
    assert caught.value.code is Code.STATE_NODE_MISSING
    for garbage in (b"\xc1", codec.encode([1, 9]), codec.encode([True, 1, b"a", b"1"]),
                    codec.encode([1, 2, [b"short", 1, False], None]), codec.encode([1, 0])):
        chain.store.nodes[inner] = garbage
        with pytest.raises(LedgerError) as caught:
            for key in (b"a", b"b", b"c"):
                chain.tree.get_with_proof(key, 1)
        assert caught.value.code is Code.STATE_NODE_MISSING
    chain.store.nodes[inner] = saved


@pytest.mark.parametrize(
    "call,code",
    [
        (lambda t: t.apply(None, 1, {bytes(MAX_KEY_SIZE + 1): b""}), Code.STATE_KEY_TOO_LARGE),
        (lambda t: t.apply(None, 1, {b"k": bytes(MAX_VALUE_SIZE + 1)}), Code.STATE_VALUE_TOO_LARGE),
        (lambda t: t.apply(None, 1, {"k": b""}), Code.SCHEMA_MISMATCH),
        (lambda t: t.apply(None, 1, {b"k": "v"}), Code.SCHEMA_MISMATCH),
        (lambda t: t.apply(1, 1, {}), Code.STATE_VERSION_INVALID),
        (lambda t: t.apply(None, -1, {}), Code.STATE_VERSION_INVALID),
        (lambda t: t.apply(None, True, {}), Code.STATE_VERSION_INVALID),
        (lambda t: t.apply(None, 2**63, {}), Code.STATE_VERSION_INVALID),
        (lambda t: t.apply(3, 4, {}), Code.STATE_VERSION_NOT_FOUND),
        (lambda t: t.get(b"k", 3), Code.STATE_VERSION_NOT_FOUND),
        (lambda t: t.root_at(3), Code.STATE_VERSION_NOT_FOUND),
        (lambda t: t.get(bytes(MAX_KEY_SIZE + 1), 1), Code.STATE_KEY_TOO_LARGE),
        (lambda t: t.get_with_proof(bytearray(b"k"), 1), Code.SCHEMA_MISMATCH),
    ],
)
def test_invalid_calls_raise_and_change_nothing(
    call: Callable[[SparseMerkleTree], object], code: Code
) -> None:
    chain = Chain()
    chain.commit(1, {b"a": b"1"})
    before = dict(chain.store.nodes)
    with pytest.raises(LedgerError) as caught:
        call(chain.tree)
    assert caught.value.code is code
    assert chain.store.nodes == before


def test_limits_are_inclusive() -> None:
    chain = Chain()
    big_key, big_value = bytes(MAX_KEY_SIZE), bytes(MAX_VALUE_SIZE)
    chain.commit(1, {big_key: big_value, b"": b""})
    assert chain.proven(big_key, 1)[0] == big_value
    assert chain.proven(b"", 1)[0] == b""


# --- proofs -----------------------------------------------------------------


def _sample() -> tuple[Chain, bytes]:
    chain = Chain()
    chain.commit(1, {b"a": b"1", b"b": b"2", b"c": b"3", LONG_A: b"x", NEAR: b"z"})
    return chain, chain.tree.root_at(1)


def _flip(data: bytes) -> bytes:
    return bytes([data[0] ^ 1]) + data[1:]


def _forged(leaf: object, siblings: object) -> SparseMerkleProof:
    """A proof with any fields, set behind the constructor's back (as an attacker may)."""
    forged = object.__new__(SparseMerkleProof)
    object.__setattr__(forged, "leaf", leaf)
    object.__setattr__(forged, "siblings", siblings)
    return forged


# Each row changes some of the honest (root, LONG_A, b"x", leaf, siblings):
# a constant replaces the field, a function maps the honest field.
BAD_PROOFS: list[tuple[str, dict[str, object]]] = [
    ("other value", {"value": b"y"}),
    ("claimed absent", {"value": None}),
    ("other key", {"key": LONG_B}),
    ("other root", {"root": _flip}),
    ("zero root", {"root": EMPTY_HASH}),
    ("sibling flipped", {"siblings": lambda s: (_flip(s[0]), *s[1:])}),
    ("last sibling flipped", {"siblings": lambda s: (*s[:-1], _flip(s[-1]))}),
    ("sibling dropped", {"siblings": lambda s: s[1:]}),
    ("sibling added", {"siblings": lambda s: (*s, EMPTY_HASH)}),
    ("siblings reversed", {"siblings": lambda s: s[::-1]}),
    ("leaf removed", {"leaf": None, "siblings": lambda s: s}),
    ("leaf value hash flipped", {"leaf": lambda leaf: (leaf[0], _flip(leaf[1]))}),
    ("short root", {"root": lambda r: r[:31]}),
    ("root as str", {"root": lambda r: r.hex()}),
    ("key as str", {"key": "k2861205"}),
    ("key too long", {"key": bytes(MAX_KEY_SIZE + 1)}),
    ("value too long", {"value": bytes(MAX_VALUE_SIZE + 1)}),
    ("value as int", {"value": 7}),
    ("257 siblings", {"siblings": (EMPTY_HASH,) * 257}),
    ("sibling of 31 bytes", {"siblings": lambda s: (bytes(31), *s[1:])}),
    ("sibling as bytearray", {"siblings": (bytearray(32),)}),
    ("siblings as a generator", {"siblings": lambda s: iter(s)}),
    ("siblings as bytes", {"siblings": lambda s: b"".join(s)}),
    ("leaf of three", {"leaf": lambda leaf: (*leaf, b"")}),
    ("leaf as bytes", {"leaf": lambda leaf: leaf[0] + leaf[1]}),
    ("proof as tuple", {"proof": lambda p: (p.leaf, p.siblings)}),
    ("proof without fields", {"proof": object.__new__(SparseMerkleProof)}),
]


def _apply(change: object, honest: object) -> object:
    return change(honest) if callable(change) else change


@pytest.mark.parametrize("name,changes", BAD_PROOFS, ids=[name for name, _ in BAD_PROOFS])
def test_bad_proofs_are_rejected(name: str, changes: dict[str, object]) -> None:
    chain, root = _sample()
    _, proof = chain.proven(LONG_A, 1)
    honest = {"root": root, "key": LONG_A, "value": b"x",
              "leaf": proof.leaf, "siblings": proof.siblings}
    field = {f: _apply(changes[f], honest[f]) if f in changes else honest[f] for f in honest}
    forged: object = proof
    if "leaf" in changes or "siblings" in changes:
        forged = _forged(field["leaf"], field["siblings"])
    if "proof" in changes:
        forged = _apply(changes["proof"], proof)
    args = (field["root"], field["key"], field["value"], forged)
    with pytest.raises(LedgerError) as caught:
        verify_proof(*args)  # type: ignore[arg-type]
    assert caught.value.code is Code.STATE_PROOF_INVALID
    assert not is_valid_proof(*args)  # type: ignore[arg-type]


def test_absence_proof_leaf_must_be_on_the_path() -> None:
    # A root no honest tree has: a's leaf in the half where its bit 0 says
    # it does not belong. Without the prefix rule this "proves" b absent.
    a = b"a"
    b = next(k for k in (b"%d" % i for i in range(100))
             if bit_at(hash_key(k), 0) != bit_at(hash_key(a), 0))
    misplaced = _leaf(a, b"1")
    if bit_at(hash_key(b), 0) == 0:
        root = node_hash(misplaced, EMPTY_HASH)
    else:
        root = node_hash(EMPTY_HASH, misplaced)
    proof = SparseMerkleProof((hash_key(a), hash_value(b"1")), (EMPTY_HASH,))
    with pytest.raises(LedgerError, match="not on this key's path"):
        verify_proof(root, b, None, proof)


def test_proof_round_trips_through_its_encoding() -> None:
    chain, _ = _sample()
    for key in (b"a", LONG_A, LONG_B, b"absent"):
        _, proof = chain.proven(key, 1)
        data = proof.encode()
        leaf = None if proof.leaf is None else list(proof.leaf)
        assert data == codec.encode([1, leaf, list(proof.siblings)])
        assert SparseMerkleProof.decode(data) == proof
    full = SparseMerkleProof((EMPTY_HASH, EMPTY_HASH), (EMPTY_HASH,) * 256)
    assert SparseMerkleProof.decode(full.encode()) == full


@pytest.mark.parametrize(
    "value,code",
    [
        ([2, None, []], Code.UNSUPPORTED_VERSION),
        ([True, None, []], Code.UNSUPPORTED_VERSION),
        ([], Code.SCHEMA_MISMATCH),
        ({"v": 1}, Code.SCHEMA_MISMATCH),
        ([1, None], Code.SCHEMA_MISMATCH),
        ([1, None, [], None], Code.SCHEMA_MISMATCH),
        ([1, [bytes(32)], []], Code.SCHEMA_MISMATCH),
        ([1, [bytes(32), bytes(31)], []], Code.SCHEMA_MISMATCH),
        ([1, [bytes(32), "x" * 32], []], Code.SCHEMA_MISMATCH),
        ([1, None, [bytes(33)]], Code.SCHEMA_MISMATCH),
        ([1, None, bytes(32)], Code.SCHEMA_MISMATCH),
        ([1, None, [bytes(32)] * 257], Code.SCHEMA_MISMATCH),
    ],
)
def test_malformed_proof_encodings_are_rejected(value: object, code: Code) -> None:
    with pytest.raises(LedgerError) as caught:
        SparseMerkleProof.decode(codec.encode(value))
    assert caught.value.code is code


def test_proof_decoding_rejects_bad_bytes_with_codec_codes() -> None:
    for data in (b"", b"\xc1", codec.encode([1, None, []]) + b"\x00", bytes(10_000)):
        with pytest.raises(LedgerError) as caught:
            SparseMerkleProof.decode(data)
        assert caught.value.code.startswith("CODEC_")


# --- vectors and helpers ----------------------------------------------------


def test_pinned_vector() -> None:
    chain = Chain()
    update = chain.commit(1, VECTOR)
    assert update.root.hex() == VECTOR_ROOT == _root_of(VECTOR).hex()
    _, proof = chain.proven(b"bob", 1)
    assert proof.encode().hex() == VECTOR_BOB_PROOF
    # Without bob, his path ends in the empty right half of the tree.
    update = chain.commit(2, {b"bob": None})
    assert update.root.hex() == VECTOR_ROOT_WITHOUT_BOB
    _, proof = chain.proven(b"bob", 2)
    assert proof.encode().hex() == VECTOR_BOB_ABSENT


def _root_of(entries: Mapping[bytes, bytes]) -> bytes:
    """The naive definition: the tree over the key-value set, recursively."""
    leaves = sorted((hash_key(k), hash_value(v)) for k, v in entries.items())

    def subtree(items: list[tuple[bytes, bytes]], depth: int) -> bytes:
        if not items:
            return EMPTY_HASH
        if len(items) == 1:
            return leaf_hash(*items[0])
        left = [item for item in items if not bit_at(item[0], depth)]
        right = [item for item in items if bit_at(item[0], depth)]
        return node_hash(subtree(left, depth + 1), subtree(right, depth + 1))

    return subtree(leaves, 0)


def _reachable(store: MemoryNodeStore, versions: tuple[int, ...]) -> set[NodeKey]:
    """Every node reachable from the roots of `versions`, by decoding the store."""
    seen: set[NodeKey] = set()

    def visit(key: NodeKey) -> None:
        seen.add(key)
        node = codec.decode(store.nodes[key])
        if node[1] != 2:
            return
        for bit, child in enumerate(node[2:]):
            if child is not None:
                path = bytearray(key.path + (b"\x00" if key.depth % 8 == 0 else b""))
                path[key.depth // 8] |= (0x80 >> (key.depth % 8)) * bit
                visit(NodeKey(child[1], key.depth + 1, bytes(path)))

    for version in versions:
        visit(NodeKey(version, 0, b""))
    return seen


def test_naive_root_agrees_on_a_hand_checked_case() -> None:
    assert _root_of({}) == EMPTY_HASH
    assert _root_of({b"a": b"1"}) == _leaf(b"a", b"1")
    assert hashlib.sha256(b"a").digest() == hash_key(b"a")
