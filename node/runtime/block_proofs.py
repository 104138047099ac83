"""Committed blocks with their Merkle trees, kept for the proofs clients ask for.

`GET /v1/txs/{id}` answers with inclusion proofs of the transaction and its
receipt; a client that waits for each transaction of a batch asks for every
one in the same few blocks. Building a block's trees once and keeping the
last few (committed blocks never change) makes each answer O(log n) instead
of re-encoding and re-hashing the whole block per request.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from ledger.merkle import MerkleTree
from ledger.store.chain import ChainStore
from ledger.types import Block, Receipt

CAPACITY = 32


@dataclass(frozen=True, slots=True)
class ProvableBlock:
    block: Block
    receipts: tuple[Receipt, ...]
    txs_tree: MerkleTree
    receipts_tree: MerkleTree


class BlockProofs:
    def __init__(self, chain: ChainStore, capacity: int = CAPACITY) -> None:
        self._chain = chain
        self._capacity = capacity
        self._kept: OrderedDict[int, ProvableBlock] = OrderedDict()

    def at(self, height: int) -> ProvableBlock:
        kept = self._kept.get(height)
        if kept is not None:
            self._kept.move_to_end(height)
            return kept
        block = self._chain.block(height)
        receipts = tuple(self._chain.receipts(height))
        kept = ProvableBlock(block, receipts, MerkleTree([tx.encode() for tx in block.txs]),
                             MerkleTree([r.encode() for r in receipts]))
        self._kept[height] = kept
        if len(self._kept) > self._capacity:
            self._kept.popitem(last=False)
        return kept
