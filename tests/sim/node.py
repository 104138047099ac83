"""One simulated validator instance: a core, its application, sign store and WAL.

What survives a crash is what would survive on disk: the committed chain
(`app.blocks`/`app.commits`), the guarded signer's record (`store`) and the
WAL of the current height (`wal`: every input handled since the height
started, written before its effects were carried out). The core, the timers,
the gossip log and the application's caches are lost; a restart rebuilds
the core from HeightStarted + the WAL + ReplayFinished(store.load()).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from ledger.crypto import SigningKey
from node.consensus.core import Core
from node.consensus.inputs import Input
from node.consensus.messages import Proposal, SignedProposal, SignedVote
from node.consensus.safety import GuardedSigner, MemorySignStore
from node.consensus.votes import Verifier
from tests.sim.app import CHAIN_ID, SimApp
from tests.sim.scenario import Scenario

MessageKey = Union[SignedVote, tuple[Proposal, bytes]]


def message_key(message: SignedProposal | SignedVote) -> MessageKey:
    if isinstance(message, SignedVote):
        return message
    return (message.proposal, message.signature)


def message_height(message: SignedProposal | SignedVote) -> int:
    return message.vote.height if isinstance(message, SignedVote) else message.proposal.height


@dataclass(slots=True)
class SimNode:
    index: int
    validator: int
    role: str
    key: SigningKey
    app: SimApp
    store: MemorySignStore
    core: Core
    wal: list[tuple[Input, int]] = field(default_factory=list)
    # messages handled or sent, by height: what gossip offers peers
    log: dict[int, dict[MessageKey, SignedProposal | SignedVote]] = field(default_factory=dict)
    # messages this instance holds, by height: what gossip need not send it
    delivered: dict[int, set[MessageKey]] = field(default_factory=dict)
    # early messages of the next height, fed (and so written to the WAL) once it starts
    pending: list[SignedProposal | SignedVote] = field(default_factory=list)
    down: bool = False
    snapshot: tuple[object, ...] = ()  # state_of(core) when it crashed
    epoch: int = 0
    started_at: dict[int, int] = field(default_factory=dict)

    @property
    def honest(self) -> bool:
        return self.role == "honest"

    @property
    def height(self) -> int:
        return self.core.height

    def remember(self, message: SignedProposal | SignedVote) -> bool:
        """Log a message; False if this instance already had it."""
        height = message_height(message)
        key = message_key(message)
        seen = self.delivered.setdefault(height, set())
        if key in seen:
            return False
        seen.add(key)
        self.log.setdefault(height, {})[key] = message
        return True

    def forget_below(self, height: int) -> None:
        for old in [h for h in self.log if h < height]:
            del self.log[old]
        for old in [h for h in self.delivered if h < height]:
            del self.delivered[old]


def new_core(scenario: Scenario, key: SigningKey, store: MemorySignStore,
             verifier: Verifier) -> Core:
    return Core(CHAIN_ID, GuardedSigner(key, store), scenario.timeouts,
                verifier=verifier, bugs=scenario.bugs)
