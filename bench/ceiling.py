"""The machine's ceiling for this workload: the work no implementation can skip.

Each validator must at least decode every transaction canonically, verify
its signature once (strictly), and hash it for its id. With V validators on
C cores, no cluster can commit more than

    ceiling = C / (V * (decode + verify + hash) per transaction)

transactions a second; every cluster and replay figure is also reported as a
fraction of it, so figures compare across machines. The transactions are
real `invoices.register` calls of the example consortium, signed before the
clock starts.

Run: .venv/bin/python bench/ceiling.py [TRANSACTIONS] [VALIDATORS]   (default 5000, 4)
Prints `RESULT name=value unit` lines last.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genesis.demo_keys import demo_key  # noqa: E402
from ledger.crypto import verify_signature  # noqa: E402
from ledger.types import SignedTransaction, Transaction  # noqa: E402

CHAIN_ID = "scf-demo"


def signed_registrations(count: int, first_nonce: int = 0, chain_id: str = CHAIN_ID
                         ) -> list[bytes]:
    """`count` encoded `invoices.register` of SUPPLIER-01 (demo key), consecutive nonces."""
    key = demo_key("SUPPLIER-01")
    txs = []
    for nonce in range(first_nonce, first_nonce + count):
        number = f"BENCH-{nonce:08d}"
        args = {"invoice_number": number, "buyer": "CORE-01", "seller_tax_id": "91440300SUP0001",
                "buyer_tax_id": "91110000CORE001", "issue_date": "2026-11-20",
                "due_date": "2027-02-18", "currency": "CNY", "face_amount": 1_000_000 + nonce,
                "document_sha256": hashlib.sha256(number.encode()).digest()}
        txs.append(Transaction(chain_id, key.public_key, nonce, "invoices", "register",
                               args).sign(key).encode())
    return txs


def cost_per_tx(encoded: list[bytes]) -> tuple[float, float, float]:
    """Seconds per transaction for decode, verify and hash (best of 3 passes)."""
    best = [float("inf")] * 3
    for _ in range(3):
        start = time.perf_counter()
        decoded = [SignedTransaction.decode(data) for data in encoded]
        decoded_at = time.perf_counter()
        for tx in decoded:
            if not verify_signature(tx.tx.sender, tx.tx.signing_bytes(), tx.signature):
                raise SystemExit("a benchmark transaction does not verify")
        verified_at = time.perf_counter()
        for data in encoded:
            hashlib.sha256(b"scf/hash/tx/v1" + data).digest()
        hashed_at = time.perf_counter()
        n = len(encoded)
        for i, seconds in enumerate((decoded_at - start, verified_at - decoded_at,
                                     hashed_at - verified_at)):
            best[i] = min(best[i], seconds / n)
    return best[0], best[1], best[2]


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    validators = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    cores = len(os.sched_getaffinity(0))
    encoded = signed_registrations(count)
    decode, verify, hashing = cost_per_tx(encoded)
    per_tx = decode + verify + hashing
    ceiling = cores / (validators * per_tx)
    print(f"machine: {platform.processor() or platform.machine()}, {cores} cores, "
          f"Python {platform.python_version()}")
    print(f"{count} invoices.register transactions, {sum(map(len, encoded)) // count} bytes "
          f"each on average")
    print(f"per transaction: decode {decode * 1e6:.1f} us, verify {verify * 1e6:.1f} us, "
          f"hash {hashing * 1e6:.1f} us")
    print(f"ceiling for {validators} validators on {cores} cores: {ceiling:,.0f} tx/s")
    print(f"RESULT decode_us={decode * 1e6:.1f} us")
    print(f"RESULT verify_us={verify * 1e6:.1f} us")
    print(f"RESULT hash_us={hashing * 1e6:.2f} us")
    print(f"RESULT ceiling_{validators}_validators={ceiling:.0f} tx/s")


if __name__ == "__main__":
    main()
