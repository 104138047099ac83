"""The KVStore contract, held on MemoryStore and on a real LevelDB alike.

Every behaviour test runs once per backend (the `store` fixture). The
LevelDB-only tests at the end use real directories, real child processes
(for the lock and for a kill -9 in the middle of batch writes) and real file
damage, and check that only `LedgerError` with a `STORE_*` code ever comes
out, with a message an operator can act on.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from ledger.errors import Code, LedgerError
from ledger.store import KVStore, LevelDBStore, MemoryStore, WriteBatch, compute_prefix_end
from ledger.store import leveldb as leveldb_module

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["memory", "leveldb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KVStore]:
    opened: KVStore = MemoryStore() if request.param == "memory" else LevelDBStore(tmp_path / "db")
    with opened:
        yield opened


def keys_of(items: Iterator[tuple[bytes, bytes]]) -> list[bytes]:
    return [key for key, _ in items]


def fill(store: KVStore, keys: list[bytes]) -> None:
    for key in keys:
        store.put(key, b"v:" + key)


def everything(store: KVStore) -> list[tuple[bytes, bytes]]:
    return list(store.iterate(b""))


def raises_code(code: Code) -> AbstractContextManager[pytest.ExceptionInfo[LedgerError]]:
    return pytest.raises(LedgerError, match=f"^{code.value}: ")


# --- get / put / delete ---------------------------------------------------------


def test_get_put_delete(store: KVStore) -> None:
    assert store.get(b"k") is None
    store.put(b"k", b"1")
    assert store.get(b"k") == b"1"
    store.put(b"k", b"2")
    assert store.get(b"k") == b"2"
    store.delete(b"k")
    assert store.get(b"k") is None
    store.delete(b"k")  # deleting an absent key is not an error
    assert everything(store) == []


def test_empty_key_and_empty_value_are_ordinary(store: KVStore) -> None:
    store.put(b"", b"")
    store.put(b"a", b"")
    assert store.get(b"") == b""
    assert everything(store) == [(b"", b""), (b"a", b"")]


def test_is_a_kvstore(store: KVStore) -> None:
    assert isinstance(store, KVStore)


# --- iteration ------------------------------------------------------------------

KEYS = [b"", b"a", b"a\x00", b"ab", b"abc", b"ac", b"b", b"\x00", b"\x7f", b"\x80"]


def test_prefix_iteration_is_bytewise_ascending_and_exact(store: KVStore) -> None:
    fill(store, list(reversed(KEYS)))
    assert keys_of(store.iterate(b"")) == sorted(KEYS)
    assert keys_of(store.iterate(b"a")) == [b"a", b"a\x00", b"ab", b"abc", b"ac"]
    assert keys_of(store.iterate(b"ab")) == [b"ab", b"abc"]
    assert keys_of(store.iterate(b"abcd")) == []
    assert keys_of(store.iterate(b"z")) == []
    assert list(store.iterate(b"ab")) == [(b"ab", b"v:ab"), (b"abc", b"v:abc")]


def test_reverse_iteration_is_descending(store: KVStore) -> None:
    fill(store, KEYS)
    assert keys_of(store.iterate(b"", reverse=True)) == sorted(KEYS, reverse=True)
    assert keys_of(store.iterate(b"a", reverse=True)) == [b"ac", b"abc", b"ab", b"a\x00", b"a"]


@pytest.mark.parametrize(
    ("prefix", "start", "reverse", "expected"),
    [
        # forward: start is an inclusive lower bound
        (b"a", b"ab", False, [b"ab", b"abc", b"ac"]),
        (b"a", b"a", False, [b"a", b"a\x00", b"ab", b"abc", b"ac"]),
        (b"a", b"aa", False, [b"ab", b"abc", b"ac"]),  # absent start key
        (b"a", b"ad", False, []),
        (b"", b"b", False, [b"b", b"\x7f", b"\x80"]),
        # reverse: start is an inclusive upper bound
        (b"a", b"ab", True, [b"ab", b"a\x00", b"a"]),
        (b"a", b"abz", True, [b"abc", b"ab", b"a\x00", b"a"]),  # absent start key
        (b"a", b"a", True, [b"a"]),
        (b"a", b"a\xff\xff", True, [b"ac", b"abc", b"ab", b"a\x00", b"a"]),
        (b"", b"\x00", True, [b"\x00", b""]),
    ],
)
def test_start_bound(
    store: KVStore, prefix: bytes, start: bytes, reverse: bool, expected: list[bytes]
) -> None:
    fill(store, KEYS)
    assert keys_of(store.iterate(prefix, start=start, reverse=reverse)) == expected


@pytest.mark.parametrize("reverse", [False, True])
def test_start_outside_the_prefix_is_refused(store: KVStore, reverse: bool) -> None:
    fill(store, KEYS)
    with raises_code(Code.STORE_BAD_KEY):
        store.iterate(b"ab", start=b"a", reverse=reverse)  # refused at the call, not at next()


FF_KEYS = [
    b"\xfe",
    b"\xfe\xff",
    b"\xfe\xff\xff",
    b"\xff",
    b"\xff\x00",
    b"\xff\xfe\xff",
    b"\xff\xff",
    b"\xff\xff\x00",
    b"\xff\xff\xff",
    b"\xff\xff\xff\xff",
]


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        (b"\xff\xff", [b"\xff\xff", b"\xff\xff\x00", b"\xff\xff\xff", b"\xff\xff\xff\xff"]),
        (b"\xff\xff\xff", [b"\xff\xff\xff", b"\xff\xff\xff\xff"]),
        (b"\xff", FF_KEYS[3:]),
        (b"\xfe\xff", [b"\xfe\xff", b"\xfe\xff\xff"]),
        (b"\xff\xfe", [b"\xff\xfe\xff"]),
        (b"\xff\x00", [b"\xff\x00"]),
    ],
)
def test_0xff_prefixes_do_not_leak(store: KVStore, prefix: bytes, expected: list[bytes]) -> None:
    fill(store, FF_KEYS)
    assert keys_of(store.iterate(prefix)) == expected
    assert keys_of(store.iterate(prefix, reverse=True)) == expected[::-1]
    assert keys_of(store.iterate(prefix, start=expected[-1])) == [expected[-1]]
    assert keys_of(store.iterate(prefix, start=expected[0], reverse=True)) == [expected[0]]
    below = prefix + b"\xff"
    assert keys_of(store.iterate(prefix, start=below, reverse=True)) == [
        key for key in expected[::-1] if key <= below
    ]


@pytest.mark.parametrize(
    ("prefix", "end"),
    [
        (b"", None),
        (b"\xff", None),
        (b"\xff\xff\xff", None),
        (b"a", b"b"),
        (b"ab", b"ac"),
        (b"a\xff", b"b"),
        (b"a\xff\xff", b"b"),
        (b"\x00", b"\x01"),
        (b"\xfe\xff", b"\xff"),
    ],
)
def test_compute_prefix_end(prefix: bytes, end: bytes | None) -> None:
    assert compute_prefix_end(prefix) == end


def test_an_iterator_sees_the_store_as_of_its_creation(store: KVStore) -> None:
    fill(store, [b"a1", b"a2", b"a3"])
    forward = store.iterate(b"a")
    backward = store.iterate(b"a", reverse=True)
    assert next(forward) == (b"a1", b"v:a1")
    store.put(b"a0", b"new")
    store.put(b"a4", b"new")
    store.delete(b"a2")
    store.put(b"a3", b"changed")
    assert keys_of(forward) == [b"a2", b"a3"]
    assert list(backward) == [(b"a3", b"v:a3"), (b"a2", b"v:a2"), (b"a1", b"v:a1")]
    assert keys_of(store.iterate(b"a")) == [b"a0", b"a1", b"a3", b"a4"]


def test_an_abandoned_iterator_does_not_affect_later_writes(store: KVStore) -> None:
    fill(store, [b"a1", b"a2"])
    iterator = store.iterate(b"a")
    next(iterator)
    del iterator
    store.put(b"a3", b"x")
    assert keys_of(store.iterate(b"a")) == [b"a1", b"a2", b"a3"]


# --- batches --------------------------------------------------------------------


def test_batch_applies_every_op_in_order_and_the_last_op_wins(store: KVStore) -> None:
    store.put(b"gone", b"0")
    store.put(b"kept", b"0")
    batch = WriteBatch()
    batch.put(b"a", b"1")
    batch.delete(b"a")
    batch.delete(b"b")
    batch.put(b"b", b"2")
    batch.put(b"c", b"1")
    batch.put(b"c", b"3")
    batch.delete(b"gone")
    store.write(batch)
    assert everything(store) == [(b"b", b"2"), (b"c", b"3"), (b"kept", b"0")]


@pytest.mark.parametrize("sync", [True, False])
def test_empty_and_unsynced_batches(store: KVStore, sync: bool) -> None:
    store.write(WriteBatch(), sync=sync)
    store.write(WriteBatch(((b"k", b"v"),)), sync=sync)
    assert everything(store) == [(b"k", b"v")]


def test_a_batch_with_a_bad_op_cannot_be_built_so_no_store_sees_half_of_it(
    store: KVStore,
) -> None:
    batch = WriteBatch()
    batch.put(b"a", b"1")
    with raises_code(Code.STORE_BAD_KEY):
        batch.put("b", b"2")  # type: ignore[arg-type]
    with raises_code(Code.STORE_BAD_KEY):
        WriteBatch(((b"a", b"1"), (b"b", "2")))  # type: ignore[arg-type]
    assert batch.ops == ((b"a", b"1"),)
    store.write(batch)
    assert everything(store) == [(b"a", b"1")]


def test_write_batch_value() -> None:
    first = WriteBatch()
    first.put(b"k", b"1")
    first.delete(b"x")
    second = WriteBatch(((b"k", b"2"),))
    merged = first.merge(second)
    assert merged.ops == ((b"k", b"1"), (b"x", None), (b"k", b"2"))
    assert (len(first), len(second), len(merged)) == (2, 1, 3)
    merged.put(b"y", b"3")
    assert first.ops == ((b"k", b"1"), (b"x", None))  # merge copied
    assert second.ops == ((b"k", b"2"),)
    assert isinstance(first.ops, tuple)
    with raises_code(Code.STORE_BAD_KEY):
        first.merge([(b"k", b"1")])  # type: ignore[arg-type]


def test_merged_batch_applies_the_later_batch_last(store: KVStore) -> None:
    first = WriteBatch(((b"k", b"1"), (b"d", b"1")))
    second = WriteBatch(((b"k", b"2"), (b"d", None)))
    store.write(first.merge(second))
    assert everything(store) == [(b"k", b"2")]


# --- snapshots ------------------------------------------------------------------


def test_snapshot_is_isolated_from_later_writes(store: KVStore) -> None:
    fill(store, [b"a1", b"a2", b"b1"])
    with store.snapshot() as before:
        store.put(b"a0", b"new")
        store.delete(b"a2")
        store.write(WriteBatch(((b"a1", b"changed"), (b"b1", None))))
        later = store.snapshot()
        store.put(b"a9", b"newest")
        assert before.get(b"a0") is None
        assert before.get(b"a2") == b"v:a2"
        assert list(before.iterate(b"a")) == [(b"a1", b"v:a1"), (b"a2", b"v:a2")]
        assert keys_of(before.iterate(b"", reverse=True)) == [b"b1", b"a2", b"a1"]
        assert list(later.iterate(b"")) == [(b"a0", b"new"), (b"a1", b"changed")]
        assert keys_of(store.iterate(b"")) == [b"a0", b"a1", b"a9"]
        later.close()
    with raises_code(Code.STORE_CLOSED):
        before.get(b"a1")
    with raises_code(Code.STORE_CLOSED):
        later.iterate(b"")
    before.close()  # idempotent


def test_snapshot_checks_its_arguments(store: KVStore) -> None:
    with store.snapshot() as snapshot:
        with raises_code(Code.STORE_BAD_KEY):
            snapshot.get("k")  # type: ignore[arg-type]
        with raises_code(Code.STORE_BAD_KEY):
            snapshot.iterate(b"a", start=b"b")


# --- closed stores --------------------------------------------------------------

CLOSED_CALLS: list[tuple[str, Callable[[KVStore], object]]] = [
    ("get", lambda s: s.get(b"k")),
    ("put", lambda s: s.put(b"k", b"v")),
    ("delete", lambda s: s.delete(b"k")),
    ("write", lambda s: s.write(WriteBatch(((b"k", b"v"),)))),
    ("iterate", lambda s: s.iterate(b"")),
    ("snapshot", lambda s: s.snapshot()),
]


@pytest.mark.parametrize("call", [c for _, c in CLOSED_CALLS], ids=[n for n, _ in CLOSED_CALLS])
def test_a_closed_store_refuses_everything(
    store: KVStore, call: Callable[[KVStore], object]
) -> None:
    store.put(b"k", b"v")
    store.close()
    with raises_code(Code.STORE_CLOSED):
        call(store)
    store.close()  # idempotent


def test_closing_the_store_closes_its_iterators_and_snapshots(store: KVStore) -> None:
    fill(store, [b"a", b"b", b"c"])
    iterator = store.iterate(b"")
    assert next(iterator)[0] == b"a"
    snapshot = store.snapshot()
    store.close()
    with raises_code(Code.STORE_CLOSED):
        next(iterator)
    with raises_code(Code.STORE_CLOSED):
        snapshot.get(b"a")
    snapshot.close()


def test_the_context_manager_closes(tmp_path: Path) -> None:
    for opened in (MemoryStore(), LevelDBStore(tmp_path / "db")):
        with opened as entered:
            assert entered is opened
        with raises_code(Code.STORE_CLOSED):
            opened.get(b"k")


# --- bad keys and values ----------------------------------------------------------

BAD: list[object] = ["k", bytearray(b"k"), memoryview(b"k"), 1, None]
BAD_CALLS: dict[str, Callable[[KVStore, object], object]] = {
    "get": lambda s, bad: s.get(bad),  # type: ignore[arg-type]
    "put-key": lambda s, bad: s.put(bad, b"v"),  # type: ignore[arg-type]
    "put-value": lambda s, bad: s.put(b"k", bad),  # type: ignore[arg-type]
    "delete": lambda s, bad: s.delete(bad),  # type: ignore[arg-type]
    "prefix": lambda s, bad: s.iterate(bad),  # type: ignore[arg-type]
    "start": lambda s, bad: s.iterate(b"", start=bad),  # type: ignore[arg-type]
    "write": lambda s, bad: s.write(bad),  # type: ignore[arg-type]
}
BAD_CASES = [
    pytest.param(call, bad, id=f"{name}-{type(bad).__name__}")
    for name, call in BAD_CALLS.items()
    for bad in BAD
    if not (name == "start" and bad is None)  # no start bound is valid
]


@pytest.mark.parametrize(("call", "bad"), BAD_CASES)
def test_keys_and_values_must_be_bytes(
    store: KVStore, call: Callable[[KVStore, object], object], bad: object
) -> None:
    store.put(b"k", b"old")
    with raises_code(Code.STORE_BAD_KEY):
        call(store, bad)
    assert everything(store) == [(b"k", b"old")]


# --- scale (memory) -----------------------------------------------------------------


def test_memory_store_handles_a_hundred_thousand_keys() -> None:
    store = MemoryStore()
    count = 100_000
    # A fixed permutation of 0..count-1, so insertion order is far from sorted.
    for i in range(count):
        n = (i * 7919) % count
        store.put(b"k%06d" % n, b"%d" % n)
    snapshot = store.snapshot()
    store.delete(b"k000500")
    assert keys_of(store.iterate(b"k00050")) == [b"k%06d" % n for n in range(501, 510)]
    assert keys_of(snapshot.iterate(b"k00050")) == [b"k%06d" % n for n in range(500, 510)]
    assert next(store.iterate(b"k", reverse=True)) == (b"k099999", b"99999")
    assert sum(1 for _ in store.iterate(b"k0")) == count - 1


# --- LevelDB: persistence -------------------------------------------------------------


def test_leveldb_data_survives_close_and_reopen(tmp_path: Path) -> None:
    with LevelDBStore(tmp_path / "db") as store:
        store.write(WriteBatch(((b"a", b"1"), (b"b", b"2"))))
        store.put(b"c", b"3")
        store.delete(b"b")
    with LevelDBStore(tmp_path / "db", create=False) as store:
        assert everything(store) == [(b"a", b"1"), (b"c", b"3")]
        assert store.path == tmp_path / "db"


def _child(code: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.kill()
    child.wait(timeout=10)
    for stream in (child.stdin, child.stdout):
        if stream is not None:
            stream.close()


HOLD_OPEN = """
import sys
from ledger.store.leveldb import LevelDBStore
with LevelDBStore(sys.argv[1]):
    print("ready", flush=True)
    sys.stdin.read()
