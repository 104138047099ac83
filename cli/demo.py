"""What `make demo` runs until the node exists: the foundation, end to end.

A supplier signs an invoice registration, the bytes are checked the way
every node will check them, a tampered copy is refused, and a block's
transaction list gets a Merkle root with an inclusion proof a bank could
verify. The 4-validator consortium replaces this once the ledger core,
contracts, consensus and node issues land.
"""

from __future__ import annotations

import hashlib

from ledger import merkle
from ledger.crypto import SigningKey
from ledger.errors import LedgerError
from ledger.types import SignedTransaction, Transaction, compute_txs_root

CHAIN_ID = "scf-demo"


def _key(name: str) -> SigningKey:
    return SigningKey(hashlib.sha256(f"scf-demo member {name}".encode()).digest())


def main() -> None:
    supplier = _key("supplier")
    print("scf-ledger demo (foundation only)\n")
    txs = []
    for nonce, number in enumerate(["INV-2026-0001", "INV-2026-0002", "INV-2026-0003"]):
        tx = Transaction(CHAIN_ID, supplier.public_key, nonce, "invoices", "register",
                         {"invoice_number": number, "buyer": "CORE-ENTERPRISE-01", "currency": "CNY",
                          "face_amount": 12_500_000 + nonce, "due_date": "2027-03-31"})
        txs.append(tx.sign(supplier))
    first = txs[0]
    wire = first.encode()
    print(f"1. supplier {supplier.public_key.hex()[:16]}… signs an invoice registration")
    print(f"   signed transaction: {len(wire)} bytes, id {first.tx_id.hex()}")
    decoded = SignedTransaction.decode(wire)
    decoded.validate(CHAIN_ID)
    print("2. a node decodes the canonical bytes and verifies the signature: OK")
    tampered = bytearray(wire)
    tampered[wire.index(b"INV-2026-0001") + 12] ^= 0x01  # 0001 -> 0000
    try:
        SignedTransaction.decode(bytes(tampered)).validate(CHAIN_ID)
        print("3. tampered copy accepted (this must never happen)")
        raise SystemExit(1)
    except LedgerError as error:
        print(f"3. a copy with one changed invoice digit is refused: {error.code.value}")
    try:
        first.validate("another-chain")
    except LedgerError as error:
        print(f"4. the same transaction replayed on another chain is refused: {error.code.value}")
    root = compute_txs_root(txs)
    proof = merkle.inclusion_proof([tx.encode() for tx in txs], 1)
    merkle.verify_inclusion(txs[1].encode(), proof, root)  # raises if it does not verify
    print(f"5. txs root of a 3-transaction block {root.hex()[:16]}…; "
          f"inclusion proof of tx #1 ({len(proof.path)} hashes) verifies: OK")
    print("\nNot yet built: the LevelDB chain store and state (issue 4), the financing contracts\n"
          "(issues 5-6), BFT consensus (issue 7) and the node with its 4-validator localnet (issue 8).\n"
          "`make demo` will run a full financing scenario on 4 local validators once they land.")


if __name__ == "__main__":
    main()
