"""The Tendermint consensus core: `effects = core.handle(input, now_ms)`.

Theory of operation. The core is a deterministic state machine with no I/O:
no clock, no socket, no randomness, no threads, no files. Its shell (the
node runtime, or tests/sim) turns the world into inputs (node.consensus.inputs)
and carries out the effects it returns (node.consensus.effects), in order,
after writing the input to its WAL. Re-feeding the same inputs rebuilds the
same state, which is how a restarted node recovers.

Per height the core owns a `VoteKeeper` (votes and thresholds) and a
`RoundMachine` (the rules of Algorithm 1). `handle` checks an input, hands it
to them, then runs the machine's rules until none fires, turning its requests
into effects; it signs every proposal and vote through the `GuardedSigner`.

Its own messages reach it the way everyone else's do: `Broadcast` goes to
every validator including this one, so the shell hands each broadcast
message back as ProposalReceived/VoteReceived (after writing it to the WAL,
like any input). This is what makes a restart exact: replaying the WAL, the
core asks again for signatures it made before the crash, the guarded signer
refuses every one below its last record, and the core takes the same steps
without them; the signed messages themselves come back from the WAL, in the
order they were first handled (CometBFT's WAL does the same with its
"internal messages").

The application interface is six messages:

    core -> app: BuildBlock(h, r)         app -> core: BlockBuilt(h, r, block)
    core -> app: ExecuteBlock(h, r, b)    app -> core: BlockExecuted(h, r, id, valid)
    core -> app: CommitBlock(b, commit)   app -> core: HeightStarted(h + 1, validators)

The application executes every block before this node prevotes for it (so
the header's state root is checked by every validator that prevotes), builds
blocks when this node proposes, and stores a decided block with its commit
certificate (the > 2/3 precommits, sorted by validator) before starting the
next height. The certificate of block h travels in block h + 1 as its
last_commit: the application puts it there when it builds.

Input that is unexpected but harmless (a vote of an old height, a message
from a non-validator, a stale timeout, a bad signature) returns no effects
and leaves a reason in `ignored`; `handle` never raises on peer input. It
does raise if the sign store fails (the node must stop then), which the
guarded signer reports as an exception other than DOUBLE_SIGN_REFUSED.

All of the core's state derives from the inputs of the current height (so
the WAL of that height rebuilds it): messages of any other height are
ignored, and holding early messages of the next height until it starts is
the shell's job (it feeds them, and so writes them to the WAL, after
HeightStarted). Messages more than `MAX_ROUNDS_AHEAD` rounds ahead of the
current round are ignored (bounded memory; gossip re-sends them).
"""

from __future__ import annotations

from collections import deque

from ledger.crypto import verify_signature
from ledger.errors import Code, LedgerError
from ledger.types import Vote, VoteType
from node.consensus.bugs import NO_BUGS, Bugs
from node.consensus.effects import Broadcast, CommitBlock, Effect, RecordEvidence
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
from node.consensus.messages import Proposal, SignedProposal, SignedVote, vote_from_sign_bytes
from node.consensus.round_machine import (
    Action,
    CastProposal,
    CastVote,
    Decide,
    Line,
    RoundMachine,
)
from node.consensus.safety import GuardedSigner, LastSigned, Step
from node.consensus.timeouts import Timeouts
from node.consensus.votes import Verifier, VoteKeeper

MAX_ROUNDS_AHEAD = 100
_VOTE_STEP = {VoteType.PREVOTE: Step.PREVOTE, VoteType.PRECOMMIT: Step.PRECOMMIT}


