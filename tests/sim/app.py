"""A tiny deterministic application for the simulation: real blocks, fake execution.

Blocks are real `ledger.types.Block` values with real hashes, chained by
`previous_hash` and carrying the previous block's `Commit` as `last_commit`,
so every commit the simulation produces is a real certificate that
`ledger.certificates.validate_commit` checks. There are no transactions;
"execution" is a hash chain over the state root:

    state_root(h) = SHA-256("sim-state" || state_root(h - 1) || h || txs_root)

A block is valid if every header field is what the parent and the validator
set imply, its last commit certifies the parent, and its state root is the
one above. An "invalid block" fault makes the builder put a wrong state root
in (the block is still well-formed and signed, so only execution can tell).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from ledger import merkle
from ledger.certificates import validate_commit
from ledger.crypto import Tag, tagged_hash
from ledger.errors import LedgerError
from ledger.types import Block, BlockHeader, Commit, compute_commit_hash
from ledger.validators import ValidatorSet

CHAIN_ID = "scf-sim"
GENESIS_HASH = tagged_hash(Tag.GENESIS, b"scf-sim genesis")
GENESIS_STATE = hashlib.sha256(b"sim-state genesis").digest()


def compute_state_root(parent_state: bytes, height: int, txs_root: bytes) -> bytes:
    return hashlib.sha256(b"sim-state" + parent_state + height.to_bytes(8, "big")
                          + txs_root).digest()


class CommitChecker:
    """validate_commit with a memo: one check per distinct certificate per run."""

    def __init__(self, validators: ValidatorSet) -> None:
        self.validators = validators
        self._good: set[bytes] = set()

    def is_valid(self, commit: Commit, height: int, block_hash: bytes) -> bool:
        key = commit.hash
        if key in self._good:
            return commit.height == height and commit.block_hash == block_hash
        try:
            validate_commit(commit, chain_id=CHAIN_ID, height=height, block_hash=block_hash,
                            validators=self.validators)
        except LedgerError:
            return False
        self._good.add(key)
        return True


class SimApp:
    """One node's application: its committed chain (durable) and block building."""

    def __init__(self, validators: ValidatorSet, proposer: bytes, checker: CommitChecker,
                 clock_skew_ms: int, is_invalid_build: Callable[[int, int], bool]) -> None:
        self.validators = validators
        self.proposer = proposer
        self.checker = checker
        self.clock_skew_ms = clock_skew_ms
        self._is_invalid_build = is_invalid_build
        self.blocks: list[Block] = []  # blocks[i] is height i + 1
        self.commits: list[Commit] = []
        self.states: list[bytes] = [GENESIS_STATE]
        self._validator_set_hash = validators.hash

    @property
    def height(self) -> int:
        """Height of the last committed block (0: none)."""
        return len(self.blocks)

    def _tip_hash(self) -> bytes:
        return self.blocks[-1].hash if self.blocks else GENESIS_HASH

    def build(self, height: int, round: int, now_ms: int) -> Block:
        last_commit = self.commits[-1] if self.commits else None
        txs_root = merkle.EMPTY_ROOT
        state_root = compute_state_root(self.states[-1], height, txs_root)
        if self._is_invalid_build(height, round):
            state_root = hashlib.sha256(b"wrong" + state_root).digest()
        header = BlockHeader(
            chain_id=CHAIN_ID, height=height, time_ms=max(0, now_ms + self.clock_skew_ms),
            previous_hash=self._tip_hash(), proposer=self.proposer, tx_count=0,
            txs_root=txs_root, receipts_root=merkle.EMPTY_ROOT, state_root=state_root,
            validator_set_hash=self._validator_set_hash,
            last_commit_hash=compute_commit_hash(last_commit))
        return Block(header, (), last_commit)

    def execute(self, block: Block) -> bool:
        return is_valid_block(block, self.height + 1, self._tip_hash(), self.states[-1],
                              self.validators, self.checker)

    def commit(self, block: Block, commit: Commit) -> None:
        self.blocks.append(block)
        self.commits.append(commit)
        self.states.append(block.header.state_root)


def is_valid_block(block: Block, height: int, parent_hash: bytes, parent_state: bytes,
                   validators: ValidatorSet, checker: CommitChecker) -> bool:
    header = block.header
    if (header.chain_id != CHAIN_ID or header.height != height
            or header.previous_hash != parent_hash or not validators.is_member(header.proposer)
            or header.validator_set_hash != validators.hash or block.txs
            or header.tx_count != 0 or header.txs_root != merkle.EMPTY_ROOT
            or header.receipts_root != merkle.EMPTY_ROOT
            or header.last_commit_hash != compute_commit_hash(block.last_commit)):
        return False
    if height == 1:
        if block.last_commit is not None:
            return False
    elif block.last_commit is None or not checker.is_valid(block.last_commit, height - 1,
                                                           parent_hash):
        return False
    return header.state_root == compute_state_root(parent_state, height, header.txs_root)
