"""What can happen to the consensus core: the closed set of its inputs.

Every input is named after something that already happened, and is a frozen
value: the node shell (or the simulation) builds one, writes it to the WAL,
and hands it to `Core.handle(input, now_ms)`. Replaying the same inputs in
the same order rebuilds the same core.

| input                  | from            | meaning |
|------------------------|-----------------|---------|
| HeightStarted          | application     | the block below `height` is durably committed (or genesis/restart); run consensus for `height` with this validator set |
| ProposalReceived       | peer            | a signed proposal with its block arrived |
| VoteReceived           | peer            | a signed prevote or precommit arrived |
| CertifiedBlockReceived | peer (catch-up) | a decided block of this height with > 2/3 precommits |
| TimeoutFired           | timer           | a timeout the core scheduled has expired |
| BlockExecuted          | application     | the block was executed on top of the committed state: valid or not |
| BlockBuilt             | application     | the block this node asked for (BuildBlock) is ready |
| ReplayFinished         | node shell      | the WAL of this height has been re-fed; the guarded signer last signed `last_signed` |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from ledger.types import Block
from ledger.validators import ValidatorSet
from node.consensus.messages import CertifiedBlock, SignedProposal, SignedVote
from node.consensus.safety import LastSigned, Step


@dataclass(frozen=True, slots=True)
class HeightStarted:
    height: int
    validators: ValidatorSet


@dataclass(frozen=True, slots=True)
class ProposalReceived:
    proposal: SignedProposal


@dataclass(frozen=True, slots=True)
class VoteReceived:
    vote: SignedVote


@dataclass(frozen=True, slots=True)
class CertifiedBlockReceived:
    certified: CertifiedBlock


@dataclass(frozen=True, slots=True)
class TimeoutFired:
    height: int
    round: int
    step: Step


@dataclass(frozen=True, slots=True)
class BlockExecuted:
    height: int
    round: int
    block_hash: bytes
    valid: bool


@dataclass(frozen=True, slots=True)
class BlockBuilt:
    height: int
    round: int
    block: Block


@dataclass(frozen=True, slots=True)
class ReplayFinished:
    last_signed: LastSigned | None


Input = Union[HeightStarted, ProposalReceived, VoteReceived, CertifiedBlockReceived,
              TimeoutFired, BlockExecuted, BlockBuilt, ReplayFinished]
