"""Mutual authentication of two nodes on a fresh connection, without I/O.

Theory of operation
-------------------
The handshake is symmetric: whoever dialed, each side runs the same machine.

1. On open, each side sends HELLO
   `{"chain_id": str, "genesis": bytes32, "key": bytes32, "challenge": bytes32}`:
   its chain, its genesis hash, its member public key and 32 fresh random
   bytes (the shell draws them; this module takes them as an argument).
2. On the peer's HELLO, a side checks that the chain id and the genesis hash
   are its own (else PEER_AUTH_FAILED), that the key is not its own key
   (a node that dialed itself: PEER_AUTH_FAILED), that the peer did not echo
   our own challenge back (PEER_AUTH_FAILED) and that the key belongs to the
   consortium's current member set (else PEER_NOT_MEMBER). It then answers
   AUTH `{"signature": bytes64}`, its signature over `auth_bytes` with the
   peer's challenge: `[genesis, peer_challenge, my_key, peer_key]`.
3. On the peer's AUTH, a side verifies the peer's signature over the same
   construction seen from the other end, `[genesis, my_challenge, peer_key,
   my_key]`. If it verifies, the peer is authenticated (PEER_AUTH_FAILED if
   not).

A side therefore always receives HELLO then AUTH, in that order (the peer
sends AUTH only after it read our HELLO, and a websocket keeps order); any
other frame, or any frame after the end, is PEER_PROTOCOL_ERROR. Any error
moves the machine to FAILED for good: the shell closes the connection.

Why a recorded or reflected AUTH is useless
-------------------------------------------
* Replay: an AUTH signs the *verifier's* challenge, which the verifier drew
  fresh for this connection. An attacker who recorded Bob's AUTH to Alice on
  an earlier connection holds a signature over Alice's old challenge; on a
  new connection Alice expects a signature over a new challenge, so the
  recording does not verify (short of a 2^-256 collision of challenges).
* Reflection: the signed array names the signer's key, then the verifier's
  key. A signature Alice made (`[g, c, alice, bob]` under alice's key) can
  never pass as Bob's answer, which must be under bob's key over
  `[g, c', bob, alice]`; so echoing Alice's own HELLO or AUTH back to her, or
  relaying her AUTH from a parallel connection, fails. Echoing her HELLO
  verbatim is also refused outright as a self-connection, and echoing only her
  challenge under another key is refused as well.
* Cross-protocol and cross-chain: the signed bytes start with the tag
  `scf/sign/peer-auth/v1` and the chain id (`ledger.crypto.signing_bytes`), so
  no transaction, vote or proposal signature can be presented as an AUTH, and
  an AUTH made for one chain or genesis does not verify on another.

What this does not give: confidentiality or integrity of the frames after
the handshake. Run the channel over TLS (wss://) where the network between
members is not trusted.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any

from ledger import codec
from ledger.crypto import (
    HASH_SIZE,
    PUBLIC_KEY_SIZE,
    SIGNATURE_SIZE,
    SigningKey,
    Tag,
    is_valid_public_key,
    signing_bytes,
    verify_signature,
)
from ledger.errors import Code, LedgerError
from node.peers.protocol import FrameKind, decode_frame, encode_frame

CHALLENGE_SIZE = 32
#: A HELLO is about 170 bytes and an AUTH about 80; nothing bigger is read.
MAX_HANDSHAKE_FRAME_SIZE = 1024
_HELLO_FIELDS = frozenset({"chain_id", "genesis", "key", "challenge"})
_AUTH_FIELDS = frozenset({"signature"})


class HandshakeState(Enum):
    NEW = "new"  # start() not called yet
    AWAITING_HELLO = "awaiting-hello"  # our HELLO is out
    AWAITING_AUTH = "awaiting-auth"  # the peer's HELLO checked, our AUTH is out
    DONE = "done"  # the peer's AUTH verified
    FAILED = "failed"


def auth_bytes(
    chain_id: str, genesis_hash: bytes, challenge: bytes, signer_key: bytes, verifier_key: bytes
) -> bytes:
    """What an AUTH signs: the verifier's challenge bound to both keys, in order."""
    body = codec.encode([genesis_hash, challenge, signer_key, verifier_key])
    return signing_bytes(Tag.PEER_AUTH, chain_id, body)