"""


def test_leveldb_held_by_another_process_is_locked(tmp_path: Path) -> None:
    path = tmp_path / "db"
    LevelDBStore(path).close()
    child = _child(HOLD_OPEN, str(path))
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline() == b"ready\n"
        with pytest.raises(LedgerError) as caught:
            LevelDBStore(path)
        assert caught.value.code is Code.STORE_LOCKED
        assert str(path) in caught.value.message
        assert "another process (e.g. a running node)" in caught.value.message
        child.stdin.close()  # the child closes the store and exits
        assert child.wait(timeout=10) == 0
    finally:
        _stop(child)
    with LevelDBStore(path) as reopened:
        assert everything(reopened) == []


def test_leveldb_opened_twice_in_one_process_is_locked(tmp_path: Path) -> None:
    with LevelDBStore(tmp_path / "db") as first:
        with pytest.raises(LedgerError) as caught:
            LevelDBStore(tmp_path / "db")
        assert caught.value.code is Code.STORE_LOCKED
        assert str(tmp_path / "db") in caught.value.message
        first.put(b"still", b"usable")
        assert first.get(b"still") == b"usable"


WRITE_FOREVER = """
import sys
from ledger.store.kv import WriteBatch
from ledger.store.leveldb import LevelDBStore
store = LevelDBStore(sys.argv[1])
i = 0
while True:
    i += 1
    store.write(WriteBatch(((b"a", b"%d" % i), (b"b", b"%d" % i))), sync=False)
    if i == 100:
        print("ready", flush=True)
