"""A node's WAL writer to be killed: appends numbered records forever.

    python -m tests.runtime.crash_wal_writer WAL_DIR

Used by tests/runtime/test_wal.py, which SIGKILLs it at random moments. It
prints to stdout, one line each, flushed at once:

    ready      the WAL is open (recovered), appending starts
    I          record I was appended and fsynced: `append` returned

Record I belongs to height `height_of(I)` and holds `payload(I)`, so what the
WAL must contain is known without it. Starting height h prunes the heights
below h - 1, as a node does, so the directory stays small. Some payloads are large (up to 1 MiB)
so that a kill can land inside a write. It resumes after the last record on
disk and stops by itself if its parent dies.
"""

from __future__ import annotations

import hashlib
import os
import sys

from node.runtime.wal import WriteAheadLog

RECORDS_PER_HEIGHT = 40
LARGE_EVERY = 5
LARGE_SIZE = 1024 * 1024


def height_of(index: int) -> int:
    return index // RECORDS_PER_HEIGHT + 1


def payload(index: int) -> bytes:
    """Record `index`: its number, then filler that depends on it."""
    head = f"record {index};".encode()
    size = LARGE_SIZE - index % 1000 if index % LARGE_EVERY == 0 else 64 + index % 200
    block = hashlib.sha256(head).digest()
    return head + (block * (size // len(block) + 1))[:size]


def index_of(data: bytes) -> int:
    return int(data[len(b"record "):data.index(b";")])


def next_index(wal: WriteAheadLog) -> int:
    """One after the last record on disk, 0 if there is none."""
    for height in reversed(wal.heights()):
        records = list(wal.records(height))
        if records:
            return index_of(records[-1]) + 1
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.runtime.crash_wal_writer WAL_DIR", file=sys.stderr)
        return 2
    parent = os.getppid()
    wal = WriteAheadLog.open(argv[0])
    index = next_index(wal)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while os.getppid() == parent:
        if wal.height is None or wal.height < height_of(index):
            wal.start_height(height_of(index))
            wal.prune_below(height_of(index) - 1)
        wal.append(payload(index))
        sys.stdout.write(f"{index}\n")
        sys.stdout.flush()
        index += 1
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
