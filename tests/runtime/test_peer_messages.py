"""What the node does with each peer frame: accept, drop, or disconnect the peer.

Real chain store, application and mempool; the peer network and the consensus
driver are recording stand-ins (this is the layer between them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from ledger.errors import Code, LedgerError
from ledger.store.chain import ChainStore
from ledger.store.memory import MemoryStore
from ledger.types import Transaction
from node.peers.protocol import FrameKind
from node.runtime.application import LedgerApplication
from node.runtime.mempool import Mempool
from node.runtime.peer_messages import PeerMessages
from node.runtime.sync import BlockSync
from tests.support.chain import REGISTRY, commit_block, example_genesis, member_key
from tests.support.peer_doubles import RecordingDriver, RecordingNetwork

PEER = b"\x01" * 32


@dataclass
class Harness:
    chain: ChainStore
    app: LedgerApplication
    sync: BlockSync
    network: RecordingNetwork
    driver: RecordingDriver
    handler: PeerMessages
    now: list[int]


@pytest.fixture
def harness() -> Harness:
    chain = ChainStore(MemoryStore(), example_genesis())
    for _ in range(3):
        commit_block(chain, [])
    app = LedgerApplication(chain, REGISTRY, Mempool(), b"\x02" * 32)
    network, driver, sync, now = RecordingNetwork(), RecordingDriver(), BlockSync(), [0]
    handler = PeerMessages(app, driver, sync, lambda: network, lambda: now[0])  # type: ignore[arg-type]
    return Harness(chain, app, sync, network, driver, handler, now)


def test_a_status_going_down_disconnects_the_peer(harness: Harness) -> None:
    harness.handler.on_message(PEER, FrameKind.STATUS, {"height": 5})
    assert harness.network.dropped == []
    harness.handler.on_message(PEER, FrameKind.STATUS, {"height": 4})
    (dropped,) = harness.network.dropped
    assert dropped[1] == Code.PEER_PROTOCOL_ERROR and "below the 5" in dropped[2]


@pytest.mark.parametrize("body", [{"height": -1}, {"height": "3"}, {"height": 1, "x": 2}, [3]])
def test_a_malformed_status_disconnects_the_peer(harness: Harness, body: Any) -> None:
    harness.handler.on_message(PEER, FrameKind.STATUS, body)
    assert [code for _, code, _ in harness.network.dropped] == [Code.PEER_PROTOCOL_ERROR]


def test_a_peer_ahead_is_asked_for_the_next_blocks(harness: Harness) -> None:
    harness.handler.on_message(PEER, FrameKind.STATUS, {"height": 10})
    assert harness.network.sent == [(PEER, FrameKind.GET_BLOCKS, {"from": 4, "count": 7})]


def test_get_blocks_is_answered_with_what_the_node_has(harness: Harness) -> None:
    harness.handler.on_message(PEER, FrameKind.GET_BLOCKS, {"from": 2, "count": 5})
    ((peer, kind, body),) = harness.network.sent
    assert (peer, kind) == (PEER, FrameKind.BLOCKS)
    assert body == [[*harness.chain.raw_entry(h)[:2]] for h in (2, 3)]


@pytest.mark.parametrize("body", [{"from": 0, "count": 1}, {"from": 1, "count": 33},
                                  {"from": 1}, {"from": 1, "count": True}])
def test_a_malformed_block_request_disconnects_the_peer(harness: Harness, body: Any) -> None:
    harness.handler.on_message(PEER, FrameKind.GET_BLOCKS, body)
    assert [code for _, code, _ in harness.network.dropped] == [Code.PEER_PROTOCOL_ERROR]


def _other_chain_entries(first: int, last: int) -> list[list[bytes]]:
    other = ChainStore(MemoryStore(), example_genesis())
    for _ in range(last):
        commit_block(other, [])
    return [[*other.raw_entry(h)[:2]] for h in range(first, last + 1)]


def test_blocks_nobody_asked_for_are_ignored(harness: Harness) -> None:
    harness.handler.on_message(PEER, FrameKind.BLOCKS, _other_chain_entries(4, 5))
    assert harness.driver.synced == [] and harness.network.dropped == []


def test_blocks_answering_the_request_go_to_the_driver(harness: Harness) -> None:
    harness.handler.on_message(PEER, FrameKind.STATUS, {"height": 5})
    harness.handler.on_message(PEER, FrameKind.BLOCKS, _other_chain_entries(4, 5))
    (synced,) = harness.driver.synced
    assert [block.header.height for block, _ in synced.entries] == [4, 5]


def test_blocks_out_of_the_requested_range_disconnect_the_peer(harness: Harness) -> None:
    harness.handler.on_message(PEER, FrameKind.STATUS, {"height": 6})
    harness.handler.on_message(PEER, FrameKind.BLOCKS, _other_chain_entries(5, 6))
    assert harness.driver.synced == []
    assert "answer a request for 4..6" in harness.network.dropped[0][2]


def test_gossiped_transactions_are_admitted_and_bad_ones_only_dropped(harness: Harness) -> None:
    key = member_key("SUPPLIER-01")
    good = Transaction("scf-demo", key.public_key, 0, "notes", "set", {"key": "k",
                                                                       "value": 1}).sign(key)
    stale = Transaction("other-chain", key.public_key, 0, "notes", "set", {}).sign(key)
    harness.handler.on_message(PEER, FrameKind.TXS, [good.encode(), stale.encode(), b"\x00"])
    assert good.tx_id in harness.app.mempool and len(harness.app.mempool) == 1
    assert (harness.handler.txs_received, harness.handler.txs_rejected) == (3, 2)
    assert harness.network.dropped == []
    harness.handler.on_message(PEER, FrameKind.TXS, [good.encode()])  # another peer's copy
    assert (harness.handler.txs_received, harness.handler.txs_rejected) == (4, 2)
    assert len(harness.app.mempool) == 1
    harness.handler.on_message(PEER, FrameKind.TXS, {"not": "a list"})
    assert [code for _, code, _ in harness.network.dropped] == [Code.PEER_PROTOCOL_ERROR]


def test_a_block_this_node_cannot_read_is_not_blamed_on_the_asking_peer(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    readable = harness.chain.raw_entry

    def damaged(height: int) -> tuple[bytes, bytes, tuple[bytes, ...]]:
        if height == 3:   # as LevelDB answers a block whose checksum fails
            raise LedgerError(Code.STORE_CORRUPTED, "block checksum mismatch")
        return readable(height)

    monkeypatch.setattr(harness.chain, "raw_entry", damaged)
    harness.handler.on_message(PEER, FrameKind.GET_BLOCKS, {"from": 2, "count": 2})
    assert harness.network.dropped == []
    assert harness.network.sent == [(PEER, FrameKind.BLOCKS, [[*readable(2)[:2]]])]
