"""The key-value contract every storage backend of scf-ledger keeps.

Everything the chain persists (blocks, certificates, receipts, state) is
bytes under bytes keys, read back by key or scanned in key order under a
prefix. This module fixes that contract, so that the chain code is written
once against `KVStore` and runs unchanged on `MemoryStore` (tests,
simulation) and `LevelDBStore` (a node's disk); a property test holds the two
to the same answers at every step.

Theory of operation:

* Keys and values are `bytes` (never `bytearray`, `str` or `memoryview`);
  anything else raises `LedgerError(STORE_BAD_KEY)` before the store is
  touched. The empty key is a key like any other.
* Order is bytewise (`memcmp`, shorter first on a common prefix), which is
  what LevelDB's default comparator does and what Python's `bytes` `<` does.
* `iterate(prefix)` yields exactly the keys that start with `prefix`, in
  ascending order (descending with `reverse=True`). `start`, which must
  itself start with `prefix`, is an inclusive lower bound going forward and
  an inclusive upper bound going backward. A prefix of 0xff bytes has no
  finite upper bound; `compute_prefix_end` returns None for it and the
  backends handle that case, so no key outside the prefix ever leaks in.
* An iterator sees the store as of its creation (LevelDB iterators pin an
  implicit snapshot; `MemoryStore` does the same), so writing while
  iterating is safe and never changes what the iteration yields.
* `WriteBatch` is built by pure code and applied by `KVStore.write` all at
  once: after a crash either every op is there or none is. Ops apply in
  order, so the last op on a key wins. `write(batch, sync=True)` returns
  only once the batch is on disk; single `put` and `delete` are not synced
  (they survive a crash of the process, not a power loss), so anything that
  must survive a power loss goes through a synced batch.
* Every failure is a `LedgerError` with a `STORE_*` code; using a closed
  store, or a snapshot or iterator of one, raises `STORE_CLOSED`.
* Stores are not thread-safe: one owner (the node's storage task) uses them.

This module is pure: no I/O, no backend import.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from ledger.errors import Code, LedgerError

# One op of a batch: (key, value) is a put, (key, None) a delete.
Op = tuple[bytes, bytes | None]


def validate_bytes(value: object, what: str) -> bytes:
    """Return `value` if it is bytes; raise STORE_BAD_KEY naming `what` otherwise."""
    if not isinstance(value, bytes):
        raise LedgerError(Code.STORE_BAD_KEY, f"{what} must be bytes, got {type(value).__name__}")
    return value


def validate_range(prefix: object, start: object) -> tuple[bytes, bytes | None]:
    """Return (prefix, start) if both are bytes (start may be None) and start is under prefix.

    Raises STORE_BAD_KEY otherwise.
    """
    prefix_bytes = validate_bytes(prefix, "prefix")
    if start is None:
        return prefix_bytes, None
    start_bytes = validate_bytes(start, "start")
    if not start_bytes.startswith(prefix_bytes):
        raise LedgerError(
            Code.STORE_BAD_KEY,
            f"start {start_bytes.hex()} does not begin with prefix {prefix_bytes.hex()}",
        )
    return prefix_bytes, start_bytes


def compute_prefix_end(prefix: bytes) -> bytes | None:
    """The least key above every key that starts with `prefix`; None if there is none.

    b"ab" -> b"ac", b"a\\xff" -> b"b"; b"", b"\\xff" and b"\\xff\\xff" -> None
    (every key from `prefix` upward starts with `prefix`).
    """
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes((stripped[-1] + 1,))


class WriteBatch:
    """An ordered list of puts and deletes, applied atomically by `KVStore.write`.

    Ops can be appended, never edited or removed; `ops` is a tuple snapshot.
    Applying the ops in order is the meaning of a batch, so a later op on a
    key overrides an earlier one. Keys and values are validated as they are
    added, so a store never meets a bad op half-way through a write.
    """

    __slots__ = ("_ops",)

    def __init__(self, ops: tuple[Op, ...] = ()) -> None:
        self._ops: list[Op] = []
        for key, value in ops:
            if value is None:
                self.delete(key)
            else:
                self.put(key, value)

    def put(self, key: bytes, value: bytes) -> None:
        self._ops.append((validate_bytes(key, "key"), validate_bytes(value, "value")))

    def put_all(self, items: Iterable[tuple[bytes, bytes]]) -> None:
        """`put` of each (key, value), in order: one call for a block's thousands."""
        append = self._ops.append
        for key, value in items:
            if type(key) is not bytes or type(value) is not bytes:  # the rare case: subclasses
                validate_bytes(key, "key")
                validate_bytes(value, "value")
            append((key, value))

    def delete(self, key: bytes) -> None:
        self._ops.append((validate_bytes(key, "key"), None))

    @property
    def ops(self) -> tuple[Op, ...]:
        return tuple(self._ops)

    def merge(self, other: WriteBatch) -> WriteBatch:
        """A new batch: these ops, then `other`'s (which win). Neither input changes."""
        if not isinstance(other, WriteBatch):
            raise LedgerError(
                Code.STORE_BAD_KEY, f"can only merge a WriteBatch, got {type(other).__name__}"
            )
        merged = WriteBatch()
        merged._ops = self._ops + other._ops
        return merged

    def __len__(self) -> int:
        return len(self._ops)

    def __repr__(self) -> str:
        return f"WriteBatch({len(self._ops)} ops)"


def validate_batch(batch: object) -> WriteBatch:
    """Return `batch` if it is a WriteBatch; raise STORE_BAD_KEY otherwise."""
    if not isinstance(batch, WriteBatch):
        raise LedgerError(
            Code.STORE_BAD_KEY, f"write takes a WriteBatch, got {type(batch).__name__}"
        )
    return batch


class ClosesOnExit:
    """`with store:` / `with snapshot:` closes it; shared by every backend."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


@runtime_checkable
class KVReader(Protocol):
    """Read access: point lookups and ordered prefix scans."""

    def get(self, key: bytes) -> bytes | None:
        """The value under `key`, or None if there is none."""
        ...

    def iterate(
        self, prefix: bytes, *, start: bytes | None = None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) for every key starting with `prefix`, in bytewise order.

        Ascending, or descending if `reverse`. `start` (which must begin
        with `prefix`) is an inclusive lower bound going forward and an
        inclusive upper bound going backward. Arguments are checked when
        this is called, not when the iterator is first advanced.
        """
        ...


@runtime_checkable
class KVSnapshot(KVReader, Protocol):
    """A reader frozen at the moment it was taken; later writes are invisible to it."""

    def close(self) -> None:
        """Release the snapshot (idempotent); reads afterwards raise STORE_CLOSED."""
        ...

    def __enter__(self) -> KVSnapshot: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@runtime_checkable
class KVStore(KVReader, Protocol):
    """A durable, ordered key-value store with atomic batches and snapshots."""

    def put(self, key: bytes, value: bytes) -> None:
        """Set `key` to `value` (not synced; see the module docstring)."""
        ...

    def delete(self, key: bytes) -> None:
        """Remove `key`; removing an absent key is not an error (not synced)."""
        ...

    def write(self, batch: WriteBatch, *, sync: bool = True) -> None:
        """Apply every op of `batch` atomically; if `sync`, return only once durable."""
        ...

    def snapshot(self) -> KVSnapshot:
        """A reader that sees the store as it is now, whatever is written later."""
        ...

    def close(self) -> None:
        """Release the store (idempotent); its snapshots and iterators close with it."""
        ...

    def __enter__(self) -> KVStore: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
