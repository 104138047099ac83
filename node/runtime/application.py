"""The ledger as the consensus core's application: build, execute, commit.

This is the synchronous side of the node's three application messages
(node/consensus/core.py): the driver calls it for BuildBlock, ExecuteBlock
and CommitBlock and turns the answers into inputs. It owns the chain store
and the mempool, and keeps the execution of every block it built or checked
at the current height, so a decided block is committed without executing it
a third time.

Each transaction's signature is checked once per node: admission (HTTP or
gossip) checks it on entry to the mempool, and a proposed block whose
transactions are all in the mempool is executed with `signatures_verified`;
otherwise the ones this node has not seen are checked first.

Contract upgrades (docs/upgrades.md): if state says the next height runs a
contract version whose code this node lacks, building, executing or
committing raises CONTRACT_CODE_MISSING naming the module and its SHA-256,
logged once; the application is then `halted` and refuses every later
block, so the node stops at that height instead of voting on blocks it
cannot judge. `check_contract_code` makes the same check when the node
starts, and warns about scheduled upgrades whose code is missing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ledger.accounts import next_nonce
from ledger.block_builder import build_block
from ledger.contract_api import Registry
from ledger.contract_upgrades import (
    ACTIVE,
    FAILED,
    INDEX_KEY,
    RECORD_PREFIX,
    UpgradeRecord,
    check_code,
    missing_scheduled_code,
)
from ledger.errors import Code, LedgerError
from ledger.store.chain import ChainStore
from ledger.system_state import get_params
from ledger.transition import BlockExecution, ChainTip, apply_block
from ledger.types import MAX_BLOCK_SIZE, Block, Commit, Receipt, SignedTransaction
from ledger.validators import ValidatorSet
from node.runtime.build_budget import BuildBudget
from node.runtime.mempool import Mempool

#: How many failed admissions a node remembers, for `GET /v1/txs/{id}`.
MAX_REMEMBERED_FAILURES = 10_000

log = logging.getLogger("scf.node.application")


@dataclass(frozen=True, slots=True)
class CommittedBlock:
    """What a commit changed, for waiters, event streams and metrics."""

    block: Block
    commit: Commit
    receipts: tuple[Receipt, ...]


class LedgerApplication:
    def __init__(self, chain: ChainStore, registry: Registry, mempool: Mempool,
                 proposer_key: bytes, *, clock: Callable[[], float] = time.perf_counter) -> None:
        """`clock` (seconds) times this node's builds, for `BuildBudget`."""
        self.chain = chain
        self.registry = registry
        self.mempool = mempool
        self.proposer_key = proposer_key
        self._executions: dict[bytes, BlockExecution] = {}
        self._invalid: dict[bytes, str] = {}
        self.failures: dict[bytes, LedgerError] = {}
        #: told the id of each transaction dropped from the mempool as inadmissible
        self.on_failure: Callable[[bytes], None] = lambda tx_id: None
        #: why this node stopped: it lacks contract code the next height runs
        self.halted: LedgerError | None = None
        self.build_budget = BuildBudget()
        self._clock = clock

    # -- reading --------------------------------------------------------------------

    @property
    def height(self) -> int:
        """The last committed height."""
        return self.chain.height

    def validators(self) -> ValidatorSet:
        """The validator set of the next height."""
        return self.chain.tip().validators

    def has_ready_transactions(self) -> bool:
        """Whether a block built now would hold a transaction (a pending one
        whose nonce is its sender's next; a gap keeps the rest waiting)."""
        return bool(self.mempool.reap(1, MAX_BLOCK_SIZE, self.next_nonce))

    def next_nonce(self, sender: bytes) -> int:
        return next_nonce(self.chain.state(), sender)

    # -- the application messages -----------------------------------------------------

    def build(self, height: int, now_ms: int) -> Block:
        """A block for `height` from the mempool (BuildBlock)."""
        self._refuse_if_halted()
        tip = self._tip_for(height)
        params = get_params(self.chain.state())
        max_txs = self.build_budget.limit(params.max_block_txs, params.timeout_propose_ms)
        started = self._clock()
        candidates = self.mempool.reap(max_txs, params.max_block_bytes, self.next_nonce)
        last_commit = None if tip.height == 0 else self.chain.commit(tip.height)
        try:
            execution, left_out = build_block(
                self.chain, tip, candidates, time_ms=max(now_ms, tip.time_ms + 1),
                proposer=self.proposer_key, last_commit=last_commit, registry=self.registry,
                max_txs=max_txs, signatures_verified=True)  # all from the mempool
        except LedgerError as error:
            raise self._halt_if_code_missing(error, height) from None
        self.build_budget.record(len(candidates), self._clock() - started)
        for tx, reason in left_out:
            # it cannot commit on top of this state: drop it and say why on request
            self.mempool.remove(tx.tx_id)
            self._remember_failure(tx.tx_id, reason)
        self._executions[execution.block.hash] = execution
        return execution.block

    def execute(self, block: Block) -> bool:
        """Is `block` valid on the committed state (ExecuteBlock)?"""
        block_hash = block.hash
        if block_hash in self._executions:
            return True
        if block_hash in self._invalid:
            return False
        self._refuse_if_halted()
        try:
            tip = self._tip_for(block.header.height)
            self._verify_unknown_signatures(block.txs, tip.chain_id)
            execution = apply_block(self.chain, tip, block, self.registry,
                                    signatures_verified=True)
        except LedgerError as error:
            if error.code is Code.CONTRACT_CODE_MISSING:
                raise self._halt_if_code_missing(error, block.header.height) from None
            self._invalid[block_hash] = error.message
            return False
        self._executions[block_hash] = execution
        return True

    def invalid_reason(self, block_hash: bytes) -> str | None:
        return self._invalid.get(block_hash)

    def commit(self, block: Block, commit: Commit) -> CommittedBlock:
        """Stores a decided block with its certificate (CommitBlock), in one synced batch."""
        execution = self._executions.get(block.hash)
        if execution is None:
            self._refuse_if_halted()
            tip = self._tip_for(block.header.height)
            self._verify_unknown_signatures(block.txs, tip.chain_id)
            try:
                execution = apply_block(self.chain, tip, block, self.registry,
                                        signatures_verified=True)
            except LedgerError as error:
                raise self._halt_if_code_missing(error, block.header.height) from None
        self.chain.append(execution, commit)
        self._executions.clear()
        self._invalid.clear()
        self.mempool.remove_committed(block.txs, self.next_nonce)
        for tx in block.txs:
            self.failures.pop(tx.tx_id, None)
        if INDEX_KEY in execution.changes:
            self._log_upgrades(block.header.height, execution.changes)
        return CommittedBlock(block, commit, execution.receipts)

    def apply_synced(self, block: Block, commit: Commit) -> CommittedBlock:
        """Verifies a block fetched from a peer exactly as the auditor replay
        does (header, body, every signature, execution, state root, then the
        certificate on append) and commits it."""
        self._executions.pop(block.hash, None)
        return self.commit(block, commit)

    # -- contract code ----------------------------------------------------------------------

    def check_contract_code(self) -> None:
        """At start: raises CONTRACT_CODE_MISSING (logged) if the next height
        runs contract code this node lacks; warns for each scheduled upgrade
        whose code it lacks (it will stop at that upgrade's height)."""
        height = self.chain.height + 1
        try:
            check_code(self.chain.state(), self.registry, height)
        except LedgerError as error:
            raise self._halt_if_code_missing(error, height) from None
        self._warn_missing_scheduled_code()

    def _refuse_if_halted(self) -> None:
        if self.halted is not None:
            raise self.halted

    def _halt_if_code_missing(self, error: LedgerError, height: int) -> LedgerError:
        """`error`, after halting the application if it is CONTRACT_CODE_MISSING."""
        if error.code is Code.CONTRACT_CODE_MISSING and self.halted is None:
            self.halted = error
            log.error("stopping before height %d: %s: %s", height, error.code.value,
                      error.message)
        return error

    def _log_upgrades(self, height: int, changes: dict[bytes, bytes | None]) -> None:
        for key in sorted(changes):
            data = changes[key]
            if not key.startswith(RECORD_PREFIX) or data is None:
                continue
            record = UpgradeRecord.decode(data)
            where = (f"contract {record.contract} version {record.version} ({record.module}, "
                     f"source sha256 {record.source_sha256})")
            if record.status == FAILED:
                log.warning("height %d: the upgrade of %s FAILED, the previous version keeps "
                            "running: %s", height, where, record.outcome)
            elif record.status == ACTIVE:
                log.info("height %d: %s is now active", height, where)
            else:
                log.info("height %d: upgrade of %s %s (activation height %d)", height, where,
                         record.status, record.activation_height)
        self._warn_missing_scheduled_code()

    def _warn_missing_scheduled_code(self) -> None:
        for error in missing_scheduled_code(self.chain.state(), self.registry):
            log.warning("upgrade scheduled without this node's code: %s: %s",
                        error.code.value, error.message)

    # -- internals ------------------------------------------------------------------------

    def _tip_for(self, height: int) -> ChainTip:
        tip = self.chain.tip()
        if height != tip.height + 1:
            raise LedgerError(Code.BLOCK_DOES_NOT_EXTEND_HEAD,
                              f"asked for height {height} on head {tip.height}")
        return tip

    def _verify_unknown_signatures(self, txs: Sequence[SignedTransaction], chain_id: str) -> None:
        for index, tx in enumerate(txs):
            if tx.tx_id in self.mempool:
                continue
            try:
                tx.validate(chain_id)
            except LedgerError as error:
                raise LedgerError(Code.INVALID_BLOCK, f"transaction #{index}: "
                                  f"{error.code.value}: {error.message}") from None

    def _remember_failure(self, tx_id: bytes, error: LedgerError) -> None:
        if len(self.failures) >= MAX_REMEMBERED_FAILURES:
            self.failures.pop(next(iter(self.failures)))
        self.failures[tx_id] = error
        self.on_failure(tx_id)
