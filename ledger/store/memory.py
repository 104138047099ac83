"""`MemoryStore`: the KVStore contract in memory, for tests and the simulated network.

A simulated validator needs a store that behaves exactly like its LevelDB
store (same order, same prefix bounds, same snapshot and closed-store
rules) but costs nothing to create and throw away; the property test in
tests/property/test_store_equivalence.py holds the two to the same answers.
Nothing here is durable: `sync` is accepted and ignored.

Theory of operation: the data lives in a `_Table`, a dict for lookups plus
a sorted list of its keys for ordered scans (bisect to find a range, so a
scan costs O(log n + k) and a put or delete O(log n) search plus one list
shift, fine at 10^5 keys). Readers that must not see later writes (snapshots
and live iterators) *pin* the table; a write to a pinned table first copies
it (copy-on-write), so a pinned table is never mutated again. The copy costs
O(n) once per write that follows a new pin, not once per write. Iterators
unpin when they finish or are discarded (an iterator discarded before its
first step stays pinned: that costs one extra copy, never a wrong answer);
snapshots unpin when closed.

Deterministic: the same calls give the same results and the same order,
whatever `PYTHONHASHSEED` is (order comes from the sorted list, not the dict).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator

from ledger.errors import Code, LedgerError
from ledger.store.kv import (
    ClosesOnExit,
    WriteBatch,
    compute_prefix_end,
    validate_batch,
    validate_bytes,
    validate_range,
)


class _Table:
    """One version of the data: never mutated while `pins` > 0."""

    __slots__ = ("values", "keys", "pins")

    def __init__(self, values: dict[bytes, bytes], keys: list[bytes]) -> None:
        self.values = values
        self.keys = keys
        self.pins = 0

    def copy(self) -> _Table:
        return _Table(dict(self.values), list(self.keys))

    def put(self, key: bytes, value: bytes) -> None:
        if key not in self.values:
            self.keys.insert(bisect_left(self.keys, key), key)
        self.values[key] = value

    def delete(self, key: bytes) -> None:
        if self.values.pop(key, None) is not None:
            del self.keys[bisect_left(self.keys, key)]

    def index_range(self, prefix: bytes, start: bytes | None, reverse: bool) -> range:
        """Indices into `keys` of the scan, in the order to visit them."""
        end = compute_prefix_end(prefix)
        high = len(self.keys) if end is None else bisect_left(self.keys, end)
        if reverse:
            if start is not None:
                high = bisect_right(self.keys, start)
            return range(high - 1, bisect_left(self.keys, prefix) - 1, -1)
        return range(bisect_left(self.keys, prefix if start is None else start), high)


def _scan(
    table: _Table, indices: range, is_closed: _ClosedCheck
) -> Iterator[tuple[bytes, bytes]]:
    """Yield the pinned table's items at `indices`; unpin when done or discarded."""
    try:
        for index in indices:
            is_closed()
            key = table.keys[index]
            yield key, table.values[key]
    finally:
        table.pins -= 1


class _ClosedCheck:
    """Raises STORE_CLOSED if the store, or the snapshot, it watches is closed."""

    __slots__ = ("_store", "_snapshot")

    def __init__(self, store: MemoryStore, snapshot: MemorySnapshot | None = None) -> None:
        self._store = store
        self._snapshot = snapshot

    def __call__(self) -> None:
        if self._store.closed:
            raise LedgerError(Code.STORE_CLOSED, "the memory store is closed")
        if self._snapshot is not None and self._snapshot.closed:
            raise LedgerError(Code.STORE_CLOSED, "the snapshot is closed")


def _get(table: _Table, key: object, is_closed: _ClosedCheck) -> bytes | None:
    checked = validate_bytes(key, "key")
    is_closed()
    return table.values.get(checked)


def _iterate(
    table: _Table, prefix: object, start: object, reverse: bool, is_closed: _ClosedCheck
) -> Iterator[tuple[bytes, bytes]]:
    prefix_bytes, start_bytes = validate_range(prefix, start)
    is_closed()
    indices = table.index_range(prefix_bytes, start_bytes, reverse)
    table.pins += 1
    return _scan(table, indices, is_closed)


class MemorySnapshot(ClosesOnExit):
    """The store's data as of `MemoryStore.snapshot()`; closes with its store."""

    __slots__ = ("_table", "_closed", "_check")

    def __init__(self, store: MemoryStore, table: _Table) -> None:
        self._table = table
        self._closed = False
        self._check = _ClosedCheck(store, self)
        table.pins += 1

    @property
    def closed(self) -> bool:
        return self._closed

    def get(self, key: bytes) -> bytes | None:
        return _get(self._table, key, self._check)

    def iterate(
        self, prefix: bytes, *, start: bytes | None = None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        return _iterate(self._table, prefix, start, reverse, self._check)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._table.pins -= 1


class MemoryStore(ClosesOnExit):
    """An in-memory KVStore; see the module docstring for costs and guarantees."""

    __slots__ = ("_table", "_closed", "_check")

    def __init__(self) -> None:
        self._table = _Table({}, [])
        self._closed = False
        self._check = _ClosedCheck(self)

    @property
    def closed(self) -> bool:
        return self._closed

    def get(self, key: bytes) -> bytes | None:
        return _get(self._table, key, self._check)

    def iterate(
        self, prefix: bytes, *, start: bytes | None = None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        return _iterate(self._table, prefix, start, reverse, self._check)

    def put(self, key: bytes, value: bytes) -> None:
        checked_key = validate_bytes(key, "key")
        checked_value = validate_bytes(value, "value")
        self._writable().put(checked_key, checked_value)

    def delete(self, key: bytes) -> None:
        checked_key = validate_bytes(key, "key")
        self._writable().delete(checked_key)

    def write(self, batch: WriteBatch, *, sync: bool = True) -> None:
        # The batch validated every op as it was added, so applying cannot
        # fail half-way: the write is atomic.
        ops = validate_batch(batch).ops
        table = self._writable()
        for key, value in ops:
            if value is None:
                table.delete(key)
            else:
                table.put(key, value)

    def snapshot(self) -> MemorySnapshot:
        self._check()
        return MemorySnapshot(self, self._table)

    def close(self) -> None:
        self._closed = True

    def _writable(self) -> _Table:
        """The current table, copied first if a reader has pinned it."""
        self._check()
        if self._table.pins > 0:
            self._table = self._table.copy()
        return self._table
