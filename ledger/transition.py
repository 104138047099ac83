"""The state transition: a block and the state before it -> the state after it.

    apply_block(state, tip, block, registry) -> BlockExecution
      validate_header       every header field against the tip it extends
      validate_last_commit  the certificate of the tip block (> 2/3 power)
      begin_block           contract upgrades due at this height (docs/adr/0004)
      apply_tx, in order    admission checks, then the contract, one receipt each
      receipts root, state root compared with the header

Pure and deterministic: state comes in through `StateBackend`, the block's
time from its header; nothing here reads a clock, a socket or a disk.

Two kinds of failure, deliberately different (docs/adr/0003):
* A transaction that is not admissible at all — wrong chain, bad signature,
  unknown sender key, wrong nonce, expired — makes the whole block invalid
  (INVALID_BLOCK naming the transaction): a correct proposer never includes
  one, and no nonce may be consumed without the key holder's signature.
* An admissible transaction whose execution fails — frozen member, unknown
  contract or method, bad argument, forbidden, contract error — is recorded
  with a failed receipt carrying the code; it uses its nonce and changes no
  other state.

A third, which is no fault of the block: state says a contract runs a
version whose code this node's registry lacks (CONTRACT_CODE_MISSING, raised
as is). The node cannot judge the block, so it must stop rather than vote.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from ledger import codec
from ledger.accounts import member_of_signer, next_nonce, nonce_key
from ledger.certificates import validate_commit
from ledger.contract_api import CallContext, Registry, contract_prefix
from ledger.contract_upgrades import INDEX_KEY as UPGRADE_INDEX_KEY
from ledger.contract_upgrades import ActiveCode, UpgradeIndex, require_active_code
from ledger.contract_upgrades import begin_block as begin_upgrades
from ledger.errors import Code, LedgerError
from ledger.state import Namespace, Overlay, StateReader
from ledger.types import (
    STATUS_OK,
    Block,
    BlockHeader,
    Receipt,
    SignedTransaction,
    compute_commit_hash,
    compute_receipts_root,
    compute_txs_root,
)
from ledger.validators import ValidatorSet

MAX_RECEIPT_MESSAGE = 1024


class StateUpdate(Protocol):
    @property
    def root(self) -> bytes: ...


class StateBackend(StateReader, Protocol):
    """Committed state at the tip, and the tree update a set of changes makes."""

    def compute_update(self, changes: Mapping[bytes, bytes | None], version: int) -> StateUpdate: ...


@dataclass(frozen=True)
class ChainTip:
    """The block a new block must extend, as far as validation needs it.

    `validators` sign the next block; `tip_validators` signed the tip itself
    (they differ only across a validator-set change).
    """

    chain_id: str
    height: int
    block_hash: bytes
    time_ms: int
    validators: ValidatorSet
    tip_validators: ValidatorSet


@dataclass(frozen=True)
class TxContext:
    chain_id: str
    height: int
    time_ms: int


@dataclass(frozen=True)
class BlockExecution:
    block: Block
    receipts: tuple[Receipt, ...]
    changes: dict[bytes, bytes | None]
    state_update: StateUpdate

    def receipt_encodings(self) -> tuple[bytes, ...]:
        """The receipts' canonical bytes (each encoded once, then cached)."""
        return tuple(receipt.encode() for receipt in self.receipts)


def apply_block(state: StateBackend, tip: ChainTip, block: Block, registry: Registry, *,
                signatures_verified: bool = False) -> BlockExecution:
    """Validates and executes `block` on `state`; raises INVALID_BLOCK if it is wrong."""
    header = block.header
    validate_header(header, tip)
    validate_body(block, tip)
    overlay = Overlay(state)
    context = TxContext(header.chain_id, header.height, header.time_ms)
    begin_block(overlay, context, registry)
    receipts = tuple(
        _apply_included_tx(overlay, tx, index, context, registry, signatures_verified)
        for index, tx in enumerate(block.txs)
    )
    # Verify the receipts root
    if compute_receipts_root(receipts) != header.receipts_root:
        raise _invalid_block("receipts_root does not match the executed receipts")
    changes = overlay.changes()
    update = state.compute_update(changes, header.height)
    # Verify the state root
    if update.root != header.state_root:
        raise _invalid_block(f"state_root {header.state_root.hex()[:16]}… is not the "
                             f"executed state root {update.root.hex()[:16]}…")
    return BlockExecution(block, receipts, changes, update)


def begin_block(state: Overlay, context: TxContext, registry: Registry) -> None:
    """What runs before a block's transactions, on every node alike: contract
    upgrades due at this height (ledger/contract_upgrades.py)."""
    begin_upgrades(state, registry, chain_id=context.chain_id, height=context.height,
                   time_ms=context.time_ms)


def validate_header(header: BlockHeader, tip: ChainTip) -> None:
    # Verify the header extends the tip: chain, height, time, previous hash
    if header.chain_id != tip.chain_id:
        raise _invalid_block(f"chain_id {header.chain_id!r} is not {tip.chain_id!r}")
    if header.height != tip.height + 1:
        raise _invalid_block(f"height {header.height} does not follow {tip.height}")
    if header.time_ms <= tip.time_ms:
        raise _invalid_block(f"time_ms {header.time_ms} is not after {tip.time_ms}")
    if header.previous_hash != tip.block_hash:
        raise _invalid_block("previous_hash is not the hash of the tip block")
    # Verify the proposer and the validator set
    if not tip.validators.is_member(header.proposer):
        raise _invalid_block("proposer is not a validator")
    if header.validator_set_hash != tip.validators.hash:
        raise _invalid_block("validator_set_hash is not the current validator set's")


