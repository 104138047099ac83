"""`LevelDBStore`: the KVStore contract on disk, through plyvel.

This is the only module of scf-ledger that imports plyvel: everything else
sees `KVStore` and `LedgerError`, so a plyvel exception or traceback never
reaches an operator or a caller. What this module guarantees:

* `write(batch, sync=True)` is one LevelDB write batch: atomic across a
  crash, and on disk (fsync) before it returns.
* Reads verify block checksums, and the database is opened with
  `paranoid_checks`, so damage is reported instead of read back as data.
* Opening fails with a `LedgerError` that says what to do:
  - `STORE_LOCKED`: another process (e.g. a running node) or another open
    handle in this process holds the directory's LOCK;
  - `STORE_NOT_FOUND`: `create=False` and the path holds no database;
  - `STORE_CORRUPTED`: LevelDB reports corruption, a table file's size is
    not the one the MANIFEST records (truncated), or the directory has
    database files but no CURRENT file (LevelDB would silently start a new
    database there, keeping only the log's writes and dropping every
    table: we refuse);
  - `STORE_IO_ERROR`: anything else the operating system refused.
* The same mapping applies to reads and writes: corruption found by a read
  (a damaged table block, or a table file shorter than the MANIFEST says,
  which LevelDB reports as an "Invalid argument" I/O error) is
  `STORE_CORRUPTED`; any other LevelDB error is `STORE_IO_ERROR`.
* After `close()` every call on the store, its snapshots and its live
  iterators raises `STORE_CLOSED`.

What LevelDB cannot detect (observed with plyvel 1.5.1 / LevelDB 1.23, see
tests/unit/test_store_kv.py): a write-ahead log that is missing, whose tail
is garbage, or where a record's length field is damaged reads as a write
torn by a crash; the writes from that point on (at most those since the
last flush to a table) are dropped without an error. Damage to a record's
data is caught by its checksum.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import plyvel

from ledger.errors import Code, LedgerError
from ledger.store.kv import (
    ClosesOnExit,
    WriteBatch,
    compute_prefix_end,
    validate_batch,
    validate_bytes,
    validate_range,
)

LRU_CACHE_BYTES = 8 * 1024 * 1024
BLOOM_FILTER_BITS = 10


@dataclass(frozen=True)
class Tuning:
    """LevelDB's sizing options (None: LevelDB's default). They change speed
    and memory only, never what a read returns or what a write guarantees."""

    write_buffer_bytes: int | None = None
    max_file_bytes: int | None = None
    compression: bool = True


#: A node's chain store: LevelDB's defaults (4 MiB write buffer, 2 MiB tables, snappy).
DEFAULT_TUNING = Tuning()
#: A replay's scratch store (ledger/replay.py): rewritten all the time, and
#: mostly hashes, which do not compress. With a 32 MiB write buffer and 16 MiB
#: tables, uncompressed, LevelDB's compaction thread took 2.5 s instead of 36 s
#: of CPU over 300,000 transactions (bench/replay.py), for 20 MiB more memory.
SCRATCH_TUNING = Tuning(write_buffer_bytes=32 * 1024 * 1024, max_file_bytes=16 * 1024 * 1024,
                        compression=False)

# Files that only an existing LevelDB database contains.
_DATABASE_FILE = re.compile(r"MANIFEST-\d+|\d+\.(ldb|sst|log)")
#: Listings of the tables read before a listed table that is gone counts as damage.
TABLE_CHECK_ATTEMPTS = 3
# A table in LevelDB's "leveldb.sstables" property: " <number>:<size>[<key range>]".
_TABLE_ENTRY = re.compile(r"^ (\d+):(\d+)\[", re.MULTILINE)
_RECOVERY = (
    "recover by re-syncing this node from its peers or restoring the directory from a backup"
)

T = TypeVar("T")


def _leveldb_text(error: BaseException) -> str:
    """LevelDB's own message (plyvel passes it as bytes)."""
    arg = error.args[0] if error.args else ""
    return arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)


def _is_lock_error(error: plyvel.Error) -> bool:
    # "IO error: lock <path>/LOCK: Resource temporarily unavailable" (another
    # process) or "...: already held by process" (this process).
    return isinstance(error, plyvel.IOError) and _leveldb_text(error).startswith("IO error: lock ")


def _is_short_table_read(error: plyvel.Error) -> bool:
    # A table file shorter than the MANIFEST records: the mmap read past its
    # end fails with EINVAL.
    text = _leveldb_text(error)
    return isinstance(error, plyvel.IOError) and text.endswith(": Invalid argument")


def _corrupted(path: Path, detail: str) -> LedgerError:
    return LedgerError(
        Code.STORE_CORRUPTED, f"the database at {path} is corrupted ({detail}); {_RECOVERY}"
    )


