"""A progress line on stderr for long commands (replays, exports)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

TTY_REFRESH_S = 0.2
PLAIN_EVERY_S = 5.0


class ProgressLine:
    """Progress on stderr: one line redrawn in place on a terminal, else a plain line
    every few seconds. Called as `progress(height, transactions)`."""

    def __init__(self, total_blocks: int, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._tty = self._stream.isatty()
        self._total = total_blocks
        self._started = self._shown_at = time.monotonic()
        self._drawn = False
        self._last: tuple[int, int] | None = None
        self._shown: tuple[int, int] | None = None

    def __call__(self, height: int, transactions: int) -> None:
        self._last = height, transactions
        now = time.monotonic()
        if now - self._shown_at < (TTY_REFRESH_S if self._tty else PLAIN_EVERY_S):
            return
        self._shown_at = now
        self._show(height, transactions, now)

    def close(self) -> None:
        """Shows the last figures if anything was shown (short runs stay quiet)."""
        if self._last is not None and self._shown is not None and self._shown != self._last:
            self._show(*self._last, time.monotonic())
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False
        self._last = None

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _show(self, height: int, transactions: int, now: float) -> None:
        self._shown = height, transactions
        elapsed = max(now - self._started, 1e-9)
        blocks_per_s = height / elapsed
        left = max(self._total - height, 0)
        eta = _duration(left / blocks_per_s) if blocks_per_s > 0 else "?"
        line = (f"block {height}/{self._total}  {transactions} tx  "
                f"{transactions / elapsed:,.0f} tx/s  {blocks_per_s:,.1f} blocks/s  ETA {eta}")
        if self._tty:
            self._stream.write("\r\x1b[2K" + line)
            self._drawn = True
        else:
            self._stream.write(line + "\n")
        self._stream.flush()


def _duration(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"
