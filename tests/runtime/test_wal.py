"""The write-ahead log: byte format, heights and pruning, torn tails, corruption, crashes."""

from __future__ import annotations

import logging
import os
import random
import shutil
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import Code, LedgerError
from node.runtime.wal import WriteAheadLog
from node.runtime.wal_format import (
    MAX_RECORD_SIZE,
    MAX_SEARCH_CANDIDATES,
    SEGMENT_HEADER,
    encode_record,
    segment_name,
)
from tests.runtime.crash_wal_writer import RECORDS_PER_HEIGHT, height_of, index_of, payload
from tests.runtime.kill import KillPlan, run_and_kill

SEED = int(os.environ.get("SCF_CRASH_SEED", "20251208"))  # the printed seed replays a schedule
KILLS = 20
HEADER = SEGMENT_HEADER.size


def _wal_with(directory: Path, records: list[bytes], height: int = 1) -> Path:
    """A closed WAL holding `records` at `height`; the segment's path."""
    with WriteAheadLog.open(directory) as wal:
        wal.start_height(height)
        for record in records:
            wal.append(record, sync=False)
        return wal.segment_path(height)


def _offsets(records: list[bytes]) -> list[int]:
    """The byte offset of each record in its segment."""
    offsets, offset = [], HEADER
    for record in records:
        offsets.append(offset)
        offset += 8 + len(record)
    return offsets


def _open_error(directory: Path) -> LedgerError:
    with pytest.raises(LedgerError) as caught:
        WriteAheadLog.open(directory)
    return caught.value


def _edit(path: Path, change: Callable[[bytearray], None]) -> bytes:
    data = bytearray(path.read_bytes())
    change(data)
    path.write_bytes(bytes(data))
    return bytes(data)


# --- format, heights, pruning -------------------------------------------------------------

def test_the_segment_bytes_are_the_documented_format(tmp_path: Path) -> None:
    path = _wal_with(tmp_path, [b"hello", b"\x93\x01\x02\x03"], height=42)
    assert path.name == "wal-00000000000000000042.log" == segment_name(42)
    assert path.read_bytes() == bytes.fromhex(
        "5343462d57414c31" "000000000000002a"      # b"SCF-WAL1", height 42
        "00000005" "3610a686" "68656c6c6f"         # len 5, crc32(b"hello"), b"hello"
        "00000004" f"{zlib.crc32(bytes.fromhex('93010203')):08x}" "93010203")
    assert encode_record(b"hello") == bytes.fromhex("000000053610a68668656c6c6f")
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_records_are_kept_per_height_and_survive_a_reopen(tmp_path: Path) -> None:
    with WriteAheadLog.open(tmp_path) as wal:
        assert (wal.height, wal.heights()) == (None, [])
        wal.start_height(1)
        wal.append(b"a")
        wal.append(b"b", sync=False)
        wal.start_height(3)  # heights may be skipped (catch-up), never go back
        wal.append(b"c")
        assert (wal.height, wal.heights()) == (3, [1, 3])
        assert list(wal.records(1)) == [b"a", b"b"] and list(wal.records(3)) == [b"c"]
    with WriteAheadLog.open(tmp_path) as wal:
        assert (wal.height, wal.recovery) == (3, None)
        wal.append(b"d")
        assert list(wal.records(1)) == [b"a", b"b"] and list(wal.records(3)) == [b"c", b"d"]
        wal.start_height(4)
        assert list(wal.records(4)) == []


def test_prune_below_deletes_older_heights_only(tmp_path: Path) -> None:
    with WriteAheadLog.open(tmp_path) as wal:
        for height in range(1, 6):
            wal.start_height(height)
            wal.append(f"event at {height}".encode())
        assert wal.prune_below(4) == [1, 2, 3]
        assert wal.heights() == [4, 5] and wal.prune_below(4) == []
        assert list(wal.records(4)) == [b"event at 4"]
        with pytest.raises(LedgerError) as caught:
            wal.records(2)
        assert caught.value.code is Code.WAL_BAD_HEIGHT and "[4, 5]" in caught.value.message
        with pytest.raises(LedgerError) as caught:
            wal.prune_below(6)
        assert caught.value.code is Code.WAL_BAD_HEIGHT
        assert wal.prune_below(5) == [4] and wal.heights() == [5]
    assert sorted(os.listdir(tmp_path)) == ["LOCK", segment_name(5)]


