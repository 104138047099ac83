"""Views of ledger state: committed reads, buffered writes, namespaces.

State is a map from bytes keys to bytes values, authenticated by the sparse
Merkle tree (ledger/smt.py). Execution never writes to storage: a block runs
on an `Overlay` over the committed state, each transaction on a child overlay
that is merged into the block's only if the transaction succeeds, so "a
failed transaction changes no other state" holds by construction. The block
overlay's `changes()` then become one tree update and one storage batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol

from ledger.errors import Code, LedgerError

MAX_KEY_SIZE = 1024
MAX_VALUE_SIZE = 1 << 20

#: Marks a key an overlay has no write for (`None` there is a delete).
_ABSENT = object()


class StateReader(Protocol):
    def get(self, key: bytes) -> bytes | None: ...


class EmptyState:
    """The state before genesis."""

    def get(self, key: bytes) -> bytes | None:
        return None


class MappingState:
    """Committed state held in a mapping (tests, replay from genesis)."""

    def __init__(self, values: Mapping[bytes, bytes]) -> None:
        self._values = values

    def get(self, key: bytes) -> bytes | None:
        return self._values.get(key)


class Overlay:
    """Buffered writes over a reader; `None` in the buffer marks a delete."""

    def __init__(self, base: StateReader) -> None:
        self._base = base
        self._writes: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        # Down the chain of overlays in one loop (a transaction's reads pass
        # its scratch overlay and the block's before the committed state).
        overlay = self
        while True:
            value = overlay._writes.get(key, _ABSENT)
            if value is not _ABSENT:
                return value
            base = overlay._base
            if type(base) is not Overlay:
                return base.get(key)
            overlay = base

    def put(self, key: bytes, value: bytes) -> None:
        _validate_entry(key, value)
        self._writes[key] = value

    def delete(self, key: bytes) -> None:
        _validate_entry(key, b"")
        self._writes[key] = None

    def child(self) -> Overlay:
        """A nested overlay whose writes reach this one only on `merge_into`."""
        return Overlay(self)

    def merge_into(self, parent: Overlay) -> None:
        if parent is not self._base:
            raise ValueError("an overlay merges only into the overlay it was made from")
        parent._writes.update(self._writes)
        self._writes = {}

    def changes(self) -> dict[bytes, bytes | None]:
        """The buffered writes, sorted by key (deterministic order)."""
        return {key: self._writes[key] for key in sorted(self._writes)}

    def __iter__(self) -> Iterator[bytes]:
        return iter(sorted(self._writes))


class Namespace:
    """A view confined to keys under `prefix` (one per contract)."""

    def __init__(self, overlay: Overlay, prefix: bytes) -> None:
        self._overlay = overlay
        self._prefix = prefix

    def get(self, key: bytes) -> bytes | None:
        return self._overlay.get(self._prefix + key)

    def put(self, key: bytes, value: bytes) -> None:
        self._overlay.put(self._prefix + key, value)

    def delete(self, key: bytes) -> None:
        self._overlay.delete(self._prefix + key)


def _validate_entry(key: bytes, value: bytes) -> None:
    if type(key) is not bytes or type(value) is not bytes:
        raise LedgerError(Code.SCHEMA_MISMATCH, "state keys and values are bytes")
    if not 0 < len(key) <= MAX_KEY_SIZE:
        raise LedgerError(
            Code.STATE_KEY_TOO_LARGE, f"state key of {len(key)} bytes (1..{MAX_KEY_SIZE})"
        )
    if len(value) > MAX_VALUE_SIZE:
        raise LedgerError(
            Code.STATE_VALUE_TOO_LARGE, f"state value of {len(value)} bytes (max {MAX_VALUE_SIZE})"
        )