class Core:
    def __init__(self, chain_id: str, signer: GuardedSigner, timeouts: Timeouts, *,
                 verifier: Verifier | None = verify_signature, bugs: Bugs = NO_BUGS) -> None:
        """`verifier` None: the shell has checked every signature of peer input."""
        self.chain_id = chain_id
        self.signer = signer
        self.me = signer.public_key
        self.timeouts = timeouts
        self.bugs = bugs
        self._verifier = verifier
        self.height = 0
        self.keeper: VoteKeeper | None = None
        self.machine: RoundMachine | None = None
        self._is_validator = False
        self.ignored: deque[str] = deque(maxlen=64)

    # -- the one entry point ---------------------------------------------------------

    def handle(self, event: Input, now_ms: int) -> tuple[Effect, ...]:
        """The effects of `event`, to be carried out in order. `now_ms` is informational."""
        effects: list[Effect] = []
        if isinstance(event, HeightStarted):
            self._start_height(event, effects)
        elif isinstance(event, (ProposalReceived, VoteReceived, CertifiedBlockReceived)):
            self._on_message(event, effects)
        elif self.machine is None or self.keeper is None:
            self._ignore(f"{type(event).__name__} before any height started")
        elif isinstance(event, TimeoutFired):
            self._on_timeout(event, effects)
        elif isinstance(event, BlockExecuted):
            if event.height != self.height or not self.machine.block_executed(
                    event.block_hash, event.valid):
                self._ignore("execution result not asked for")
        elif isinstance(event, BlockBuilt):
            actions = self.machine.block_built(event.round, event.block) \
                if event.height == self.height else None
            if actions is None:
                self._ignore("stale built block")
            else:
                self._carry_out(actions, effects)
        elif isinstance(event, ReplayFinished):
            self._recover(event.last_signed, effects)
        self._run_rules(effects)
        return tuple(effects)

    @property
    def round(self) -> int:
        return -1 if self.machine is None else self.machine.round

    @property
    def step(self) -> Step:
        return Step.PROPOSE if self.machine is None else self.machine.step

    @property
    def decided(self) -> bool:
        return self.machine is not None and self.machine.decided is not None

    # -- heights ---------------------------------------------------------------------

    def _start_height(self, event: HeightStarted, effects: list[Effect]) -> None:
        if event.height <= self.height:
            self._ignore(f"height {event.height} already started")
            return
        self.height = event.height
        self._is_validator = event.validators.is_member(self.me)
        self.keeper = VoteKeeper(self.chain_id, event.height, event.validators,
                                 verifier=self._verifier,
                                 inclusive_quorum=self.bugs.inclusive_quorum)
        self.machine = RoundMachine(event.height, event.validators, self.me, self.keeper,
                                    self.timeouts, verifier=self._verifier,
                                    ignore_lock=self.bugs.ignore_lock)
        # L10: upon start do StartRound(0)
        self._carry_out(self.machine.start_round(0, Line.L10_START), effects)

    # -- peer messages ---------------------------------------------------------------

    def _on_message(self, event: ProposalReceived | VoteReceived | CertifiedBlockReceived,
                    effects: list[Effect]) -> None:
        height, round, chain_id = _header_of(event)
        if chain_id != self.chain_id:
            self._ignore("message for another chain")
            return
        if height != self.height or self.machine is None or self.keeper is None:
            self._ignore(f"message for height {height} at height {self.height}")
            return
        if self.machine.decided is not None:
            self._ignore("height already decided")
            return
        if isinstance(event, CertifiedBlockReceived):
            certified = event.certified
            if not self.keeper.certifies(certified.commit):
                self._ignore("certificate without 2f+1 valid precommits")
                return
            self._carry_out(self.machine.add_certified(certified.block, certified.commit),
                            effects)
            return
        if round > self.machine.round + MAX_ROUNDS_AHEAD:
            self._ignore(f"round {round} too far ahead of {self.machine.round}")
            return
        if isinstance(event, VoteReceived):
            self._add_vote(event.vote, effects)
            return
        actions, reason, evidence = self.machine.add_proposal(event.proposal)
        if reason is not None:
            self._ignore(reason)
        if evidence is not None:
            effects.append(RecordEvidence(evidence))
        self._carry_out(actions, effects)

    def _add_vote(self, vote: SignedVote, effects: list[Effect]) -> None:
        if self.keeper is None:
            return
        result = self.keeper.add(vote)
        if result.evidence is not None:
            effects.append(RecordEvidence(result.evidence))
        if result.rejected is not None:
            self._ignore(result.rejected)

    def _on_timeout(self, event: TimeoutFired, effects: list[Effect]) -> None:
        if self.machine is None or event.height != self.height:
            self._ignore("timeout of another height")
            return
        actions = self.machine.timeout(event.round, event.step)
        if actions is None:
            self._ignore("stale timeout")
            return
        self._carry_out(actions, effects)

    # -- rules and their requests -------------------------------------------------

    def _run_rules(self, effects: list[Effect]) -> None:
        while self.machine is not None:
            actions = self.machine.next_rule()
            if actions is None:
                return
            self._carry_out(actions, effects)

    def _carry_out(self, actions: list[Action], effects: list[Effect]) -> None:
        for action in actions:
            if isinstance(action, CastVote):
                self._cast_vote(action, effects)
            elif isinstance(action, CastProposal):
                self._cast_proposal(action, effects)
            elif isinstance(action, Decide):
                self._decide(action, effects)
            else:
                effects.append(action)

    def _cast_vote(self, action: CastVote, effects: list[Effect]) -> None:
        if not self._is_validator or self.keeper is None:
            return
        vote = Vote(self.chain_id, action.vote_type, self.height, action.round,
                    action.block_hash, self.me)
        signature = self._sign(action.round, _VOTE_STEP[action.vote_type], vote.signing_bytes())
        if signature is None:
            return
        # Counted when the shell hands it back as VoteReceived (see Broadcast).
        effects.append(Broadcast(SignedVote(vote, signature)))

    def _cast_proposal(self, action: CastProposal, effects: list[Effect]) -> None:
        if not self._is_validator or self.machine is None:
            return
        proposal = Proposal(self.chain_id, self.height, action.round, action.block.hash,
                            action.valid_round, self.me)
        signature = self._sign(action.round, Step.PROPOSE, proposal.signing_bytes())
        if signature is None:
            return
        # Kept when the shell hands it back as ProposalReceived (see Broadcast).
        effects.append(Broadcast(SignedProposal(proposal, signature, action.block)))

    def _sign(self, round: int, step: Step, sign_bytes: bytes) -> bytes | None:
        try:
            return self.signer.sign(self.height, round, step, sign_bytes)
        except LedgerError as error:
            if error.code != Code.DOUBLE_SIGN_REFUSED:
                raise
            # Replaying the WAL re-asks for what was signed before the crash (the
            # signer refuses lower steps) and a recovered node may ask for a step
            # it already signed: either way nothing is sent.
            self._ignore(f"signer refused: {error.message}")
            return None

    def _decide(self, action: Decide, effects: list[Effect]) -> None:
        if self.keeper is None:
            return
        commit = action.certificate or self.keeper.make_commit(action.round, action.block.hash)
        effects.append(CommitBlock(action.block, commit))

    # -- restart -----------------------------------------------------------------------

    def _recover(self, last: LastSigned | None, effects: list[Effect]) -> None:
        """The WAL has been re-fed: resume from the signer's record if it is further on."""
        if last is None or self.machine is None or last.height != self.height:
            return
        if self.machine.decided is not None:
            return
        vote = vote_from_sign_bytes(self.chain_id, last.sign_bytes)
        precommit_hash = vote.block_hash if vote is not None and last.step == Step.PRECOMMIT \
            else None
        actions = self.machine.recover(last.round, last.step, precommit_hash)
        self._carry_out(actions, effects)
        if vote is not None and vote.validator == self.me and self.keeper is not None:
            signed = SignedVote(vote, last.signature)
            if self.keeper.add(signed).rejected is None:
                effects.append(Broadcast(signed))

    def _ignore(self, reason: str) -> None:
        self.ignored.append(reason)


def _header_of(event: ProposalReceived | VoteReceived | CertifiedBlockReceived
               ) -> tuple[int, int, str]:
    if isinstance(event, ProposalReceived):
        p = event.proposal.proposal
        return p.height, p.round, p.chain_id
    if isinstance(event, VoteReceived):
        v = event.vote.vote
        return v.height, v.round, v.chain_id
    header = event.certified.block.header
    return header.height, event.certified.commit.round, header.chain_id
