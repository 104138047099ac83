"""scf-ledger: the pure, deterministic core (formats, crypto, Merkle lists)."""
