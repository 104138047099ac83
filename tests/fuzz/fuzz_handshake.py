"""Harness: `Handshake.receive` on what an unauthenticated peer sends.

The first input byte picks the phase: even, the frame is the peer's first
(HELLO expected); odd, it follows a valid HELLO from `THEM` (AUTH expected).
Documented outcomes (node/peers/handshake.py, docs/peers.md):

* HELLO phase: our AUTH, only if the HELLO is for our chain and genesis, from
  a member that is not us, with a challenge that is not ours; otherwise
  PEER_PROTOCOL_ERROR, PEER_AUTH_FAILED or PEER_NOT_MEMBER, and FAILED for good.
* AUTH phase: DONE with the peer's key only for `THEIR_AUTH` (the one valid
  signature: forging another would break Ed25519); otherwise
  PEER_PROTOCOL_ERROR or PEER_AUTH_FAILED, FAILED for good, no peer key.
"""

from __future__ import annotations

from ledger import codec
from ledger.crypto import verify_signature
from ledger.errors import Code, LedgerError
from node.peers.handshake import MAX_HANDSHAKE_FRAME_SIZE, Handshake, HandshakeState, auth_bytes
from node.peers.protocol import FrameKind, decode_frame
from tests.fuzz.handshake_peers import (
    CHAIN_ID,
    GENESIS,
    OUR_CHALLENGE,
    THEIR_AUTH,
    THEIR_HELLO,
    THEM,
    US,
    handshake_frames,
    is_member,
    our_handshake,
)
from tests.fuzz.outcomes import UndocumentedOutcome, require, require_code

HELLO_ERRORS = frozenset({Code.PEER_PROTOCOL_ERROR, Code.PEER_AUTH_FAILED, Code.PEER_NOT_MEMBER})
AUTH_ERRORS = frozenset({Code.PEER_PROTOCOL_ERROR, Code.PEER_AUTH_FAILED})


def seeds() -> list[bytes]:
    return [b"\x00" + frame for frame in handshake_frames()] + [b"\x01" + THEIR_AUTH,
                                                              b"\x01" + THEIR_HELLO]


def TestOneInput(data: bytes) -> None:  # noqa: N802
    if not data:
        return
    frame = data[1:]
    if data[0] % 2 == 0:
        _hello_phase(frame)
    else:
        _auth_phase(frame)


def _hello_phase(frame: bytes) -> None:
    handshake = our_handshake()
    try:
        replies = handshake.receive(frame)
    except LedgerError as error:
        require_code(error, HELLO_ERRORS, "HELLO")
        _require_failed_for_good(handshake)
        return
    kind, body = decode_frame(frame, MAX_HANDSHAKE_FRAME_SIZE)
    key = body["key"]
    require(kind is FrameKind.HELLO and body["chain_id"] == CHAIN_ID
            and body["genesis"] == GENESIS and is_member(key) and key != US.public_key
            and body["challenge"] != OUR_CHALLENGE, f"a HELLO that must fail was answered: {body}")
    require(handshake.state is HandshakeState.AWAITING_AUTH and handshake.peer_key is None,
            f"after a HELLO the state is {handshake.state}")
    (reply,) = replies
    reply_kind, reply_body = decode_frame(reply, MAX_HANDSHAKE_FRAME_SIZE)
    signed = auth_bytes(CHAIN_ID, GENESIS, body["challenge"], US.public_key, key)
    require(reply_kind is FrameKind.AUTH
            and verify_signature(US.public_key, signed, reply_body["signature"]),
            "our AUTH does not sign the peer's challenge")


def _auth_phase(frame: bytes) -> None:
    handshake = our_handshake()
    handshake.receive(THEIR_HELLO)
    try:
        replies = handshake.receive(frame)
    except LedgerError as error:
        require_code(error, AUTH_ERRORS, "AUTH")
        require(handshake.peer_key is None, "a failed handshake left a peer key")
        _require_failed_for_good(handshake)
        return
    require(frame == THEIR_AUTH, f"an AUTH other than the valid one authenticated: {frame.hex()}")
    require(replies == [] and handshake.done and handshake.peer_key == THEM.public_key,
            "the valid AUTH did not end the handshake with the peer's key")


def _require_failed_for_good(handshake: Handshake) -> None:
    require(handshake.state is HandshakeState.FAILED, f"an error left state {handshake.state}")
    for again in (THEIR_HELLO, THEIR_AUTH, codec.encode([1, {}])):
        try:
            handshake.receive(again)
        except LedgerError as error:
            require(error.code is Code.PEER_PROTOCOL_ERROR, f"after FAILED: {error.code}")
        else:
            raise UndocumentedOutcome("a failed handshake accepted another frame")