def validate_body(block: Block, tip: ChainTip) -> None:
    header = block.header
    # Verify the transaction list against the header
    if header.tx_count != len(block.txs):
        raise _invalid_block(f"tx_count {header.tx_count} but {len(block.txs)} transactions")
    if compute_txs_root(block.txs) != header.txs_root:
        raise _invalid_block("txs_root does not match the transactions")
    if len({tx.tx_id for tx in block.txs}) != len(block.txs):
        raise _invalid_block("the same transaction appears twice")
    # Verify the certificate of the tip block
    if header.last_commit_hash != compute_commit_hash(block.last_commit):
        raise _invalid_block("last_commit_hash does not match last_commit")
    if tip.height == 0:
        if block.last_commit is not None:
            raise _invalid_block("block 1 carries a last commit, but genesis has none")
        return
    if block.last_commit is None:
        raise _invalid_block(f"block {header.height} lacks the commit of block {tip.height}")
    validate_commit(block.last_commit, chain_id=tip.chain_id, height=tip.height,
                    block_hash=tip.block_hash, validators=tip.tip_validators)


def apply_tx(state: Overlay, signed: SignedTransaction, context: TxContext, registry: Registry,
             *, signature_verified: bool = False) -> Receipt:
    """Admission checks (raise), then the contract call (its failure is a receipt)."""
    tx = signed.tx
    # Verify the chain id and the signature
    if signature_verified:
        if tx.chain_id != context.chain_id:
            raise LedgerError(Code.WRONG_CHAIN_ID, f"transaction is for chain {tx.chain_id!r}")
    else:
        signed.validate(context.chain_id)
    # Verify the sender, the nonce and the expiry
    member = member_of_signer(state, tx.sender)
    if member is None:
        raise LedgerError(Code.UNKNOWN_SENDER, f"key {tx.sender.hex()[:16]}… is no member's")
    expected = next_nonce(state, tx.sender)
    if tx.nonce != expected:
        raise LedgerError(Code.BAD_NONCE, f"nonce {tx.nonce}, the sender's next is {expected}")
    if tx.expiry_height is not None and context.height > tx.expiry_height:
        raise LedgerError(Code.TX_EXPIRED, f"expired at height {tx.expiry_height}")
    # Verify this node carries the code of the contract version state says runs
    upgraded = _active_code(state, tx.contract)
    if upgraded is not None:
        require_active_code(registry, upgraded)
    # From here on the transaction is in the chain and uses its nonce.
    state.put(nonce_key(tx.sender), codec.encode(expected + 1))
    tx_id = signed.tx_id
    scratch = state.child()
    call = CallContext(context.chain_id, context.height, context.time_ms, tx_id, member,
                       tx.sender, Namespace(scratch, contract_prefix(tx.contract)), scratch,
                       scratch, scratch if registry.is_privileged(tx.contract) else None)
    try:
        if member.frozen:
            raise LedgerError(Code.MEMBER_FROZEN, f"member {member.member_id} is frozen")
        if not registry.has_contract(tx.contract):
            raise LedgerError(Code.UNKNOWN_CONTRACT, f"no contract {tx.contract!r}")
        method = (registry.method(tx.contract, tx.method) if upgraded is None
                  else registry.method(tx.contract, tx.method, upgraded.version))
        if method is None:
            raise LedgerError(Code.UNKNOWN_METHOD, f"{tx.contract} has no method {tx.method!r}")
        method(call, dict(tx.args))
    except LedgerError as error:
        return Receipt(tx_id, error.code.value, _clip(error.message), ())
    except MemoryError:
        raise
    except Exception as error:  # a contract bug must not split the network
        return Receipt(tx_id, Code.CONTRACT_BUG.value, type(error).__name__, ())
    scratch.merge_into(state)
    return Receipt(tx_id, STATUS_OK, "", tuple(call.events))


def _apply_included_tx(state: Overlay, signed: SignedTransaction, index: int, context: TxContext,
                       registry: Registry, signatures_verified: bool) -> Receipt:
    try:
        return apply_tx(state, signed, context, registry, signature_verified=signatures_verified)
    except LedgerError as error:
        if error.code is Code.CONTRACT_CODE_MISSING:
            raise  # this node's shortcoming, not the block's
        raise _invalid_block(f"transaction #{index} ({signed.tx_id.hex()[:16]}…): "
                             f"{error.code.value}: {error.message}") from None


def _active_code(state: Overlay, contract: str) -> ActiveCode | None:
    """`contract_upgrades.active_code`, without decoding the index for every
    transaction (it is absent until the first upgrade, and rarely changes)."""
    data = state.get(UPGRADE_INDEX_KEY)
    return None if data is None else _upgrade_index(data).active_code(contract)


@lru_cache(maxsize=16)
def _upgrade_index(data: bytes) -> UpgradeIndex:
    """Decoded by its bytes: exact, as one encoding is one frozen value."""
    return UpgradeIndex.decode(data)


def _clip(message: str) -> str:
    data = message.encode("utf-8")[:MAX_RECEIPT_MESSAGE]
    return data.decode("utf-8", errors="ignore")


def _invalid_block(message: str) -> LedgerError:
    return LedgerError(Code.INVALID_BLOCK, message)
