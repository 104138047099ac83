"""The ledger's Ed25519 verdicts on public vector suites, pinned.

Two nodes that disagree on one signature fork the chain. These tests pin our
verdict on every RFC 8032, Wycheproof and C2SP CCTV vector, so an upgrade of
pynacl/libsodium that moves any verdict fails CI instead of a network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ledger.crypto import SigningKey, verify_signature

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "ed25519"


def _load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text())


RFC8032 = _load("rfc8032/rfc8032_7.1_ed25519.json")["tests"]
WYCHEPROOF = [
    pytest.param(group["publicKey"]["pk"], test, id=f"tc{test['tcId']}")
    for group in _load("wycheproof/ed25519_test.json")["testGroups"]
    for test in group["tests"]
]
CCTV = _load("cctv/ed25519vectors.json")
PINNED = _load("cctv_pinned_verdicts.json")


@pytest.mark.parametrize("case", RFC8032, ids=[c["name"] for c in RFC8032])
def test_rfc8032_sign_and_verify(case: dict[str, str]) -> None:
    key = SigningKey(bytes.fromhex(case["seed"]))
    message = bytes.fromhex(case["msg"])
    assert key.public_key.hex() == case["pk"]
    assert key.sign(message).hex() == case["sig"]
    assert verify_signature(key.public_key, message, bytes.fromhex(case["sig"]))


@pytest.mark.parametrize("public_key,case", WYCHEPROOF)
def test_wycheproof_verdict(public_key: str, case: dict[str, Any]) -> None:
    verdict = verify_signature(
        bytes.fromhex(public_key), bytes.fromhex(case["msg"]), bytes.fromhex(case["sig"])
    )
    assert verdict == (case["result"] == "valid"), case["comment"]


def test_cctv_verdicts_are_pinned() -> None:
    accepted = [
        v["number"]
        for v in CCTV
        if verify_signature(bytes.fromhex(v["key"]), v["msg"].encode(), bytes.fromhex(v["sig"]))
    ]
    assert len(CCTV) == PINNED["vector_count"] == 914
    assert accepted == PINNED["accepted_numbers"]


def test_cctv_accepts_exactly_the_torsion_component_only_cases() -> None:
    """What the pinned set means: low-order components that cancel are accepted;
    any low-order point, non-canonical encoding or uncancelled residue is not."""
    tolerated = {"low_order_component_A", "low_order_component_R"}
    expected = [v["number"] for v in CCTV if set(v["flags"] or ()) <= tolerated]
    assert PINNED["accepted_numbers"] == expected
