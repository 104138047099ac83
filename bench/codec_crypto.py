"""Throughput of the foundation: encode/decode, sign/verify, tx ids, Merkle roots.

Run with `make bench` (or `.venv/bin/python bench/codec_crypto.py`). Prints
one `RESULT name=value unit` line per figure, last. Single-threaded: these
are per-core figures. Uses a realistic invoice-registration transaction.
"""

from __future__ import annotations

import hashlib
import os
import platform
import time
from collections.abc import Callable

from ledger import merkle
from ledger.crypto import SigningKey, verify_signature
from ledger.types import SignedTransaction, Transaction, compute_txs_root

MIN_SECONDS = 1.0


def rate(label: str, action: Callable[[], object]) -> float:
    """Calls per second of `action`, measured over at least MIN_SECONDS."""
    count, start = 0, time.perf_counter()
    batch = 1
    while True:
        for _ in range(batch):
            action()
        count += batch
        elapsed = time.perf_counter() - start
        if elapsed >= MIN_SECONDS:
            return count / elapsed
        batch *= 2


def sample_transaction() -> tuple[SigningKey, SignedTransaction]:
    key = SigningKey(hashlib.sha256(b"bench").digest())
    tx = Transaction(
        chain_id="scf-bench", sender=key.public_key, nonce=12345, contract="invoices",
        method="register",
        args={"buyer": "CN-91310000MA1K4L7X2Q", "currency": "CNY",
              "document_sha256": hashlib.sha256(b"doc").digest(), "due_date": "2027-03-31",
              "face_amount": 12_500_000, "invoice_number": "INV-2026-00042",
              "issue_date": "2026-11-23"},
        expiry_height=1000,
    )
    return key, tx.sign(key)


def main() -> None:
    key, signed = sample_transaction()
    data = signed.encode()
    message = signed.tx.signing_bytes()
    leaves = [data] * 1000
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"sample signed transaction: {len(data)} bytes")
    figures = [
        ("signed_tx_encode", rate("encode", signed.encode), "ops/s"),
        ("signed_tx_decode", rate("decode", lambda: SignedTransaction.decode(data)), "ops/s"),
        ("tx_id", rate("tx id", lambda: signed.tx_id), "ops/s"),
        ("ed25519_sign", rate("sign", lambda: key.sign(message)), "ops/s"),
        ("ed25519_verify_strict",
         rate("verify", lambda: verify_signature(key.public_key, message, signed.signature)), "ops/s"),
        ("decode_and_verify_tx",
         rate("decode+verify", lambda: SignedTransaction.decode(data).has_valid_signature()), "ops/s"),
        ("merkle_root_1000_leaves", rate("merkle", lambda: merkle.root(leaves)), "roots/s"),
        ("txs_root_1000_txs", rate("txs root", lambda: compute_txs_root([signed] * 1000)), "roots/s"),
    ]
    for name, value, unit in figures:
        print(f"RESULT {name}={value:,.0f} {unit}".replace(",", ""))


if __name__ == "__main__":
    main()
