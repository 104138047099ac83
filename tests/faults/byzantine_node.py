"""A Byzantine validator for the fault tests: a real node process that equivocates.

    python -m tests.faults.byzantine_node --home HOME --mode MODE [--seed N]

Test-only: nothing in node/ changes. The process runs the ordinary node
(`scf node start` minus the CLI) with one override: `ByzantineNode`
replaces the node's consensus broadcast. Each message its honest core
broadcasts still goes out, and for every proposal and/or vote (by `MODE`)
a *conflicting* one is signed with the raw validator key, past the guarded
signer, so its double-sign guard never sees it:

| mode                 | conflicting message                                               |
|----------------------|-------------------------------------------------------------------|
| equivocate-proposal  | a proposal of an empty block (same height and round, time + 1 ms) |
| equivocate-vote      | the same prevote/precommit for nil, or for a phantom hash if nil  |
| equivocate-all       | both; the conflicting vote names the conflicting block when there is one |

Every connected peer gets both messages, each peer in an order drawn from
`random.Random(seed)`: some see the honest message first, others the
conflicting one, so honest nodes disagree on which proposal came first
(they prevote the first valid one), and every honest node holds the proof.
The conflicting messages never reach this node's own core (it stays
consistent with itself, as a real attacker would). Each equivocation is
logged as "byzantine: equivocated ..." so a test can count them.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import random
import sys
from enum import Enum
from pathlib import Path

from ledger.block_builder import build_block
from ledger.crypto import SigningKey
from ledger.errors import LedgerError
from ledger.system_state import get_params
from ledger.types import Block, Vote
from node.consensus.messages import Proposal, SignedProposal, SignedVote, encode_message
from node.home import NodeHome, open_home
from node.peers.protocol import FrameKind
from node.service import Node

log = logging.getLogger("scf.byzantine")

#: The marker a test counts in the log.
EQUIVOCATED = "byzantine: equivocated"


class Mode(Enum):
    PROPOSAL = "equivocate-proposal"
    VOTE = "equivocate-vote"
    ALL = "equivocate-all"

    @property
    def proposals(self) -> bool:
        return self in (Mode.PROPOSAL, Mode.ALL)

    @property
    def votes(self) -> bool:
        return self in (Mode.VOTE, Mode.ALL)


def phantom_hash(height: int, round: int) -> bytes:
    """A block hash no block has: what an equivocating nil vote is turned into."""
    return hashlib.sha256(b"scf/test/byzantine-phantom" + height.to_bytes(8, "big")
                          + round.to_bytes(8, "big")).digest()


class ByzantineNode(Node):
    """The node with a broadcast that also sends a second, conflicting, signed message."""

    def __init__(self, home: NodeHome, mode: Mode, rng: random.Random) -> None:
        if home.validator_key is None:
            raise SystemExit("a Byzantine node needs a validator key")
        self.mode = mode
        self.rng = rng
        self.raw_key: SigningKey = home.validator_key  # unguarded: no sign store
        #: (height, round) -> the hash of the conflicting block proposed there
        self.conflicting_blocks: dict[tuple[int, int], bytes] = {}
        super().__init__(home)

    def _broadcast_consensus(self, message: SignedProposal | SignedVote) -> None:
        conflicting = self._conflicting(message)
        if conflicting is None:
            super()._broadcast_consensus(message)
            return
        honest_frame = encode_message(message)
        other_frame = encode_message(conflicting)
        for peer in self.network.connected():
            pair = (honest_frame, other_frame) if self.rng.random() < 0.5 \
                else (other_frame, honest_frame)
            for frame in pair:
                self.network.send(peer, FrameKind.CONSENSUS, frame)
        log.warning("%s %s", EQUIVOCATED, _describe(message, conflicting))

    def _conflicting(self, message: SignedProposal | SignedVote
                     ) -> SignedProposal | SignedVote | None:
        try:
            if isinstance(message, SignedProposal):
                return self._conflicting_proposal(message) if self.mode.proposals else None
            return self._conflicting_vote(message) if self.mode.votes else None
        except LedgerError as error:  # e.g. the chain moved on under us: send the honest one
            log.warning("byzantine: no conflicting message this time: %s", error)
            return None

    def _conflicting_proposal(self, signed: SignedProposal) -> SignedProposal:
        proposal = signed.proposal
        block = self._empty_block(signed.block)
        other = Proposal(proposal.chain_id, proposal.height, proposal.round, block.hash, None,
                         proposal.proposer)
        self.conflicting_blocks[(proposal.height, proposal.round)] = block.hash
        return SignedProposal(other, self.raw_key.sign(other.signing_bytes()), block)

    def _empty_block(self, honest: Block) -> Block:
        chain = self.app.chain
        tip = chain.tip()
        params = get_params(chain.state())
        last_commit = None if tip.height == 0 else chain.commit(tip.height)
        execution, _ = build_block(chain, tip, [], time_ms=honest.header.time_ms + 1,
                                   proposer=self.app.proposer_key, last_commit=last_commit,
                                   registry=self.app.registry, max_txs=params.max_block_txs,
                                   signatures_verified=True)
        return execution.block

    def _conflicting_vote(self, signed: SignedVote) -> SignedVote:
        vote = signed.vote
        target = self.conflicting_blocks.get((vote.height, vote.round)) \
            if self.mode is Mode.ALL else None
        if target is None or target == vote.block_hash:
            target = None if vote.block_hash is not None else phantom_hash(vote.height, vote.round)
        other = Vote(vote.chain_id, vote.vote_type, vote.height, vote.round, target,
                     vote.validator)
        return SignedVote(other, self.raw_key.sign(other.signing_bytes()))


def _describe(honest: SignedProposal | SignedVote,
              other: SignedProposal | SignedVote) -> str:
    def value(block_hash: bytes | None) -> str:
        return "nil" if block_hash is None else block_hash.hex()[:12]

    if isinstance(honest, SignedProposal) and isinstance(other, SignedProposal):
        p = honest.proposal
        return (f"proposal height {p.height} round {p.round}: "
                f"{value(p.block_hash)} and {value(other.proposal.block_hash)}")
    if isinstance(honest, SignedVote) and isinstance(other, SignedVote):
        v = honest.vote
        kind = "prevote" if v.vote_type == 1 else "precommit"
        return (f"{kind} height {v.height} round {v.round}: "
                f"{value(v.block_hash)} and {value(other.vote.block_hash)}")
    return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.byzantine_node",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--mode", choices=[m.value for m in Mode], required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-level", choices=["debug", "info", "warning"], default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        node = ByzantineNode(open_home(args.home), Mode(args.mode), random.Random(args.seed))
    except LedgerError as error:
        print(f"error: {error.code.value}: {error.message}", file=sys.stderr)
        return 2
    log.warning("byzantine node started: mode %s, seed %d", args.mode, args.seed)
    return 0 if asyncio.run(node.run()) else 1


if __name__ == "__main__":
    sys.exit(main())
