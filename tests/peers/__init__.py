"""Helpers shared by the peer tests: real nodes on 127.0.0.1 and a raw peer.

pytest-asyncio is not a dependency: each test is a plain function that runs
one coroutine with `run_async`, which bounds it with a timeout, and every
wait inside goes through `eventually`, which is bounded too.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import os
import socket
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from genesis.demo_keys import demo_key
from ledger.crypto import SigningKey
from node.peers.handshake import Handshake
from node.peers.limits import PeerLimits
from node.peers.network import PEER_PATH, PeerNetwork

CHAIN_ID = "scf-peers-test"
GENESIS = hashlib.sha256(b"peers test genesis").digest()
A, B, C = demo_key("BANK-A"), demo_key("BANK-B"), demo_key("BANK-C")
STRANGER = demo_key("STRANGER")
MEMBERS = frozenset({A.public_key, B.public_key, C.public_key})
FAST = PeerLimits(
    handshake_timeout_s=3.0, reconnect_min_s=0.02, reconnect_max_s=0.2, close_timeout_s=1.0
)

T = TypeVar("T")
_names = itertools.count()


def run_async(coroutine: Coroutine[Any, Any, T], timeout: float = 15.0) -> T:
    """Runs one test coroutine on a fresh event loop, failing after `timeout` s."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


async def eventually(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Waits (polling) until `check()` holds; fails the test after `timeout` s."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.01)


class RecordingHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self, level: int = logging.DEBUG) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno >= level]

    def has(self, *parts: str, level: int = logging.DEBUG) -> bool:
        return any(all(part in line for part in parts) for line in self.lines(level))


def listening_socket(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(64)
    return sock


def peer_url(sock: socket.socket) -> str:
    return f"ws://127.0.0.1:{sock.getsockname()[1]}{PEER_PATH}"


def label(key: SigningKey) -> str:
    return key.public_key[:4].hex()


@dataclass
class Node:
    """One PeerNetwork served by a real aiohttp server, with what it saw."""

    key: SigningKey
    sock: socket.socket
    members: set[bytes]
    limits: PeerLimits = FAST
    dial: list[str] = field(default_factory=list)
    on_message: Callable[[Node, bytes, int, Any], None] | None = None
    received: list[tuple[bytes, int, Any]] = field(default_factory=list)
    ups: list[bytes] = field(default_factory=list)
    downs: list[bytes] = field(default_factory=list)
    log: RecordingHandler = field(default_factory=RecordingHandler)
    net: PeerNetwork | None = None
    runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return peer_url(self.sock)

    @property
    def network(self) -> PeerNetwork:
        if self.net is None:
            raise RuntimeError("node not started")
        return self.net

    async def start(self) -> Node:
        logger = logging.getLogger(f"tests.peers.node{next(_names)}.{label(self.key)}")
        logger.setLevel(logging.DEBUG)
        logger.addHandler(self.log)
        self.net = PeerNetwork(
            chain_id=CHAIN_ID, genesis_hash=GENESIS, identity=self.key,
            is_member=self.members.__contains__, dial=self.dial, on_message=self._deliver,
            on_peer_up=self.ups.append, on_peer_down=self.downs.append, limits=self.limits,
            log=logger,
        )
        app = web.Application()
        app.add_routes(self.net.routes())
        self.runner = web.AppRunner(app, handle_signals=False)
        await self.runner.setup()
        await web.SockSite(self.runner, self.sock).start()
        await self.net.start()
        return self

    async def stop(self) -> None:
        if self.net is not None:
            await self.net.close()
        if self.runner is not None:
            await self.runner.cleanup()
        self.sock.close()

    def _deliver(self, peer: bytes, kind: int, body: Any) -> None:
        self.received.append((peer, kind, body))
        if self.on_message is not None:
            self.on_message(self, peer, kind, body)

    def from_peer(self, peer: SigningKey) -> list[tuple[int, Any]]:
        return [(kind, body) for key, kind, body in self.received if key == peer.public_key]


async def stop_all(nodes: Iterable[Node]) -> None:
    await asyncio.gather(*(node.stop() for node in nodes))


def agree(nodes: Iterable[Node]) -> bool:
    """Every node is connected to every other once, and each pair agrees on who dialed."""
    nodes = list(nodes)
    for node in nodes:
        infos = {info.key: info for info in node.network.peer_info()}
        others = {other.key.public_key for other in nodes if other is not node}
        if set(infos) != others:
            return False
        for other in nodes:
            if other is node:
                continue
            mine = infos[other.key.public_key]
            theirs = {i.key: i for i in other.network.peer_info()}.get(node.key.public_key)
            if theirs is None or {mine.direction, theirs.direction} != {"in", "out"}:
                return False
    return True


class RawPeer:
    """A hand-driven client: does the handshake itself, then sends what a test wants."""

    def __init__(self, key: SigningKey, members: Iterable[bytes] = MEMBERS) -> None:
        self.key = key
        self.members = frozenset(members)
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def connect(self, url: str, autoping: bool = True) -> aiohttp.ClientWebSocketResponse:
        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(url, max_msg_size=0, autoping=autoping)
        return self.ws

    async def handshake(self, url: str, autoping: bool = True) -> None:
        ws = await self.connect(url, autoping)
        handshake = Handshake(CHAIN_ID, GENESIS, self.key, os.urandom(32), self.members.__contains__)
        await ws.send_bytes(handshake.start())
        while not handshake.done:
            message = await ws.receive()
            if message.type is not aiohttp.WSMsgType.BINARY:
                raise AssertionError(f"handshake interrupted by {message.type.name} {message.data}")
            for reply in handshake.receive(message.data):
                await ws.send_bytes(reply)

    async def close_code(self) -> int | None:
        """Reads until the node closes; the close code it sent."""
        if self.ws is None:
            raise RuntimeError("not connected")
        while True:
            message = await self.ws.receive()
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
                await self.ws.close()
                return self.ws.close_code

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.session is not None:
            await self.session.close()
