"""A minimal shell around one Core, for table-style tests of Algorithm 1.

`Harness` plays the node runtime for validator `me` of four equal-power
validators: it hands every broadcast back to the core (as the real shell
must), answers ExecuteBlock at once with the validity the test chose
(valid unless listed in `invalid`), and records every effect. Messages from
the other validators are signed with their raw keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from genesis.demo_keys import demo_key
from ledger import merkle
from ledger.crypto import SigningKey
from ledger.types import ZERO_HASH, Block, BlockHeader, Vote, VoteType
from ledger.validators import Validator, ValidatorSet
from node.consensus.bugs import NO_BUGS, Bugs
from node.consensus.core import Core
from node.consensus.effects import Broadcast, Effect, ExecuteBlock
from node.consensus.inputs import (
    BlockExecuted,
    HeightStarted,
    Input,
    ProposalReceived,
    VoteReceived,
)
from node.consensus.messages import Proposal, SignedProposal, SignedVote
from node.consensus.proposer import ProposerSchedule
from node.consensus.safety import GuardedSigner, MemorySignStore
from node.consensus.timeouts import Timeouts

CHAIN = "scf-test"
KEYS = sorted((demo_key(f"consensus-test-{i}") for i in range(4)), key=lambda k: k.public_key)
VALIDATORS = ValidatorSet.of([Validator(k.public_key, 1) for k in KEYS])
SCHEDULE = ProposerSchedule(VALIDATORS)
TIMEOUTS = Timeouts(propose_ms=1000, prevote_ms=800, precommit_ms=600, increase_ms=100)
PREVOTE, PRECOMMIT = VoteType.PREVOTE, VoteType.PRECOMMIT


def key_of(public_key: bytes) -> SigningKey:
    return next(k for k in KEYS if k.public_key == public_key)


def make_block(height: int, tag: int) -> Block:
    """A well-formed block; `tag` makes distinct blocks (the core never looks inside)."""
    header = BlockHeader(CHAIN, height, tag, ZERO_HASH, KEYS[0].public_key, 0, merkle.EMPTY_ROOT,
                         merkle.EMPTY_ROOT, ZERO_HASH, VALIDATORS.hash, ZERO_HASH)
    return Block(header, (), None)


def make_vote(key: SigningKey, vote_type: VoteType, height: int, round: int,
              block_hash: bytes | None) -> SignedVote:
    vote = Vote(CHAIN, vote_type, height, round, block_hash, key.public_key)
    return SignedVote(vote, key.sign(vote.signing_bytes()))


def make_proposal(height: int, round: int, block: Block, valid_round: int | None = None,
                  key: SigningKey | None = None) -> SignedProposal:
    signer = key or key_of(SCHEDULE.proposer(height, round))
    proposal = Proposal(CHAIN, height, round, block.hash, valid_round, signer.public_key)
    return SignedProposal(proposal, signer.sign(proposal.signing_bytes()), block)


def cast_votes(effects: list[Effect]) -> list[tuple[VoteType, int, bytes | None]]:
    return [(VoteType(e.message.vote.vote_type), e.message.vote.round, e.message.vote.block_hash)
            for e in effects if isinstance(e, Broadcast) and isinstance(e.message, SignedVote)]


@dataclass
class Harness:
    me: SigningKey
    bugs: Bugs = NO_BUGS
    store: MemorySignStore = field(default_factory=MemorySignStore)
    invalid: set[bytes] = field(default_factory=set)
    effects: list[Effect] = field(default_factory=list)
    inputs: list[Input] = field(default_factory=list)  # the WAL: every input handled

    def __post_init__(self) -> None:
        self.core = Core(CHAIN, GuardedSigner(self.me, self.store), TIMEOUTS, bugs=self.bugs)

    @classmethod
    def not_proposing_in(cls, height: int, rounds: Iterable[int], **kwargs: object) -> Harness:
        """A harness for a validator that proposes in none of `rounds` at `height`."""
        proposers = {SCHEDULE.proposer(height, r) for r in rounds}
        me = next(k for k in KEYS if k.public_key not in proposers)
        return cls(me, **kwargs)  # type: ignore[arg-type]

    @property
    def others(self) -> list[SigningKey]:
        return [k for k in KEYS if k.public_key != self.me.public_key]

    def feed(self, event: Input) -> list[Effect]:
        """Handle `event` like a shell; returns every effect it led to, in order."""
        produced: list[Effect] = []
        queue = [event]
        while queue:
            current = queue.pop(0)
            self.inputs.append(current)
            for effect in self.core.handle(current, 0):
                produced.append(effect)
                if isinstance(effect, Broadcast):
                    message = effect.message
                    queue.append(ProposalReceived(message) if isinstance(message, SignedProposal)
                                 else VoteReceived(message))
                elif isinstance(effect, ExecuteBlock):
                    block_hash = effect.block.hash
                    queue.append(BlockExecuted(effect.height, effect.round, block_hash,
                                               block_hash not in self.invalid))
        self.effects += produced
        return produced

    def start(self, height: int = 1) -> list[Effect]:
        return self.feed(HeightStarted(height, VALIDATORS))

    def votes(self, vote_type: VoteType, round: int, block_hash: bytes | None,
              voters: list[SigningKey], height: int = 1) -> list[Effect]:
        produced: list[Effect] = []
        for key in voters:
            produced += self.feed(VoteReceived(make_vote(key, vote_type, height, round,
                                                         block_hash)))
        return produced

    def goto_round(self, round: int) -> list[Effect]:
        """L55: f+1 (two) precommits for nil from `round` move the core there."""
        return self.votes(PRECOMMIT, round, None, self.others[:2])

    def lock_on(self, round: int, block: Block) -> None:
        """Be at `round` (not proposing), receive `block`, see a polka for it: locked."""
        if self.core.round < round:
            self.goto_round(round)
        self.feed(ProposalReceived(make_proposal(1, round, block)))
        self.votes(PREVOTE, round, block.hash, self.others[:2])
