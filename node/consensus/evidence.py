"""Proof that a validator equivocated: two signed messages for one step.

A correct validator signs at most one prevote, one precommit and (as
proposer) one proposal per (height, round); its guarded signer enforces it.
Two different ones, both validly signed, are self-contained proof of
misbehaviour that anyone can re-check with the validator's public key. The
core records evidence (`RecordEvidence`) and keeps counting only the first
message; what to do with evidence (report it, slash, exclude the validator by
governance) is outside consensus.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Union

from ledger.structure import Field, Nested, Structure
from ledger.types import SIGNATURE, VoteType
from node.consensus.messages import Proposal, SignedVote


@dataclass(frozen=True, slots=True)
class VoteEquivocation(Structure):
    """Two different votes of one validator for one (height, round, type)."""

    first: SignedVote
    second: SignedVote

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("first", Nested(SignedVote)),
        ("second", Nested(SignedVote)),
    )

    @property
    def offender(self) -> bytes:
        return self.first.vote.validator


@dataclass(frozen=True, slots=True)
class ProposalEquivocation(Structure):
    """Two different proposals of one proposer for one (height, round).

    The blocks are left out: the signed proposals name them by hash, which
    is all the proof needs.
    """

    first: Proposal
    first_signature: bytes
    second: Proposal
    second_signature: bytes

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("first", Nested(Proposal)),
        ("first_signature", SIGNATURE),
        ("second", Nested(Proposal)),
        ("second_signature", SIGNATURE),
    )

    @property
    def offender(self) -> bytes:
        return self.first.proposer


Evidence = Union[VoteEquivocation, ProposalEquivocation]


def describe_evidence(evidence: Evidence) -> str:
    """One log line: who equivocated, where, and the two values (hash prefixes)."""
    if isinstance(evidence, VoteEquivocation):
        first, second = evidence.first.vote, evidence.second.vote
        kind = "prevotes" if first.vote_type == VoteType.PREVOTE else "precommits"
        values = ["nil" if v.block_hash is None else v.block_hash.hex()[:12]
                  for v in (first, second)]
        return (f"validator {first.validator.hex()[:16]}: two {kind} at height {first.height} "
                f"round {first.round} ({values[0]} and {values[1]})")
    return (f"validator {evidence.first.proposer.hex()[:16]}: two proposals at height "
            f"{evidence.first.height} round {evidence.first.round} "
            f"({evidence.first.block_hash.hex()[:12]} and {evidence.second.block_hash.hex()[:12]})")
