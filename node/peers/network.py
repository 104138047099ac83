"""`PeerNetwork`: the node's authenticated websocket links to the other members.

It accepts peers on `GET /v1/peer` (mount `routes()` in the node's aiohttp
app) and dials every URL it is given, redialing with exponential backoff and
jitter. Every connection first runs the handshake (handshake.py) with a
fresh `os.urandom` challenge under a timeout; a peer that fails it, or whose
key is not a current member, is refused and logged. After that the peer's
frames go to `on_message` in arrival order, and the node sends with `send` /
`broadcast`. The node's message kinds are passed through unread.

Guarantees:

* At most one connection per peer key. Of two authenticated connections
  with one peer, both sides keep the same one (`kept_connection`: the one
  dialed by the smaller key) and close the other; frames still queued on the
  closed one move to the kept one.
* A peer that breaks a limit (frame size, rate, a text or undecodable frame,
  a handshake frame after the handshake, an unknown kind) is closed with a
  log line naming it (hex prefix of its key), the code and the reason.
* Unauthenticated connections are bounded: at most
  `limits.max_pending_handshakes` inbound connections are in the handshake at
  once, `max_pending_handshakes_per_address` from one address, each for at
  most `handshake_timeout_s`; a connection beyond that is closed at once
  (4004, PEER_RATE_LIMITED) and counted in `handshakes_refused`.
* Callbacks run synchronously in the event loop: `on_peer_up(key)` before
  that peer's first `on_message`, `on_peer_down(key)` once it is gone (which
  may be inside `disconnect()`, `recheck_members()` or `close()`). An
  exception from a callback is logged; from `on_message` it also disconnects
  that peer (a `LedgerError` as the node refusing the content, with its code;
  anything else as a bug, with its traceback and INTERNAL_ERROR).
* No global state: instances are independent.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
from aiohttp import web

from ledger.crypto import SigningKey
from ledger.errors import Code, LedgerError
from node.peers.connection import (
    Direction,
    PeerConnection,
    PeerInfo,
    WebSocket,
    kept_connection,
    key_label,
)
from node.peers.dialer import CONNECTION_ERRORS, Dialer, SessionEnd
from node.peers.handshake import Handshake
from node.peers.limits import HandshakeSlots, PeerLimits
from node.peers.protocol import (
    HANDSHAKE_KINDS,
    CloseCode,
    close_code_for,
    close_reason,
    decode_frame,
    encode_frame,
)

PEER_PATH = "/v1/peer"


class PeerNetwork:
    def __init__(
        self,
        *,
        chain_id: str,
        genesis_hash: bytes,
        identity: SigningKey,
        is_member: Callable[[bytes], bool],
        dial: Sequence[str],
        on_message: Callable[[bytes, int, Any], None],
        on_peer_up: Callable[[bytes], None] | None = None,
        on_peer_down: Callable[[bytes], None] | None = None,
        limits: PeerLimits = PeerLimits(),
        log: logging.Logger | None = None,
    ) -> None:
        self._chain_id = chain_id
        self._genesis_hash = genesis_hash
        self._identity = identity
        self._is_member = is_member
        self._dial = tuple(dial)
        self._on_message = on_message
        self._on_peer_up = on_peer_up
        self._on_peer_down = on_peer_down
        self._limits = limits
        self._log = log or logging.getLogger(__name__)
        self._peers: dict[bytes, PeerConnection] = {}  # authenticated, one per key
        self._connections: set[PeerConnection] = set()  # every open one, handshaking too
        self._peers_changed = asyncio.Event()
        self._dialers: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._random = random.Random()
        self._started = False
        self._closed = False
        self._close_done = asyncio.Event()
        self._handshake_slots = HandshakeSlots(
            limits.max_pending_handshakes, limits.max_pending_handshakes_per_address
        )
        #: Inbound connections closed at once because the handshake places were taken.
        self.handshakes_refused = 0

    # ---- the node's side -------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        return [web.get(PEER_PATH, self._accept)]

    async def start(self) -> None:
        if self._started or self._closed:
            raise RuntimeError("a PeerNetwork starts once")
        self._started = True
        timeout = aiohttp.ClientTimeout(total=None, connect=self._limits.handshake_timeout_s)
        self._session = aiohttp.ClientSession(timeout=timeout)
        for url in self._dial:
            dialer = Dialer(
                url, target=self, session=self._session, own_key=self._identity.public_key,
                limits=self._limits, log=self._log, rng=self._random,
            )
            self._dialers.append(asyncio.create_task(dialer.run_forever(), name=f"peer-dialer {url}"))

    async def close(self) -> None:
        """Closes every connection, stops dialing; later peers are turned away."""
        if self._closed:
            await self._close_done.wait()
            return
        self._closed = True
        self._signal_peers_changed()
        for conn in list(self._connections):
            self._end(conn, CloseCode.GOING_AWAY, "node shutting down")
        pending = [asyncio.create_task(conn.ended.wait()) for conn in self._connections]
        if pending:
            await asyncio.wait(pending, timeout=self._limits.close_timeout_s + 1.0)
            for task in pending:
                task.cancel()
        for dialer in self._dialers:
            dialer.cancel()
        await asyncio.gather(*self._dialers, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        self._close_done.set()

    def send(self, peer: bytes, kind: int, body: Any) -> bool:
        """Queues one frame to `peer`; False if it is not connected or its queue is full."""
        conn = self._peers.get(peer)
        return conn is not None and conn.enqueue(self._node_frame(kind, body))

    def broadcast(self, kind: int, body: Any) -> int:
        """Queues one frame (encoded once) to every peer; how many took it."""
        frame = self._node_frame(kind, body)
        return sum(conn.enqueue(frame) for conn in list(self._peers.values()))

    def connected(self) -> list[bytes]:
        return sorted(self._peers)

    def peer_info(self) -> list[PeerInfo]:
        return [self._peers[key].info() for key in sorted(self._peers)]

    def disconnect(self, peer: bytes, code: Code, reason: str) -> None:
        """Closes `peer` for content the node refused; logged with `code` and `reason`."""
        conn = self._peers.get(peer)
        if conn is not None:
            self._log.warning("disconnecting peer %s: %s: %s", conn.label, code.value, reason)
            self._end(conn, close_code_for(code), f"{code.value}: {reason}")

    def recheck_members(self) -> None:
        """Disconnects every peer whose key is no longer a member (call after a commit)."""
        for key, conn in list(self._peers.items()):
            if not self._is_member(key):
                self._refuse(conn, LedgerError(Code.PEER_NOT_MEMBER, "no longer a member"))

    # ---- for the dialers -------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    async def run_outbound(self, ws: aiohttp.ClientWebSocketResponse, url: str) -> SessionEnd:
        return await self._run_connection(ws, "out", url)

    async def wait_until_gone(self, key: bytes) -> None:
        while key in self._peers and not self._closed:
            await self._peers_changed.wait()

    # ---- connections -----------------------------------------------------

    async def _accept(self, request: web.Request) -> web.StreamResponse:
        if self._closed:
            raise web.HTTPServiceUnavailable(text="the node is shutting down")
        ws = web.WebSocketResponse(
            timeout=self._limits.close_timeout_s,
            heartbeat=self._limits.heartbeat_s,
            compress=False,
            max_msg_size=self._limits.max_frame_bytes,
        )
        if not ws.can_prepare(request).ok:
            raise web.HTTPBadRequest(text=f"{PEER_PATH} takes a websocket upgrade")
        peername = request.transport.get_extra_info("peername") if request.transport else None
        address = str(peername[0]) if peername else str(request.remote)
        remote = f"{peername[0]}:{peername[1]}" if peername else address
        if not self._handshake_slots.acquire(address):
            await self._refuse_handshake(request, ws, remote)
            return ws
        slot = _HandshakeSlot(self._handshake_slots, address)
        try:
            try:
                await ws.prepare(request)
            except CONNECTION_ERRORS as error:
                # the dialer gave up (or this node is stopping) before the upgrade
                # answer went out: nothing to run, and nothing for aiohttp to log
                self._log.info("peer connection from %s closed before its upgrade (%s)",
                               remote, error)
                return ws
            await self._run_connection(ws, "in", remote, slot.release)
        finally:
            slot.release()
        return ws

    async def _refuse_handshake(self, request: web.Request, ws: web.WebSocketResponse,
                                remote: str) -> None:
        """Closes a new connection at once: too many are in the handshake already."""
        self.handshakes_refused += 1
        if self.handshakes_refused % 100 == 1:  # a flood must not flood the log too
            self._log.warning(
                "refusing peer connection from %s: %d in the handshake (at most %d, %d per "
                "address); %d refused so far", remote, self._handshake_slots.pending,
                self._limits.max_pending_handshakes,
                self._limits.max_pending_handshakes_per_address, self.handshakes_refused,
            )
        try:
            await ws.prepare(request)
        except CONNECTION_ERRORS:
            return
        await ws.close(code=CloseCode.RATE_LIMITED, message=close_reason(
            f"{Code.PEER_RATE_LIMITED.value}: too many connections in the handshake"))

    async def _run_connection(
        self, ws: WebSocket, direction: Direction, remote: str,
        handshake_over: Callable[[], None] = lambda: None,
    ) -> SessionEnd:
        conn = PeerConnection(ws, direction, remote, self._limits, self._log)
        self._connections.add(conn)
        handshake = Handshake(
            self._chain_id, self._genesis_hash, self._identity, os.urandom(32), self._is_member
        )
        try:
            if self._closed:
                conn.close_soon(CloseCode.GOING_AWAY, "node shutting down")
            else:
                authenticated = await self._authenticate(conn, handshake)
                handshake_over()
                if authenticated and self._register(conn):
                    await self._serve(conn)
        except CONNECTION_ERRORS as exc:
            self._log.info("peer %s: connection lost: %r", conn.label, exc)
        finally:
            self._drop(conn)
            try:
                await conn.finish()
            finally:
                self._connections.discard(conn)
                conn.ended.set()
        return SessionEnd(handshake.claimed_key, handshake.done)

    async def _authenticate(self, conn: PeerConnection, handshake: Handshake) -> bool:
        try:
            async with asyncio.timeout(self._limits.handshake_timeout_s):
                await conn.send_now(handshake.start())
                while not handshake.done:
                    frame = await conn.receive_frame()
                    if frame is None:
                        if conn.closing:  # we are shutting down
                            return False
                        raise LedgerError(
                            Code.PEER_AUTH_FAILED,
                            f"peer closed during the handshake ({conn.peer_close or 'no reason'})",
                        )
                    for reply in handshake.receive(frame):
                        await conn.send_now(reply)
        except TimeoutError:
            error = LedgerError(
                Code.PEER_AUTH_FAILED,
                f"handshake not done within {self._limits.handshake_timeout_s} s",
            )
        except LedgerError as exc:
            error = exc
        else:
            conn.key = handshake.peer_key
            return True
        conn.key = handshake.claimed_key  # for the log line only; never registered
        self._refuse(conn, error, during_handshake=True)
        return False

    def _register(self, conn: PeerConnection) -> bool:
        """Makes `conn` the peer's connection unless it loses to an existing one."""
        key = conn.key
        if key is None:
            raise RuntimeError("only an authenticated connection is registered")
        if not self._is_member(key):  # the member set changed during the handshake
            self._refuse(
                conn, LedgerError(Code.PEER_NOT_MEMBER, "no longer a member"), during_handshake=True
            )
            return False
        conn.connected_since = time.time()
        existing = self._peers.get(key)
        if existing is not None:
            kept = kept_connection(self._identity.public_key, key, existing.direction, conn.direction)
            keep = existing if kept == "old" else conn
            lose = conn if keep is existing else existing
            self._log.info(
                "duplicate connection with peer %s: keeping the %s one, closing the %s one",
                key_label(key), keep.direction, lose.direction,
            )
            if keep is conn:
                conn.adopt_queue(existing)
                self._peers[key] = conn
            lose.close_soon(CloseCode.NORMAL, "duplicate connection")
            if keep is existing:
                return False
            conn.start_writer()
            return True
        self._peers[key] = conn
        conn.start_writer()
        self._signal_peers_changed()
        self._log.info("peer %s connected", conn.label)
        self._callback(self._on_peer_up, key)
        return True

    async def _serve(self, conn: PeerConnection) -> None:
        key = conn.key
        if key is None:
            raise RuntimeError("only an authenticated connection is served")
        while not conn.closing:
            try:
                frame = await conn.receive_frame()
                if frame is None:
                    if not conn.closing:
                        self._log.info("peer %s disconnected (%s)", conn.label,
                                       conn.peer_close or "no reason")
                    return
                kind, body = decode_frame(frame, self._limits.max_frame_bytes)
                if kind in HANDSHAKE_KINDS:
                    raise LedgerError(Code.PEER_PROTOCOL_ERROR, f"{kind.name} after the handshake")
            except LedgerError as exc:
                self._refuse(conn, exc)
                return
            if conn.closing:  # the node disconnected it while we were reading
                return
            try:
                self._on_message(key, kind, body)
            except LedgerError as exc:  # the node refused the content
                self._refuse(conn, exc)
            except Exception:  # a bug in the node: keep the traceback
                self._log.exception("on_message failed on a frame of peer %s; disconnecting it: %s",
                                    conn.label, Code.INTERNAL_ERROR.value)
                self._end(conn, CloseCode.REFUSED_CONTENT,
                          f"{Code.INTERNAL_ERROR.value}: the node failed on a frame")

    # ---- bookkeeping -----------------------------------------------------

    def _refuse(
        self, conn: PeerConnection, error: LedgerError, during_handshake: bool = False
    ) -> None:
        what = "handshake with peer %s failed" if during_handshake else "disconnecting peer %s"
        self._log.warning(what + ": %s: %s", conn.label, error.code.value, error.message)
        self._end(conn, close_code_for(error.code), f"{error.code.value}: {error.message}")

    def _end(self, conn: PeerConnection, code: int, reason: str) -> None:
        conn.close_soon(code, reason)
        self._drop(conn)

    def _drop(self, conn: PeerConnection) -> None:
        key = conn.key
        if key is not None and self._peers.get(key) is conn:
            del self._peers[key]
            self._signal_peers_changed()
            self._log.info("peer %s gone", conn.label)
            self._callback(self._on_peer_down, key)

    def _callback(self, callback: Callable[[bytes], None] | None, key: bytes) -> None:
        if callback is None:
            return
        try:
            callback(key)
        except Exception:
            self._log.exception("peer callback %r failed for %s", callback, key_label(key))

    def _signal_peers_changed(self) -> None:
        self._peers_changed.set()
        self._peers_changed = asyncio.Event()

    def _node_frame(self, kind: int, body: Any) -> bytes:
        if kind in HANDSHAKE_KINDS:
            raise LedgerError(Code.PEER_PROTOCOL_ERROR, "HELLO and AUTH belong to the handshake")
        return encode_frame(kind, body, self._limits.max_frame_bytes)


class _HandshakeSlot:
    """One connection's place among the pending handshakes, given back exactly once."""

    __slots__ = ("_slots", "_address", "_held")

    def __init__(self, slots: HandshakeSlots, address: str) -> None:
        self._slots = slots
        self._address = address
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._slots.release(self._address)
