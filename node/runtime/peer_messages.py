"""What the node does with each kind of peer frame (bodies: docs/node.md).

| kind       | body                                  | the node |
|------------|---------------------------------------|----------|
| CONSENSUS  | bytes: a consensus message            | decodes it, hands a proposal or vote to the driver |
| TXS        | [bytes, ...]: signed transactions     | admits each into the mempool (bad ones are dropped) |
| STATUS     | {"height": int}                       | notes the peer's committed height for block sync |
| GET_BLOCKS | {"from": int, "count": int}           | answers BLOCKS with what it has, bounded |
| BLOCKS     | [[block bytes, commit bytes], ...]    | hands them to the driver, which verifies and commits |

A frame whose body is not of its kind's shape is a protocol error and the
peer is disconnected; a well-formed message that fails a check (a vote with
a bad signature, a transaction with a stale nonce) is only dropped, because
an honest peer can relay one in a race.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ledger.crypto import Tag, tagged_hash
from ledger.errors import Code, LedgerError
from ledger.types import MAX_BLOCK_SIZE, Block, Commit
from node.consensus.messages import CertifiedBlock, SignedProposal, SignedVote, decode_message
from node.peers.network import PeerNetwork
from node.peers.protocol import FrameKind
from node.runtime.admission import admit, decode_signed_tx
from node.runtime.application import LedgerApplication
from node.runtime.driver import ConsensusDriver, SyncedBlocks
from node.runtime.sync import BATCH_BLOCKS, BlockSync

MAX_TXS_PER_FRAME = 1_000
#: An answer to GET_BLOCKS stops before this many bytes (one maximal block always fits).
MAX_BLOCKS_BYTES = MAX_BLOCK_SIZE

log = logging.getLogger("scf.node.peers")


class PeerMessages:
    def __init__(self, app: LedgerApplication, driver: ConsensusDriver, sync: BlockSync,
                 network: Callable[[], PeerNetwork], now_ms: Callable[[], int]) -> None:
        self.app = app
        self.driver = driver
        self.sync = sync
        self._network = network
        self._now_ms = now_ms
        self.txs_received = 0
        self.txs_rejected = 0

    def on_message(self, peer: bytes, kind: int, body: Any) -> None:
        try:
            if kind == FrameKind.CONSENSUS:
                self._on_consensus(peer, body)
            elif kind == FrameKind.TXS:
                self._on_txs(body)
            elif kind == FrameKind.STATUS:
                self._on_status(peer, body)
            elif kind == FrameKind.GET_BLOCKS:
                self._on_get_blocks(peer, body)
            elif kind == FrameKind.BLOCKS:
                self._on_blocks(peer, body)
            else:
                raise _protocol(f"frame kind {kind} is not one a node sends")
        except LedgerError as error:
            self._network().disconnect(peer, Code.PEER_PROTOCOL_ERROR,
                                       f"{_kind_name(kind)}: {error.code.value}: {error.message}")

    def request_blocks(self) -> None:
        """Asks a peer for blocks if this node is behind (called on STATUS and on a timer)."""
        request = self.sync.next_request(self.app.height, self._now_ms())
        if request is not None:
            self._network().send(request.peer, FrameKind.GET_BLOCKS,
                                 {"from": request.first, "count": request.count})

    def bad_sync(self, peer: bytes, reason: str) -> None:
        log.warning("peer %s sent a block that fails verification: %s", peer.hex()[:16], reason)
        self.sync.forget(peer)
        self._network().disconnect(peer, Code.PEER_PROTOCOL_ERROR, f"bad block: {reason}")

    # -- kinds ------------------------------------------------------------------------

    def _on_consensus(self, peer: bytes, body: Any) -> None:
        if type(body) is not bytes:
            raise _protocol("CONSENSUS body must be bytes")
        message = decode_message(body)
        if isinstance(message, (SignedProposal, SignedVote)):
            self.driver.deliver(message)
        elif isinstance(message, CertifiedBlock):
            height = message.block.header.height
            if height == self.app.height + 1:
                self.driver.deliver_synced(SyncedBlocks(peer, ((message.block, message.commit),)))

    def _on_txs(self, body: Any) -> None:
        if not isinstance(body, list) or len(body) > MAX_TXS_PER_FRAME or \
                not all(type(raw) is bytes for raw in body):
            raise _protocol(f"TXS body must be a list of at most {MAX_TXS_PER_FRAME} byte strings")
        state = self.app.chain.state()
        chain_id = self.app.chain.genesis.chain_id
        for raw in body:
            self.txs_received += 1
            # the id is the hash of the canonical bytes: a copy this node already
            # holds (every peer relays each transaction) is skipped undecoded
            if tagged_hash(Tag.TX_ID, raw) in self.app.mempool:
                continue
            try:
                tx = decode_signed_tx(raw)
                self.app.mempool.add(admit(tx, chain_id=chain_id, state=state,
                                           next_height=self.app.height + 1))
            except LedgerError:
                self.txs_rejected += 1

    def _on_status(self, peer: bytes, body: Any) -> None:
        if not isinstance(body, dict) or set(body) != {"height"} or type(body["height"]) is not int \
                or body["height"] < 0:
            raise _protocol('STATUS body must be {"height": int >= 0}')
        known = self.sync.peer_heights.get(peer)
        if known is not None and body["height"] < known:
            # committed blocks are final: an honest node's height never goes down
            raise _protocol(f"STATUS height {body['height']} is below the {known} it reported")
        self.sync.on_status(peer, body["height"])
        self.request_blocks()

    def _on_get_blocks(self, peer: bytes, body: Any) -> None:
        if not isinstance(body, dict) or set(body) != {"from", "count"} or \
                type(body["from"]) is not int or type(body["count"]) is not int or \
                body["from"] < 1 or not 1 <= body["count"] <= BATCH_BLOCKS:
            raise _protocol(f'GET_BLOCKS body must be {{"from": int >= 1, "count": 1..{BATCH_BLOCKS}}}')
        last = min(self.app.height, body["from"] + body["count"] - 1)
        entries: list[list[bytes]] = []
        size = 0
        for height in range(body["from"], last + 1):
            try:
                block, commit, _ = self.app.chain.raw_entry(height)
            except LedgerError as error:
                # this node's own store failed (STORE_CORRUPTED...): not the asking peer's
                # doing, so it is not disconnected; it gets what was read before, and the
                # operator the error (docs/operations.md, recovery)
                log.error("cannot serve block %d to peer %s from this node's store: %s: %s",
                          height, peer.hex()[:16], error.code.value, error.message)
                break
            if entries and size + len(block) + len(commit) > MAX_BLOCKS_BYTES:
                break
            entries.append([block, commit])
            size += len(block) + len(commit)
        self._network().send(peer, FrameKind.BLOCKS, entries)

    def _on_blocks(self, peer: bytes, body: Any) -> None:
        if not isinstance(body, list) or len(body) > BATCH_BLOCKS or not all(
                isinstance(e, list) and len(e) == 2 and all(type(p) is bytes for p in e)
                for e in body):
            raise _protocol(f"BLOCKS body must be a list of at most {BATCH_BLOCKS} "
                            "[block, commit] byte pairs")
        asked = self.sync.in_flight
        if not self.sync.on_blocks(peer):
            return  # not asked for (or too late): ignore
        entries = tuple((Block.decode(block), Commit.decode(commit)) for block, commit in body)
        heights = [block.header.height for block, _ in entries]
        if heights and heights != list(range(heights[0], heights[0] + len(heights))):
            raise _protocol("BLOCKS must be consecutive heights")
        if asked is not None and heights and (
                heights[0] != asked.first or len(heights) > asked.count):
            raise _protocol(f"BLOCKS {heights[0]}..{heights[-1]} answer a request for "
                            f"{asked.first}..{asked.first + asked.count - 1}")
        if entries:
            self.driver.deliver_synced(SyncedBlocks(peer, entries))


def _kind_name(kind: int) -> str:
    try:
        return FrameKind(kind).name
    except ValueError:
        return f"kind {kind}"


def _protocol(message: str) -> LedgerError:
    return LedgerError(Code.PEER_PROTOCOL_ERROR, message)
