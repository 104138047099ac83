"""Deterministic keys of the example consortium. For demos and tests ONLY.

Each seed is SHA-256("scf-demo key " + name): anyone can recompute it, so a
chain whose genesis uses these keys has no security at all. A real
consortium generates keys with `scf keys new` and shares only public keys.
"""

from __future__ import annotations

import hashlib

from ledger.crypto import SigningKey


def demo_key(name: str) -> SigningKey:
    return SigningKey(hashlib.sha256(b"scf-demo key " + name.encode()).digest())
