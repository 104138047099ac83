"""tests/vectors/transactions.json: in step with the code, and self-consistent.

Each case is checked from its hex with hashlib and the strict verifier, not
only by re-running the generator, so the file is a contract for integrators.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ledger import codec
from ledger.crypto import verify_signature
from ledger.typed_json import from_json
from ledger.types import SignedTransaction
from tests.vectors.generate_transactions import OUTPUT, render

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = json.loads(OUTPUT.read_text(encoding="utf-8"))
CASES = DOCUMENT["cases"]


def test_committed_file_matches_generator() -> None:
    assert OUTPUT.read_text(encoding="utf-8") == render(), "run `make vectors` and review the diff"


def test_at_least_ten_cases_with_the_required_fields() -> None:
    required = {"secret_seed_hex", "public_key_hex", "chain_id", "nonce", "contract", "method",
                "args", "expiry_height", "signing_bytes_hex", "signature_hex", "signed_tx_hex",
                "hash_tag_hex", "tx_id_hex"}
    assert len(CASES) >= 10
    for case in CASES:
        assert required <= set(case), case["name"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case_is_self_consistent(case: dict[str, Any]) -> None:
    signed_bytes = bytes.fromhex(case["signed_tx_hex"])
    signed = SignedTransaction.decode(signed_bytes)
    tx = signed.tx
    assert tx.sender.hex() == case["public_key_hex"]
    assert tx.chain_id == case["chain_id"]
    assert str(tx.nonce) == case["nonce"]
    assert (tx.contract, tx.method) == (case["contract"], case["method"])
    assert tx.args == from_json(case["args"])
    assert codec.encode(tx.args).hex() == case["args_hex"]
    expiry = case["expiry_height"]
    assert tx.expiry_height == (None if expiry is None else int(expiry))
    # signing bytes = tag || canonical(chain_id) || canonical(tx body)
    signing = bytes.fromhex(case["signing_bytes_hex"])
    assert signing == b"scf/sign/tx/v1" + codec.encode(tx.chain_id) + bytes.fromhex(case["tx_body_hex"])
    assert verify_signature(tx.sender, signing, bytes.fromhex(case["signature_hex"]))
    # tx id = SHA-256(tag || signed tx bytes)
    tag = bytes.fromhex(case["hash_tag_hex"])
    assert tag == b"scf/hash/tx/v1"
    assert hashlib.sha256(tag + signed_bytes).hexdigest() == case["tx_id_hex"] == signed.tx_id.hex()
    assert signed.encode() == signed_bytes


def test_vectors_do_not_depend_on_hash_seed() -> None:
    """Encodings and hashes are identical under different PYTHONHASHSEED values."""
    program = "from tests.vectors.generate_transactions import render; import sys; sys.stdout.write(render())"
    outputs = set()
    for seed in ("0", "1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run([sys.executable, "-c", program], cwd=ROOT, env=env,
                                capture_output=True, text=True, check=True)
        outputs.add(result.stdout)
    assert outputs == {OUTPUT.read_text(encoding="utf-8")}
