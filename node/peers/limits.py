"""What one peer may cost this node, and the token bucket that enforces rates."""

from __future__ import annotations

from dataclasses import dataclass, fields

from ledger.errors import Code, LedgerError
from node.peers.protocol import MAX_FRAME_SIZE


@dataclass(frozen=True, slots=True)
class PeerLimits:
    """Per-peer limits; every violation by the peer closes its connection."""

    max_frame_bytes: int = MAX_FRAME_SIZE
    handshake_timeout_s: float = 5.0
    max_messages_per_s: float = 2000.0  # token bucket, burst = 2x
    max_bytes_per_s: float = 64 * 1024 * 1024  # token bucket, burst = 2x
    send_queue_frames: int = 10_000  # per peer; beyond it frames are dropped (counted)
    heartbeat_s: float = 5.0  # websocket ping; a peer silent for 1.5x this is dropped
    reconnect_min_s: float = 0.2
    reconnect_max_s: float = 5.0
    close_timeout_s: float = 2.0  # how long a close waits for the peer's close frame

    def __post_init__(self) -> None:
        for field in fields(self):
            name, value = field.name, getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise LedgerError(Code.CONFIG_INVALID, f"peer limit {name} must be > 0, got {value!r}")
        if self.reconnect_min_s > self.reconnect_max_s:
            raise LedgerError(
                Code.CONFIG_INVALID, "peer limit reconnect_min_s is above reconnect_max_s"
            )
        if self.max_bytes_per_s * 2 < self.max_frame_bytes:
            raise LedgerError(
                Code.CONFIG_INVALID,
                "peer limit max_bytes_per_s allows a burst (2x) smaller than one maximal frame",
            )


class TokenBucket:
    """`rate` tokens per second, holding at most `2 * rate`; starts full.

    The clock is an argument (seconds, monotonic), so the rule is testable
    without waiting.
    """

    __slots__ = ("rate", "capacity", "_tokens", "_updated")

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.capacity = 2 * rate
        self._tokens = self.capacity
        self._updated = now

    def take(self, amount: float, now: float) -> bool:
        """Takes `amount` tokens if there are that many; False (and takes none) if not."""
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        self._updated = max(self._updated, now)
        if amount > self._tokens:
            return False
        self._tokens -= amount
        return True