def _open_error(path: Path, error: plyvel.Error) -> LedgerError:
    """The LedgerError for a failure of plyvel.DB(path)."""
    text = _leveldb_text(error)
    if _is_lock_error(error):
        return LedgerError(
            Code.STORE_LOCKED,
            f"the database at {path} is locked: another process (e.g. a running node) "
            f"or another open handle in this process holds it; stop it first ({text})",
        )
    if isinstance(error, plyvel.CorruptionError):
        return _corrupted(path, text)
    if "does not exist (create_if_missing is false)" in text:
        return LedgerError(Code.STORE_NOT_FOUND, f"no database at {path} ({text})")
    return LedgerError(Code.STORE_IO_ERROR, f"cannot open the database at {path}: {text}")


def _operation_error(path: Path, error: plyvel.Error) -> LedgerError:
    """The LedgerError for a failed read or write of an open database."""
    text = _leveldb_text(error)
    if isinstance(error, plyvel.CorruptionError) or _is_short_table_read(error):
        return _corrupted(path, text)
    return LedgerError(Code.STORE_IO_ERROR, f"I/O error on the database at {path}: {text}")


def _validate_not_orphaned(path: Path, create: bool) -> None:
    """Refuse a directory with database files but no CURRENT; say if there is no database."""
    if (path / "CURRENT").exists():
        return
    orphans = sorted(p.name for p in _listdir(path) if _DATABASE_FILE.fullmatch(p.name))
    if orphans:
        raise _corrupted(path, f"CURRENT is missing beside {', '.join(orphans[:3])}")
    if not create:
        raise LedgerError(Code.STORE_NOT_FOUND, f"no database at {path} (and create is off)")


def _validate_table_sizes(path: Path, db: Any) -> None:
    """Refuse a table file whose size is not the one the MANIFEST records.

    LevelDB finds a truncated table only when a read reaches it, which may be
    long after the start; one stat per table finds it when the store opens.
    A compaction may run as soon as the database opens: it installs its new
    table set before deleting the old files, so a listed table that is gone
    is checked again against a fresh listing before it counts as damage.
    """
    for attempt in range(TABLE_CHECK_ATTEMPTS):
        listing = (db.get_property(b"leveldb.sstables") or b"").decode("utf-8", "replace")
        missing = None
        for number, size in _TABLE_ENTRY.findall(listing):
            names = [f"{int(number):06d}.ldb", f"{int(number):06d}.sst"]  # .sst: older LevelDB
            table = next((path / n for n in names if (path / n).exists()), path / names[0])
            try:
                actual = table.stat().st_size
            except FileNotFoundError as error:
                missing = (table, error)
                break
            except OSError as error:
                raise _corrupted(path, f"table file {table} cannot be read: {error}") from error
            if actual != int(size):
                raise _corrupted(path, f"table file {table} is {actual} bytes, the MANIFEST "
                                 f"records {size}")
        if missing is None:
            return
    table, error = missing
    raise _corrupted(path, f"table file {table} cannot be read: {error}") from error


def _listdir(path: Path) -> list[Path]:
    try:
        return list(path.iterdir()) if path.is_dir() else []
    except OSError as error:
        raise LedgerError(Code.STORE_IO_ERROR, f"cannot list {path}: {error}") from error


class _Handle:
    """The plyvel objects of one store, and the one place their errors are translated."""

    __slots__ = ("path", "db", "closed")

    def __init__(self, path: Path, db: Any) -> None:
        self.path = path
        self.db = db
        self.closed = False

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        self.validate_open()
        try:
            return fn(*args, **kwargs)
        except plyvel.Error as error:
            raise _operation_error(self.path, error) from error

    def validate_open(self) -> None:
        if self.closed:
            raise LedgerError(Code.STORE_CLOSED, f"the database at {self.path} is closed")


def _validate_snapshot_open(snapshot: LevelDBSnapshot) -> None:
    if snapshot.closed:
        raise LedgerError(Code.STORE_CLOSED, "the snapshot is closed")


