"""The WAL's byte format and recovery rules, without any file I/O.

A segment is `b"SCF-WAL1" || height (u64 BE)` followed by records
`[u32 BE length][u32 BE CRC32(payload)][payload]`. `scan_records` walks a
segment's bytes and says where the first record that does not check out
begins, and whether a crash in the middle of the last append explains it
(a torn tail, which recovery may drop) or not (corruption, which it must
report). node/runtime/wal.py does the reading, writing and fsyncing;
docs/wal.md is the operator's view.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from ledger.errors import Code, LedgerError

MAGIC = b"SCF-WAL1"
SEGMENT_HEADER = struct.Struct(">8sQ")
RECORD_HEADER = struct.Struct(">II")
MAX_RECORD_SIZE = 16 * 1024 * 1024
MAX_HEIGHT = 2**63 - 1
#: How many candidate records recovery checks behind a torn one before it gives up.
MAX_SEARCH_CANDIDATES = 1_000_000

#: Where a length field in 1..MAX_RECORD_SIZE (2**24) may start.
_POSSIBLE_LENGTH = re.compile(rb"(?=\x00(?!\x00\x00\x00)[\x00-\xff]{3}|\x01\x00\x00\x00)")



@dataclass(frozen=True, slots=True)
class TornTail:
    """What recovery dropped from the end of the newest segment."""

    path: Path
    offset: int          # where the torn record began; the file now ends here
    record: int          # its index in the segment, the first record is 0
    dropped_bytes: int
    reason: str


@dataclass(frozen=True, slots=True)
class Damage:
    """The first record of a segment that does not check out."""

    offset: int
    record: int
    reason: str
    torn: bool           # explained by a crash in the middle of the last append


def encode_record(payload: bytes) -> bytes:
    """The framed record: length, CRC32 of the payload, payload."""
    if type(payload) is not bytes:
        raise LedgerError(Code.WAL_RECORD_INVALID,
                          f"a WAL record is bytes, got {type(payload).__name__}")
    if not 1 <= len(payload) <= MAX_RECORD_SIZE:
        raise LedgerError(Code.WAL_RECORD_INVALID,
                          f"a WAL record is 1..{MAX_RECORD_SIZE} bytes, got {len(payload)}")
    return RECORD_HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def encode_segment_header(height: int) -> bytes:
    return SEGMENT_HEADER.pack(MAGIC, height)


def segment_name(height: int) -> str:
    return f"wal-{height:020d}.log"


def scan_records(data: bytes, start: int = SEGMENT_HEADER.size) -> tuple[list[bytes], Damage | None]:
    """The payloads of the complete records from `start` on, and the first damage."""
    payloads: list[bytes] = []
    offset = start
    while offset < len(data):
        found = _read_record(data, offset, len(payloads))
        if isinstance(found, Damage):
            return payloads, found
        payloads.append(found)
        offset += RECORD_HEADER.size + len(found)
    return payloads, None


def _read_record(data: bytes, offset: int, index: int) -> bytes | Damage:
    """The payload of the record at `offset`, or why there is none."""
    remaining = len(data) - offset
    if remaining < RECORD_HEADER.size:
        return Damage(offset, index, f"the file ends {remaining} bytes into the "
                       f"{RECORD_HEADER.size}-byte record header", torn=True)
    length, crc = RECORD_HEADER.unpack_from(data, offset)
    if not 1 <= length <= MAX_RECORD_SIZE:
        return Damage(offset, index, f"impossible record length {length} "
                       f"(not in 1..{MAX_RECORD_SIZE})", torn=_is_zeros(data, offset))
    end = offset + RECORD_HEADER.size + length
    if end > len(data):
        reason = (f"the file ends {remaining - RECORD_HEADER.size} bytes into a "
                  f"{length}-byte payload")
        at_tail = True
    else:
        payload = data[offset + RECORD_HEADER.size:end]
        actual = zlib.crc32(payload)
        if actual == crc:
            return payload
        reason = f"CRC32 mismatch: stored {crc:08x}, payload has {actual:08x}"
        at_tail = _is_zeros(data, end)
        if not at_tail:
            reason += f", and {len(data) - end} more bytes follow the record"
    return _damage_at_tail(data, offset, index, reason) if at_tail else Damage(
        offset, index, reason, torn=False)


def _damage_at_tail(data: bytes, offset: int, index: int, reason: str) -> Damage:
    """A bad record at the end is torn unless a complete record hides after its header."""
    found = _find_complete_record(data, offset + RECORD_HEADER.size)
    if found is _Search.FOUND:
        return Damage(offset, index, reason + "; yet a complete record follows its header "
                       "(a damaged length field?)", torn=False)
    if found is _Search.GAVE_UP:
        reason += (f"; the search for complete records after it stopped after "
                   f"{MAX_SEARCH_CANDIDATES} candidates")
    return Damage(offset, index, reason, torn=True)


def _is_zeros(data: bytes, start: int) -> bool:
    return not data[start:].strip(b"\x00")


class _Search(Enum):
    FOUND = "found"
    NONE = "none"
    GAVE_UP = "gave up"


def _find_complete_record(data: bytes, start: int) -> _Search:
    """Whether a record that could belong to the log starts at or after `start`.

    Such a record has a possible length, fits in the file, ends at the end of
    the file or before another possible header (or a short one), and its CRC
    matches. Candidates are found at C speed (a possible length is below
    2**24 or exactly 2**24); a torn 16 MiB record of real data is searched
    in well under a second, and contrived data gives up after
    MAX_SEARCH_CANDIDATES candidates (about a second) rather than stall a start.
    """
    for count, match in enumerate(_POSSIBLE_LENGTH.finditer(data, start)):
        offset = match.start()
        if offset + RECORD_HEADER.size >= len(data):
            return _Search.NONE
        if count == MAX_SEARCH_CANDIDATES:
            return _Search.GAVE_UP
        length, crc = RECORD_HEADER.unpack_from(data, offset)
        end = offset + RECORD_HEADER.size + length
        if end <= len(data) and _may_follow(data, end):
            if zlib.crc32(data[offset + RECORD_HEADER.size:end]) == crc:
                return _Search.FOUND
    return _Search.NONE


def _may_follow(data: bytes, offset: int) -> bool:
    """True if what starts at `offset` may be the log after a record: nothing, or a header."""
    if len(data) - offset < RECORD_HEADER.size:
        return True
    length = int.from_bytes(data[offset:offset + 4], "big")
    return 1 <= length <= MAX_RECORD_SIZE
