"""The guarded signer: every consensus signature passes through here.

A validator that signs two different things for the same (height, round,
step) equivocates, and equivocation by more than f validators breaks BFT
safety. So signing is allowed only forwards:

* a request for a (height, round, step) below the last signed one is refused;
* a request for the same (height, round, step) with different bytes is refused;
* the same request again returns the stored signature (after a crash the node
  may ask again for the vote it already sent; it must get the same one).

The last-signed record is saved through `SignStore.save`, which must be
durable (fsync) before it returns, BEFORE the signature leaves this module:
a crash after signing but before saving would let the node sign again.
Storage is injected: a file store in the node (node/runtime), memory in the
simulation. The rules here are pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from ledger.crypto import SigningKey
from ledger.errors import Code, LedgerError


class Step(IntEnum):
    PROPOSE = 1
    PREVOTE = 2
    PRECOMMIT = 3


@dataclass(frozen=True, slots=True)
class LastSigned:
    height: int
    round: int
    step: Step
    sign_bytes: bytes
    signature: bytes

    @property
    def position(self) -> tuple[int, int, int]:
        return (self.height, self.round, int(self.step))


class SignStore(Protocol):
    def load(self) -> LastSigned | None: ...

    def save(self, record: LastSigned) -> None:
        """Persists `record` durably before returning."""


class MemorySignStore:
    """For the simulation and tests: survives a simulated crash, not a real one."""

    def __init__(self) -> None:
        self.record: LastSigned | None = None

    def load(self) -> LastSigned | None:
        return self.record

    def save(self, record: LastSigned) -> None:
        self.record = record


def check_request(last: LastSigned | None, height: int, round: int, step: Step,
                  sign_bytes: bytes) -> bytes | None:
    """The stored signature to reuse, None to sign afresh; raises if refused."""
    if last is None:
        return None
    requested = (height, round, int(step))
    if requested < last.position:
        raise LedgerError(Code.DOUBLE_SIGN_REFUSED,
                          f"refusing to sign {requested}: already signed {last.position}")
    if requested == last.position:
        if sign_bytes != last.sign_bytes:
            raise LedgerError(Code.DOUBLE_SIGN_REFUSED,
                              f"refusing to sign different bytes at {requested}")
        return last.signature
    return None


class GuardedSigner:
    def __init__(self, key: SigningKey, store: SignStore) -> None:
        self._key = key
        self._store = store

    @property
    def public_key(self) -> bytes:
        return self._key.public_key

    def sign(self, height: int, round: int, step: Step, sign_bytes: bytes) -> bytes:
        reuse = check_request(self._store.load(), height, round, step, sign_bytes)
        if reuse is not None:
            return reuse
        signature = self._key.sign(sign_bytes)
        self._store.save(LastSigned(height, round, step, sign_bytes, signature))
        return signature
