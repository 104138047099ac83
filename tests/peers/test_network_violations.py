"""A peer that breaks the rules is closed, with a log line naming it, the code and why."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from ledger import codec
from ledger.errors import Code, LedgerError
from node.peers.protocol import CloseCode, FrameKind, encode_frame
from tests.peers import (
    FAST,
    MEMBERS,
    A,
    B,
    Node,
    RawPeer,
    agree,
    eventually,
    label,
    listening_socket,
    run_async,
    stop_all,
)

Send = Callable[[aiohttp.ClientWebSocketResponse], Awaitable[None]]


def bytes_of(data: bytes) -> Send:
    async def send(ws: aiohttp.ClientWebSocketResponse) -> None:
        await ws.send_bytes(data)

    return send


async def send_text(ws: aiohttp.ClientWebSocketResponse) -> None:
    await ws.send_str("hello")


def closed_by_node(
    send: Send, close_code: int, code: Code, why: str, limits: Any = FAST, handshake: bool = True
) -> None:
    """A raw member peer misbehaves after (or instead of) the handshake; the node closes it."""

    async def scenario() -> None:
        node = Node(A, listening_socket(), set(MEMBERS), limits=limits)
        peer = RawPeer(B)
        try:
            await node.start()
            if handshake:
                await peer.handshake(node.url)
                await eventually(lambda: node.network.connected() == [B.public_key], "B is up")
            else:
                await peer.connect(node.url)
            await send(peer.ws)  # type: ignore[arg-type]
            assert await peer.close_code() == close_code
            await eventually(
                lambda: node.log.has(label(B) if handshake else "peer ? (in", code.value, why),
                f"A logged {code.value}: {why}",
            )
            assert node.network.connected() == []
            if handshake:
                assert node.ups == [B.public_key] and node.downs == [B.public_key]
        finally:
            await peer.close()
            await stop_all([node])

    run_async(scenario())


@pytest.mark.parametrize(
    ("send", "why"),
    [
        (bytes_of(b"\xc1 not msgpack"), "not canonical msgpack"),
        (bytes_of(codec.encode([99, None])), "unknown frame kind 99"),
        (bytes_of(codec.encode({"kind": 10})), "[kind, body]"),
        (bytes_of(bytes([0x92, 0x0A, 0xCC, 0x01])), "not canonical"),  # 1 as uint8
        (bytes_of(encode_frame(FrameKind.HELLO, {})), "HELLO after the handshake"),
        (bytes_of(encode_frame(FrameKind.AUTH, {})), "AUTH after the handshake"),
        (send_text, "text message"),
    ],
)
def test_a_garbage_frame_disconnects_the_peer(send: Send, why: str) -> None:
    closed_by_node(send, CloseCode.PROTOCOL_ERROR, Code.PEER_PROTOCOL_ERROR, why)


def test_an_oversize_frame_disconnects_the_peer() -> None:
    limits = dataclasses.replace(FAST, max_frame_bytes=4096)
    oversize = bytes_of(encode_frame(FrameKind.BLOCKS, b"\x00" * 5000))
    closed_by_node(oversize, CloseCode.MESSAGE_TOO_BIG, Code.PEER_PROTOCOL_ERROR, "exceeds limit",
                   limits=limits)


def test_an_oversize_frame_is_refused_during_the_handshake_too() -> None:
    limits = dataclasses.replace(FAST, max_frame_bytes=4096)
    closed_by_node(bytes_of(b"\x00" * 5000), CloseCode.MESSAGE_TOO_BIG, Code.PEER_PROTOCOL_ERROR,
                   "exceeds limit", limits=limits, handshake=False)


def test_a_peer_above_the_message_rate_is_disconnected() -> None:
    limits = dataclasses.replace(FAST, max_messages_per_s=5.0)  # burst 10

    async def flood(ws: aiohttp.ClientWebSocketResponse) -> None:
        frame = encode_frame(FrameKind.STATUS, {"height": 1})
        for _ in range(200):
            if ws.closed:
                return
            try:
                await ws.send_bytes(frame)
            except ConnectionError:
                return

    closed_by_node(flood, CloseCode.RATE_LIMITED, Code.PEER_RATE_LIMITED, "above 5 messages/s",
                   limits=limits)


def test_a_peer_above_the_byte_rate_is_disconnected() -> None:
    limits = dataclasses.replace(FAST, max_frame_bytes=10_000, max_bytes_per_s=10_000.0)

    async def flood(ws: aiohttp.ClientWebSocketResponse) -> None:
        frame = encode_frame(FrameKind.TXS, b"\x00" * 9000)
        for _ in range(20):  # 180 kB against a 20 kB burst
            if ws.closed:
                return
            try:
                await ws.send_bytes(frame)
            except ConnectionError:
                return

    closed_by_node(flood, CloseCode.RATE_LIMITED, Code.PEER_RATE_LIMITED, "above 10000 bytes/s",
                   limits=limits)


def test_a_handshake_that_never_ends_times_out() -> None:
    limits = dataclasses.replace(FAST, handshake_timeout_s=0.2)

    async def silent(ws: aiohttp.ClientWebSocketResponse) -> None:
        return None

    async def scenario() -> None:
        node = Node(A, listening_socket(), set(MEMBERS), limits=limits)
        peer = RawPeer(B)
        try:
            await node.start()
            await peer.connect(node.url)
            assert await peer.close_code() == CloseCode.AUTH_FAILED
            await eventually(lambda: node.log.has("PEER_AUTH_FAILED", "handshake not done within"),
                             "A logged the timeout")
            assert node.ups == []
        finally:
            await peer.close()
            await stop_all([node])

    run_async(scenario())


def pair_with(on_message: Callable[[Node, bytes, int, Any], None]) -> tuple[Node, Node]:
    a = Node(A, listening_socket(), set(MEMBERS), on_message=on_message)
    b = Node(B, listening_socket(), set(MEMBERS))
    b.dial = [a.url]
    return a, b


def test_the_node_can_disconnect_a_peer_for_bad_content() -> None:
    def judge(node: Node, peer: bytes, kind: int, body: Any) -> None:
        if body == "bad":
            node.network.disconnect(peer, Code.INVALID_CONSENSUS_MESSAGE, "a vote for height -1")

    async def scenario() -> None:
        a, b = pair_with(judge)
        try:
            await a.start()
            await b.start()
            await eventually(lambda: agree([a, b]), "A and B are connected")
            b.network.send(A.public_key, FrameKind.CONSENSUS, "bad")
            b.network.send(A.public_key, FrameKind.CONSENSUS, "after the bad one")
            await eventually(
                lambda: a.log.has("disconnecting peer " + label(B), "INVALID_CONSENSUS_MESSAGE",
                                  "a vote for height -1"),
                "A logged the disconnect",
            )
            await eventually(
                lambda: b.log.has(label(A), str(CloseCode.REFUSED_CONTENT), "INVALID_CONSENSUS_MESSAGE"),
                "B was told why",
            )
            # Nothing of B's is delivered after the node disconnected it.
            assert a.from_peer(B) == [(FrameKind.CONSENSUS, "bad")]
        finally:
            await stop_all([a, b])

    run_async(scenario())


@pytest.mark.parametrize(
    ("error", "code", "logged"),
    [(ZeroDivisionError("a node bug"), Code.INTERNAL_ERROR, "on_message failed"),
     (LedgerError(Code.INVALID_BLOCK, "bad block"), Code.INVALID_BLOCK, "bad block")],
)
def test_an_exception_from_on_message_is_logged_and_disconnects(
    error: Exception, code: Code, logged: str
) -> None:
    def crash(node: Node, peer: bytes, kind: int, body: Any) -> None:
        raise error

    async def scenario() -> None:
        a, b = pair_with(crash)
        try:
            await a.start()
            await b.start()
            await eventually(lambda: agree([a, b]), "A and B are connected")
            b.network.send(A.public_key, FrameKind.TXS, [])
            await eventually(lambda: a.log.has(label(B), code.value, logged), "A logged it")
            if code is Code.INTERNAL_ERROR:  # a bug: the traceback is kept
                assert any(r.exc_info and r.exc_info[1] is error for r in a.log.records)
            await eventually(lambda: b.log.has(label(A), code.value), "B was told why")
            assert a.downs[:1] == [B.public_key]
        finally:
            await stop_all([a, b])

    run_async(scenario())


def test_a_peer_that_leaves_the_member_set_is_disconnected_and_refused() -> None:
    async def scenario() -> None:
        a, b = pair_with(lambda *_: None)
        try:
            await a.start()
            await b.start()
            await eventually(lambda: agree([a, b]), "A and B are connected")
            a.network.recheck_members()
            assert a.network.connected() == [B.public_key]
            a.members.discard(B.public_key)
            a.network.recheck_members()
            assert a.network.connected() == [] and a.downs == [B.public_key]
            assert a.log.has("disconnecting peer " + label(B), "PEER_NOT_MEMBER", "no longer a member")
            # B redials and is refused at the handshake from now on.
            await eventually(lambda: a.log.has("handshake with peer " + label(B), "PEER_NOT_MEMBER"),
                             "B's redial was refused")
            assert a.network.connected() == [] and b.network.connected() == []
        finally:
            await stop_all([a, b])

    run_async(scenario())


def test_a_peer_that_stops_answering_pings_is_dropped() -> None:
    limits = dataclasses.replace(FAST, heartbeat_s=0.2)

    async def scenario() -> None:
        node = Node(A, listening_socket(), set(MEMBERS), limits=limits)
        peer = RawPeer(B)
        try:
            await node.start()
            await peer.handshake(node.url, autoping=False)  # a hung process: no pongs
            await eventually(lambda: node.ups == [B.public_key], "B is up")
            await eventually(lambda: node.downs == [B.public_key], "the heartbeat dropped B")
            assert node.network.connected() == []
            assert node.log.has(label(B), "connection lost", "PONG")
        finally:
            await peer.close()
            await stop_all([node])

    run_async(scenario())
