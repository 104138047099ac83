"""Byzantine behaviour in the simulation: what a faulty validator sends.

Byzantine instances run the same honest core as everyone else; these
functions add what the honest core would never send, signed with the raw
key (a Byzantine validator does not use the guarded signer). Twins need no
code here: they are two honest instances sharing one key, each with its own
sign store (Bano et al., "Twins: BFT systems made robust").

Each function returns (peer, message) pairs for the simulator to send.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from ledger.types import Vote, VoteType
from node.consensus.messages import Proposal, SignedProposal, SignedVote
from tests.sim.app import CHAIN_ID
from tests.sim.node import SimNode


def equivocating_proposals(node: SimNode, first: SignedProposal, rng: random.Random, now: int,
                           nodes: Sequence[SimNode]) -> list[tuple[SimNode, SignedProposal]]:
    """The core's proposal to half of the peers, another block to the rest."""
    proposal = first.proposal
    block = node.app.build(proposal.height, proposal.round, now + 1 + rng.randint(1, 10_000))
    other = Proposal(CHAIN_ID, proposal.height, proposal.round, block.hash, None,
                     node.key.public_key)
    second = SignedProposal(other, node.key.sign(other.signing_bytes()), block)
    node.remember(first)
    node.remember(second)
    peers = [peer for peer in nodes if peer is not node]
    rng.shuffle(peers)
    return [(peer, first if i % 2 == 0 else second) for i, peer in enumerate(peers)]


def votes_for_everything(node: SimNode, proposal: SignedProposal, rng: random.Random,
                         nodes: Sequence[SimNode]) -> list[tuple[SimNode, SignedVote]]:
    """A prevote and a precommit for the proposed block, each to a random half of the peers.

    On top of the votes of its own (honest) core, so the validator
    equivocates whenever its core voted otherwise; showing each vote to only
    some peers (gossip may spread it later) creates the split views that
    locks exist for.
    """
    p = proposal.proposal
    sent: list[tuple[SimNode, SignedVote]] = []
    for vote_type in (VoteType.PREVOTE, VoteType.PRECOMMIT):
        vote = Vote(CHAIN_ID, vote_type, p.height, p.round, p.block_hash, node.key.public_key)
        signed = SignedVote(vote, node.key.sign(vote.signing_bytes()))
        node.remember(signed)
        sent += [(peer, signed) for peer in nodes if peer is not node and rng.random() < 0.5]
    return sent
