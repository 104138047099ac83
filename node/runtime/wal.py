"""The consensus write-ahead log: every event the core handles, on disk first.

The node appends each input event (canonical msgpack bytes; the log does not
know event types) here BEFORE it carries out the event's effects. After a
crash it replays the records of the current height into a fresh core and
resumes exactly where it stopped: same locks, same votes (the guarded signer
re-serves the signatures it already gave). A WAL without checksums and
fsync was the data-loss bug Jepsen found in Tendermint 0.10; this one has
both.

Layout: one file (segment) per height in the WAL directory, plus a LOCK file
that one process at a time holds (flock):

    wal-<height as 20 decimal digits>.log      e.g. wal-00000000000000000042.log

A segment is a 16-byte header then records, back to back:

    header:  b"SCF-WAL1" (8 bytes: format name and version 1)
             height      (8 bytes, unsigned big-endian; equals the name's)
    record:  length      (4 bytes, unsigned big-endian, 1..16,777,216)
             crc32       (4 bytes, unsigned big-endian, zlib/ISO-HDLC CRC-32
                          of the payload alone)
             payload     (`length` bytes)

`start_height(h)` fsyncs the current segment, then creates the segment of
`h` atomically (temp file, fsync, rename, fsync of the directory). So the
segment of height h+1 existing is the end-of-height marker of h, and every
segment but the newest is complete. `prune_below(h)` deletes the segments of
heights below h (the node keeps the last committed height and the one before
it, and the current one).

Recovery (`open`), on the newest segment only, at the first record that does
not check out, at byte offset o:

* it is a TORN LAST RECORD, dropped (the file is truncated to o, fsynced,
  logged as a warning and reported in `recovery`) when
  (a) fewer than 8 bytes remain after o (a short header); or
  (b) the length is possible (1..16 MiB) and the payload runs past the end
      of the file (a short payload); or
  (c) the length is possible, the CRC does not match, and the record ends
      exactly at the end of the file or only zero bytes follow it; or
  (d) the length is impossible and every byte from o on is zero (a file
      extended by the file system but never written);
  and, in (b) and (c), no complete record (possible length, matching CRC)
  starts anywhere after the 8-byte header at o, ending at the end of the
  file or before another possible header: one would show a damaged length
  field in the middle of the log, not a write cut short. (That search gives
  up after MAX_SEARCH_CANDIDATES candidate offsets and takes the record as
  torn, saying so in the warning, so contrived payloads cannot stall a start.)
* anything else is `LedgerError(WAL_CORRUPTED)` naming the file, the byte
  offset and the record number (the first record is 0): a bad CRC or an
  impossible length with data after it is never skipped silently. A torn
  record in a segment read by `records`, or in any segment but the newest,
  is also `WAL_CORRUPTED`: it cannot come from a crash.

Appends are complete records written with one `os.write` loop on an
O_APPEND descriptor and fsynced when `sync` is true. If a write or fsync
fails, the log refuses every further write (`WAL_IO_ERROR`): after a failed
fsync the kernel may have dropped the data, and only a restart (recovery)
tells what is really on disk. The operator's view is in docs/wal.md.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from ledger.errors import Code, LedgerError
from node.runtime.durable import fsync_directory, write_all
from node.runtime.wal_format import (
    MAGIC,
    MAX_HEIGHT,
    SEGMENT_HEADER,
    TornTail,
    encode_record,
    encode_segment_header,
    scan_records,
    segment_name,
)

LOCK_NAME = "LOCK"
FILE_MODE = 0o600
DIRECTORY_MODE = 0o700
_SEGMENT_NAME = re.compile(r"wal-(\d{20})\.log")
_TEMP_NAME = re.compile(r"wal-\d{20}\.log\.tmp")
log = logging.getLogger(__name__)

_ADVICE = (
    "keep the file for investigation; see docs/wal.md (\"When the WAL is corrupted\"): "
    "restore the WAL directory from a copy taken after the node stopped, or wait until "
    "the other validators have committed this height and only then move the directory aside"
)

def _validate_height(height: int) -> None:
    if type(height) is not int or not 0 <= height <= MAX_HEIGHT:
        raise LedgerError(Code.WAL_BAD_HEIGHT,
                          f"a WAL height is an int in 0..{MAX_HEIGHT}, got {height!r}")


def _corrupted(path: Path, offset: int, record: int | None, reason: str) -> LedgerError:
    where = f"byte {offset}" if record is None else f"byte {offset} (record {record})"
    return LedgerError(Code.WAL_CORRUPTED,
                       f"WAL file {path} is corrupted at {where}: {reason}; {_ADVICE}")


def _io_error(path: Path, action: str, error: OSError) -> LedgerError:
    return LedgerError(Code.WAL_IO_ERROR, f"cannot {action} WAL file {path}: {error}")


def _validate_segment_header(data: bytes, path: Path, height: int) -> None:
    if len(data) < SEGMENT_HEADER.size:
        raise _corrupted(path, 0, None, f"the file is {len(data)} bytes, shorter than the "
                         f"{SEGMENT_HEADER.size}-byte segment header (segments are created whole)")
    magic, stored = SEGMENT_HEADER.unpack_from(data)
    if magic != MAGIC:
        raise _corrupted(path, 0, None, f"segment header starts {magic!r}, expected {MAGIC!r}")
    if stored != height:
        raise _corrupted(path, 8, None, f"the segment header says height {stored}, "
                         f"the file name says {height}")


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise _io_error(path, "read", error) from error


def _list_heights(directory: Path) -> list[int]:
    try:
        names = os.listdir(directory)
    except OSError as error:
        raise _io_error(directory, "list the directory of", error) from error
    return sorted(int(m.group(1)) for m in map(_SEGMENT_NAME.fullmatch, names) if m)


def _make_directory(directory: Path) -> None:
    """Creates the directory (0700) if it does not exist."""
    try:
        if not directory.is_dir():
            directory.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
            fsync_directory(directory.parent)
    except OSError as error:
        raise _io_error(directory, "create the directory of", error) from error


def _remove_temp_files(directory: Path) -> None:
    """Removes the temp files of segments whose creation a crash interrupted (lock held)."""
    try:
        for name in os.listdir(directory):
            if _TEMP_NAME.fullmatch(name):
                (directory / name).unlink()
    except OSError as error:
        raise _io_error(directory, "clean the directory of", error) from error


def _lock(directory: Path) -> int:
    path = directory / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    except OSError as error:
        raise _io_error(path, "open the lock of", error) from error
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        os.close(fd)
        raise LedgerError(Code.WAL_LOCKED,
                          f"the WAL directory {directory} is locked: another process (e.g. a "
                          f"running node) or another open WAL in this process holds {path}; "
                          "stop it first") from error
    return fd


def _create_segment(directory: Path, height: int) -> int:
    """Creates the segment of `height` whole (temp, fsync, rename, fsync dir); opens it to append."""
    path = directory / segment_name(height)
    temp = path.with_name(path.name + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
    try:
        write_all(fd, encode_segment_header(height))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    fsync_directory(directory)
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)


def _recover_segment(path: Path, height: int) -> tuple[int, int, TornTail | None]:
    """Opens the newest segment to append after dropping a torn last record: (fd, end, torn)."""
    data = _read_file(path)
    _validate_segment_header(data, path, height)
    payloads, damage = scan_records(data)
    if damage is not None and not damage.torn:
        raise _corrupted(path, damage.offset, damage.record, damage.reason)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
    except OSError as error:
        raise _io_error(path, "open", error) from error
    if damage is None:
        return fd, len(data), None
    torn = TornTail(path, damage.offset, damage.record, len(data) - damage.offset, damage.reason)
    try:
        os.ftruncate(fd, damage.offset)
        os.fsync(fd)
    except OSError as error:
        os.close(fd)
        raise _io_error(path, "truncate the torn last record of", error) from error
    log.warning("WAL %s: dropped a torn last record %d at byte %d (%d bytes: %s); "
                "%d complete records kept", path, torn.record, torn.offset,
                torn.dropped_bytes, torn.reason, len(payloads))
    return fd, damage.offset, torn


class WriteAheadLog:
    """The WAL of one node, in one directory; build it with `WriteAheadLog.open`."""

    __slots__ = ("_directory", "_lock_fd", "_height", "_fd", "_end", "_recovery", "_failure",
                 "_closed")

    def __init__(self, directory: Path, lock_fd: int, height: int | None, fd: int | None,
                 end: int, recovery: TornTail | None) -> None:
        self._directory = directory
        self._lock_fd = lock_fd
        self._height = height
        self._fd = fd
        self._end = end
        self._recovery = recovery
        self._failure: str | None = None
        self._closed = False

    @classmethod
    def open(cls, directory: str | Path) -> WriteAheadLog:
        """Locks the directory (creating it), recovers the newest segment's tail."""
        path = Path(directory)
        _make_directory(path)
        lock_fd = _lock(path)
        try:
            _remove_temp_files(path)
            heights = _list_heights(path)
            if not heights:
                return cls(path, lock_fd, None, None, 0, None)
            height = heights[-1]
            fd, end, torn = _recover_segment(path / segment_name(height), height)
            return cls(path, lock_fd, height, fd, end, torn)
        except BaseException:
            os.close(lock_fd)
            raise

    @property
    def directory(self) -> Path:
        return self._directory

    @property
    def height(self) -> int | None:
        """The height whose segment takes appends; None before the first `start_height`."""
        return self._height

    @property
    def recovery(self) -> TornTail | None:
        """The torn last record `open` dropped, if it dropped one."""
        return self._recovery

    def segment_path(self, height: int) -> Path:
        _validate_height(height)
        return self._directory / segment_name(height)

    def heights(self) -> list[int]:
        """The heights that have a segment, ascending."""
        self._validate_open()
        return _list_heights(self._directory)

    def start_height(self, height: int) -> None:
        """Seals the current segment (fsync) and starts the segment of `height`."""
        _validate_height(height)
        self._validate_not_failed()
        if self._height is not None and height <= self._height:
            raise LedgerError(Code.WAL_BAD_HEIGHT, f"cannot start WAL height {height}: "
                              f"the current height is {self._height}")
        try:
            if self._fd is not None:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None
            self._fd = _create_segment(self._directory, height)
        except OSError as error:
            raise self._fail(self.segment_path(height), "start", error) from error
        self._height = height
        self._end = SEGMENT_HEADER.size

    def append(self, payload: bytes, *, sync: bool = True) -> None:
        """Appends one record; on disk (fsync) before returning when `sync`."""
        record = encode_record(payload)
        fd = self._validate_writable()
        try:
            write_all(fd, record)
            if sync:
                os.fsync(fd)
        except OSError as error:
            raise self._fail(self._current_path(), "append to", error) from error
        self._end += len(record)

    def sync(self) -> None:
        """Makes appends done with `sync=False` durable."""
        fd = self._validate_writable()
        try:
            os.fsync(fd)
        except OSError as error:
            raise self._fail(self._current_path(), "fsync", error) from error

    def records(self, height: int) -> Iterator[bytes]:
        """The payloads of `height`'s segment, in order, all checked before the first is given."""
        path = self.segment_path(height)
        self._validate_open()
        if not path.exists():
            raise LedgerError(Code.WAL_BAD_HEIGHT, f"no WAL segment for height {height} in "
                              f"{self._directory} (heights present: {self.heights()})")
        data = _read_file(path)
        _validate_segment_header(data, path, height)
        payloads, damage = scan_records(data)
        if damage is not None:
            raise _corrupted(path, damage.offset, damage.record, damage.reason)
        return iter(payloads)

    def prune_below(self, height: int) -> list[int]:
        """Deletes the segments of heights below `height`; returns those heights."""
        _validate_height(height)
        self._validate_open()
        if self._height is not None and height > self._height:
            raise LedgerError(Code.WAL_BAD_HEIGHT, f"cannot prune below {height}: that would "
                              f"delete the current height {self._height}")
        pruned = [h for h in _list_heights(self._directory) if h < height]
        try:
            for old in pruned:
                self.segment_path(old).unlink()
            if pruned:
                fsync_directory(self._directory)
        except OSError as error:
            raise _io_error(self._directory, "prune segments of", error) from error
        return pruned

    def close(self) -> None:
        """Syncs the current segment (unless a write failed) and releases the lock."""
        if self._closed:
            return
        self._closed = True
        error: OSError | None = None
        try:
            if self._fd is not None:
                if self._failure is None:
                    os.fsync(self._fd)
        except OSError as caught:
            error = caught
        finally:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            os.close(self._lock_fd)
        if error is not None:
            raise _io_error(self._current_path(), "fsync on close", error) from error

    def __enter__(self) -> WriteAheadLog:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _current_path(self) -> Path:
        return self._directory if self._height is None else self.segment_path(self._height)

    def _validate_open(self) -> None:
        if self._closed:
            raise LedgerError(Code.WAL_IO_ERROR, f"the WAL in {self._directory} is closed")

    def _validate_not_failed(self) -> None:
        self._validate_open()
        if self._failure is not None:
            raise LedgerError(Code.WAL_IO_ERROR, f"the WAL in {self._directory} stopped after "
                              f"a failed write ({self._failure}); restart the node")

    def _validate_writable(self) -> int:
        """The descriptor of the current segment, if appends are possible."""
        self._validate_not_failed()
        if self._fd is None:
            raise LedgerError(Code.WAL_BAD_HEIGHT, f"no WAL height started in {self._directory}: "
                              "call start_height first")
        return self._fd

    def _fail(self, path: Path, action: str, error: OSError) -> LedgerError:
        """Stops the log after a failed write; tries to cut a partial record off."""
        self._failure = f"{action} {path}: {error}"
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, self._end)
            except OSError:
                pass  # recovery at the next start drops it as a torn record
        return _io_error(path, action, error)