"""


def test_leveldb_batches_are_atomic_across_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "db"
    child = _child(WRITE_FOREVER, str(path))
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        time.sleep(0.1)
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        _stop(child)
    with LevelDBStore(path, create=False) as store:
        a, b = store.get(b"a"), store.get(b"b")
        assert a is not None and int(a) >= 100
        assert a == b


# --- LevelDB: opening what is not a healthy database ---------------------------------


def test_leveldb_create_false_on_an_empty_or_missing_directory(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for path in (tmp_path / "empty", tmp_path / "missing"):
        with pytest.raises(LedgerError) as caught:
            LevelDBStore(path, create=False)
        assert caught.value.code is Code.STORE_NOT_FOUND
        assert str(path) in caught.value.message
    assert list((tmp_path / "empty").iterdir()) == []
    assert not (tmp_path / "missing").exists()


def test_leveldb_on_a_regular_file_is_an_io_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"not a directory")
    with raises_code(Code.STORE_IO_ERROR):
        LevelDBStore(tmp_path / "file")


TABLE_KEYS = [b"t%04d" % i for i in range(500)]
LOG_KEYS = [b"l%02d" % i for i in range(20)]


def _value(key: bytes) -> bytes:
    # Incompressible, so that damage lands in data rather than in padding.
    return hashlib.sha256(key).digest() * 2


def _build(path: Path) -> None:
    """A closed database with TABLE_KEYS in a .ldb table and LOG_KEYS only in the .log."""
    with LevelDBStore(path) as store:
        store.write(WriteBatch(tuple((key, _value(key)) for key in TABLE_KEYS)))
    with LevelDBStore(path) as store:  # reopening moves the log into a table
        for key in LOG_KEYS:
            store.put(key, _value(key))


def _one(path: Path, pattern: str) -> Path:
    (found,) = path.glob(pattern)
    return found


def _overwrite_middle(file: Path) -> None:
    data = bytearray(file.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = b"\xde\xad\xbe\xef" * 4
    file.write_bytes(bytes(data))


def _flip(file: Path, offset: int) -> None:
    data = bytearray(file.read_bytes())
    data[offset] ^= 0xFF
    file.write_bytes(bytes(data))


# A log record is crc32 (4 bytes), length (2, little-endian), type (1), data.
LOG_FIRST_RECORD_DATA = 20
LOG_FIRST_RECORD_LENGTH_HIGH_BYTE = 5


DAMAGE: dict[str, Callable[[Path], object]] = {
    "CURRENT garbage": lambda p: (p / "CURRENT").write_bytes(b"\x00garbage"),
    "CURRENT empty": lambda p: (p / "CURRENT").write_bytes(b""),
    "CURRENT names no file": lambda p: (p / "CURRENT").write_bytes(b"MANIFEST-000099\n"),
    "CURRENT deleted": lambda p: (p / "CURRENT").unlink(),
    "MANIFEST garbage": lambda p: _one(p, "MANIFEST-*").write_bytes(b"\x17" * 200),
    "MANIFEST truncated": lambda p: _one(p, "MANIFEST-*").write_bytes(b""),
    "MANIFEST deleted": lambda p: _one(p, "MANIFEST-*").unlink(),
    "table deleted": lambda p: _one(p, "*.ldb").unlink(),
    "log record data damaged": lambda p: _flip(_one(p, "*.log"), LOG_FIRST_RECORD_DATA),
    "table damaged in the middle": lambda p: _overwrite_middle(_one(p, "*.ldb")),
    "table truncated": lambda p: _one(p, "*.ldb").write_bytes(_one(p, "*.ldb").read_bytes()[:100]),
    "table garbage": lambda p: _one(p, "*.ldb").write_bytes(b"\x17" * 5000),
}

# Observed with LevelDB 1.23 (plyvel 1.5.1): which damage LevelDB sees at
# open (paranoid_checks) and which only when the damaged block is read.
FOUND_AT_OPEN = {
    "CURRENT garbage",
    "CURRENT empty",
    "CURRENT names no file",
    "CURRENT deleted",  # our own check: LevelDB would start an empty database
    "MANIFEST garbage",
    "MANIFEST truncated",
    "MANIFEST deleted",
    "table deleted",
    "log record data damaged",
}
# Our own check at open: a table whose size is not the MANIFEST's. LevelDB has
# recovered its log (a new table, a new MANIFEST) before the check can run.
FOUND_BY_SIZE_AT_OPEN = {"table truncated", "table garbage"}
FOUND_AT_READ = {"table damaged in the middle"}


def test_every_damage_case_is_classified() -> None:
    assert FOUND_AT_OPEN | FOUND_BY_SIZE_AT_OPEN | FOUND_AT_READ == set(DAMAGE)
    assert not FOUND_AT_OPEN & FOUND_AT_READ
    assert not FOUND_BY_SIZE_AT_OPEN & (FOUND_AT_OPEN | FOUND_AT_READ)


@pytest.mark.parametrize("damage", sorted(FOUND_BY_SIZE_AT_OPEN))
def test_a_table_of_the_wrong_size_is_store_corrupted_at_open(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "db"
    _build(path)
    DAMAGE[damage](path)
    with pytest.raises(LedgerError) as caught:
        LevelDBStore(path)
    _assert_corrupted(caught.value, path)
    assert "the MANIFEST records" in caught.value.message


def _assert_corrupted(error: LedgerError, path: Path) -> None:
    assert error.code is Code.STORE_CORRUPTED
    assert str(path) in error.message
    assert "re-syncing this node from its peers" in error.message
    assert "backup" in error.message


@pytest.mark.parametrize("create", [True, False])
@pytest.mark.parametrize("damage", sorted(FOUND_AT_OPEN))
def test_damage_found_at_open_is_store_corrupted(tmp_path: Path, damage: str, create: bool) -> None:
    path = tmp_path / "db"
    _build(path)
    DAMAGE[damage](path)
    before = sorted((p.name, p.read_bytes()) for p in path.iterdir())
    with pytest.raises(LedgerError) as caught:
        LevelDBStore(path, create=create)
    _assert_corrupted(caught.value, path)
    # Refusing to open rewrote nothing (the LOCK and the info LOG aside).
    after = sorted((p.name, p.read_bytes()) for p in path.iterdir())
    assert [f for f in after if not f[0].startswith(("LOCK", "LOG"))] == [
        f for f in before if not f[0].startswith(("LOCK", "LOG"))
    ]


@pytest.mark.parametrize("damage", sorted(FOUND_AT_READ))
def test_damage_found_at_read_is_store_corrupted(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "db"
    _build(path)
    DAMAGE[damage](path)
    with LevelDBStore(path) as store:
        assert store.get(LOG_KEYS[0]) == _value(LOG_KEYS[0])  # the log is intact
        with pytest.raises(LedgerError) as caught:
            everything(store)
        _assert_corrupted(caught.value, path)
        with pytest.raises(LedgerError) as caught:
            for key in TABLE_KEYS:
                store.get(key)
        _assert_corrupted(caught.value, path)


LOST_LOG: dict[str, Callable[[Path], object]] = {
    "log overwritten": lambda log: log.write_bytes(b"\xab" * log.stat().st_size),
    "log deleted": lambda log: log.unlink(),
    "log record length damaged": lambda log: _flip(log, LOG_FIRST_RECORD_LENGTH_HIGH_BYTE),
}


@pytest.mark.parametrize("damage", sorted(LOST_LOG))
def test_a_lost_log_tail_is_indistinguishable_from_a_crash(tmp_path: Path, damage: str) -> None:
    """A LevelDB limitation, pinned so that it is known: writes since the last
    flush that sit in a garbage or missing log, or behind a record whose
    length was damaged, are dropped without an error (LevelDB reads them as a
    write torn by a crash). Flushed tables are intact."""
    path = tmp_path / "db"
    _build(path)
    LOST_LOG[damage](_one(path, "*.log"))
    with LevelDBStore(path) as store:
        assert everything(store) == [(key, _value(key)) for key in TABLE_KEYS]


class _Listings:
    """Answers LevelDB's table listing from a script, one listing per call."""

    def __init__(self, *listings: bytes) -> None:
        self._listings = list(listings)

    def get_property(self, name: bytes) -> bytes:
        assert name == b"leveldb.sstables"
        return self._listings.pop(0) if len(self._listings) > 1 else self._listings[0]


def test_a_table_compacted_away_while_checked_is_not_damage(tmp_path: Path) -> None:
    # a compaction installed new tables and deleted 000005 between the listing and the stat
    (tmp_path / "000007.ldb").write_bytes(b"x" * 10)
    db = _Listings(b"--- level 0 ---\n 5:10['a' @ 1 : 1 .. 'b' @ 2 : 1]\n",
                   b"--- level 1 ---\n 7:10['a' @ 1 : 1 .. 'b' @ 2 : 1]\n")
    leveldb_module._validate_table_sizes(tmp_path, db)


def test_a_table_listed_every_time_but_missing_is_damage(tmp_path: Path) -> None:
    db = _Listings(b"--- level 0 ---\n 5:10['a' @ 1 : 1 .. 'b' @ 2 : 1]\n")
    with pytest.raises(LedgerError) as caught:
        leveldb_module._validate_table_sizes(tmp_path, db)
    assert caught.value.code is Code.STORE_CORRUPTED and "000005.ldb" in caught.value.message
