"""One websocket to one peer: limited reads, a bounded send queue and its writer.

`PeerConnection` hides whether aiohttp's server or client side holds the
socket. Reading enforces the per-peer limits on every message, handshake
included: a text message, a websocket error (aiohttp reports an oversize
message this way, after closing with 1009) or a rate above the token
buckets raises `LedgerError` with a PEER_* code; the caller closes. Sending
after the handshake goes through a bounded queue drained by one writer task,
so a slow peer costs a bounded amount of memory and never blocks the node:
a frame that does not fit is dropped and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Literal

import aiohttp
from aiohttp import web

from ledger.errors import Code, LedgerError
from node.peers.limits import PeerLimits, TokenBucket
from node.peers.protocol import CloseCode, close_reason

WebSocket = web.WebSocketResponse | aiohttp.ClientWebSocketResponse
Direction = Literal["in", "out"]
_CLOSED_TYPES = frozenset({aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED})


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """A snapshot of one authenticated connection, for status pages and tests."""

    key: bytes
    direction: Direction  # "out": this node dialed it
    remote: str  # host:port of an inbound peer, the dialed URL of an outbound one
    connected_since: float  # time.time() when the handshake ended
    frames_in: int
    bytes_in: int
    frames_out: int
    bytes_out: int
    dropped: int  # frames not queued because the send queue was full


def kept_connection(own_key: bytes, peer_key: bytes, old: Direction, new: Direction) -> str:
    """Of two connections with one peer, "old" or "new": the one both sides keep.

    Both sides keep the connection dialed by the node with the smaller key;
    when both were dialed by the same side, the newer one (the older is
    likely a dead connection of a restarted peer).
    """
    smaller_dialed: Direction = "out" if own_key < peer_key else "in"
    if old != new:
        return "old" if old == smaller_dialed else "new"
    return "new"


def key_label(key: bytes | None) -> str:
    """How logs name a peer: the first 8 hex digits of its key."""
    return key[:4].hex() if key else "?"


class PeerConnection:
    def __init__(
        self, ws: WebSocket, direction: Direction, remote: str, limits: PeerLimits,
        log: logging.Logger,
    ) -> None:
        self.ws = ws
        self.direction: Direction = direction
        self.remote = remote
        self.key: bytes | None = None  # set once authenticated
        self.connected_since = time.time()
        self.frames_in = self.bytes_in = self.frames_out = self.bytes_out = self.dropped = 0
        #: Set once this side decided to close: nothing more is read or sent.
        self.closing = False
        #: What the peer said when it closed first ("4002 PEER_NOT_MEMBER: ...").
        self.peer_close: str | None = None
        #: Set when the connection is fully over (its task finished).
        self.ended = asyncio.Event()
        self._log = log
        self._clock = asyncio.get_running_loop().time
        now = self._clock()
        self._messages = TokenBucket(limits.max_messages_per_s, now)
        self._bytes = TokenBucket(limits.max_bytes_per_s, now)
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(limits.send_queue_frames)
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None

    @property
    def label(self) -> str:
        return f"{key_label(self.key)} ({self.direction} {self.remote})"

    def info(self) -> PeerInfo:
        if self.key is None:
            raise RuntimeError("no PeerInfo before the handshake ends")
        return PeerInfo(
            self.key, self.direction, self.remote, self.connected_since, self.frames_in,
            self.bytes_in, self.frames_out, self.bytes_out, self.dropped,
        )

    async def receive_frame(self) -> bytes | None:
        """The next binary message, or None once the connection is closed."""
        message = await self.ws.receive()
        kind = message.type
        if kind is aiohttp.WSMsgType.BINARY:
            data: bytes = message.data
            now = self._clock()
            if not self._messages.take(1, now):
                raise LedgerError(
                    Code.PEER_RATE_LIMITED, f"above {self._messages.rate:g} messages/s (burst 2x)"
                )
            if not self._bytes.take(len(data), now):
                raise LedgerError(
                    Code.PEER_RATE_LIMITED, f"above {self._bytes.rate:g} bytes/s (burst 2x)"
                )
            self.frames_in += 1
            self.bytes_in += len(data)
            return data
        if kind in _CLOSED_TYPES:
            if kind is aiohttp.WSMsgType.CLOSE and self.peer_close is None:
                self.peer_close = f"{message.data} {message.extra or ''}".strip()
            return None
        if kind is aiohttp.WSMsgType.TEXT:
            raise LedgerError(Code.PEER_PROTOCOL_ERROR, "a text message; the channel is binary only")
        if kind is aiohttp.WSMsgType.ERROR:
            if isinstance(message.data, aiohttp.WebSocketError):  # what the peer sent is wrong
                raise LedgerError(Code.PEER_PROTOCOL_ERROR, f"websocket error: {message.data}")
            self.peer_close = f"connection lost: {message.data!r}"  # e.g. no pong in time
            return None
        raise LedgerError(Code.PEER_PROTOCOL_ERROR, f"unexpected websocket message {kind.name}")

    async def send_now(self, frame: bytes) -> None:
        """Sends one frame directly; only for the handshake, before the writer runs."""
        await self.ws.send_bytes(frame)
        self.frames_out += 1
        self.bytes_out += len(frame)

    def start_writer(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(), name=f"peer-writer {self.label}")

    def enqueue(self, frame: bytes) -> bool:
        """Queues `frame` for the writer; False if closing or the queue is full."""
        if self.closing:
            return False
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.dropped += 1
            return False
        return True

    def adopt_queue(self, other: PeerConnection) -> None:
        """Takes over the frames `other` has not sent yet (it is being replaced)."""
        while not other._queue.empty():
            self.enqueue(other._queue.get_nowait())

    def close_soon(self, code: int, reason: str) -> None:
        """Stops reading and sending now and closes the websocket in the background."""
        if self.closing:
            return
        self.closing = True
        if self._writer is not None:
            self._writer.cancel()
        self._closer = asyncio.create_task(self._close(code, reason), name=f"peer-close {self.label}")

    async def finish(self) -> None:
        """Closes (normally, unless closing already) and waits until it is done."""
        self.close_soon(CloseCode.NORMAL, "")
        for task in (self._closer, self._writer):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _close(self, code: int, reason: str) -> None:
        try:
            await self.ws.close(code=code, message=close_reason(reason))
        except Exception as exc:  # the transport may already be gone
            self._log.debug("peer %s: error while closing: %r", self.label, exc)

    async def _write_loop(self) -> None:
        try:
            while True:
                frame = await self._queue.get()
                await self.ws.send_bytes(frame)
                self.frames_out += 1
                self.bytes_out += len(frame)
        except (ConnectionError, aiohttp.ClientError) as exc:
            self._log.info("peer %s: sending failed (%r); closing", self.label, exc)
            self.close_soon(CloseCode.GOING_AWAY, "send failed")
        except Exception:
            self._log.exception("peer %s: the writer failed; closing", self.label)
            self.close_soon(CloseCode.GOING_AWAY, "send failed")
