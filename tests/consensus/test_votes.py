"""The vote keeper: power-weighted thresholds, reported once; equivocation as evidence."""

from __future__ import annotations

from genesis.demo_keys import demo_key
from ledger.certificates import validate_commit
from ledger.crypto import SigningKey
from ledger.types import Vote, VoteType
from ledger.validators import Validator, ValidatorSet
from node.consensus.evidence import VoteEquivocation
from node.consensus.messages import SignedVote
from node.consensus.votes import (
    PolkaAny,
    PolkaNil,
    PolkaValue,
    PrecommitAny,
    PrecommitValue,
    SkipRound,
    VoteKeeper,
)
from tests.consensus.harness import CHAIN, KEYS, PRECOMMIT, PREVOTE, VALIDATORS, make_vote

A, B = bytes([1]) * 32, bytes([2]) * 32


def _vote(key: SigningKey, vote_type: VoteType, round: int, block_hash: bytes | None
          ) -> SignedVote:
    return make_vote(key, vote_type, 1, round, block_hash)


def _keeper(validators: ValidatorSet = VALIDATORS, **kwargs: bool) -> VoteKeeper:
    return VoteKeeper(CHAIN, 1, validators, **kwargs)  # type: ignore[arg-type]


def test_each_threshold_is_reported_once_when_crossed() -> None:
    keeper = _keeper()
    reports = [keeper.add(_vote(k, PREVOTE, 0, A)).thresholds for k in KEYS]
    assert reports[0] == ()
    assert reports[1] == (SkipRound(0),)  # 2 of 4: more than 1/3
    assert reports[2] == (PolkaValue(0, A), PolkaAny(0))  # 3 of 4: more than 2/3
    assert reports[3] == ()  # nothing new: each threshold is reported once
    assert keeper.has_quorum_for(PREVOTE, 0, A) and keeper.has_quorum_any(PREVOTE, 0)
    assert not keeper.has_quorum_for(PREVOTE, 0, None)


def test_nil_and_mixed_values_and_precommits() -> None:
    keeper = _keeper()
    keeper.add(_vote(KEYS[0], PREVOTE, 2, None))
    keeper.add(_vote(KEYS[1], PREVOTE, 2, A))
    assert keeper.add(_vote(KEYS[2], PREVOTE, 2, B)).thresholds == (PolkaAny(2),)
    assert keeper.add(_vote(KEYS[3], PREVOTE, 2, None)).thresholds == ()
    for key in KEYS[:2]:
        keeper.add(_vote(key, PRECOMMIT, 3, None))
    assert keeper.add(_vote(KEYS[2], PRECOMMIT, 3, None)).thresholds == (PrecommitAny(3),)
    keeper.add(_vote(KEYS[0], PREVOTE, 4, None))
    keeper.add(_vote(KEYS[1], PREVOTE, 4, None))
    assert PolkaNil(4) in keeper.add(_vote(KEYS[2], PREVOTE, 4, None)).thresholds
    assert keeper.highest_skip_round() == 4


def test_power_not_heads_counts() -> None:
    big, small = demo_key("big"), [demo_key(f"small-{i}") for i in range(4)]
    validators = ValidatorSet.of([Validator(big.public_key, 6)]
                                 + [Validator(k.public_key, 1) for k in small])
    keeper = _keeper(validators)  # total 10: a quorum is more than 20/3, so 7
    assert keeper.add(_vote(big, PRECOMMIT, 0, A)).thresholds == (SkipRound(0),)
    result = keeper.add(_vote(small[0], PRECOMMIT, 0, A))
    assert PrecommitValue(0, A) in result.thresholds  # 7 of 10
    keeper2 = _keeper(validators)
    for key in small:
        keeper2.add(_vote(key, PRECOMMIT, 0, A))
    assert not keeper2.has_quorum_for(PRECOMMIT, 0, A)  # four of five validators, 4 of 10


def test_exactly_two_thirds_is_not_a_quorum_unless_the_bug_is_planted() -> None:
    three = ValidatorSet.of([Validator(k.public_key, 1) for k in KEYS[:3]])
    for inclusive, expected in ((False, False), (True, True)):
        keeper = _keeper(three, inclusive_quorum=inclusive)
        keeper.add(_vote(KEYS[0], PREVOTE, 0, A))
        keeper.add(_vote(KEYS[1], PREVOTE, 0, A))
        assert keeper.has_quorum_for(PREVOTE, 0, A) is expected


def test_equivocation_is_evidence_and_counts_once_per_value() -> None:
    keeper = _keeper()
    first = _vote(KEYS[0], PREVOTE, 0, A)
    second = _vote(KEYS[0], PREVOTE, 0, B)
    assert keeper.add(first).rejected is None
    result = keeper.add(second)
    assert result.evidence == VoteEquivocation(first, second)
    assert keeper.evidence == [result.evidence]
    assert keeper.add(second).rejected == "duplicate vote"
    third = keeper.add(_vote(KEYS[0], PREVOTE, 0, None))
    assert third.rejected is not None and third.evidence is None
    # the equivocator's power is in each value's tally once, and once in the total
    keeper.add(_vote(KEYS[1], PREVOTE, 0, A))
    assert not keeper.has_quorum_any(PREVOTE, 0)  # 2 validators of 4
    keeper.add(_vote(KEYS[2], PREVOTE, 0, B))
    assert keeper.has_quorum_any(PREVOTE, 0)
    assert not keeper.has_quorum_for(PREVOTE, 0, A) and not keeper.has_quorum_for(PREVOTE, 0, B)


def test_rejected_votes_change_nothing() -> None:
    keeper = _keeper()
    outsider = _vote(demo_key("outsider"), PREVOTE, 0, A)
    forged = SignedVote(Vote(CHAIN, PREVOTE, 1, 0, A, KEYS[0].public_key),
                        _vote(KEYS[1], PREVOTE, 0, A).signature)
    wrong_height = _vote(KEYS[0], PREVOTE, 0, A)
    wrong_height = SignedVote(Vote(CHAIN, PREVOTE, 2, 0, A, KEYS[0].public_key),
                              wrong_height.signature)
    for vote, reason in ((outsider, "non-validator"), (forged, "signature"),
                         (wrong_height, "height")):
        result = keeper.add(vote)
        assert result.rejected is not None and reason in result.rejected
    assert keeper.all_votes() == () and keeper.highest_skip_round() == -1


def test_signature_checks_can_be_left_to_the_caller() -> None:
    keeper = _keeper(verifier=None)  # type: ignore[arg-type]
    forged = SignedVote(Vote(CHAIN, PREVOTE, 1, 0, A, KEYS[0].public_key), bytes(64))
    assert keeper.add(forged).rejected is None


def test_the_commit_is_the_precommits_for_the_block_sorted() -> None:
    keeper = _keeper()
    for key in reversed(KEYS[:3]):
        keeper.add(_vote(key, PRECOMMIT, 1, A))
    keeper.add(_vote(KEYS[3], PRECOMMIT, 1, None))
    commit = keeper.make_commit(1, A)
    assert [s.validator for s in commit.signatures] == sorted(k.public_key for k in KEYS[:3])
    validate_commit(commit, chain_id=CHAIN, height=1, block_hash=A, validators=VALIDATORS)
    assert keeper.precommit_quorums() == ((1, A),)
