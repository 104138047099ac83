"""Harness: STATUS, GET_BLOCKS and BLOCKS frames from a peer the node is syncing from.

Before each input the peer has announced height `KNOWN_HEIGHT`, so a request
for blocks `LOCAL_HEIGHT + 1 ..` is in flight to it, and the BLOCKS path
decodes what comes back. Documented outcomes (node/runtime/peer_messages.py):

* STATUS: `{"height": int >= 0}` not below what the peer announced before is
  noted; anything else, a height going backwards included, disconnects it.
* GET_BLOCKS: `{"from": int >= 1, "count": 1..BATCH_BLOCKS}` is answered with
  BLOCKS holding exactly the stored entries from `from` up to this node's
  height; anything else (an index out of range) disconnects the peer.
* BLOCKS: a list of at most BATCH_BLOCKS `[block, commit]` byte pairs that all
  decode, at consecutive heights from the first one asked, no more than asked,
  is handed to the driver (which verifies it); anything else disconnects.

Every disconnection is PEER_PROTOCOL_ERROR, and the node never sends a peer
anything but a valid request or answer.
"""

from __future__ import annotations

from typing import Any

from ledger.errors import Code, LedgerError
from ledger.types import Block, Commit
from node.peers.protocol import MAX_FRAME_SIZE, FrameKind, decode_frame
from node.runtime.sync import BATCH_BLOCKS, BlockRequest
from tests.fuzz.outcomes import require
from tests.fuzz.seeds import sync_frames
from tests.fuzz.world import LOCAL, LOCAL_HEIGHT, PEER, PeerLayer, peer_layer

KNOWN_HEIGHT = LOCAL_HEIGHT + 3
SYNC_KINDS = frozenset({FrameKind.STATUS, FrameKind.GET_BLOCKS, FrameKind.BLOCKS})


def seeds() -> list[bytes]:
    return sync_frames()


def TestOneInput(data: bytes) -> None:  # noqa: N802
    try:
        kind, body = decode_frame(data, MAX_FRAME_SIZE)
    except LedgerError:
        return  # fuzz_frame's business
    if kind not in SYNC_KINDS:
        return
    layer = peer_layer()
    layer.handler.on_message(PEER, FrameKind.STATUS, {"height": KNOWN_HEIGHT})
    asked = layer.sync.in_flight
    require(asked == BlockRequest(PEER, LOCAL_HEIGHT + 1, KNOWN_HEIGHT - LOCAL_HEIGHT),
            f"the harness's request is {asked}")
    layer.network.sent.clear()
    layer.handler.on_message(PEER, kind, body)
    disconnected = [code for _, code, _ in layer.network.dropped]
    require(set(disconnected) <= {Code.PEER_PROTOCOL_ERROR}, f"disconnected with {disconnected}")
    expect_disconnect = {FrameKind.STATUS: _status, FrameKind.GET_BLOCKS: _get_blocks,
                         FrameKind.BLOCKS: _blocks}[kind](layer, body, asked)
    require(bool(disconnected) == expect_disconnect,
            f"{kind.name} {_short(body)}: disconnected={disconnected}, expected {expect_disconnect}")
    for peer, sent_kind, sent_body in layer.network.sent:
        require(peer == PEER and sent_kind in (FrameKind.GET_BLOCKS, FrameKind.BLOCKS),
                f"the node sent {sent_kind} to {peer.hex()}")
        if sent_kind == FrameKind.GET_BLOCKS:
            require(sent_body["from"] == LOCAL_HEIGHT + 1
                    and 1 <= sent_body["count"] <= BATCH_BLOCKS, f"asked for {sent_body}")


def _status(layer: PeerLayer, body: Any, asked: BlockRequest) -> bool:
    well_formed = (type(body) is dict and set(body) == {"height"}
                   and type(body["height"]) is int and body["height"] >= 0)
    if not well_formed or body["height"] < KNOWN_HEIGHT:
        return True
    require(layer.sync.peer_heights[PEER] == body["height"], "the announced height was not noted")
    return False


def _get_blocks(layer: PeerLayer, body: Any, asked: BlockRequest) -> bool:
    well_formed = (type(body) is dict and set(body) == {"from", "count"}
                   and type(body["from"]) is int and type(body["count"]) is int
                   and body["from"] >= 1 and 1 <= body["count"] <= BATCH_BLOCKS)
    if not well_formed:
        require(not layer.network.sent, "a malformed request was answered")
        return True
    last = min(LOCAL_HEIGHT, body["from"] + body["count"] - 1)
    expected = [[*LOCAL.raw_entry(height)[:2]] for height in range(body["from"], last + 1)]
    require(layer.network.sent == [(PEER, FrameKind.BLOCKS, expected)],
            f"GET_BLOCKS {body} was answered {_short(layer.network.sent)}")
    return False


def _blocks(layer: PeerLayer, body: Any, asked: BlockRequest) -> bool:
    if not (type(body) is list and len(body) <= BATCH_BLOCKS and all(
            type(entry) is list and len(entry) == 2 and all(type(part) is bytes for part in entry)
            for entry in body)):
        return True
    try:
        entries = [(Block.decode(block), Commit.decode(commit)) for block, commit in body]
    except LedgerError:
        require(not layer.driver.synced, "undecodable blocks were handed on")
        return True
    heights = [block.header.height for block, _ in entries]
    if heights != list(range(asked.first, asked.first + len(heights))) or len(heights) > asked.count:
        require(not layer.driver.synced, f"blocks at {heights} were handed on for {asked}")
        return True
    handed = [entry for synced in layer.driver.synced for entry in synced.entries]
    require(handed == entries, f"blocks at {heights} were not handed on as they came")
    return False


def _short(value: Any) -> str:
    return repr(value)[:200]
