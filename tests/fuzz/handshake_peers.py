"""The two ends of the handshake harness: fixed keys, chain and challenges.

`US` runs the handshake under test with challenge `OUR_CHALLENGE`; `THEM`, a
member, answers. Everything is deterministic, so the one AUTH that
authenticates `THEM` is a fixed byte string (`THEIR_AUTH`) and the harness can
say exactly which input may end the handshake.
"""

from __future__ import annotations

from genesis.demo_keys import demo_key
from ledger.crypto import HASH_SIZE, SigningKey
from node.peers.handshake import Handshake, auth_bytes
from node.peers.protocol import FrameKind, encode_frame

CHAIN_ID = "scf-fuzz"
GENESIS = bytes(range(HASH_SIZE))
US = demo_key("fuzz/us")
THEM = demo_key("fuzz/them")
OTHER_MEMBER = demo_key("fuzz/other-member")
STRANGER = demo_key("fuzz/stranger")
MEMBERS = frozenset({US.public_key, THEM.public_key, OTHER_MEMBER.public_key})
OUR_CHALLENGE = b"\x11" * 32
THEIR_CHALLENGE = b"\x22" * 32


def is_member(key: bytes) -> bool:
    return key in MEMBERS


def our_handshake() -> Handshake:
    handshake = Handshake(CHAIN_ID, GENESIS, US, OUR_CHALLENGE, is_member)
    handshake.start()
    return handshake


def hello(key_owner: SigningKey = THEM, chain_id: str = CHAIN_ID, genesis: bytes = GENESIS,
          challenge: bytes = THEIR_CHALLENGE) -> bytes:
    return Handshake(chain_id, genesis, key_owner, challenge, is_member).start()


THEIR_HELLO = hello()
THEIR_AUTH = encode_frame(FrameKind.AUTH, {"signature": THEM.sign(
    auth_bytes(CHAIN_ID, GENESIS, OUR_CHALLENGE, THEM.public_key, US.public_key))})


def handshake_frames() -> list[bytes]:
    """Valid HELLOs (and ones refused for chain, genesis, membership), the valid AUTH."""
    return [THEIR_HELLO, hello(OTHER_MEMBER), hello(STRANGER), hello(chain_id="scf-other"),
            hello(genesis=bytes(HASH_SIZE)), THEIR_AUTH]