class Handshake:
    """One side of the handshake on one connection; feed it the peer's frames."""

    def __init__(
        self,
        chain_id: str,
        genesis_hash: bytes,
        identity: SigningKey,
        challenge: bytes,
        is_member: Callable[[bytes], bool],
    ) -> None:
        if not isinstance(genesis_hash, bytes) or len(genesis_hash) != HASH_SIZE:
            raise ValueError(f"genesis_hash must be {HASH_SIZE} bytes")
        if not isinstance(challenge, bytes) or len(challenge) != CHALLENGE_SIZE:
            raise ValueError(f"challenge must be {CHALLENGE_SIZE} fresh random bytes")
        self._chain_id = chain_id
        self._genesis_hash = genesis_hash
        self._identity = identity
        self._challenge = challenge
        self._is_member = is_member
        self.state = HandshakeState.NEW
        #: The key the peer's HELLO claimed (set before it is checked; for logs).
        self.claimed_key: bytes | None = None
        #: The peer's key, once it proved it holds it (None unless DONE).
        self.peer_key: bytes | None = None

    @property
    def done(self) -> bool:
        return self.state is HandshakeState.DONE

    def start(self) -> bytes:
        """Our HELLO, to send as soon as the connection is open."""
        if self.state is not HandshakeState.NEW:
            raise RuntimeError("the handshake has already started")
        self.state = HandshakeState.AWAITING_HELLO
        return encode_frame(
            FrameKind.HELLO,
            {
                "chain_id": self._chain_id,
                "genesis": self._genesis_hash,
                "key": self._identity.public_key,
                "challenge": self._challenge,
            },
        )

    def receive(self, frame: bytes) -> list[bytes]:
        """Takes one frame from the peer; returns the frames to send back."""
        if self.state is HandshakeState.NEW:
            raise RuntimeError("start() the handshake before feeding it frames")
        try:
            return self._receive(frame)
        except LedgerError:
            self.state = HandshakeState.FAILED
            self.peer_key = None
            raise

    def _receive(self, frame: bytes) -> list[bytes]:
        if self.state is HandshakeState.DONE:
            raise _protocol_error("a handshake frame after the handshake ended")
        if self.state is HandshakeState.FAILED:
            raise _protocol_error("a frame after the handshake failed")
        kind, body = decode_frame(frame, MAX_HANDSHAKE_FRAME_SIZE)
        if self.state is HandshakeState.AWAITING_HELLO and kind is FrameKind.HELLO:
            return [self._on_hello(body)]
        if self.state is HandshakeState.AWAITING_AUTH and kind is FrameKind.AUTH:
            self._on_auth(body)
            return []
        expected = "HELLO" if self.state is HandshakeState.AWAITING_HELLO else "AUTH"
        raise _protocol_error(f"expected {expected}, got {kind.name}")

    def _on_hello(self, body: Any) -> bytes:
        _require_fields(body, _HELLO_FIELDS, "HELLO")
        key = _require_bytes(body, "key", PUBLIC_KEY_SIZE)
        peer_challenge = _require_bytes(body, "challenge", CHALLENGE_SIZE)
        genesis = _require_bytes(body, "genesis", HASH_SIZE)
        chain_id = body["chain_id"]
        if type(chain_id) is not str:
            raise _protocol_error("HELLO chain_id is not a str")
        if not is_valid_public_key(key):
            raise _protocol_error("HELLO key is not a valid Ed25519 public key")
        self.claimed_key = key
        # Verify the peer is on our chain.
        if chain_id != self._chain_id:
            raise LedgerError(
                Code.PEER_AUTH_FAILED, f"peer is on chain {chain_id!r}, not {self._chain_id!r}"
            )
        if genesis != self._genesis_hash:
            raise LedgerError(
                Code.PEER_AUTH_FAILED,
                f"peer's genesis hash is {genesis.hex()}, ours is {self._genesis_hash.hex()}",
            )
        # Verify it is another node, not a reflection of our own HELLO.
        if key == self._identity.public_key:
            raise LedgerError(Code.PEER_AUTH_FAILED, "connected to itself (the peer has our key)")
        if peer_challenge == self._challenge:
            raise LedgerError(Code.PEER_AUTH_FAILED, "peer echoed our own challenge")
        # Verify it is a member now.
        if not self._is_member(key):
            raise LedgerError(
                Code.PEER_NOT_MEMBER, f"key {key.hex()} is not in the current member set"
            )
        signature = self._identity.sign(
            auth_bytes(
                self._chain_id, self._genesis_hash, peer_challenge, self._identity.public_key, key
            )
        )
        self.state = HandshakeState.AWAITING_AUTH
        return encode_frame(FrameKind.AUTH, {"signature": signature})

    def _on_auth(self, body: Any) -> None:
        _require_fields(body, _AUTH_FIELDS, "AUTH")
        signature = _require_bytes(body, "signature", SIGNATURE_SIZE)
        peer_key = self.claimed_key
        if peer_key is None:  # unreachable: AWAITING_AUTH follows a checked HELLO
            raise RuntimeError("AUTH state without a peer key")
        expected = auth_bytes(
            self._chain_id, self._genesis_hash, self._challenge, peer_key, self._identity.public_key
        )
        # Verify the peer signed our fresh challenge with the key it claimed.
        if not verify_signature(peer_key, expected, signature):
            raise LedgerError(
                Code.PEER_AUTH_FAILED, "the peer's AUTH signature does not verify for its key"
            )
        self.peer_key = peer_key
        self.state = HandshakeState.DONE


def _protocol_error(message: str) -> LedgerError:
    return LedgerError(Code.PEER_PROTOCOL_ERROR, message)


def _require_fields(body: Any, fields: frozenset[str], name: str) -> None:
    if type(body) is not dict or body.keys() != fields:
        raise _protocol_error(f"{name} body is a map with exactly the fields {sorted(fields)}")


def _require_bytes(body: dict[str, Any], field: str, size: int) -> bytes:
    value = body[field]
    if type(value) is not bytes or len(value) != size:
        raise _protocol_error(f"{field} is not {size} bytes")
    return value
