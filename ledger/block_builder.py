"""Building a valid block from candidate transactions (the proposer's side).

Runs the same `apply_tx` as validation, in order, leaving out any candidate
that is not admissible (it would make the block invalid), then fills in the
header's counts and roots. Validators re-run `apply_block` on the result;
both paths share every rule, so a block built here always validates.
"""

from __future__ import annotations

from collections.abc import Iterable

from ledger.contract_api import Registry
from ledger.errors import LedgerError
from ledger.state import Overlay
from ledger.transition import (
    BlockExecution,
    ChainTip,
    StateBackend,
    TxContext,
    apply_tx,
    begin_block,
)
from ledger.types import (
    Block,
    BlockHeader,
    Commit,
    Receipt,
    SignedTransaction,
    compute_commit_hash,
    compute_receipts_root,
    compute_txs_root,
)


def build_block(state: StateBackend, tip: ChainTip, candidates: Iterable[SignedTransaction], *,
                time_ms: int, proposer: bytes, last_commit: Commit | None, registry: Registry,
                max_txs: int, signatures_verified: bool = False
                ) -> tuple[BlockExecution, list[tuple[SignedTransaction, LedgerError]]]:
    """The executed block, and the candidates left out with the reason for each.

    `signatures_verified`: the caller has checked every candidate's signature
    (a node's mempool admits only verified transactions)."""
    height = tip.height + 1
    overlay = Overlay(state)
    context = TxContext(tip.chain_id, height, time_ms)
    begin_block(overlay, context, registry)  # contract upgrades due, as validators run them
    included: list[SignedTransaction] = []
    receipts: list[Receipt] = []
    left_out: list[tuple[SignedTransaction, LedgerError]] = []
    seen: set[bytes] = set()
    for tx in candidates:
        if len(included) >= max_txs:
            break
        if tx.tx_id in seen:
            continue
        attempt = overlay.child()
        try:
            receipt = apply_tx(attempt, tx, context, registry,
                               signature_verified=signatures_verified)
        except LedgerError as error:
            left_out.append((tx, error))
            continue
        attempt.merge_into(overlay)
        seen.add(tx.tx_id)
        included.append(tx)
        receipts.append(receipt)
    changes = overlay.changes()
    update = state.compute_update(changes, height)
    header = BlockHeader(
        chain_id=tip.chain_id, height=height, time_ms=time_ms, previous_hash=tip.block_hash,
        proposer=proposer, tx_count=len(included), txs_root=compute_txs_root(included),
        receipts_root=compute_receipts_root(receipts), state_root=update.root,
        validator_set_hash=tip.validators.hash, last_commit_hash=compute_commit_hash(last_commit),
    )
    block = Block(header, tuple(included), last_commit)
    return BlockExecution(block, tuple(receipts), changes, update), left_out
