"""The WAL's payloads: every input round-trips exactly; bad bytes raise LedgerError only."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import codec
from ledger.certificates import make_commit
from ledger.errors import LedgerError
from node.consensus.input_codec import decode_input, encode_input
from node.consensus.inputs import (
    BlockBuilt,
    BlockExecuted,
    CertifiedBlockReceived,
    HeightStarted,
    Input,
    ProposalReceived,
    ReplayFinished,
    TimeoutFired,
    VoteReceived,
)
from node.consensus.messages import CertifiedBlock
from node.consensus.safety import LastSigned, Step
from tests.consensus.harness import (
    CHAIN,
    KEYS,
    PRECOMMIT,
    VALIDATORS,
    make_block,
    make_proposal,
    make_vote,
)

BLOCK = make_block(3, 9)
VOTE = make_vote(KEYS[1], PRECOMMIT, 3, 2, BLOCK.hash)
INPUTS: list[Input] = [
    HeightStarted(3, VALIDATORS),
    ProposalReceived(make_proposal(3, 1, BLOCK, valid_round=0)),
    VoteReceived(VOTE),
    CertifiedBlockReceived(CertifiedBlock(BLOCK, make_commit(
        chain_id=CHAIN, height=3, round=2, block_hash=BLOCK.hash, signers=KEYS[:3]))),
    TimeoutFired(3, 7, Step.PREVOTE),
    BlockExecuted(3, 1, BLOCK.hash, False),
    BlockBuilt(3, 0, BLOCK),
    ReplayFinished(None),
    ReplayFinished(LastSigned(3, 2, Step.PRECOMMIT, VOTE.vote.signing_bytes(), VOTE.signature)),
]


@pytest.mark.parametrize("event", INPUTS, ids=lambda e: type(e).__name__)
def test_every_input_round_trips(event: Input) -> None:
    data = encode_input(event)
    assert decode_input(data) == event
    assert encode_input(decode_input(data)) == data


@pytest.mark.parametrize("value", [
    [2, 5, 1, 0, 1], [1, 99], [1, 5, 1, 0, 4], [1, 5, 1, 0], [1, 6, 1, 0, b"x", True],
    [1, 8, [1, 0, 2, b"", b"s"]], "input", [1],
])
def test_malformed_inputs_are_refused(value: object) -> None:
    with pytest.raises(LedgerError):
        decode_input(codec.encode(value))


@given(st.sampled_from(INPUTS), st.data())
def test_only_ledger_error_escapes_when_the_bytes_are_damaged(event: Input,
                                                              data: st.DataObject) -> None:
    damaged = bytearray(encode_input(event))
    position = data.draw(st.integers(0, len(damaged) - 1))
    damaged[position] = data.draw(st.integers(0, 255))
    try:
        decoded = decode_input(bytes(damaged))
    except LedgerError:
        return
    assert encode_input(decoded) == bytes(damaged)