@pytest.mark.parametrize("misuse", [
    lambda wal: wal.append(b"before any height"),
    lambda wal: (wal.start_height(2), wal.start_height(2)),
    lambda wal: (wal.start_height(2), wal.start_height(1)),
    lambda wal: wal.start_height(-1),
    lambda wal: wal.start_height(True),
    lambda wal: wal.start_height(2**63),
    lambda wal: wal.records(7),
])
def test_bad_heights_are_refused(tmp_path: Path, misuse: Callable[[WriteAheadLog], object]) -> None:
    with WriteAheadLog.open(tmp_path) as wal:
        with pytest.raises(LedgerError) as caught:
            misuse(wal)
        assert caught.value.code is Code.WAL_BAD_HEIGHT


@pytest.mark.parametrize("record", [b"", b"x" * (MAX_RECORD_SIZE + 1), "text", bytearray(b"x")])
def test_invalid_records_are_refused_and_nothing_is_written(tmp_path: Path, record: object) -> None:
    with WriteAheadLog.open(tmp_path) as wal:
        wal.start_height(1)
        wal.append(b"kept")
        with pytest.raises(LedgerError) as caught:
            wal.append(record)  # type: ignore[arg-type]
        assert caught.value.code is Code.WAL_RECORD_INVALID
        wal.append(b"still appending")
        assert list(wal.records(1)) == [b"kept", b"still appending"]


