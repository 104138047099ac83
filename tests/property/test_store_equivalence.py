"""MemoryStore and LevelDBStore keep the same contract, step by step.

The contract, stated plainly: after any sequence of puts, deletes, batches
(with repeated keys), reopenings of the LevelDB directory and snapshots,
both stores and a plain dict model agree on every get, and every prefix
iteration (any start bound, either direction) yields exactly the model's
keys under that prefix in bytewise order; a snapshot keeps answering as the
model did when it was taken; an iterator created before a write yields the
data as of its creation. Keys come from a three-letter alphabet (0x00, "a",
0xff) so that prefixes overlap and 0xff-heavy prefixes are common.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ledger.store import KVReader, KVSnapshot, LevelDBStore, MemoryStore, WriteBatch

Model = dict[bytes, bytes]

SYMBOLS = [b"\x00", b"a", b"\xff"]
KEYS = st.lists(st.sampled_from(SYMBOLS), max_size=3).map(b"".join)
PREFIXES = st.lists(st.sampled_from(SYMBOLS), max_size=2).map(b"".join)
VALUES = st.binary(max_size=6)
OPS = st.lists(st.tuples(KEYS, st.none() | VALUES), max_size=8)
MAX_SNAPSHOTS = 3


def expected_scan(
    model: Model, prefix: bytes, start: bytes | None, reverse: bool
) -> list[tuple[bytes, bytes]]:
    keys = sorted(key for key in model if key.startswith(prefix))
    if reverse:
        keys = [key for key in reversed(keys) if start is None or key <= start]
    else:
        keys = [key for key in keys if start is None or key >= start]
    return [(key, model[key]) for key in keys]


def apply_ops(model: Model, ops: Iterable[tuple[bytes, bytes | None]]) -> None:
    for key, value in ops:
        if value is None:
            model.pop(key, None)
        else:
            model[key] = value


class StoreEquivalence(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="store-equivalence-"))
        self.memory = MemoryStore()
        self.leveldb = LevelDBStore(self.directory / "db")
        self.model: Model = {}
        # (model as of the snapshot, memory snapshot, leveldb snapshot)
        self.snapshots: list[tuple[Model, KVSnapshot, KVSnapshot]] = []

    def teardown(self) -> None:
        self._close_snapshots()
        self.memory.close()
        self.leveldb.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _close_snapshots(self) -> None:
        for _, memory_snapshot, leveldb_snapshot in self.snapshots:
            memory_snapshot.close()
            leveldb_snapshot.close()
        self.snapshots.clear()

    def _readers(self) -> tuple[KVReader, KVReader]:
        return self.memory, self.leveldb

    @rule(key=KEYS, value=VALUES)
    def put(self, key: bytes, value: bytes) -> None:
        self.memory.put(key, value)
        self.leveldb.put(key, value)
        self.model[key] = value

    @rule(key=KEYS)
    def delete(self, key: bytes) -> None:
        self.memory.delete(key)
        self.leveldb.delete(key)
        self.model.pop(key, None)

    @rule(ops=OPS, split=st.integers(0, 8), sync=st.booleans())
    def write_batch(self, ops: list[tuple[bytes, bytes | None]], split: int, sync: bool) -> None:
        # Built as two batches and merged, to exercise merge order as well.
        batch = WriteBatch(tuple(ops[:split])).merge(WriteBatch(tuple(ops[split:])))
        self.memory.write(batch, sync=sync)
        self.leveldb.write(batch, sync=sync)
        apply_ops(self.model, ops)

    @rule(key=KEYS)
    def get(self, key: bytes) -> None:
        for reader in self._readers():
            assert reader.get(key) == self.model.get(key)

    @rule(prefix=PREFIXES, data=st.data(), reverse=st.booleans())
    def iterate(self, prefix: bytes, data: st.DataObject, reverse: bool) -> None:
        start = data.draw(st.none() | KEYS.map(lambda suffix: prefix + suffix), label="start")
        expected = expected_scan(self.model, prefix, start, reverse)
        for reader in self._readers():
            assert list(reader.iterate(prefix, start=start, reverse=reverse)) == expected

    @rule(prefix=PREFIXES, reverse=st.booleans(), ops=OPS)
    def iterate_across_a_write(
        self, prefix: bytes, reverse: bool, ops: list[tuple[bytes, bytes | None]]
    ) -> None:
        expected = expected_scan(self.model, prefix, None, reverse)
        iterators = [reader.iterate(prefix, reverse=reverse) for reader in self._readers()]
        firsts = [next(iterator, None) for iterator in iterators]
        self.write_batch(ops, split=0, sync=False)
        for first, iterator in zip(firsts, iterators, strict=True):
            seen = ([] if first is None else [first]) + list(iterator)
            assert seen == expected

    @precondition(lambda self: len(self.snapshots) < MAX_SNAPSHOTS)
    @rule()
    def take_snapshot(self) -> None:
        self.snapshots.append((dict(self.model), self.memory.snapshot(), self.leveldb.snapshot()))

    @precondition(lambda self: self.snapshots)
    @rule(data=st.data(), prefix=PREFIXES, key=KEYS, reverse=st.booleans())
    def read_snapshot(self, data: st.DataObject, prefix: bytes, key: bytes, reverse: bool) -> None:
        model, *readers = data.draw(st.sampled_from(self.snapshots), label="snapshot")
        expected = expected_scan(model, prefix, None, reverse)
        for reader in readers:
            assert reader.get(key) == model.get(key)
            assert list(reader.iterate(prefix, reverse=reverse)) == expected

    @precondition(lambda self: self.snapshots)
    @rule(data=st.data())
    def close_snapshot(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(0, len(self.snapshots) - 1), label="index")
        _, memory_snapshot, leveldb_snapshot = self.snapshots.pop(index)
        memory_snapshot.close()
        leveldb_snapshot.close()

    @rule()
    def reopen_leveldb(self) -> None:
        # Closing a store closes its snapshots; keep the two sides alike.
        self._close_snapshots()
        self.leveldb.close()
        self.leveldb = LevelDBStore(self.directory / "db", create=False)

    @invariant()
    def everything_agrees(self) -> None:
        expected = sorted(self.model.items())
        assert list(self.memory.iterate(b"")) == expected
        assert list(self.leveldb.iterate(b"")) == expected


StoreEquivalence.TestCase.settings = settings(stateful_step_count=25)
TestStoreEquivalence = StoreEquivalence.TestCase
