"""The node the harnesses feed: a real chain store, application and mempool, built once.

`LOCAL` is this node's chain (`LOCAL_HEIGHT` blocks, one with transactions);
`AHEAD` is the same chain grown further, the peer's. Both are built by the
example consortium's demo validators, deterministically, so the blocks of
`AHEAD` above `LOCAL_HEIGHT` continue `LOCAL`. The consensus driver and the peer
network are recording stand-ins: a harness sees what the peer layer would hand
on or send, and whom it disconnects, and nothing is ever committed, so one
chain serves every input.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.store.chain import ChainStore
from ledger.store.memory import MemoryStore
from ledger.types import SignedTransaction
from node.runtime.application import LedgerApplication
from node.runtime.mempool import Mempool
from node.runtime.peer_messages import PeerMessages
from node.runtime.sync import BlockSync
from tests.support.chain import REGISTRY, commit_block, example_genesis, note_tx
from tests.support.peer_doubles import RecordingDriver, RecordingNetwork

LOCAL_HEIGHT = 3
AHEAD_HEIGHT = 6
#: The peer whose frames the harnesses feed (an opaque key for this layer).
PEER = b"\x01" * 32
PROPOSER = b"\x02" * 32


def _grow(chain: ChainStore, height: int) -> ChainStore:
    while chain.height < height:
        txs: list[SignedTransaction] = []
        if chain.height == 1:
            txs = [note_tx(chain, "SUPPLIER-01", key="a", value=1)]
        commit_block(chain, txs)
    return chain


LOCAL = _grow(ChainStore(MemoryStore(), example_genesis()), LOCAL_HEIGHT)
AHEAD = _grow(ChainStore(MemoryStore(), example_genesis()), AHEAD_HEIGHT)
CHAIN_ID = LOCAL.genesis.chain_id
if LOCAL.raw_entry(LOCAL_HEIGHT) != AHEAD.raw_entry(LOCAL_HEIGHT):
    raise RuntimeError("AHEAD must continue LOCAL: the test chain is not deterministic")


@dataclass
class PeerLayer:
    """A fresh `PeerMessages` over the shared chain, with its own mempool and sync state."""

    app: LedgerApplication
    sync: BlockSync
    network: RecordingNetwork
    driver: RecordingDriver
    handler: PeerMessages
    now_ms: list[int]


def peer_layer() -> PeerLayer:
    app = LedgerApplication(LOCAL, REGISTRY, Mempool(), PROPOSER)
    sync, network, driver, now_ms = BlockSync(), RecordingNetwork(), RecordingDriver(), [0]
    handler = PeerMessages(app, driver, sync, lambda: network,  # type: ignore[arg-type,return-value]
                           lambda: now_ms[0])
    return PeerLayer(app, sync, network, driver, handler, now_ms)
