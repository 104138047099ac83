"""Durable file writes: the two steps that are easy to get subtly wrong.

`os.write` may write fewer bytes than asked, and a file created or renamed
into a directory is not durable until the directory itself is fsynced. The
sign store and the WAL both rely on these; they live here once.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_all(fd: int, data: bytes) -> None:
    """Writes every byte of `data` to `fd`, looping over short writes."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def fsync_directory(directory: Path) -> None:
    """Makes the directory entries (creations, renames) in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
