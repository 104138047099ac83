"""What one peer may cost this node, the token bucket that enforces rates, and
the cap on connections still in the handshake."""

from __future__ import annotations

from collections import Counter
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
    #: websocket ping when a peer has sent nothing for this long; no answer within
    #: half of it drops the peer. Any data received counts as an answer, but on a
    #: lossy long link TCP itself can stall for seconds (retransmission back-off):
    #: at 5 s, links under 12 % loss and 200-600 ms delay dropped every 10-18 s
    #: (tests/faults/test_partitions.py, long run), each drop restarting a transfer.
    heartbeat_s: float = 10.0
    reconnect_min_s: float = 0.2
    reconnect_max_s: float = 5.0
    close_timeout_s: float = 2.0  # how long a close waits for the peer's close frame
    #: Inbound connections in the handshake at once (anyone may open one, before any
    #: key is proven), in all and per remote address; beyond, a new one is closed at once.
    max_pending_handshakes: int = 32
    max_pending_handshakes_per_address: int = 8

    def __post_init__(self) -> None:
        for field in fields(self):
            name, value = field.name, getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise LedgerError(Code.CONFIG_INVALID, f"peer limit {name} must be > 0, got {value!r}")
        if self.reconnect_min_s > self.reconnect_max_s:
            raise LedgerError(
                Code.CONFIG_INVALID, "peer limit reconnect_min_s is above reconnect_max_s"
            )
        if self.max_pending_handshakes_per_address > self.max_pending_handshakes:
            raise LedgerError(
                Code.CONFIG_INVALID,
                "peer limit max_pending_handshakes_per_address is above max_pending_handshakes",
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


class HandshakeSlots:
    """Places for inbound connections that have not authenticated yet.

    An unauthenticated connection costs a socket, a task and, until the
    handshake reads its first frame, up to `max_frame_bytes` of buffer, and
    anyone who can reach the port may open one. So at most `total` are in the
    handshake at once, at most `per_address` of them from one address: one
    host cannot take every place, and this node's own dials (not counted here)
    keep it connected to the consortium even while strangers hold the rest.
    """

    __slots__ = ("total", "per_address", "_held")

    def __init__(self, total: int, per_address: int) -> None:
        self.total = total
        self.per_address = per_address
        self._held: Counter[str] = Counter()

    @property
    def pending(self) -> int:
        return sum(self._held.values())

    def acquire(self, address: str) -> bool:
        """Takes a place for a connection from `address`; False if none is free."""
        if self.pending >= self.total or self._held[address] >= self.per_address:
            return False
        self._held[address] += 1
        return True

    def release(self, address: str) -> None:
        if self._held[address] <= 1:
            del self._held[address]
        else:
            self._held[address] -= 1
