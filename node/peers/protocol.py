"""The peer channel's framing: one websocket binary message is one frame.

A frame is the canonical msgpack encoding (ledger/codec.py) of the array
`[kind, body]`: `kind` a `FrameKind`, `body` any codec value. HELLO and AUTH
belong to the handshake (node/peers/handshake.py); the other kinds carry the
node's messages, whose bodies this layer passes through without reading.
`decode_frame` is the single entry for untrusted bytes: whatever is wrong
with them, the only error that escapes is `LedgerError(PEER_PROTOCOL_ERROR)`
with a message that says what was wrong.

This module also fixes the websocket close codes the channel uses, so both
ends (and docs/peers.md) read the same table.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from ledger import codec
from ledger.errors import Code, LedgerError
from ledger.types import MAX_BLOCK_SIZE

#: Room for a block's commit certificate (at most ~110 KiB for 1,000
#: validators), the BLOCKS body around it and the frame's own header.
CERTIFICATE_AND_FRAMING_ALLOWANCE = 2 * 1024 * 1024
#: The largest frame a peer may send: a full block with its certificate.
MAX_FRAME_SIZE = MAX_BLOCK_SIZE + CERTIFICATE_AND_FRAMING_ALLOWANCE


class FrameKind(IntEnum):
    """Every kind a frame may have; any other kind is a protocol error."""

    HELLO = 1
    AUTH = 2
    CONSENSUS = 10
    TXS = 11
    STATUS = 12
    GET_BLOCKS = 13
    BLOCKS = 14


HANDSHAKE_KINDS = frozenset({FrameKind.HELLO, FrameKind.AUTH})
NODE_KINDS = frozenset(FrameKind) - HANDSHAKE_KINDS
_KIND_VALUES = frozenset(int(kind) for kind in FrameKind)


class CloseCode(IntEnum):
    """Websocket close codes sent by this channel (4000-4999 are private use)."""

    NORMAL = 1000  # duplicate connection, or the node closed it for no fault
    GOING_AWAY = 1001  # the node is shutting down
    MESSAGE_TOO_BIG = 1009  # sent by aiohttp itself for an oversize message
    REFUSED_CONTENT = 4000  # the node refused what the peer sent (any other code)
    AUTH_FAILED = 4001
    NOT_MEMBER = 4002
    PROTOCOL_ERROR = 4003
    RATE_LIMITED = 4004


_CLOSE_CODE_OF = {
    Code.PEER_AUTH_FAILED: CloseCode.AUTH_FAILED,
    Code.PEER_NOT_MEMBER: CloseCode.NOT_MEMBER,
    Code.PEER_PROTOCOL_ERROR: CloseCode.PROTOCOL_ERROR,
    Code.PEER_RATE_LIMITED: CloseCode.RATE_LIMITED,
}

#: A close frame's payload is at most 125 bytes, 2 of them the code.
MAX_CLOSE_REASON_BYTES = 123


def close_code_for(code: Code) -> CloseCode:
    return _CLOSE_CODE_OF.get(code, CloseCode.REFUSED_CONTENT)


def close_reason(text: str) -> bytes:
    """`text` as a close reason: UTF-8, cut to fit, never mid-character."""
    return text.encode("utf-8")[:MAX_CLOSE_REASON_BYTES].decode("utf-8", "ignore").encode()


def encode_frame(kind: int, body: Any, max_size: int = MAX_FRAME_SIZE) -> bytes:
    """The frame `[kind, body]`; CODEC_* errors if `body` cannot be encoded."""
    if not isinstance(kind, int) or isinstance(kind, bool) or int(kind) not in _KIND_VALUES:
        raise LedgerError(Code.PEER_PROTOCOL_ERROR, f"unknown frame kind {kind!r}")
    return codec.encode([int(kind), body], max_size=max_size)


def decode_frame(data: bytes, max_size: int) -> tuple[FrameKind, Any]:
    """The (kind, body) of a frame received from a peer."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise LedgerError(
            Code.PEER_PROTOCOL_ERROR, f"a frame is bytes, got {type(data).__name__}"
        )
    if len(data) > max_size:
        raise LedgerError(
            Code.PEER_PROTOCOL_ERROR, f"frame is {len(data)} bytes, limit is {max_size}"
        )
    try:
        value = codec.decode(data, max_size=max_size)
    except LedgerError as exc:
        raise LedgerError(
            Code.PEER_PROTOCOL_ERROR, f"frame is not canonical msgpack: {exc}"
        ) from None
    if type(value) is not list or len(value) != 2:
        raise LedgerError(Code.PEER_PROTOCOL_ERROR, "a frame is the array [kind, body]")
    kind, body = value
    if type(kind) is not int or kind not in _KIND_VALUES:
        raise LedgerError(Code.PEER_PROTOCOL_ERROR, f"unknown frame kind {kind!r}")
    return FrameKind(kind), body

