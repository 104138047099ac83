"""Generates tests/vectors/transactions.json, the signed-transaction vectors.

Run `make vectors` (or `python tests/vectors/generate_transactions.py`) after
a deliberate format change; tests/unit/test_transaction_vectors.py fails
whenever the committed file and this generator disagree, so the file can
never drift from the code. Ed25519 signing is deterministic, so the output is
byte-for-byte reproducible.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ledger import codec
from ledger.crypto import SigningKey, Tag
from ledger.typed_json import to_json
from ledger.types import Transaction

OUTPUT = Path(__file__).with_name("transactions.json")

RFC8032_TEST1_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"


def _seed(label: str) -> str:
    return hashlib.sha256(b"scf-ledger test vector seed " + label.encode()).hexdigest()


# (name, what it exercises, seed hex, chain id, nonce, contract, method, args, expiry)
CASES: list[tuple[str, str, str, str, int, str, str, dict[str, Any], int | None]] = [
    ("empty-args", "no arguments at all: args is the empty map 0x80",
     RFC8032_TEST1_SEED, "scf-demo", 0, "governance", "ping", {}, None),
    ("invoice-register", "a realistic invoice registration",
     _seed("supplier"), "scf-demo", 1, "invoices", "register",
     {"buyer": "CN-91310000MA1K4L7X2Q", "currency": "CNY", "document_sha256":
      bytes.fromhex("5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"),
      "due_date": "2027-03-31", "face_amount": 125_000_00, "invoice_number": "INV-2026-00042",
      "issue_date": "2026-11-23"}, 500),
    ("max-int", "the largest and smallest int64 values and the largest nonce",
     _seed("max-int"), "scf-demo", 2**63 - 1, "tests", "ints",
     {"max": 2**63 - 1, "min": -(2**63), "zero": 0, "minus_one": -1}, 2**63 - 1),
    ("int-boundaries", "every int width boundary: fixint, uint8/16/32/64, negative fixint, int8/16/32/64",
     _seed("ints"), "scf-demo", 3, "tests", "ints",
     {"values": [127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32,
                 -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1]}, None),
    ("unicode", "non-ASCII str values and keys; keys sort by UTF-8 bytes",
     _seed("unicode"), "scf-demo", 4, "tests", "text",
     {"name": "Zhōngguó 中国 供应链金融", "emoji": "\U0001f4b4\u2705", "combining": "e\u0301",
      "\u00e9": "key above ASCII", "z": "sorts before \u00e9"}, None),
    ("bytes-values", "empty bytes, a 32-byte hash and a 300-byte blob (bin16 length)",
     _seed("bytes"), "scf-demo", 5, "tests", "blobs",
     {"empty": b"", "hash": hashlib.sha256(b"document").digest(), "blob": bytes(range(256)) + bytes(44)},
     None),
    ("nested", "lists and maps nested inside arguments, bool and nil values",
     _seed("nested"), "scf-demo", 6, "payables", "split",
     {"parts": [{"amount": 40_000_00, "holder": "SUP-A"}, {"amount": 60_000_00, "holder": "SUP-B"}],
      "final": True, "draft": False, "memo": None}, 1_000),
    ("long-strings", "str8 (32..255 bytes) and str16 (256+ bytes) lengths",
     _seed("long"), "scf-demo", 7, "tests", "text",
     {"str8": "x" * 32, "str16": "y" * 300}, None),
    ("other-chain", "same body on another chain id: signature and id differ",
     RFC8032_TEST1_SEED, "scf-consortium-prod.1", 0, "governance", "ping", {}, None),
    ("expiry-height-one", "smallest expiry height and a list of 16 items (array16)",
     _seed("expiry"), "scf-demo", 8, "tests", "lists",
     {"items": list(range(16))}, 1),
    ("factoring-accept", "a factoring acceptance with basis points and a 32-byte reference",
     _seed("bank"), "scf-demo", 42, "factoring", "accept",
     {"advance_rate_bp": 8000, "discount_rate_bp": 450, "fee": 0,
      "invoice_fp": hashlib.sha256(b"fp").digest(), "recourse": True}, None),
]


def build_case(name: str, about: str, seed_hex: str, chain_id: str, nonce: int, contract: str,
               method: str, args: dict[str, Any], expiry: int | None) -> dict[str, Any]:
    key = SigningKey(bytes.fromhex(seed_hex))
    tx = Transaction(chain_id, key.public_key, nonce, contract, method, args, expiry)
    signed = tx.sign(key)
    signed_bytes = signed.encode()
    return {
        "name": name,
        "about": about,
        "secret_seed_hex": seed_hex,
        "public_key_hex": key.public_key.hex(),
        "chain_id": chain_id,
        "nonce": str(nonce),
        "contract": contract,
        "method": method,
        "args": to_json(args),
        "expiry_height": None if expiry is None else str(expiry),
        "args_hex": codec.encode(args).hex(),
        "tx_body_hex": tx.encode().hex(),
        "sign_tag_hex": Tag.TX_SIGN.value.hex(),
        "signing_bytes_hex": tx.signing_bytes().hex(),
        "signature_hex": signed.signature.hex(),
        "signed_tx_hex": signed_bytes.hex(),
        "hash_tag_hex": Tag.TX_ID.value.hex(),
        "tx_id_hex": signed.tx_id.hex(),
    }


def build_document() -> dict[str, Any]:
    return {
        "about": "scf-ledger signed transaction vectors; format in docs/transaction-format.md. "
                 "Values in 'args' use the typed JSON form (ints and nonces as decimal strings).",
        "generator": "tests/vectors/generate_transactions.py",
        "cases": [build_case(*case) for case in CASES],
    }


def render() -> str:
    return json.dumps(build_document(), indent=1, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {len(CASES)} cases to {OUTPUT}")
