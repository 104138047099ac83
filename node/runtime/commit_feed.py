"""Who hears about a commit: clients waiting for a transaction, event streams.

`publish` runs in the event loop after each commit (consensus or sync). A
waiter is a future per transaction id (`?wait=commit`); a stream is a
bounded queue of committed events with a filter. A stream that falls more
than its queue behind is closed with a final notice rather than holding
memory for a client that does not read: it reconnects, and reads what it
missed page by page from the event index (GET /v1/subjects/{subject}/events
with `after=` the last cursor it saw).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from ledger.types import Event
from node.runtime.application import CommittedBlock

STREAM_QUEUE = 1_000


@dataclass(frozen=True, slots=True)
class CommittedEvent:
    height: int
    tx_index: int
    event_index: int
    tx_id: bytes
    time_ms: int
    event: Event

    @property
    def subjects(self) -> list[str]:
        subjects = self.event.attributes.get("subjects")
        return [s for s in subjects if isinstance(s, str)] if isinstance(subjects, list) else []


@dataclass(frozen=True, slots=True)
class EventFilter:
    subjects: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()

    def matches(self, item: CommittedEvent) -> bool:
        if self.kinds and item.event.kind not in self.kinds:
            return False
        return not self.subjects or any(s in self.subjects for s in item.subjects)


class Stream:
    def __init__(self, event_filter: EventFilter) -> None:
        self.filter = event_filter
        self.queue: asyncio.Queue[CommittedEvent | None] = asyncio.Queue(STREAM_QUEUE)
        self.overflowed = False

    def offer(self, item: CommittedEvent) -> None:
        if self.overflowed or not self.filter.matches(item):
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed = True
            self.queue.get_nowait()
            self.queue.put_nowait(None)  # the reader's signal to stop


def committed_events(committed: CommittedBlock) -> Iterator[CommittedEvent]:
    header = committed.block.header
    for tx_index, receipt in enumerate(committed.receipts):
        if not receipt.succeeded:
            continue
        for event_index, event in enumerate(receipt.events):
            yield CommittedEvent(header.height, tx_index, event_index, receipt.tx_id,
                                 header.time_ms, event)


class CommitFeed:
    def __init__(self, max_streams: int) -> None:
        self.max_streams = max_streams
        self._waiters: dict[bytes, list[asyncio.Future[None]]] = {}
        self._streams: set[Stream] = set()
        self.last: CommittedBlock | None = None

    @property
    def stream_count(self) -> int:
        return len(self._streams)

    def wait_for(self, tx_id: bytes) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(tx_id, []).append(future)
        return future

    def cancel_wait(self, tx_id: bytes, future: asyncio.Future[None]) -> None:
        waiting = self._waiters.get(tx_id)
        if waiting and future in waiting:
            waiting.remove(future)
            if not waiting:
                del self._waiters[tx_id]

    def release(self, tx_id: bytes) -> None:
        """Wakes the waiters of a transaction that will not commit (it failed admission)."""
        for future in self._waiters.pop(tx_id, ()):
            if not future.done():
                future.set_result(None)

    def open_stream(self, event_filter: EventFilter) -> Stream | None:
        if len(self._streams) >= self.max_streams:
            return None
        stream = Stream(event_filter)
        self._streams.add(stream)
        return stream

    def close_stream(self, stream: Stream) -> None:
        self._streams.discard(stream)

    def publish(self, committed: CommittedBlock) -> None:
        self.last = committed
        for tx in committed.block.txs:
            for future in self._waiters.pop(tx.tx_id, ()):
                if not future.done():
                    future.set_result(None)
        if self._streams:
            for item in committed_events(committed):
                for stream in list(self._streams):
                    stream.offer(item)
