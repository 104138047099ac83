"""Algorithm 1, rule by rule: a situation, an input, the effects it must have.

Four validators of equal power (f = 1, 2f+1 = 3 votes, f+1 = 2 votes); the
core under test is `me`, driven through tests/consensus/harness.py, which
plays the shell (own broadcasts are handed back, blocks execute at once).
Each test names the lines of the paper it checks, and the rule that fired is
asserted from the machine's trace where it matters.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from genesis.demo_keys import demo_key
from ledger.certificates import make_commit, validate_commit
from ledger.crypto import SigningKey
from ledger.types import Block, Commit, Vote
from node.consensus.bugs import Bugs
from node.consensus.effects import (
    Broadcast,
    BuildBlock,
    CommitBlock,
    Effect,
    ExecuteBlock,
    RecordEvidence,
    ScheduleTimeout,
)
from node.consensus.evidence import ProposalEquivocation, VoteEquivocation
from node.consensus.inputs import (
    BlockBuilt,
    CertifiedBlockReceived,
    ProposalReceived,
    ReplayFinished,
    TimeoutFired,
    VoteReceived,
)
from node.consensus.messages import CertifiedBlock, SignedProposal, SignedVote
from node.consensus.round_machine import Line
from node.consensus.safety import Step
from tests.consensus.harness import (
    CHAIN,
    KEYS,
    PRECOMMIT,
    PREVOTE,
    SCHEDULE,
    TIMEOUTS,
    VALIDATORS,
    Harness,
    cast_votes,
    make_block,
    make_proposal,
    make_vote,
)

V, W = make_block(1, 1), make_block(1, 2)


def _fired(h: Harness) -> list[Line]:
    assert h.core.machine is not None
    return [line for line, _ in h.core.machine.trace]


# -- L10-L21: StartRound ---------------------------------------------------------------

def test_l14_l18_the_proposer_asks_the_application_for_a_block() -> None:
    h = Harness(next(k for k in KEYS if k.public_key == SCHEDULE.proposer(1, 0)))
    effects = h.start()
    assert BuildBlock(1, 0) in effects
    assert ScheduleTimeout(1, 0, Step.PROPOSE, TIMEOUTS.propose_ms) in effects


def test_l19_a_built_block_is_proposed_signed_and_executed_before_the_prevote() -> None:
    h = Harness(next(k for k in KEYS if k.public_key == SCHEDULE.proposer(1, 0)))
    h.start()
    effects = h.feed(BlockBuilt(1, 0, V))
    proposal = effects[0]
    assert isinstance(proposal, Broadcast) and isinstance(proposal.message, SignedProposal)
    assert proposal.message.proposal.valid_round is None
    assert proposal.message.proposal.proposer == h.me.public_key
    execute = next(i for i, e in enumerate(effects) if isinstance(e, ExecuteBlock))
    prevote = next(i for i, e in enumerate(effects) if cast_votes([e]))
    assert execute < prevote
    assert cast_votes(effects) == [(PREVOTE, 0, V.hash)]


def test_l21_a_validator_that_does_not_propose_schedules_timeout_propose() -> None:
    h = Harness.not_proposing_in(1, range(1))
    assert h.start() == [ScheduleTimeout(1, 0, Step.PROPOSE, TIMEOUTS.propose_ms)]


# -- L22-L33: prevote on a proposal -------------------------------------------------------

def test_l22_l24_a_valid_proposal_is_prevoted_after_execution() -> None:
    h = Harness.not_proposing_in(1, range(1))
    h.start()
    effects = h.feed(ProposalReceived(make_proposal(1, 0, V)))
    assert effects[0] == ExecuteBlock(1, 0, V)
    assert cast_votes(effects) == [(PREVOTE, 0, V.hash)]
    assert Line.L22_PROPOSAL in _fired(h)


def test_l22_l26_an_invalid_proposal_is_prevoted_nil() -> None:
    h = Harness.not_proposing_in(1, range(1), invalid={V.hash})
    h.start()
    assert cast_votes(h.feed(ProposalReceived(make_proposal(1, 0, V)))) == [(PREVOTE, 0, None)]


@pytest.mark.parametrize(
    "situation, proposal_round, proposed, valid_round, polka_round, expected",
    [
        ("locked on v, w proposed anew", 1, W, None, None, None),
        ("locked on v, v proposed anew", 1, V, None, None, V.hash),
        ("locked on v in 1, w with valid_round 0 < locked_round", 2, W, 0, 0, None),
        ("locked on v in 0, w with a polka in valid_round 1 >= locked_round", 2, W, 1, 1, W.hash),
    ],
)
def test_l23_l29_the_lock_decides_the_prevote(situation: str, proposal_round: int,
                                              proposed: Block, valid_round: int | None,
                                              polka_round: int | None,
                                              expected: bytes | None) -> None:
    locked_round = 1 if valid_round == 0 else 0
    h = Harness.not_proposing_in(1, range(proposal_round + 1))
    h.start()
    h.lock_on(locked_round, V)
    assert h.core.machine is not None and h.core.machine.locked_round == locked_round
    assert h.core.machine.locked_hash == V.hash
    if polka_round is not None:  # the polka that justifies valid_round, seen by everyone else
        h.votes(PREVOTE, polka_round, proposed.hash, h.others)
    h.goto_round(proposal_round)
    effects = h.feed(ProposalReceived(make_proposal(1, proposal_round, proposed, valid_round)))
    assert cast_votes(effects) == [(PREVOTE, proposal_round, expected)], situation


def test_planted_bug_ignore_lock_prevotes_against_the_lock() -> None:
    h = Harness.not_proposing_in(1, range(2), bugs=Bugs(ignore_lock=True))
    h.start()
    h.lock_on(0, V)
    h.goto_round(1)
    assert cast_votes(h.feed(ProposalReceived(make_proposal(1, 1, W)))) == [(PREVOTE, 1, W.hash)]


def test_l28_waits_for_the_polka_of_valid_round() -> None:
    h = Harness.not_proposing_in(1, range(2))
    h.start()
    h.goto_round(1)
    assert cast_votes(h.feed(ProposalReceived(make_proposal(1, 1, W, valid_round=0)))) == []
    effects = h.votes(PREVOTE, 0, W.hash, h.others)
    assert cast_votes(effects) == [(PREVOTE, 1, W.hash)]
    assert Line.L28_PROPOSAL_WITH_POLKA in _fired(h)


# -- L34-L48: polkas and timeouts ------------------------------------------------------------

def test_l36_a_polka_for_the_proposal_locks_and_precommits() -> None:
    h = Harness.not_proposing_in(1, range(1))
    h.start()
    h.feed(ProposalReceived(make_proposal(1, 0, V)))
    effects = h.votes(PREVOTE, 0, V.hash, h.others[:2])
    assert cast_votes(effects) == [(PRECOMMIT, 0, V.hash)]
    machine = h.core.machine
    assert machine is not None
    assert (machine.locked_round, machine.locked_hash) == (0, V.hash)
    assert (machine.valid_round, machine.valid_hash) == (0, V.hash)


def test_l36_l42_after_precommitting_nil_a_late_polka_only_sets_the_valid_value() -> None:
    h = Harness.not_proposing_in(1, range(1))
    h.start()
    h.feed(TimeoutFired(1, 0, Step.PROPOSE))  # prevote nil
    h.votes(PREVOTE, 0, V.hash, h.others[:2])  # 3 prevotes of any kind: L34
    h.feed(TimeoutFired(1, 0, Step.PREVOTE))  # precommit nil
    h.feed(ProposalReceived(make_proposal(1, 0, V)))
    effects = h.votes(PREVOTE, 0, V.hash, h.others[2:])
    machine = h.core.machine
    assert machine is not None and cast_votes(effects) == []
    assert (machine.locked_round, machine.valid_round, machine.valid_hash) == (-1, 0, V.hash)


def test_l44_a_polka_for_nil_precommits_nil() -> None:
    h = Harness.not_proposing_in(1, range(1))
    h.start()
    h.feed(TimeoutFired(1, 0, Step.PROPOSE))
    effects = h.votes(PREVOTE, 0, None, h.others[:2])
    assert cast_votes(effects) == [(PRECOMMIT, 0, None)]


def test_l34_l61_prevotes_of_any_kind_start_timeout_prevote_then_precommit_nil() -> None:
    h = Harness.not_proposing_in(1, range(1))
    h.start()
    h.feed(TimeoutFired(1, 0, Step.PROPOSE))
    effects = h.votes(PREVOTE, 0, V.hash, h.others[:1]) + h.votes(PREVOTE, 0, W.hash,
                                                                  h.others[1:2])
    assert ScheduleTimeout(1, 0, Step.PREVOTE, TIMEOUTS.prevote_ms) in effects
    assert cast_votes(h.feed(TimeoutFired(1, 0, Step.PREVOTE))) == [(PRECOMMIT, 0, None)]


def test_l47_l65_precommits_of_any_kind_start_timeout_precommit_then_the_next_round() -> None:
    h = Harness.not_proposing_in(1, range(2))
    h.start()
    effects = h.votes(PRECOMMIT, 0, None, h.others)
    assert ScheduleTimeout(1, 0, Step.PRECOMMIT, TIMEOUTS.precommit_ms) in effects
    effects = h.feed(TimeoutFired(1, 0, Step.PRECOMMIT))
    assert h.core.round == 1
    # timeouts grow by increase_ms per round
    grown = TIMEOUTS.propose_ms + TIMEOUTS.increase_ms
    assert ScheduleTimeout(1, 1, Step.PROPOSE, grown) in effects


def test_l57_timeout_propose_prevotes_nil_and_a_stale_timeout_does_nothing() -> None:
    h = Harness.not_proposing_in(1, range(1))
    h.start()
    assert h.feed(TimeoutFired(1, 3, Step.PROPOSE)) == []
    assert h.feed(TimeoutFired(2, 0, Step.PROPOSE)) == []
    assert cast_votes(h.feed(TimeoutFired(1, 0, Step.PROPOSE))) == [(PREVOTE, 0, None)]
    assert h.feed(TimeoutFired(1, 0, Step.PROPOSE)) == []


# -- L49: decision -----------------------------------------------------------------------------

def test_l49_a_proposal_and_2f_plus_1_precommits_decide_with_a_valid_commit() -> None:
    h = Harness.not_proposing_in(1, range(1))
    h.start()
    h.feed(ProposalReceived(make_proposal(1, 0, V)))
    effects = h.votes(PRECOMMIT, 0, V.hash, h.others[:3])
    commit = next(e for e in effects if isinstance(e, CommitBlock))
    assert commit.block == V
    validate_commit(commit.commit, chain_id=CHAIN, height=1, block_hash=V.hash,
                    validators=VALIDATORS)
    keys = [s.validator for s in commit.commit.signatures]
    assert keys == sorted(keys)
    assert h.core.decided and h.feed(TimeoutFired(1, 0, Step.PROPOSE)) == []


def test_l49_decides_in_an_earlier_round_too() -> None:
    h = Harness.not_proposing_in(1, range(3))
    h.start()
    h.feed(ProposalReceived(make_proposal(1, 0, V)))
    h.goto_round(2)
    effects = h.votes(PRECOMMIT, 0, V.hash, h.others)
    assert any(isinstance(e, CommitBlock) and e.commit.round == 0 for e in effects)


def test_a_certified_block_decides_a_lagging_validator() -> None:
    h = Harness.not_proposing_in(1, range(1))
    h.start()
    certificate = CertifiedBlock(V, _commit_by(h.others, V))
    effects = h.feed(CertifiedBlockReceived(certificate))
    assert any(isinstance(e, CommitBlock) and e.block == V for e in effects)


def test_a_certificate_decides_even_past_an_equivocators_refused_third_vote() -> None:
    h = Harness.not_proposing_in(1, range(1))
    h.start()
    twister = h.others[0]
    h.votes(PRECOMMIT, 0, None, [twister])
    h.votes(PRECOMMIT, 0, W.hash, [twister])  # two values already: a third is refused
    effects = h.feed(CertifiedBlockReceived(CertifiedBlock(V, _commit_by(h.others, V))))
    assert any(isinstance(e, CommitBlock) and e.block == V for e in effects)


def test_a_certificate_without_2f_plus_1_is_ignored() -> None:
    h = Harness.not_proposing_in(1, range(1))
    h.start()
    assert h.feed(CertifiedBlockReceived(CertifiedBlock(V, _commit_by(h.others[:2], V)))) == []
    assert not h.core.decided


def _commit_by(keys: list[SigningKey], block: Block) -> Commit:
    return make_commit(chain_id=CHAIN, height=1, round=0, block_hash=block.hash, signers=keys)


# -- L55: round skipping ----------------------------------------------------------------------

def test_l55_f_plus_1_votes_from_a_higher_round_move_there() -> None:
    h = Harness.not_proposing_in(1, [0, 5])
    h.start()
    assert h.votes(PREVOTE, 5, None, h.others[:1]) == []  # f votes: not enough
    effects = h.votes(PREVOTE, 5, None, h.others[1:2])
    assert h.core.round == 5 and Line.L55_SKIP_ROUND in _fired(h)
    assert ScheduleTimeout(1, 5, Step.PROPOSE, TIMEOUTS.propose_ms + 5 * TIMEOUTS.increase_ms) \
        in effects


# -- harmless but unexpected input ----------------------------------------------------------------

def _signed(key: SigningKey, vote: Vote) -> SignedVote:
    return SignedVote(vote, key.sign(vote.signing_bytes()))


UNEXPECTED: list[tuple[str, Callable[[], SignedVote | SignedProposal]]] = [
    ("vote of another height", lambda: make_vote(KEYS[1], PREVOTE, 2, 0, None)),
    ("vote of another chain",
     lambda: _signed(KEYS[1], Vote("other-chain", PREVOTE, 1, 0, None, KEYS[1].public_key))),
    ("vote from a non-validator", lambda: make_vote(demo_key("outsider"), PREVOTE, 1, 0, None)),
    ("vote with a bad signature",
     lambda: SignedVote(Vote(CHAIN, PREVOTE, 1, 0, None, KEYS[1].public_key),
                        make_vote(KEYS[2], PREVOTE, 1, 0, None).signature)),
    ("vote too many rounds ahead", lambda: make_vote(KEYS[1], PREVOTE, 1, 10_000, None)),
    ("proposal from a validator that is not the proposer",
     lambda: make_proposal(1, 0, V, key=next(k for k in KEYS
                                             if k.public_key != SCHEDULE.proposer(1, 0)))),
    ("proposal whose valid_round is not below its round",
     lambda: make_proposal(1, 0, V, valid_round=0)),
]


@pytest.mark.parametrize("why, make", UNEXPECTED, ids=[why for why, _ in UNEXPECTED])
def test_unexpected_input_has_no_effect(why: str,
                                        make: Callable[[], SignedVote | SignedProposal]) -> None:
    h = Harness.not_proposing_in(1, range(1))
    h.start()
    message = make()
    event = ProposalReceived(message) if isinstance(message, SignedProposal) \
        else VoteReceived(message)
    assert h.core.handle(event, 0) == ()
    assert h.core.ignored
    assert h.core.keeper is not None and h.core.keeper.all_votes() == ()


def test_input_before_any_height_has_no_effect() -> None:
    h = Harness(KEYS[0])
    assert h.core.handle(TimeoutFired(1, 0, Step.PROPOSE), 0) == ()
    assert h.core.handle(VoteReceived(make_vote(KEYS[1], PREVOTE, 1, 0, None)), 0) == ()


# -- evidence -------------------------------------------------------------------------------------

def test_two_votes_of_one_validator_for_one_step_are_evidence() -> None:
    h = Harness.not_proposing_in(1, range(1))
    h.start()
    h.votes(PREVOTE, 0, V.hash, h.others[:1])
    effects = h.votes(PREVOTE, 0, W.hash, h.others[:1])
    evidence = [e.evidence for e in effects if isinstance(e, RecordEvidence)]
    assert len(evidence) == 1 and isinstance(evidence[0], VoteEquivocation)
    assert evidence[0].offender == h.others[0].public_key
    assert h.votes(PREVOTE, 0, None, h.others[:1]) == []  # a third value: refused


def test_two_proposals_of_one_proposer_for_one_round_are_evidence() -> None:
    h = Harness.not_proposing_in(1, range(1))
    h.start()
    h.feed(ProposalReceived(make_proposal(1, 0, V)))
    effects = h.feed(ProposalReceived(make_proposal(1, 0, W)))
    evidence = [e.evidence for e in effects if isinstance(e, RecordEvidence)]
    assert len(evidence) == 1 and isinstance(evidence[0], ProposalEquivocation)


# -- restart --------------------------------------------------------------------------------------

def test_replaying_the_inputs_rebuilds_the_state_without_signing_again() -> None:
    h = Harness.not_proposing_in(1, range(1))
    h.start()
    h.feed(ProposalReceived(make_proposal(1, 0, V)))
    h.votes(PREVOTE, 0, V.hash, h.others[:2])  # locked, precommitted
    before = h.core.machine
    assert before is not None and before.step == Step.PRECOMMIT
    restarted = Harness(h.me, store=h.store)
    replayed: list[Effect] = []
    for event in h.inputs:
        replayed += restarted.core.handle(event, 0)
    replayed += restarted.core.handle(ReplayFinished(h.store.load()), 0)
    after = restarted.core.machine
    assert after is not None
    assert (after.round, after.step, after.locked_round, after.locked_hash) == \
        (before.round, before.step, before.locked_round, before.locked_hash)
    assert after.keeper.all_votes() == before.keeper.all_votes()
    # the prevote (below the signer's record) is refused; the precommit, the
    # last thing signed, is served again byte for byte
    sent = [e.message for e in replayed if isinstance(e, Broadcast)]
    assert [m.vote.vote_type for m in sent] == [PRECOMMIT]  # type: ignore[union-attr]


def test_a_validator_that_lost_its_wal_resumes_from_the_signers_record() -> None:
    h = Harness.not_proposing_in(1, range(2))
    h.start()
    h.feed(ProposalReceived(make_proposal(1, 0, V)))
    h.votes(PREVOTE, 0, V.hash, h.others[:2])  # precommitted V: locked on it
    amnesiac = Harness(h.me, store=h.store)
    amnesiac.start()
    amnesiac.feed(ReplayFinished(h.store.load()))
    machine = amnesiac.core.machine
    assert machine is not None
    assert (machine.round, machine.step, machine.locked_round, machine.locked_hash) == \
        (0, Step.PRECOMMIT, 0, V.hash)
    # it does not sign a different vote for a step it has signed
    assert cast_votes(amnesiac.feed(TimeoutFired(1, 0, Step.PREVOTE))) == []
    amnesiac.goto_round(1)
    proposal = make_proposal(1, 1, W)
    assert cast_votes(amnesiac.feed(ProposalReceived(proposal))) == [(PREVOTE, 1, None)]