def test_a_record_of_the_maximum_size_round_trips(tmp_path: Path) -> None:
    big = bytes(range(256)) * (MAX_RECORD_SIZE // 256)
    _wal_with(tmp_path, [big, b"after"])
    with WriteAheadLog.open(tmp_path) as wal:
        assert list(wal.records(1)) == [big, b"after"]


def test_an_oversize_length_on_disk_is_corruption(tmp_path: Path) -> None:
    path = _wal_with(tmp_path, [b"first"])
    with open(path, "ab") as out:
        out.write((MAX_RECORD_SIZE + 1).to_bytes(4, "big") + b"\x00" * 4 + b"x" * 100)
    error = _open_error(tmp_path)
    assert error.code is Code.WAL_CORRUPTED
    assert f"byte {HEADER + 13} (record 1)" in error.message
    assert f"impossible record length {MAX_RECORD_SIZE + 1}" in error.message


def test_the_directory_is_locked_by_one_open_log(tmp_path: Path) -> None:
    wal = WriteAheadLog.open(tmp_path)
    assert _open_error(tmp_path).code is Code.WAL_LOCKED
    wal.close()
    WriteAheadLog.open(tmp_path).close()


def test_a_closed_log_refuses_use(tmp_path: Path) -> None:
    wal = WriteAheadLog.open(tmp_path)
    wal.start_height(1)
    wal.close()
    for use in (lambda: wal.append(b"x"), lambda: wal.records(1), wal.heights):
        with pytest.raises(LedgerError) as caught:
            use()
        assert caught.value.code is Code.WAL_IO_ERROR


def test_a_failed_write_stops_the_log_until_a_restart(tmp_path: Path) -> None:
    directory = tmp_path / "wal"
    wal = WriteAheadLog.open(directory)
    wal.start_height(1)
    wal.append(b"a")
    shutil.rmtree(directory)  # the next segment cannot be created
    with pytest.raises(LedgerError) as caught:
        wal.start_height(2)
    assert caught.value.code is Code.WAL_IO_ERROR
    with pytest.raises(LedgerError) as caught:
        wal.append(b"b")
    assert caught.value.code is Code.WAL_IO_ERROR and "restart the node" in caught.value.message
    wal.close()


def test_a_leftover_temp_segment_is_removed(tmp_path: Path) -> None:
    _wal_with(tmp_path, [b"a"])
    leftover = tmp_path / (segment_name(2) + ".tmp")
    leftover.write_bytes(b"SCF-WAL1")  # a crash inside start_height(2), before the rename
    with WriteAheadLog.open(tmp_path) as wal:
        assert wal.height == 1 and not leftover.exists()


# --- torn last records: dropped, and appends continue -------------------------------------

RECORDS = [b"proposal 1", b"prevote 1 from v2", b"a last record of some length"]


def test_a_torn_last_record_is_dropped_at_every_cut(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    whole = _wal_with(tmp_path / "whole", RECORDS).read_bytes()
    last = _offsets(RECORDS)[-1]
    for cut in range(last + 1, len(whole)):
        directory = tmp_path / f"cut-{cut}"
        directory.mkdir()
        (directory / segment_name(1)).write_bytes(whole[:cut])
        with caplog.at_level(logging.WARNING, logger="node.runtime.wal"):
            wal = WriteAheadLog.open(directory)
        with wal:
            torn = wal.recovery
            assert torn is not None and (torn.offset, torn.record) == (last, 2), f"cut {cut}"
            assert torn.dropped_bytes == cut - last
            assert os.path.getsize(wal.segment_path(1)) == last
            assert list(wal.records(1)) == RECORDS[:2]
            wal.append(b"appended after recovery")
            assert list(wal.records(1)) == [*RECORDS[:2], b"appended after recovery"]
        with WriteAheadLog.open(directory) as reopened:
            assert reopened.recovery is None
        assert f"dropped a torn last record 2 at byte {last}" in caplog.text
        caplog.clear()


@pytest.mark.parametrize("name,change", [
    ("payload byte flipped", lambda data: data.__setitem__(-1, data[-1] ^ 0x40)),
    ("crc byte flipped", lambda data: data.__setitem__(-len(RECORDS[-1]) - 1, 0)),
    ("payload zeroed", lambda data: data.__setitem__(slice(-len(RECORDS[-1]), None),
                                                     bytes(len(RECORDS[-1])))),
    ("zero-filled tail", lambda data: data.extend(bytes(4096))),
    ("length too long", lambda data: data.__setitem__(-len(RECORDS[-1]) - 5, 0x7f)),
])
def test_a_damaged_last_record_is_dropped(tmp_path: Path, name: str,
                                          change: Callable[[bytearray], None]) -> None:
    path = _wal_with(tmp_path, RECORDS)
    _edit(path, change)
    keep = 3 if name == "zero-filled tail" else 2
    with WriteAheadLog.open(tmp_path) as wal:
        assert wal.recovery is not None
        assert list(wal.records(1)) == RECORDS[:keep]


def test_a_torn_record_of_contrived_bytes_is_dropped_without_stalling(tmp_path: Path) -> None:
    """Every 4th offset looks like a record header: the search gives up, the record is torn."""
    contrived = bytes(range(4)) * (MAX_SEARCH_CANDIDATES + 10)
    path = _wal_with(tmp_path, [b"kept", contrived])
    os.truncate(path, os.path.getsize(path) - 1)
    with WriteAheadLog.open(tmp_path) as wal:
        assert wal.recovery is not None and "stopped after" in wal.recovery.reason
        assert list(wal.records(1)) == [b"kept"]


def test_a_torn_segment_that_is_not_the_newest_is_corruption(tmp_path: Path) -> None:
    path = _wal_with(tmp_path, RECORDS, height=1)
    with WriteAheadLog.open(tmp_path) as wal:
        wal.start_height(2)
    os.truncate(path, os.path.getsize(path) - 3)
    with WriteAheadLog.open(tmp_path) as wal:
        assert wal.recovery is None
        with pytest.raises(LedgerError) as caught:
            wal.records(1)
    assert caught.value.code is Code.WAL_CORRUPTED
    assert f"byte {_offsets(RECORDS)[-1]} (record 2)" in caught.value.message


# --- corruption in the middle: an error naming file, offset and record --------------------

MIDDLE = [b"first", b"second: to be damaged", b"third", b"fourth"]


@pytest.mark.parametrize("position", ["payload", "crc", "length low", "length high"])
def test_a_damaged_middle_record_is_corruption_with_its_offset(tmp_path: Path,
                                                               position: str) -> None:
    path = _wal_with(tmp_path, MIDDLE)
    start = _offsets(MIDDLE)[1]
    index = {"payload": start + 10, "crc": start + 5, "length low": start + 3,
             "length high": start + 1}[position]
    damaged = _edit(path, lambda data: data.__setitem__(index, data[index] ^ 0x10))
    error = _open_error(tmp_path)
    assert error.code is Code.WAL_CORRUPTED
    assert str(path) in error.message and f"byte {start} (record 1)" in error.message
    assert path.read_bytes() == damaged  # nothing truncated or repaired


def test_a_length_stretched_exactly_to_the_end_of_the_file_is_still_corruption(
        tmp_path: Path) -> None:
    """The hard case: the damaged record seems to be the last, with a bad CRC."""
    path = _wal_with(tmp_path, MIDDLE)
    start = _offsets(MIDDLE)[1]
    stretched = os.path.getsize(path) - start - 8
    _edit(path, lambda data: data.__setitem__(slice(start, start + 4),
                                              stretched.to_bytes(4, "big")))
    error = _open_error(tmp_path)
    assert error.code is Code.WAL_CORRUPTED and f"byte {start} (record 1)" in error.message


def test_junk_after_the_last_record_is_corruption_not_a_torn_record(tmp_path: Path) -> None:
    path = _wal_with(tmp_path, MIDDLE)
    size = os.path.getsize(path)
    with open(path, "ab") as out:
        out.write(b"\xff" * 20)
    error = _open_error(tmp_path)
    assert error.code is Code.WAL_CORRUPTED and f"byte {size} (record 4)" in error.message


@pytest.mark.parametrize("change,where", [
    (lambda data: data.__setitem__(0, ord("X")), "byte 0"),
    (lambda data: data.__setitem__(15, 9), "says height 9"),
    (lambda data: data.__delitem__(slice(10, None)), "shorter than the 16-byte segment header"),
])
def test_a_bad_segment_header_is_corruption(tmp_path: Path, change: Callable[[bytearray], None],
                                            where: str) -> None:
    path = _wal_with(tmp_path, [b"a"])
    _edit(path, change)
    error = _open_error(tmp_path)
    assert error.code is Code.WAL_CORRUPTED and where in error.message


# --- properties ---------------------------------------------------------------------------

record_lists = st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=12)


@given(records=record_lists, data=st.data())
def test_recovery_after_any_truncation_yields_exactly_the_complete_records(
        records: list[bytes], data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp)
        path = _wal_with(directory, records)
        cut = data.draw(st.integers(HEADER, os.path.getsize(path)), label="cut")
        os.truncate(path, cut)
        complete = sum(1 for offset, record in zip(_offsets(records), records)
                       if offset + 8 + len(record) <= cut)
        with WriteAheadLog.open(directory) as wal:
            assert list(wal.records(1)) == records[:complete]
            torn = wal.recovery
            assert (torn is None) == (cut in [HEADER, *(o + 8 + len(r) for o, r in
                                                        zip(_offsets(records), records))])
            wal.append(b"next")
            assert list(wal.records(1)) == [*records[:complete], b"next"]


@given(records=st.lists(st.binary(min_size=1, max_size=40), min_size=2, max_size=8),
       data=st.data())
def test_any_damaged_byte_before_the_last_record_is_reported_at_its_record(
        records: list[bytes], data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp)
        path = _wal_with(directory, records)
        offsets = _offsets(records)
        index = data.draw(st.integers(HEADER, offsets[-1] - 1), label="index")
        mask = data.draw(st.integers(1, 255), label="xor")
        _edit(path, lambda raw: raw.__setitem__(index, raw[index] ^ mask))
        record = max(k for k, offset in enumerate(offsets) if offset <= index)
        error = _open_error(directory)
        assert error.code is Code.WAL_CORRUPTED
        assert f"byte {offsets[record]} (record {record})" in error.message


# --- crash: SIGKILL at random moments -----------------------------------------------------

def test_a_writer_killed_at_random_moments_keeps_every_acknowledged_record(
        tmp_path: Path) -> None:
    """The child prints each index after append() returned; all are on disk after the kill.

    SIGKILL tests process crashes (a write cut short, a segment half made),
    not power loss: the kernel keeps what was written.
    """
    rng = random.Random(SEED)
    directory = tmp_path / "wal"
    acknowledged = -1
    torn_drops = 0
    print(f"\ncrash test seed {SEED}")
    for cycle in range(KILLS):
        where = f"seed {SEED} cycle {cycle}"
        lines = run_and_kill("tests.runtime.crash_wal_writer", directory, KillPlan.draw(rng),
                             tmp_path / "stderr.txt")
        indices = [int(line) for line in lines if line != "ready"]
        assert indices == list(range(acknowledged + 1, acknowledged + 1 + len(indices))), where
        acknowledged = indices[-1] if indices else acknowledged
        with WriteAheadLog.open(directory) as wal:
            stored = _check_segments(wal, where)
            torn = wal.recovery
        if torn is not None:
            torn_drops += 1
            assert torn.dropped_bytes < 8 + len(payload(stored + 1)), f"{where}: dropped {torn}"
        assert stored in (acknowledged, acknowledged + 1), (
            f"{where}: the WAL ends at record {stored}, the child acknowledged {acknowledged}")
        acknowledged = stored  # the next child resumes after what is stored
    assert acknowledged > KILLS, "the children hardly wrote: the test proved little"
    print(f"{acknowledged + 1} records over {KILLS} kills; {torn_drops} torn last records dropped")


def _check_segments(wal: WriteAheadLog, where: str) -> int:
    """The (unpruned) segments hold exactly their records; the index of the last one (-1: none).

    Heights are consecutive; every segment but the newest is full.
    """
    last = -1
    heights = wal.heights()
    if heights:
        assert heights == list(range(heights[0], heights[-1] + 1)), (
            f"{where}: heights {heights} are not consecutive")
    assert len(heights) <= 3, f"{where}: heights {heights} were not pruned"
    for height in heights:
        records = list(wal.records(height))
        if height != heights[-1]:
            assert len(records) == RECORDS_PER_HEIGHT, (
                f"{where}: sealed height {height} holds {len(records)} records")
        for position, record in enumerate(records):
            index = (height - 1) * RECORDS_PER_HEIGHT + position
            assert index_of(record) == index and height_of(index) == height, (
                f"{where}: record {position} of height {height} is {index_of(record)}")
            assert record == payload(index), f"{where}: record {index} has other bytes"
            last = index
    return last
