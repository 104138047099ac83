"""Harness: `decode_frame`, the first decoder every byte from a peer meets.

Documented outcome (node/peers/protocol.py): a `(kind, body)` whose frame
re-encodes to exactly the input (canonical), or `LedgerError(PEER_PROTOCOL_ERROR)`.
"""

from __future__ import annotations

from ledger.errors import Code, LedgerError
from node.peers.protocol import MAX_FRAME_SIZE, FrameKind, decode_frame, encode_frame
from tests.fuzz import seeds as seed_inputs
from tests.fuzz.handshake_peers import handshake_frames
from tests.fuzz.outcomes import require, require_code

ALLOWED = frozenset({Code.PEER_PROTOCOL_ERROR})


def seeds() -> list[bytes]:
    return [*handshake_frames(), *seed_inputs.consensus_frames(), *seed_inputs.txs_frames(),
            *seed_inputs.sync_frames()]


def TestOneInput(data: bytes) -> None:  # noqa: N802 (the name libFuzzer harnesses have)
    try:
        kind, body = decode_frame(data, MAX_FRAME_SIZE)
    except LedgerError as error:
        require_code(error, ALLOWED, "decode_frame")
        return
    require(type(kind) is FrameKind, f"decode_frame gave kind {kind!r}, not a FrameKind")
    require(encode_frame(kind, body) == data, "decode_frame accepted a non-canonical frame")
