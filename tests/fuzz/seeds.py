"""Valid peer inputs built in code: the starting corpus of every harness.

Each function returns canonical bytes a well-behaved peer could send (plus a
few it could relay in a race, such as a transaction with a stale nonce), so
the fuzzer starts from inputs that pass the decoders and mutates them from
there instead of rediscovering msgpack.
"""

from __future__ import annotations

from ledger.accounts import next_nonce
from ledger.types import SignedTransaction, Transaction, Vote, VoteType
from node.consensus.messages import (
    CertifiedBlock,
    Proposal,
    SignedProposal,
    SignedVote,
    encode_message,
)
from node.peers.protocol import FrameKind, encode_frame
from tests.fuzz.world import AHEAD, CHAIN_ID, LOCAL, LOCAL_HEIGHT
from tests.support.chain import VALIDATOR_KEYS, member_key

NEXT_HEIGHT = LOCAL_HEIGHT + 1


def consensus_messages() -> list[bytes]:
    """A proposal, prevotes and precommits (for the block and nil), a certified block."""
    block = AHEAD.block(NEXT_HEIGHT)
    commit = AHEAD.commit(NEXT_HEIGHT)
    proposer = VALIDATOR_KEYS[0]
    proposal = Proposal(CHAIN_ID, NEXT_HEIGHT, 0, block.hash, None, proposer.public_key)
    relayed = Proposal(CHAIN_ID, NEXT_HEIGHT, 2, block.hash, 1, proposer.public_key)
    messages: list[SignedProposal | SignedVote | CertifiedBlock] = [
        SignedProposal(p, proposer.sign(p.signing_bytes()), block) for p in (proposal, relayed)
    ]
    for vote_type in (VoteType.PREVOTE, VoteType.PRECOMMIT):
        for block_hash in (block.hash, None):
            key = VALIDATOR_KEYS[1]
            vote = Vote(CHAIN_ID, vote_type, NEXT_HEIGHT, 0, block_hash, key.public_key)
            messages.append(SignedVote(vote, key.sign(vote.signing_bytes())))
    messages.append(CertifiedBlock(block, commit))
    return [encode_message(message) for message in messages]


def gossiped_txs() -> list[SignedTransaction]:
    """SUPPLIER-01's next transactions on LOCAL, one far ahead, one stale."""
    key = member_key("SUPPLIER-01")
    nonce = next_nonce(LOCAL.state(), key.public_key)
    return [Transaction(CHAIN_ID, key.public_key, n, "notes", "set", {"key": f"k{n}", "value": n},
                        expiry_height=None if n % 2 else 50).sign(key)
            for n in (nonce, nonce + 1, nonce + 2, nonce + 1_000, max(0, nonce - 1))]


def txs_frames() -> list[bytes]:
    txs = [tx.encode() for tx in gossiped_txs()]
    bad_signature = txs[0][:-1] + bytes([txs[0][-1] ^ 1])
    bodies = [txs[:1], txs, [txs[0], txs[0]], [bad_signature, txs[1]], [], [b"\x90"]]
    return [encode_frame(FrameKind.TXS, body) for body in bodies]


def sync_frames() -> list[bytes]:
    """STATUS, GET_BLOCKS and BLOCKS (the blocks above LOCAL, as a peer answers them)."""
    entries = [[*AHEAD.raw_entry(height)[:2]] for height in range(NEXT_HEIGHT, AHEAD.height + 1)]
    return [
        encode_frame(FrameKind.STATUS, {"height": LOCAL_HEIGHT + 3}),
        encode_frame(FrameKind.STATUS, {"height": 2**40}),
        encode_frame(FrameKind.GET_BLOCKS, {"from": 1, "count": 32}),
        encode_frame(FrameKind.GET_BLOCKS, {"from": 2, "count": 1}),
        encode_frame(FrameKind.BLOCKS, entries),
        encode_frame(FrameKind.BLOCKS, entries[:1]),
        encode_frame(FrameKind.BLOCKS, []),
    ]


def consensus_frames() -> list[bytes]:
    return [encode_frame(FrameKind.CONSENSUS, message) for message in consensus_messages()]
