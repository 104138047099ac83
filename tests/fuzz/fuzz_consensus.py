"""Harness: a consensus message, decoded alone and as a CONSENSUS frame's body.

Documented outcomes (node/consensus/messages.py, node/runtime/peer_messages.py):
`decode_message` returns a message that re-encodes to exactly the input, or
raises `LedgerError` with a codec, layout or INVALID_CONSENSUS_MESSAGE code.
Through the peer layer, a message that does not decode disconnects the peer
(PEER_PROTOCOL_ERROR); a proposal or vote is handed to the driver unchecked
(the core checks signatures); a certified block is handed on only for the
next height; nothing else happens.
"""

from __future__ import annotations

from ledger.errors import Code, LedgerError
from node.consensus.messages import (
    CertifiedBlock,
    Message,
    decode_message,
    encode_message,
)
from node.peers.protocol import FrameKind
from tests.fuzz.outcomes import STRUCTURE_CODES, require, require_code
from tests.fuzz.seeds import NEXT_HEIGHT, consensus_messages
from tests.fuzz.world import PEER, peer_layer

ALLOWED = STRUCTURE_CODES | {Code.INVALID_CONSENSUS_MESSAGE}


def seeds() -> list[bytes]:
    return consensus_messages()


def TestOneInput(data: bytes) -> None:  # noqa: N802
    message: Message | None
    try:
        message = decode_message(data)
    except LedgerError as error:
        require_code(error, ALLOWED, "decode_message")
        message = None
    else:
        require(encode_message(message) == data, "decode_message accepted non-canonical bytes")
    layer = peer_layer()
    layer.handler.on_message(PEER, FrameKind.CONSENSUS, data)
    disconnected = [code for _, code, _ in layer.network.dropped]
    if message is None:
        require(disconnected == [Code.PEER_PROTOCOL_ERROR],
                f"an undecodable message gave {disconnected}")
        require(not layer.driver.messages and not layer.driver.synced, "it was handed on")
    elif isinstance(message, CertifiedBlock):
        require(not disconnected and not layer.driver.messages, "a certified block misrouted")
        handed = [entries for synced in layer.driver.synced for entries in synced.entries]
        expected = [(message.block, message.commit)] \
            if message.block.header.height == NEXT_HEIGHT else []
        require(handed == expected, f"certified block at {message.block.header.height}: {handed}")
    else:
        require(not disconnected and layer.driver.messages == [message]
                and not layer.driver.synced, "a proposal or vote was not handed to the driver")
    require(not layer.network.sent, "a CONSENSUS frame made the node send something")