def _iterate(
    handle: _Handle,
    source: Any,
    prefix: object,
    start: object,
    reverse: bool,
    check: Callable[[], None],
) -> Iterator[tuple[bytes, bytes]]:
    """Validate, open a plyvel iterator on `source` (db or snapshot) now, yield lazily."""
    prefix_bytes, start_bytes = validate_range(prefix, start)
    check()
    end = compute_prefix_end(prefix_bytes)
    if reverse:
        # plyvel 1.5.1 yields nothing in reverse when the first key it lands
        # on equals its `start` (it compares `>= 0`, ignoring include_start),
        # so the lower bound is not given to plyvel; `_drain` stops below it.
        upper, upper_included = end, False
        if start_bytes is not None:
            upper, upper_included = start_bytes, True
        raw = handle.call(
            source.iterator,
            stop=upper,
            include_stop=upper_included,
            reverse=True,
            verify_checksums=True,
        )
        return _drain(handle, raw, check, floor=prefix_bytes)
    lower = prefix_bytes if start_bytes is None else start_bytes
    raw = handle.call(source.iterator, start=lower, stop=end, verify_checksums=True)
    return _drain(handle, raw, check, floor=None)


def _drain(
    handle: _Handle, raw: Any, check: Callable[[], None], floor: bytes | None
) -> Iterator[tuple[bytes, bytes]]:
    """Yield from the plyvel iterator `raw`, stopping at a key below `floor`."""
    try:
        while True:
            check()
            try:
                key, value = next(raw)
            except StopIteration:
                return
            except plyvel.Error as error:
                raise _operation_error(handle.path, error) from error
            if floor is not None and key < floor:
                return
            yield key, value
    finally:
        raw.close()


class LevelDBSnapshot(ClosesOnExit):
    """A LevelDB snapshot: reads see the store as of `LevelDBStore.snapshot()`."""

    __slots__ = ("_handle", "_raw", "_closed")

    def __init__(self, handle: _Handle) -> None:
        self._handle = handle
        self._raw = handle.call(handle.db.snapshot)
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def get(self, key: bytes) -> bytes | None:
        checked = validate_bytes(key, "key")
        self._check()
        value: bytes | None = self._handle.call(self._raw.get, checked, verify_checksums=True)
        return value

    def iterate(
        self, prefix: bytes, *, start: bytes | None = None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        return _iterate(self._handle, self._raw, prefix, start, reverse, self._check)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._raw.close()

    def _check(self) -> None:
        self._handle.validate_open()
        _validate_snapshot_open(self)


class LevelDBStore(ClosesOnExit):
    """A KVStore in a LevelDB directory; see the module docstring for the guarantees."""

    __slots__ = ("_handle",)

    def __init__(self, path: str | Path, *, create: bool = True,
                 tuning: Tuning = DEFAULT_TUNING) -> None:
        resolved = Path(path)
        _validate_not_orphaned(resolved, create)
        try:
            db = plyvel.DB(
                str(resolved),
                create_if_missing=create,
                paranoid_checks=True,
                lru_cache_size=LRU_CACHE_BYTES,
                bloom_filter_bits=BLOOM_FILTER_BITS,
                write_buffer_size=tuning.write_buffer_bytes,
                max_file_size=tuning.max_file_bytes,
                compression="snappy" if tuning.compression else None,
            )
        except plyvel.Error as error:
            raise _open_error(resolved, error) from error
        try:
            _validate_table_sizes(resolved, db)
        except BaseException:
            db.close()
            raise
        self._handle = _Handle(resolved, db)

    @property
    def path(self) -> Path:
        return self._handle.path

    @property
    def closed(self) -> bool:
        return self._handle.closed

    def get(self, key: bytes) -> bytes | None:
        checked = validate_bytes(key, "key")
        value: bytes | None = self._handle.call(self._handle.db.get, checked, verify_checksums=True)
        return value

    def iterate(
        self, prefix: bytes, *, start: bytes | None = None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        handle = self._handle
        return _iterate(handle, handle.db, prefix, start, reverse, handle.validate_open)

    def put(self, key: bytes, value: bytes) -> None:
        checked_key = validate_bytes(key, "key")
        checked_value = validate_bytes(value, "value")
        self._handle.call(self._handle.db.put, checked_key, checked_value)

    def delete(self, key: bytes) -> None:
        checked_key = validate_bytes(key, "key")
        self._handle.call(self._handle.db.delete, checked_key)

    def write(self, batch: WriteBatch, *, sync: bool = True) -> None:
        ops = validate_batch(batch).ops
        self._handle.call(_write_ops, self._handle.db, ops, sync)

    def snapshot(self) -> LevelDBSnapshot:
        return LevelDBSnapshot(self._handle)

    def close(self) -> None:
        # plyvel closes the snapshots and iterators of the database with it.
        if not self._handle.closed:
            self._handle.closed = True
            self._handle.db.close()


def _write_ops(db: Any, ops: tuple[tuple[bytes, bytes | None], ...], sync: bool) -> None:
    """One LevelDB write batch holding `ops`, written only once all are in it."""
    raw = db.write_batch(sync=sync)
    for key, value in ops:
        if value is None:
            raw.delete(key)
        else:
            raw.put(key, value)
    raw.write()
