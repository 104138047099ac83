"""The handshake machine on its own: frames in, frames out, no sockets."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest

from genesis.demo_keys import demo_key
from ledger import codec
from ledger.crypto import SigningKey, Tag, signing_bytes, verify_signature
from ledger.errors import Code, LedgerError
from node.peers.handshake import Handshake, HandshakeState, auth_bytes
from node.peers.protocol import FrameKind, decode_frame, encode_frame

CHAIN_ID = "scf-peers-test"
GENESIS = hashlib.sha256(b"peers test genesis").digest()
ALICE = demo_key("BANK-A")
BOB = demo_key("BANK-B")
MALLORY = demo_key("STRANGER")
MEMBERS = {ALICE.public_key, BOB.public_key}


def challenge(n: int) -> bytes:
    return hashlib.sha256(b"challenge %d" % n).digest()


def side(
    key: SigningKey, n: int, *, chain_id: str = CHAIN_ID, genesis: bytes = GENESIS,
    members: Callable[[bytes], bool] = MEMBERS.__contains__,
) -> Handshake:
    return Handshake(chain_id, genesis, key, challenge(n), members)


def run(a: Handshake, b: Handshake) -> tuple[list[bytes], list[bytes]]:
    """Shuttles frames until both are quiet; returns what each one sent."""
    sent_a, sent_b = [a.start()], [b.start()]
    to_a, to_b = [sent_b[0]], [sent_a[0]]
    while to_a or to_b:
        if to_b:
            replies = b.receive(to_b.pop(0))
            sent_b += replies
            to_a += replies
        if to_a:
            replies = a.receive(to_a.pop(0))
            sent_a += replies
            to_b += replies
    return sent_a, sent_b


def refused(handshake: Handshake, frame: bytes, code: Code, why: str) -> None:
    with pytest.raises(LedgerError) as raised:
        handshake.receive(frame)
    assert raised.value.code is code
    assert why in raised.value.message
    assert handshake.state is HandshakeState.FAILED and handshake.peer_key is None


def test_both_sides_authenticate_each_other() -> None:
    alice, bob = side(ALICE, 1), side(BOB, 2)
    sent_alice, sent_bob = run(alice, bob)
    assert alice.done and bob.done
    assert alice.peer_key == BOB.public_key and bob.peer_key == ALICE.public_key
    assert [decode_frame(f, 1024)[0] for f in sent_alice] == [FrameKind.HELLO, FrameKind.AUTH]
    assert [decode_frame(f, 1024)[0] for f in sent_bob] == [FrameKind.HELLO, FrameKind.AUTH]


def test_the_hello_and_the_signed_bytes_are_as_documented() -> None:
    alice, bob = side(ALICE, 1), side(BOB, 2)
    sent_alice, _ = run(alice, bob)
    assert decode_frame(sent_alice[0], 1024)[1] == {
        "chain_id": CHAIN_ID, "genesis": GENESIS, "key": ALICE.public_key, "challenge": challenge(1),
    }
    signature = decode_frame(sent_alice[1], 1024)[1]["signature"]
    expected = (
        b"scf/sign/peer-auth/v1" + codec.encode(CHAIN_ID)
        + codec.encode([GENESIS, challenge(2), ALICE.public_key, BOB.public_key])
    )
    assert expected == auth_bytes(CHAIN_ID, GENESIS, challenge(2), ALICE.public_key, BOB.public_key)
    assert expected == signing_bytes(
        Tag.PEER_AUTH, CHAIN_ID, codec.encode([GENESIS, challenge(2), ALICE.public_key, BOB.public_key])
    )
    assert verify_signature(ALICE.public_key, expected, signature)


def hello_of(signer: SigningKey, n: int, **changes: object) -> bytes:
    body: dict[str, object] = {
        "chain_id": CHAIN_ID, "genesis": GENESIS, "key": signer.public_key, "challenge": challenge(n),
    }
    body.update(changes)
    return encode_frame(FrameKind.HELLO, body)


def started(key: SigningKey = ALICE, n: int = 1, **options: object) -> Handshake:
    handshake = side(key, n, **options)  # type: ignore[arg-type]
    handshake.start()
    return handshake


def test_another_chain_is_refused() -> None:
    refused(started(), side(BOB, 2, chain_id="other-chain").start(), Code.PEER_AUTH_FAILED,
            "chain 'other-chain'")


def test_another_genesis_is_refused() -> None:
    other = hashlib.sha256(b"other genesis").digest()
    refused(started(), side(BOB, 2, genesis=other).start(), Code.PEER_AUTH_FAILED, "genesis hash")


def test_a_key_outside_the_member_set_is_refused() -> None:
    refused(started(), hello_of(MALLORY, 3), Code.PEER_NOT_MEMBER, MALLORY.public_key.hex())


def test_the_member_set_is_read_at_the_time_of_the_hello() -> None:
    members = set(MEMBERS)
    alice = started(members=members.__contains__)
    members.discard(BOB.public_key)
    refused(alice, hello_of(BOB, 2), Code.PEER_NOT_MEMBER, "not in the current member set")


def test_a_self_connection_is_refused() -> None:
    alice, same_node = side(ALICE, 1), side(ALICE, 2)
    alice.start()
    refused(alice, same_node.start(), Code.PEER_AUTH_FAILED, "connected to itself")


def test_a_reflected_hello_is_refused() -> None:
    alice = side(ALICE, 1)
    own_hello = alice.start()
    refused(alice, own_hello, Code.PEER_AUTH_FAILED, "connected to itself")


def test_echoing_our_challenge_under_another_key_is_refused() -> None:
    refused(started(ALICE, 1), hello_of(BOB, 1), Code.PEER_AUTH_FAILED, "echoed our own challenge")


def test_a_reflected_auth_does_not_verify() -> None:
    # Mallory relays Alice's HELLO, claims to be Bob, and sends Alice her own AUTH back.
    alice = started(ALICE, 1)
    (alice_auth,) = alice.receive(hello_of(BOB, 2))
    refused(alice, alice_auth, Code.PEER_AUTH_FAILED, "does not verify")


def test_a_bad_signature_is_refused() -> None:
    alice = started(ALICE, 1)
    alice.receive(hello_of(BOB, 2))
    good = BOB.sign(auth_bytes(CHAIN_ID, GENESIS, challenge(1), BOB.public_key, ALICE.public_key))
    bad = bytes([good[0] ^ 1]) + good[1:]
    refused(alice, encode_frame(FrameKind.AUTH, {"signature": bad}), Code.PEER_AUTH_FAILED,
            "does not verify")


def test_a_signature_by_another_member_is_refused() -> None:
    carol = demo_key("BANK-C")
    alice = side(ALICE, 1, members={ALICE.public_key, BOB.public_key, carol.public_key}.__contains__)
    alice.start()
    alice.receive(hello_of(BOB, 2))
    by_carol = carol.sign(auth_bytes(CHAIN_ID, GENESIS, challenge(1), BOB.public_key, ALICE.public_key))
    refused(alice, encode_frame(FrameKind.AUTH, {"signature": by_carol}), Code.PEER_AUTH_FAILED,
            "does not verify")


def test_an_auth_recorded_on_another_connection_is_useless() -> None:
    # A first session between Alice and Bob, recorded by Mallory.
    _, recorded_bob = run(side(ALICE, 1), side(BOB, 2))
    bob_hello, bob_auth = recorded_bob
    # Mallory replays Bob's frames to Alice, who drew a fresh challenge.
    alice_again = started(ALICE, 3)
    alice_again.receive(bob_hello)
    refused(alice_again, bob_auth, Code.PEER_AUTH_FAILED, "does not verify")


@pytest.mark.parametrize(
    ("frames", "why"),
    [
        (lambda: [encode_frame(FrameKind.AUTH, {"signature": bytes(64)})], "expected HELLO, got AUTH"),
        (lambda: [encode_frame(FrameKind.CONSENSUS, None)], "expected HELLO, got CONSENSUS"),
        (lambda: [hello_of(BOB, 2), hello_of(BOB, 2)], "expected AUTH, got HELLO"),
        (lambda: [hello_of(BOB, 2), encode_frame(FrameKind.TXS, [])], "expected AUTH, got TXS"),
        (lambda: [encode_frame(FrameKind.HELLO, {"key": BOB.public_key})], "exactly the fields"),
        (lambda: [hello_of(BOB, 2, extra=1)], "exactly the fields"),
        (lambda: [hello_of(BOB, 2, key=b"\x01" * 31)], "key is not 32 bytes"),
        (lambda: [hello_of(BOB, 2, key=bytes(32))], "not a valid Ed25519 public key"),
        (lambda: [hello_of(BOB, 2, challenge="x")], "challenge is not 32 bytes"),
        (lambda: [hello_of(BOB, 2, chain_id=1)], "chain_id is not a str"),
        (lambda: [hello_of(BOB, 2), encode_frame(FrameKind.AUTH, {"signature": b"short"})],
         "signature is not 64 bytes"),
        (lambda: [encode_frame(FrameKind.HELLO, b"\x00" * 2000)], "limit is 1024"),
    ],
)
def test_out_of_order_and_malformed_frames_are_protocol_errors(
    frames: Callable[[], list[bytes]], why: str
) -> None:
    alice = started()
    *before, last = frames()
    for frame in before:
        alice.receive(frame)
    refused(alice, last, Code.PEER_PROTOCOL_ERROR, why)


def test_nothing_is_accepted_after_the_end_or_after_a_failure() -> None:
    alice, bob = side(ALICE, 1), side(BOB, 2)
    sent_alice, sent_bob = run(alice, bob)
    refused(alice, sent_bob[1], Code.PEER_PROTOCOL_ERROR, "after the handshake ended")
    with pytest.raises(LedgerError) as raised:
        alice.receive(sent_bob[0])
    assert raised.value.code is Code.PEER_PROTOCOL_ERROR and "failed" in raised.value.message


def test_misuse_by_the_shell_is_a_programming_error() -> None:
    alice = side(ALICE, 1)
    with pytest.raises(RuntimeError):
        alice.receive(hello_of(BOB, 2))
    alice.start()
    with pytest.raises(RuntimeError):
        alice.start()
    with pytest.raises(ValueError):
        Handshake(CHAIN_ID, GENESIS, ALICE, b"short", MEMBERS.__contains__)
