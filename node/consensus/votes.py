"""Vote bookkeeping for one height: who voted what, with how much power.

The rules of Algorithm 1 ask questions about the votes of a height: "are
there 2f+1 prevotes for id(v) in round r?", "2f+1 precommits of any kind?",
"f+1 messages from a round above mine?". `VoteKeeper` answers them, in
voting power (2f+1 is "more than 2/3 of the total", f+1 is "more than 1/3"),
and reports each threshold the first time it is crossed:

| threshold                   | meaning                                  | used by |
|-----------------------------|------------------------------------------|---------|
| PolkaValue(r, id)           | > 2/3 prevoted id in r                   | L28, L36 |
| PolkaNil(r)                 | > 2/3 prevoted nil in r                  | L44 |
| PolkaAny(r)                 | > 2/3 prevoted anything in r             | L34 |
| PrecommitValue(r, id)       | > 2/3 precommitted id in r               | L49 |
| PrecommitAny(r)             | > 2/3 precommitted anything in r         | L47 |
| SkipRound(r)                | > 1/3 sent a vote of any type in r       | L55 |

A vote counts only if it is for this chain and height, from a member of the
validator set, and correctly signed (unless the caller says it checked the
signature). Counting follows the paper: "2f+1 <PRECOMMIT, h, r, id(v)>" is
2f+1 of power among the validators that sent that message, so a validator's
power counts at most once per value, and once in the "any value" total. A
second vote of a validator for another value in the same (round, type) is
equivocation: it is reported once as `VoteEquivocation` evidence and still
counted for its own value (a node that ignored it could miss a decision the
rest of the network has certified), but a third value is refused, which
bounds memory at two votes per validator per (round, type). Quorum
intersection is unaffected: two values can both reach 2f+1 only if more than
f of the power equivocated. Exact duplicates are ignored. Adding never raises:
a rejected vote comes back with a reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Union

from ledger.crypto import verify_signature
from ledger.types import Commit, CommitSignature, VoteType
from ledger.validators import ValidatorSet
from node.consensus.evidence import VoteEquivocation
from node.consensus.messages import SignedVote

#: verify(public_key, message, signature) -> bool, e.g. ledger.crypto.verify_signature.
Verifier = Callable[[bytes, bytes, bytes], bool]


@dataclass(frozen=True, slots=True)
class PolkaValue:
    round: int
    block_hash: bytes


@dataclass(frozen=True, slots=True)
class PolkaNil:
    round: int


@dataclass(frozen=True, slots=True)
class PolkaAny:
    round: int


@dataclass(frozen=True, slots=True)
class PrecommitValue:
    round: int
    block_hash: bytes


@dataclass(frozen=True, slots=True)
class PrecommitAny:
    round: int


@dataclass(frozen=True, slots=True)
class SkipRound:
    round: int


Threshold = Union[PolkaValue, PolkaNil, PolkaAny, PrecommitValue, PrecommitAny, SkipRound]


@dataclass(frozen=True, slots=True)
class AddResult:
    """What adding one vote changed. `rejected` is None when it was counted."""

    thresholds: tuple[Threshold, ...] = ()
    evidence: VoteEquivocation | None = None
    rejected: str | None = None


@dataclass(slots=True)
class _Tally:
    """The votes of one (round, type)."""

    votes: dict[bytes, list[SignedVote]] = field(default_factory=dict)  # at most 2 each
    power_for: dict[bytes | None, int] = field(default_factory=dict)
    total: int = 0


class VoteKeeper:
    def __init__(self, chain_id: str, height: int, validators: ValidatorSet, *,
                 verifier: Verifier | None = verify_signature,
                 inclusive_quorum: bool = False) -> None:
        """`verifier` None: the caller has checked every signature already.

        `inclusive_quorum` is the planted bug (b) of node.consensus.bugs.
        """
        self.chain_id = chain_id
        self.height = height
        self.validators = validators
        self._power = {v.public_key: v.power for v in validators.validators}
        self._total_power = validators.total_power
        self._verifier = verifier
        self._inclusive_quorum = inclusive_quorum
        self._tallies: dict[tuple[int, int], _Tally] = {}
        self._round_power: dict[int, dict[bytes, int]] = {}
        self._reported: set[Threshold] = set()
        self._quorum_values: dict[tuple[int, int], list[bytes | None]] = {}
        self._precommit_decisions: list[tuple[int, bytes]] = []
        self._skip_rounds: list[int] = []
        self.evidence: list[VoteEquivocation] = []

    # -- thresholds in voting power ------------------------------------------------

    def is_quorum(self, power: int) -> bool:
        """2f+1: more than 2/3 of the total power."""
        if self._inclusive_quorum:  # planted bug (b): 2/3 or more
            return 3 * power >= 2 * self._total_power
        return 3 * power > 2 * self._total_power

    def is_one_honest(self, power: int) -> bool:
        """f+1: more than 1/3 of the total power."""
        return 3 * power > self._total_power

    # -- adding ----------------------------------------------------------------------

    def add(self, signed: SignedVote) -> AddResult:
        vote = signed.vote
        if vote.chain_id != self.chain_id:
            return AddResult(rejected="vote for another chain")
        if vote.height != self.height:
            return AddResult(rejected=f"vote for height {vote.height}, keeper is at {self.height}")
        power = self._power.get(vote.validator, 0)
        if power == 0:
            return AddResult(rejected="vote from a non-validator")
        tally = self._tallies.setdefault((vote.round, vote.vote_type), _Tally())
        earlier = tally.votes.get(vote.validator)
        if earlier is not None and any(e.vote == vote for e in earlier):
            return AddResult(rejected="duplicate vote")
        if earlier is not None and len(earlier) >= 2:
            return AddResult(rejected="third vote of an equivocating validator")
        if self._verifier is not None and not self._verifier(
                vote.validator, vote.signing_bytes(), signed.signature):
            return AddResult(rejected="bad vote signature")
        evidence = None
        if earlier is None:
            tally.votes[vote.validator] = [signed]
            tally.total += power
            self._round_power.setdefault(vote.round, {})[vote.validator] = power
        else:
            evidence = VoteEquivocation(earlier[0], signed)
            self.evidence.append(evidence)
            earlier.append(signed)
        tally.power_for[vote.block_hash] = tally.power_for.get(vote.block_hash, 0) + power
        return AddResult(thresholds=self._new_thresholds(vote.round, vote.vote_type,
                                                         vote.block_hash, tally),
                         evidence=evidence)

    def _new_thresholds(self, round: int, vote_type: int, block_hash: bytes | None,
                        tally: _Tally) -> tuple[Threshold, ...]:
        crossed: list[Threshold] = []
        if self.is_quorum(tally.power_for[block_hash]):
            values = self._quorum_values.setdefault((round, vote_type), [])
            if block_hash not in values:
                values.append(block_hash)
                if vote_type == VoteType.PRECOMMIT and block_hash is not None:
                    self._precommit_decisions.append((round, block_hash))
            if vote_type == VoteType.PREVOTE:
                crossed.append(PolkaNil(round) if block_hash is None
                               else PolkaValue(round, block_hash))
            elif block_hash is not None:
                crossed.append(PrecommitValue(round, block_hash))
        if self.is_quorum(tally.total):
            crossed.append(PolkaAny(round) if vote_type == VoteType.PREVOTE
                           else PrecommitAny(round))
        if self.is_one_honest(sum(self._round_power[round].values())):
            if round not in self._skip_rounds:
                self._skip_rounds.append(round)
            crossed.append(SkipRound(round))
        fresh = tuple(t for t in crossed if t not in self._reported)
        self._reported.update(fresh)
        return fresh

    # -- questions of Algorithm 1 -------------------------------------------------

    def has_quorum_for(self, vote_type: VoteType, round: int, block_hash: bytes | None) -> bool:
        """2f+1 votes of `vote_type` in `round` for `block_hash` (None: nil)."""
        return block_hash in self._quorum_values.get((round, vote_type), ())

    def has_quorum_any(self, vote_type: VoteType, round: int) -> bool:
        """2f+1 votes of `vote_type` in `round`, whatever their values."""
        tally = self._tallies.get((round, vote_type))
        return tally is not None and self.is_quorum(tally.total)

    def precommit_quorums(self) -> tuple[tuple[int, bytes], ...]:
        """Every (round, block hash) with 2f+1 precommits, in the order reached."""
        return tuple(self._precommit_decisions)

    def highest_skip_round(self) -> int:
        """The highest round with f+1 power of votes in it; -1 if none."""
        return max(self._skip_rounds, default=-1)

    def all_votes(self) -> tuple[SignedVote, ...]:
        """Every counted vote, in the order first received."""
        return tuple(v for tally in self._tallies.values() for vs in tally.votes.values()
                     for v in vs)

    def votes(self, vote_type: VoteType, round: int) -> tuple[SignedVote, ...]:
        tally = self._tallies.get((round, vote_type))
        return () if tally is None else tuple(v for vs in tally.votes.values() for v in vs)

    def certifies(self, commit: Commit) -> bool:
        """Whether `commit` alone holds 2f+1 valid precommits of this height.

        Checked on its own, not through the tallies: a certificate from a peer
        is proof of a decision even where this node has counted other votes
        of the same validators (an equivocator's third value is refused there).
        """
        if commit.height != self.height:
            return False
        power = 0
        for entry in commit.signatures:
            weight = self._power.get(entry.validator, 0)
            if weight == 0:
                return False
            vote = commit.vote_for(self.chain_id, entry.validator)
            if self._verifier is not None and not self._verifier(
                    entry.validator, vote.signing_bytes(), entry.signature):
                return False
            power += weight
        return self.is_quorum(power)

    def make_commit(self, round: int, block_hash: bytes) -> Commit:
        """The certificate: every counted precommit for `block_hash` in `round`."""
        tally = self._tallies.get((round, VoteType.PRECOMMIT))
        entries = [] if tally is None else [
            CommitSignature(v.vote.validator, v.signature)
            for vs in tally.votes.values() for v in vs if v.vote.block_hash == block_hash]
        entries.sort(key=lambda entry: entry.validator)
        return Commit(self.height, round, block_hash, tuple(entries))
