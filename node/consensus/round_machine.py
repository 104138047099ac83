"""Algorithm 1 of "The latest gossip on BFT consensus" for one height.

Theory of operation. Buchman, Kwon and Milosevic (2018) write Tendermint as
"upon <condition> do <action>" rules over a process's state (round_p,
step_p, lockedValue_p/lockedRound_p, validValue_p/validRound_p) and the
messages it has received. `RoundMachine` keeps exactly that state for one
height; the messages live in a `VoteKeeper` (votes) and in `proposals` /
`blocks` (proposals and the blocks they carry), and `validity` holds valid(v)
as reported by the application, which executes every block before this node
prevotes for it.

`next_rule()` evaluates the rules as guarded commands: it fires the first
rule whose condition holds and returns what it asks for (`CastVote`,
`CastProposal`, `Decide`, or effects), or None when no rule applies. The core
calls it until it returns None, so a rule whose condition becomes true by any
input (a vote, a proposal, an execution result, in any order) fires as soon
as it can; "for the first time" conditions are kept in `fired`. Every rule
is headed by the lines of Algorithm 1 it implements, and each firing is
appended to `trace` as (Line, round) so tests can assert which rule fired.

Values are named by block hash: lockedValue and validValue are kept as
hashes (`locked_hash`, `valid_hash`) with the blocks in `blocks`.

Deviations from the paper, all harmless to safety:
* L18 getValue() is asynchronous (BuildBlock, then `block_built`), so L21
  schedules timeoutPropose for the proposer too.
* L49 accepts a block learnt from a certified block (catch-up) as well as
  from a proposal: > 2/3 precommits for id(v) and v itself is what matters.
* L55 counts votes (prevotes and precommits), not proposals.
* L52-L54 (next height) is left to the core and the application: a decision
  returns `Decide` and this machine stops; the next height gets a new one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Union

from ledger.types import Block, Commit, VoteType
from ledger.validators import ValidatorSet
from node.consensus.effects import BuildBlock, ExecuteBlock, ScheduleTimeout
from node.consensus.evidence import ProposalEquivocation
from node.consensus.messages import SignedProposal
from node.consensus.proposer import ProposerSchedule
from node.consensus.safety import Step
from node.consensus.timeouts import Timeouts
from node.consensus.votes import Verifier, VoteKeeper

#: At most this many different proposals are kept per round (an equivocating
#: proposer may send more; the first two are enough to follow either value).
MAX_PROPOSALS_PER_ROUND = 2


class Line(IntEnum):
    """Lines of Algorithm 1 where a rule starts."""

    L10_START = 10
    L11_START_ROUND = 11
    L22_PROPOSAL = 22
    L28_PROPOSAL_WITH_POLKA = 28
    L34_PREVOTE_ANY = 34
    L36_POLKA_VALUE = 36
    L44_POLKA_NIL = 44
    L47_PRECOMMIT_ANY = 47
    L49_DECIDE = 49
    L55_SKIP_ROUND = 55
    L57_TIMEOUT_PROPOSE = 57
    L61_TIMEOUT_PREVOTE = 61
    L65_TIMEOUT_PRECOMMIT = 65
    RECOVERED = 0  # not in the paper: resumed from the guarded signer's record


@dataclass(frozen=True, slots=True)
class CastVote:
    """Sign and broadcast a prevote or precommit (None: nil)."""

    vote_type: VoteType
    round: int
    block_hash: bytes | None


@dataclass(frozen=True, slots=True)
class CastProposal:
    """Sign and broadcast a proposal of `block` (L19)."""

    round: int
    block: Block
    valid_round: int | None


@dataclass(frozen=True, slots=True)
class Decide:
    round: int
    block: Block
    certificate: Commit | None = None  # None: made from the votes counted here


Action = Union[CastVote, CastProposal, Decide, ScheduleTimeout, BuildBlock, ExecuteBlock]


class RoundMachine:
    def __init__(self, height: int, validators: ValidatorSet, me: bytes, keeper: VoteKeeper,
                 timeouts: Timeouts, *, verifier: Verifier | None,
                 ignore_lock: bool = False) -> None:
        self.height = height
        self.me = me
        self.keeper = keeper
        self.timeouts = timeouts
        self.schedule = ProposerSchedule(validators)
        self._verifier = verifier
        self._ignore_lock = ignore_lock  # planted bug (a)
        # L2-L9 (per height): round_p, step_p, lockedValue_p/Round_p, validValue_p/Round_p.
        self.round = -1
        self.step = Step.PROPOSE
        self.locked_round = -1
        self.locked_hash: bytes | None = None
        self.valid_round = -1
        self.valid_hash: bytes | None = None
        self.decided: bytes | None = None
        self.proposals: dict[int, list[SignedProposal]] = {}
        self.blocks: dict[bytes, Block] = {}
        self.validity: dict[bytes, bool] = {}
        self.certificates: dict[bytes, Commit] = {}
        self.fired: set[tuple[Line, int]] = set()
        self.proposed_rounds: set[int] = set()
        self.trace: list[tuple[Line, int]] = []

    def proposer(self, round: int) -> bytes:
        return self.schedule.proposer(self.height, round)

    # -- inputs --------------------------------------------------------------------

    def add_proposal(self, signed: SignedProposal
                     ) -> tuple[list[Action], str | None, ProposalEquivocation | None]:
        """Keep a proposal of this height: (actions, reason it was ignored, evidence)."""
        proposal = signed.proposal
        if proposal.proposer != self.proposer(proposal.round):
            return [], "proposal not from the proposer of its round", None
        if proposal.valid_round is not None and proposal.valid_round >= proposal.round:
            return [], "proposal with valid_round not below its round", None
        kept = self.proposals.setdefault(proposal.round, [])
        if any(k.proposal == proposal for k in kept):
            return [], "duplicate proposal", None
        if len(kept) >= MAX_PROPOSALS_PER_ROUND:
            return [], "too many proposals in this round", None
        if self._verifier is not None and not self._verifier(
                proposal.proposer, proposal.signing_bytes(), signed.signature):
            return [], "bad proposal signature", None
        evidence = None
        if kept:
            first = kept[0]
            evidence = ProposalEquivocation(first.proposal, first.signature,
                                            proposal, signed.signature)
        kept.append(signed)
        return self.add_block(signed.block, proposal.round), None, evidence

    def add_block(self, block: Block, round: int) -> list[Action]:
        """A block of this height is known; ask for its execution once."""
        block_hash = block.hash
        if block_hash in self.blocks:
            return []
        self.blocks[block_hash] = block
        return [ExecuteBlock(self.height, round, block)]

    def add_certified(self, block: Block, commit: Commit) -> list[Action]:
        """A block with a certificate (2f+1 precommits, checked by the caller)."""
        self.certificates.setdefault(block.hash, commit)
        return self.add_block(block, commit.round)

    def block_executed(self, block_hash: bytes, valid: bool) -> bool:
        """Record valid(v); False if no execution of that block was asked for."""
        if block_hash not in self.blocks or block_hash in self.validity:
            return False
        self.validity[block_hash] = valid
        return True

    def block_built(self, round: int, block: Block) -> list[Action] | None:
        """L18-L19: getValue() returned; None if the request is stale."""
        if (round != self.round or self.step != Step.PROPOSE or round in self.proposed_rounds
                or self.proposer(round) != self.me):
            return None
        self.proposed_rounds.add(round)
        # L15-L19: the proposer proposes validValue if it has one, else the new block.
        if self.valid_hash is not None:
            return [CastProposal(round, self.blocks[self.valid_hash], self.valid_round)]
        return [CastProposal(round, block, None)]

    # -- StartRound and timeouts -----------------------------------------------------

    def start_round(self, round: int, line: Line = Line.L11_START_ROUND) -> list[Action]:
        # L11-L21: Function StartRound(round)
        self.trace.append((line, round))
        self.round = round  # L12
        self.step = Step.PROPOSE  # L13
        actions: list[Action] = []
        if self.proposer(round) == self.me:  # L14
            if self.valid_hash is not None:  # L15-L16: proposal <- validValue_p
                self.proposed_rounds.add(round)
                actions.append(CastProposal(round, self.blocks[self.valid_hash],
                                            self.valid_round))  # L19
            else:  # L17-L18: proposal <- getValue(), asked of the application
                actions.append(BuildBlock(self.height, round))
        # L21: schedule OnTimeoutPropose(h_p, round_p) (also for the proposer: L18 is async)
        actions.append(self._timeout(Step.PROPOSE))
        return actions

    def timeout(self, round: int, step: Step) -> list[Action] | None:
        if round != self.round or self.decided is not None:
            return None
        if step == Step.PROPOSE and self.step == Step.PROPOSE:
            # L57-L60: OnTimeoutPropose: prevote nil, step_p <- prevote
            self.trace.append((Line.L57_TIMEOUT_PROPOSE, round))
            self.step = Step.PREVOTE
            return [CastVote(VoteType.PREVOTE, round, None)]
        if step == Step.PREVOTE and self.step == Step.PREVOTE:
            # L61-L64: OnTimeoutPrevote: precommit nil, step_p <- precommit
            self.trace.append((Line.L61_TIMEOUT_PREVOTE, round))
            self.step = Step.PRECOMMIT
            return [CastVote(VoteType.PRECOMMIT, round, None)]
        if step == Step.PRECOMMIT:
            # L65-L67: OnTimeoutPrecommit: StartRound(round_p + 1)
            return self.start_round(round + 1, Line.L65_TIMEOUT_PRECOMMIT)
        return None

    def _timeout(self, step: Step) -> ScheduleTimeout:
        return ScheduleTimeout(self.height, self.round, step,
                               self.timeouts.delay_ms(step, self.round))

    # -- the upon rules --------------------------------------------------------------

    def next_rule(self) -> list[Action] | None:
        """Fire the first rule whose condition holds; None if none does."""
        if self.decided is not None or self.round < 0:
            return None
        rules: tuple[Callable[[], list[Action] | None], ...] = (
            self._decide, self._skip_round, self._prevote_on_proposal, self._polka_value,
            self._polka_nil, self._prevote_any, self._precommit_any)
        for rule in rules:
            actions = rule()
            if actions is not None:
                return actions
        return None

    def _decide(self) -> list[Action] | None:
        # L49: upon <PROPOSAL, h_p, r, v, *> AND 2f+1 <PRECOMMIT, h_p, r, id(v)>
        #      while decision_p[h_p] = nil
        for round, block_hash in self.keeper.precommit_quorums():
            block = self.blocks.get(block_hash)
            if block is None or self.validity.get(block_hash) is not True:  # L50: valid(v)
                continue
            self.trace.append((Line.L49_DECIDE, round))
            self.decided = block_hash  # L51: decision_p[h_p] = v
            return [Decide(round, block)]
        # L49 with the 2f+1 precommits received together, as a certificate (catch-up)
        for block_hash, commit in self.certificates.items():
            if self.validity.get(block_hash) is True:  # L50: valid(v)
                self.trace.append((Line.L49_DECIDE, commit.round))
                self.decided = block_hash  # L51
                return [Decide(commit.round, self.blocks[block_hash], commit)]
        return None

    def _skip_round(self) -> list[Action] | None:
        # L55-L56: upon f+1 <*, h_p, round, *, *> with round > round_p: StartRound(round)
        round = self.keeper.highest_skip_round()
        if round <= self.round:
            return None
        return self.start_round(round, Line.L55_SKIP_ROUND)

    def _prevote_on_proposal(self) -> list[Action] | None:
        if self.step != Step.PROPOSE:
            return None
        for signed in self.proposals.get(self.round, ()):
            proposal = signed.proposal
            block_hash = proposal.block_hash
            valid = self.validity.get(block_hash)
            if proposal.valid_round is None:
                # L22: upon <PROPOSAL, h_p, round_p, v, -1> from proposer(h_p, round_p)
                #      while step_p = propose
                if valid is None:
                    continue  # valid(v) is not known until the block is executed
                line = Line.L22_PROPOSAL
                # L23: valid(v) and (lockedRound_p = -1 or lockedValue_p = v)
                unlocked = self.locked_round == -1 or self.locked_hash == block_hash
            else:
                # L28: upon <PROPOSAL, h_p, round_p, v, vr> from proposer(h_p, round_p)
                #      AND 2f+1 <PREVOTE, h_p, vr, id(v)>
                #      while step_p = propose and (vr >= 0 and vr < round_p)
                vr = proposal.valid_round
                if not (0 <= vr < self.round):
                    continue
                if not self.keeper.has_quorum_for(VoteType.PREVOTE, vr, block_hash):
                    continue
                if valid is None:
                    continue
                line = Line.L28_PROPOSAL_WITH_POLKA
                # L29: valid(v) and (lockedRound_p <= vr or lockedValue_p = v)
                unlocked = self.locked_round <= vr or self.locked_hash == block_hash
            if self._ignore_lock:  # planted bug (a)
                unlocked = True
            self.trace.append((line, self.round))
            self.step = Step.PREVOTE  # L27 / L33: step_p <- prevote
            if valid and unlocked:
                # L24 / L30: broadcast <PREVOTE, h_p, round_p, id(v)>
                return [CastVote(VoteType.PREVOTE, self.round, block_hash)]
            # L26 / L32: broadcast <PREVOTE, h_p, round_p, nil>
            return [CastVote(VoteType.PREVOTE, self.round, None)]
        return None

    def _polka_value(self) -> list[Action] | None:
        # L36: upon <PROPOSAL, h_p, round_p, v, *> from proposer(h_p, round_p)
        #      AND 2f+1 <PREVOTE, h_p, round_p, id(v)>
        #      while valid(v) and step_p >= prevote for the first time
        if self.step < Step.PREVOTE or (Line.L36_POLKA_VALUE, self.round) in self.fired:
            return None
        for signed in self.proposals.get(self.round, ()):
            block_hash = signed.proposal.block_hash
            if not self.keeper.has_quorum_for(VoteType.PREVOTE, self.round, block_hash):
                continue
            if self.validity.get(block_hash) is not True:
                continue
            self.fired.add((Line.L36_POLKA_VALUE, self.round))
            self.trace.append((Line.L36_POLKA_VALUE, self.round))
            actions: list[Action] = []
            if self.step == Step.PREVOTE:  # L37
                self.locked_hash = block_hash  # L38: lockedValue_p <- v
                self.locked_round = self.round  # L39: lockedRound_p <- round_p
                # L40: broadcast <PRECOMMIT, h_p, round_p, id(v)>
                actions.append(CastVote(VoteType.PRECOMMIT, self.round, block_hash))
                self.step = Step.PRECOMMIT  # L41
            self.valid_hash = block_hash  # L42: validValue_p <- v
            self.valid_round = self.round  # L43: validRound_p <- round_p
            return actions
        return None

    def _polka_nil(self) -> list[Action] | None:
        # L44-L46: upon 2f+1 <PREVOTE, h_p, round_p, nil> while step_p = prevote:
        #          broadcast <PRECOMMIT, h_p, round_p, nil>; step_p <- precommit
        if self.step != Step.PREVOTE:
            return None
        if not self.keeper.has_quorum_for(VoteType.PREVOTE, self.round, None):
            return None
        self.trace.append((Line.L44_POLKA_NIL, self.round))
        self.step = Step.PRECOMMIT
        return [CastVote(VoteType.PRECOMMIT, self.round, None)]

    def _prevote_any(self) -> list[Action] | None:
        # L34-L35: upon 2f+1 <PREVOTE, h_p, round_p, *> while step_p = prevote
        #          for the first time: schedule OnTimeoutPrevote(h_p, round_p)
        key = (Line.L34_PREVOTE_ANY, self.round)
        if self.step != Step.PREVOTE or key in self.fired:
            return None
        if not self.keeper.has_quorum_any(VoteType.PREVOTE, self.round):
            return None
        self.fired.add(key)
        self.trace.append(key)
        return [self._timeout(Step.PREVOTE)]

    def _precommit_any(self) -> list[Action] | None:
        # L47-L48: upon 2f+1 <PRECOMMIT, h_p, round_p, *> for the first time:
        #          schedule OnTimeoutPrecommit(h_p, round_p)
        key = (Line.L47_PRECOMMIT_ANY, self.round)
        if key in self.fired or not self.keeper.has_quorum_any(VoteType.PRECOMMIT, self.round):
            return None
        self.fired.add(key)
        self.trace.append(key)
        return [self._timeout(Step.PRECOMMIT)]

    # -- restart -----------------------------------------------------------------------

    def recover(self, round: int, step: Step, precommit_hash: bytes | None) -> list[Action]:
        """Catch up with what the guarded signer says this node last signed.

        After a restart the WAL replay rebuilds the state up to the last
        input it holds. If the signer's record is further on (the input that
        led to it was lost), the node takes up that round and step, and a
        precommit for a block re-establishes the lock it implied (L38-L39),
        so the node never acts as if it had not signed what it signed.
        """
        if (round, step) <= (self.round, self.step):
            return []
        actions: list[Action] = []
        if round > self.round:
            actions = self.start_round(round, Line.RECOVERED)
        self.trace.append((Line.RECOVERED, round))
        if step > self.step:
            self.step = step
            actions = []  # past the propose step: nothing of StartRound is still due
        if step == Step.PRECOMMIT and precommit_hash is not None and self.locked_round < round:
            self.locked_round, self.locked_hash = round, precommit_hash
        return actions
