"""What the consensus core asks its shell to do: the closed set of its effects.

Each effect is an imperative, a frozen value; `Core.handle` returns a tuple
of them in the order they must be carried out. The shell must write the input
to its WAL before carrying out the effects of handling it.

| effect          | to          | the shell must |
|-----------------|-------------|----------------|
| Broadcast       | peers, self | send the signed message to every other validator, and hand it back to this core as ProposalReceived / VoteReceived (an input like any other, written to the WAL): the core counts its own messages only then |
| ScheduleTimeout | timer       | after `delay_ms`, hand back TimeoutFired(height, round, step) |
| ExecuteBlock    | application | execute `block` on the committed state at height - 1 and hand back BlockExecuted(valid=...) (at most once per block per height is asked) |
| BuildBlock      | application | build a block for `height` (this node proposes in `round`) and hand back BlockBuilt |
| CommitBlock     | application | store `block` with `commit` as its certificate (atomically), then hand back HeightStarted(height + 1, validators) |
| RecordEvidence  | evidence    | keep the proof of equivocation (the node counts and logs it; it is not gossiped) |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from ledger.types import Block, Commit
from node.consensus.evidence import Evidence
from node.consensus.messages import SignedProposal, SignedVote
from node.consensus.safety import Step


@dataclass(frozen=True, slots=True)
class Broadcast:
    message: SignedProposal | SignedVote


@dataclass(frozen=True, slots=True)
class ScheduleTimeout:
    height: int
    round: int
    step: Step
    delay_ms: int


@dataclass(frozen=True, slots=True)
class ExecuteBlock:
    height: int
    round: int
    block: Block


@dataclass(frozen=True, slots=True)
class BuildBlock:
    height: int
    round: int


@dataclass(frozen=True, slots=True)
class CommitBlock:
    block: Block
    commit: Commit


@dataclass(frozen=True, slots=True)
class RecordEvidence:
    evidence: Evidence


Effect = Union[Broadcast, ScheduleTimeout, ExecuteBlock, BuildBlock, CommitBlock, RecordEvidence]
