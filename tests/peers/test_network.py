"""PeerNetwork with real servers on 127.0.0.1: who connects, and what arrives."""

from __future__ import annotations

import asyncio
import dataclasses

from ledger.errors import Code, LedgerError
from node.peers.protocol import FrameKind
from tests.peers import (
    FAST,
    MEMBERS,
    STRANGER,
    A,
    B,
    C,
    Node,
    agree,
    eventually,
    label,
    listening_socket,
    run_async,
    stop_all,
)


def mesh() -> list[Node]:
    """Three members, each dialing the two others."""
    nodes = [Node(key, listening_socket(), set(MEMBERS)) for key in (A, B, C)]
    for node in nodes:
        node.dial = [other.url for other in nodes if other is not node]
    return nodes


def test_three_nodes_connect_and_a_broadcast_reaches_each_other_once() -> None:
    async def scenario() -> None:
        a, b, c = nodes = mesh()
        try:
            await asyncio.gather(*(node.start() for node in nodes))
            await eventually(lambda: agree(nodes), "every pair is connected once")
            assert a.network.connected() == sorted([B.public_key, C.public_key])

            body = {"height": 7, "block": b"\x01" * 1000, "votes": [[1, b"\x02"], None, True]}
            assert a.network.broadcast(FrameKind.CONSENSUS, body) == 2
            # A later frame on the same connections: once it is in, the broadcast is too.
            assert a.network.broadcast(FrameKind.STATUS, "marker") == 2
            await eventually(
                lambda: (FrameKind.STATUS, "marker") in b.from_peer(A)
                and (FrameKind.STATUS, "marker") in c.from_peer(A),
                "the marker reached B and C",
            )
            for node in (b, c):
                assert node.from_peer(A) == [(FrameKind.CONSENSUS, body), (FrameKind.STATUS, "marker")]
            assert a.received == []

            info = {i.key: i for i in a.network.peer_info()}[B.public_key]
            assert info.frames_out >= 3 and info.bytes_out > 1000 and info.dropped == 0
        finally:
            await stop_all(nodes)

    run_async(scenario())


def test_send_reaches_one_peer_and_refuses_unknown_ones() -> None:
    async def scenario() -> None:
        a, b, c = nodes = mesh()
        try:
            await asyncio.gather(*(node.start() for node in nodes))
            await eventually(lambda: agree(nodes), "every pair is connected once")
            assert a.network.send(B.public_key, FrameKind.TXS, [b"tx1", b"tx2"])
            assert not a.network.send(STRANGER.public_key, FrameKind.TXS, [])
            await eventually(lambda: b.from_peer(A) == [(FrameKind.TXS, [b"tx1", b"tx2"])], "B got it")
            assert c.received == []
            for kind in (FrameKind.HELLO, FrameKind.AUTH, 99):
                try:
                    a.network.send(B.public_key, kind, None)
                except LedgerError as exc:
                    assert exc.code is Code.PEER_PROTOCOL_ERROR
                else:
                    raise AssertionError(f"sending kind {kind} was allowed")
        finally:
            await stop_all(nodes)

    run_async(scenario())


def test_a_full_send_queue_drops_and_counts() -> None:
    async def scenario() -> None:
        limits = dataclasses.replace(FAST, send_queue_frames=2)
        a = Node(A, listening_socket(), set(MEMBERS), limits=limits)
        b = Node(B, listening_socket(), set(MEMBERS))
        a.dial = [b.url]
        try:
            await a.start()
            await b.start()
            await eventually(lambda: agree([a, b]), "A and B are connected")
            # No await in between: the writer cannot drain, so the third frame does not fit.
            results = [a.network.send(B.public_key, FrameKind.TXS, [n]) for n in range(4)]
            assert results == [True, True, False, False]
            assert a.network.peer_info()[0].dropped == 2
            await eventually(lambda: len(b.received) == 2, "the two queued frames arrived")
            assert b.from_peer(A) == [(FrameKind.TXS, [0]), (FrameKind.TXS, [1])]
        finally:
            await stop_all([a, b])

    run_async(scenario())


def test_a_stranger_is_refused_and_not_counted_as_a_peer() -> None:
    async def scenario() -> None:
        a = Node(A, listening_socket(), set(MEMBERS))
        # The stranger thinks A is fine; A does not know the stranger's key.
        stranger = Node(STRANGER, listening_socket(), set(MEMBERS) | {STRANGER.public_key})
        stranger.dial = [a.url]
        try:
            await a.start()
            await stranger.start()
            await eventually(
                lambda: a.log.has("handshake with peer " + label(STRANGER), "PEER_NOT_MEMBER"),
                "A logged the refusal",
            )
            await eventually(
                lambda: stranger.log.has("handshake with peer " + label(A), "PEER_AUTH_FAILED", "4002"),
                "the stranger saw A close the handshake as not a member",
            )
            assert a.network.connected() == [] and stranger.network.connected() == []
            assert a.ups == [] and stranger.ups == [] and a.received == []
        finally:
            await stop_all([a, stranger])

    run_async(scenario())


