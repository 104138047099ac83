"""ledger.merkle against the transparency-dev/merkle RFC 6962 vectors.

Source and format: tests/vectors/rfc6962/SOURCE.md. Every copied probe file is
its own test: the verifier's verdict must be `not wantErr`, and the only
exception it may raise is `LedgerError`. For happy paths over the reference
leaves, our prover must also produce the very proof in the file.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.errors import Code, LedgerError
from ledger.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    consistency_proof,
    inclusion_proof,
    is_consistent,
    is_included,
    leaf_hash,
    node_hash,
    root,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion_hash,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "rfc6962"
TESTDATA = VECTORS / "testdata"
REFERENCE = json.loads((VECTORS / "rfc6962_reference_8leaves.json").read_text())
LEAVES = [bytes.fromhex(x) for x in REFERENCE["leaf_inputs_hex"]]
LEAF_HASHES = [bytes.fromhex(x) for x in REFERENCE["leaf_hashes_hex"]]
ROOTS = {int(k): bytes.fromhex(v) for k, v in REFERENCE["root_hash_by_tree_size_hex"].items()}

# Files whose verdict we pin against wantErr on purpose (see SOURCE.md).
OVERRIDES: dict[str, tuple[bool, str]] = {
    "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json": (
        False,
        "roots are 12 bytes ('don't care 2'); we reject every hash that is not 32 bytes",
    ),
}


def _probe_files(kind: str) -> list[Path]:
    return sorted((TESTDATA / kind).rglob("*.json"))


def _probe_id(path: Path) -> str:
    return path.relative_to(TESTDATA).as_posix()


def _params(kind: str) -> list[Any]:
    return [pytest.param(p, id=_probe_id(p)) for p in _probe_files(kind)]


def _b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _proof(probe: dict[str, Any]) -> tuple[bytes, ...]:
    return tuple(_b64(h) for h in probe["proof"] or ())  # JSON null = empty proof


def _expected_verdict(path: Path, probe: dict[str, Any]) -> bool:
    override = OVERRIDES.get(_probe_id(path))
    return override[0] if override else not probe["wantErr"]


def _inclusion_verdict(probe: dict[str, Any]) -> bool:
    try:
        verify_inclusion_hash(
            _b64(probe["leafHash"]),
            probe["leafIdx"],
            probe["treeSize"],
            _proof(probe),
            _b64(probe["root"]),
        )
    except LedgerError:
        return False
    return True


def _consistency_verdict(probe: dict[str, Any]) -> bool:
    try:
        verify_consistency(
            probe["size1"],
            probe["size2"],
            _b64(probe["root1"]),
            _b64(probe["root2"]),
            _proof(probe),
        )
    except LedgerError:
        return False
    return True


def _inclusion_over_reference(probe: dict[str, Any]) -> bool:
    """Whether a happy-path probe is about the 8 reference leaves."""
    idx, size = probe["leafIdx"], probe["treeSize"]
    return (
        size in ROOTS
        and idx < size
        and _b64(probe["leafHash"]) == LEAF_HASHES[idx]
        and _b64(probe["root"]) == ROOTS[size]
    )


def _consistency_over_reference(probe: dict[str, Any]) -> bool:
    m, n = probe["size1"], probe["size2"]
    return (
        0 < m <= n
        and n in ROOTS
        and _b64(probe["root1"]) == ROOTS[m]
        and _b64(probe["root2"]) == ROOTS[n]
    )


# --- the 8-leaf reference -------------------------------------------------


def test_hasher_vectors() -> None:
    for vector in REFERENCE["hasher_vectors"]:
        want = bytes.fromhex(vector["want"])
        if "leaf_hex" in vector:
            assert leaf_hash(bytes.fromhex(vector["leaf_hex"])) == want, vector["desc"]
        elif "left_hex" in vector:
            got = node_hash(bytes.fromhex(vector["left_hex"]), bytes.fromhex(vector["right_hex"]))
            assert got == want, vector["desc"]
        else:
            assert EMPTY_ROOT == root([]) == root_from_leaf_hashes([]) == want


def test_leaf_hashes() -> None:
    assert [leaf_hash(leaf) for leaf in LEAVES] == LEAF_HASHES


def test_node_hashes_by_level() -> None:
    for k, level in enumerate(REFERENCE["node_hashes_by_level_hex"]):
        width = 1 << k
        for j, want in enumerate(level):
            subtree = LEAVES[j * width : (j + 1) * width]
            assert root(subtree) == bytes.fromhex(want), (k, j)


@pytest.mark.parametrize("size", range(9))
def test_roots_by_tree_size(size: int) -> None:
    assert root(LEAVES[:size]) == ROOTS[size]
    assert root_from_leaf_hashes(LEAF_HASHES[:size]) == ROOTS[size]
    assert MerkleTree(LEAVES[:size]).root == ROOTS[size]
    assert MerkleTree.from_leaf_hashes(LEAF_HASHES[:size]).root == ROOTS[size]


@pytest.mark.parametrize("size", range(1, 9))
def test_regenerated_inclusion_proofs_verify(size: int) -> None:
    tree = MerkleTree(LEAVES[:size])
    for index in range(size):
        proof = tree.inclusion_proof(index)
        assert proof == inclusion_proof(LEAVES[:size], index)
        verify_inclusion_hash(LEAF_HASHES[index], index, size, proof.path, ROOTS[size])
        assert is_included(LEAVES[index], proof, ROOTS[size])


@pytest.mark.parametrize("size", range(1, 9))
def test_regenerated_consistency_proofs_verify(size: int) -> None:
    tree = MerkleTree(LEAVES[:size])
    for old in range(1, size + 1):
        proof = tree.consistency_proof(old)
        assert proof == consistency_proof(LEAVES[:size], old)
        verify_consistency(old, size, ROOTS[old], ROOTS[size], proof)
        assert is_consistent(old, size, ROOTS[old], ROOTS[size], proof)


# --- every probe file -------------------------------------------------------


def test_all_probe_files_are_present() -> None:
    assert len(_probe_files("inclusion")) == 98
    assert len(_probe_files("consistency")) == 98


@pytest.mark.parametrize("path", _params("inclusion"))
def test_inclusion_probe(path: Path) -> None:
    probe = json.loads(path.read_text())
    assert _inclusion_verdict(probe) is _expected_verdict(path, probe), probe["desc"]
    if not probe["wantErr"] and _inclusion_over_reference(probe):
        size = probe["treeSize"]
        ours = MerkleTree(LEAVES[:size]).inclusion_proof(probe["leafIdx"])
        assert ours.path == _proof(probe)


@pytest.mark.parametrize("path", _params("consistency"))
def test_consistency_probe(path: Path) -> None:
    probe = json.loads(path.read_text())
    assert _consistency_verdict(probe) is _expected_verdict(path, probe), probe["desc"]
    if not probe["wantErr"] and _consistency_over_reference(probe):
        ours = MerkleTree(LEAVES[: probe["size2"]]).consistency_proof(probe["size1"])
        assert ours == _proof(probe)


def test_happy_paths_are_compared_with_our_prover() -> None:
    """Guards the two tests above against comparing nothing."""
    inclusion = [json.loads(p.read_text()) for p in _probe_files("inclusion")]
    consistency = [json.loads(p.read_text()) for p in _probe_files("consistency")]
    compared_inclusion = [
        (v["leafIdx"], v["treeSize"])
        for v in inclusion
        if not v["wantErr"] and _inclusion_over_reference(v)
    ]
    compared_consistency = [
        (v["size1"], v["size2"])
        for v in consistency
        if not v["wantErr"] and _consistency_over_reference(v)
    ]
    assert sorted(compared_inclusion) == [(0, 1), (0, 8), (1, 5), (2, 3), (5, 8)]
    assert sorted(compared_consistency) == [(1, 1), (1, 8), (2, 5), (6, 7), (6, 8)]


# --- policy and error codes, with well-formed 32-byte hashes ----------------
# Most negative probes above fail on a hash length first; these pin each rule
# on its own, with the code it must report.

R1, R2, R8 = ROOTS[1], ROOTS[2], ROOTS[8]
H0 = LEAF_HASHES[0]
P08 = MerkleTree(LEAVES).inclusion_proof(0).path  # leaf 0 of 8


@pytest.mark.parametrize(
    "args, code",
    [
        pytest.param((H0, 0, 0, (), EMPTY_ROOT), Code.MERKLE_INDEX_OUT_OF_RANGE, id="size-0"),
        pytest.param((H0, 8, 8, P08, R8), Code.MERKLE_INDEX_OUT_OF_RANGE, id="index=size"),
        pytest.param((H0, -1, 8, P08, R8), Code.MERKLE_INDEX_OUT_OF_RANGE, id="index<0"),
        pytest.param((H0, True, 8, P08, R8), Code.MERKLE_INDEX_OUT_OF_RANGE, id="index-bool"),
        pytest.param((H0, 0, 2**64, P08, R8), Code.MERKLE_BAD_TREE_SIZE, id="size>=2**64"),
        pytest.param((H0, 0, 8.0, P08, R8), Code.MERKLE_BAD_TREE_SIZE, id="size-float"),
        pytest.param((H0[:31], 0, 8, P08, R8), Code.MERKLE_BAD_HASH_LENGTH, id="leaf-31"),
        pytest.param((H0, 0, 8, P08, R8 + b"\0"), Code.MERKLE_BAD_HASH_LENGTH, id="root-33"),
        pytest.param((H0, 0, 8, (*P08[:2], b""), R8), Code.MERKLE_BAD_HASH_LENGTH, id="path-0"),
        pytest.param((H0, 0, 8, "xxx", R8), Code.MERKLE_INVALID_PROOF, id="path-str"),
        pytest.param((H0, 0, 8, b"".join(P08), R8), Code.MERKLE_INVALID_PROOF, id="path-bytes"),
        pytest.param((H0, 0, 8, P08[:2], R8), Code.MERKLE_INVALID_PROOF, id="path-short"),
        pytest.param((H0, 0, 8, (*P08, R1), R8), Code.MERKLE_INVALID_PROOF, id="path-long"),
        pytest.param((H0, 0, 8, P08, R2), Code.MERKLE_INVALID_PROOF, id="wrong-root"),
    ],
)
def test_inclusion_error_codes(args: tuple[Any, ...], code: Code) -> None:
    with pytest.raises(LedgerError) as caught:
        verify_inclusion_hash(*args)
    assert caught.value.code is code


@pytest.mark.parametrize(
    "args, code",
    [
        pytest.param((0, 0, EMPTY_ROOT, EMPTY_ROOT, ()), Code.MERKLE_BAD_TREE_SIZE, id="0->0"),
        pytest.param((0, 1, EMPTY_ROOT, R1, ()), Code.MERKLE_BAD_TREE_SIZE, id="0->1"),
        pytest.param((0, 1, EMPTY_ROOT, R1, (R1,)), Code.MERKLE_BAD_TREE_SIZE, id="0->1-proof"),
        pytest.param((2, 1, R2, R1, ()), Code.MERKLE_BAD_TREE_SIZE, id="2->1"),
        pytest.param((1, 2**64, R1, R2, ()), Code.MERKLE_BAD_TREE_SIZE, id="1->2**64"),
        pytest.param((1, 1, R1, R1, (R1,)), Code.MERKLE_INVALID_PROOF, id="1->1-proof"),
        pytest.param((1, 1, R1, R2, ()), Code.MERKLE_INVALID_PROOF, id="1->1-other-root"),
        pytest.param((1, 2, R1, R2, ()), Code.MERKLE_INVALID_PROOF, id="1->2-empty"),
        pytest.param((1, 2, R1, R2, None), Code.MERKLE_INVALID_PROOF, id="1->2-none"),
        pytest.param((1, 2, R1, R2, (R1, R1)), Code.MERKLE_INVALID_PROOF, id="1->2-long"),
        pytest.param((1, 2, R1, R2[:16], (R1,)), Code.MERKLE_BAD_HASH_LENGTH, id="root-16"),
    ],
)
def test_consistency_error_codes(args: tuple[Any, ...], code: Code) -> None:
    with pytest.raises(LedgerError) as caught:
        verify_consistency(*args)
    assert caught.value.code is code


def test_equal_sizes_with_equal_roots_and_empty_proof_are_consistent() -> None:
    verify_consistency(1, 1, R1, R1, ())
    verify_consistency(8, 8, R8, R8, [])


@pytest.mark.parametrize(
    "call, code",
    [
        pytest.param(lambda: MerkleTree([]).inclusion_proof(0), Code.MERKLE_INDEX_OUT_OF_RANGE),
        pytest.param(lambda: inclusion_proof(LEAVES, 8), Code.MERKLE_INDEX_OUT_OF_RANGE),
        pytest.param(lambda: inclusion_proof(LEAVES, -1), Code.MERKLE_INDEX_OUT_OF_RANGE),
        pytest.param(lambda: consistency_proof(LEAVES, 0), Code.MERKLE_BAD_TREE_SIZE),
        pytest.param(lambda: consistency_proof(LEAVES, 9), Code.MERKLE_BAD_TREE_SIZE),
        pytest.param(lambda: root_from_leaf_hashes([b"short"]), Code.MERKLE_BAD_HASH_LENGTH),
    ],
)
def test_prover_error_codes(call: Any, code: Code) -> None:
    with pytest.raises(LedgerError) as caught:
        call()
    assert caught.value.code is code
