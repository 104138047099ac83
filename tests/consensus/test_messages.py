"""Consensus messages: canonical round trips, and only LedgerError from peer bytes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import codec
from ledger.certificates import make_commit
from ledger.crypto import SigningKey, Tag, signing_bytes, verify_signature
from ledger.errors import Code, LedgerError
from ledger.types import Vote
from node.consensus.messages import (
    CertifiedBlock,
    Message,
    Proposal,
    SignedProposal,
    SignedVote,
    decode_message,
    encode_message,
    vote_from_sign_bytes,
)
from tests.consensus.harness import CHAIN, KEYS, PREVOTE, make_block, make_proposal, make_vote

hashes = st.binary(min_size=32, max_size=32)
rounds = st.integers(0, 2**31 - 1)
heights = st.integers(1, 2**63 - 1)


@st.composite
def signed_proposals(draw: st.DrawFn) -> SignedProposal:
    block = make_block(draw(st.integers(1, 10**6)), draw(st.integers(0, 2**40)))
    round = draw(rounds)
    valid_round = draw(st.one_of(st.none(), st.integers(0, max(0, round - 1))))
    proposal = Proposal(CHAIN, block.header.height, round, block.hash, valid_round,
                        draw(st.sampled_from(KEYS)).public_key)
    return SignedProposal(proposal, draw(st.binary(min_size=64, max_size=64)), block)


@st.composite
def signed_votes(draw: st.DrawFn) -> SignedVote:
    vote = Vote(CHAIN, draw(st.sampled_from([1, 2])), draw(heights), draw(rounds),
                draw(st.one_of(st.none(), hashes)), draw(st.sampled_from(KEYS)).public_key)
    return SignedVote(vote, draw(st.binary(min_size=64, max_size=64)))


messages = st.one_of(signed_proposals(), signed_votes())


@given(messages)
def test_round_trip_is_exact(message: Message) -> None:
    data = encode_message(message)
    assert decode_message(data) == message
    assert encode_message(decode_message(data)) == data


def test_certified_block_round_trip_and_its_precommits_verify() -> None:
    block = make_block(1, 7)
    commit = make_commit(chain_id=CHAIN, height=1, round=2, block_hash=block.hash,
                         signers=KEYS[:3])
    certified = CertifiedBlock(block, commit)
    assert decode_message(encode_message(certified)) == certified
    for vote in certified.precommits():
        assert vote.vote.round == 2 and vote.vote.block_hash == block.hash
        assert verify_signature(vote.vote.validator, vote.vote.signing_bytes(), vote.signature)


def test_a_proposal_is_signed_over_its_tag_chain_and_body() -> None:
    signed = make_proposal(1, 0, make_block(1, 1))
    assert signed.proposal.signing_bytes() == signing_bytes(Tag.PROPOSAL_SIGN, CHAIN,
                                                           signed.proposal.encode())
    assert signed.proposal.pol_round == -1


def test_a_block_that_is_not_the_proposed_one_is_refused() -> None:
    signed = make_proposal(1, 0, make_block(1, 1))
    value: list[Any] = [1, 1, signed.to_value()]
    value[2][3] = make_block(1, 2).to_value()  # swap the block under the signed proposal
    with pytest.raises(LedgerError) as caught:
        decode_message(codec.encode(value))
    assert caught.value.code is Code.INVALID_CONSENSUS_MESSAGE


@pytest.mark.parametrize("value, code", [
    ([1, 9, []], Code.INVALID_CONSENSUS_MESSAGE),
    ([2, 1, []], Code.UNSUPPORTED_VERSION),
    ([1, 2], Code.SCHEMA_MISMATCH),
    ({"kind": 1}, Code.SCHEMA_MISMATCH),
    ([1, 2, [1, "not a vote", b""]], Code.SCHEMA_MISMATCH),
])
def test_malformed_envelopes_are_refused_with_a_code(value: object, code: Code) -> None:
    with pytest.raises(LedgerError) as caught:
        decode_message(codec.encode(value))
    assert caught.value.code is code


@given(st.binary(max_size=512))
def test_only_ledger_error_escapes_the_decoder_of_random_bytes(data: bytes) -> None:
    try:
        decode_message(data)
    except LedgerError:
        pass


@given(messages, st.data())
def test_only_ledger_error_escapes_the_decoder_of_mutated_messages(message: Message,
                                                                    data: st.DataObject) -> None:
    encoded = bytearray(encode_message(message))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(encoded) - 1))
        encoded[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(encoded)))
    for candidate in (bytes(encoded), bytes(encoded[:cut])):
        try:
            decoded = decode_message(candidate)
        except LedgerError:
            continue
        assert encode_message(decoded) == candidate  # accepted means canonical


def test_the_signers_record_tells_which_vote_it_was() -> None:
    vote = make_vote(KEYS[0], PREVOTE, 3, 1, None).vote
    assert vote_from_sign_bytes(CHAIN, vote.signing_bytes()) == vote
    assert vote_from_sign_bytes("other-chain", vote.signing_bytes()) is None
    proposal = make_proposal(1, 0, make_block(1, 1)).proposal
    assert vote_from_sign_bytes(CHAIN, proposal.signing_bytes()) is None


def test_the_worked_example_of_docs_consensus_md() -> None:
    key = SigningKey(bytes.fromhex(
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
    vote = Vote("scf-demo", 2, 5, 1, bytes(range(32)), key.public_key)
    assert vote.encode().hex() == (
        "9701a87363662d64656d6f020501c420000102030405060708090a0b0c0d0e0f101112131415161718"
        "191a1b1c1d1e1fc420d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    signature = key.sign(vote.signing_bytes())
    assert signature.hex() == (
        "18912cdc9dde67995451cc73235e8c573b7505ee56d274063ed621ed53321fa3"
        "8f85ad5b82fbc02ed9ff8b8695273dc1e926881f744b5e40227217821d41d702")
    envelope = encode_message(SignedVote(vote, signature))
    assert envelope == bytes.fromhex("930102" "9301") + vote.encode() + b"\xc4\x40" + signature