def test_a_node_refuses_to_keep_a_dialed_stranger() -> None:
    async def scenario() -> None:
        stranger = Node(STRANGER, listening_socket(), set(MEMBERS) | {STRANGER.public_key})
        a = Node(A, listening_socket(), set(MEMBERS))
        a.dial = [stranger.url]
        try:
            await stranger.start()
            await a.start()
            await eventually(
                lambda: a.log.has("handshake with peer " + label(STRANGER), "PEER_NOT_MEMBER"),
                "A refused the node it dialed",
            )
            assert a.network.connected() == [] and stranger.network.connected() == []
        finally:
            await stop_all([a, stranger])

    run_async(scenario())


def test_simultaneous_dials_leave_one_connection_both_sides_agree_on() -> None:
    async def scenario() -> None:
        a = Node(A, listening_socket(), set(MEMBERS))
        b = Node(B, listening_socket(), set(MEMBERS))
        a.dial, b.dial = [b.url], [a.url]
        try:
            await asyncio.gather(a.start(), b.start())
            await eventually(lambda: agree([a, b]), "A and B agree on one connection")
            # Both dialed before either knew the other: each saw the duplicate.
            await eventually(
                lambda: a.log.has("duplicate connection") and b.log.has("duplicate connection"),
                "both sides resolved the duplicate",
            )
            smaller, larger = sorted([a, b], key=lambda node: node.key.public_key)
            assert [i.direction for i in smaller.network.peer_info()] == ["out"]
            assert [i.direction for i in larger.network.peer_info()] == ["in"]
            # The kept connection works both ways.
            assert a.network.send(B.public_key, FrameKind.STATUS, "from A")
            assert b.network.send(A.public_key, FrameKind.STATUS, "from B")
            await eventually(
                lambda: b.from_peer(A) == [(FrameKind.STATUS, "from A")]
                and a.from_peer(B) == [(FrameKind.STATUS, "from B")],
                "both frames arrived",
            )
            assert agree([a, b])
        finally:
            await stop_all([a, b])

    run_async(scenario())


def test_a_restarted_node_is_reconnected_by_the_others() -> None:
    async def scenario() -> None:
        a = Node(A, listening_socket(), set(MEMBERS))
        b = Node(B, listening_socket(), set(MEMBERS))
        c = Node(C, listening_socket(), set(MEMBERS))
        a.dial, b.dial = [b.url, c.url], [c.url]  # C dials no one: A and B must come back
        port = c.sock.getsockname()[1]
        restarted: Node | None = None
        try:
            await asyncio.gather(a.start(), b.start(), c.start())
            await eventually(lambda: agree([a, b, c]), "all three are connected")

            await c.stop()
            await eventually(
                lambda: C.public_key not in a.network.connected()
                and C.public_key not in b.network.connected(),
                "A and B noticed C is gone",
            )
            assert C.public_key in a.downs and C.public_key in b.downs

            restarted = Node(C, listening_socket(port), set(MEMBERS))
            await restarted.start()
            await eventually(lambda: agree([a, b, restarted]), "A and B reconnected to C")
            assert restarted.network.broadcast(FrameKind.STATUS, "back") == 2
            await eventually(
                lambda: a.from_peer(C) == [(FrameKind.STATUS, "back")]
                and b.from_peer(C) == [(FrameKind.STATUS, "back")],
                "the restarted node's broadcast arrived",
            )
        finally:
            await stop_all([a, b] + ([restarted] if restarted else []))

    run_async(scenario())


def test_close_is_idempotent_and_refuses_later_peers() -> None:
    async def scenario() -> None:
        a = Node(A, listening_socket(), set(MEMBERS))
        b = Node(B, listening_socket(), set(MEMBERS))
        b.dial = [a.url]
        try:
            await a.start()
            await b.start()
            await eventually(lambda: agree([a, b]), "A and B are connected")
            await a.network.close()
            await a.network.close()
            assert a.network.connected() == [] and a.downs == [B.public_key]
            await eventually(lambda: b.network.connected() == [], "B saw A go")
            assert not a.network.send(B.public_key, FrameKind.STATUS, None)
        finally:
            await stop_all([a, b])

    run_async(scenario())
