"""Harness: a TXS gossip frame through the peer layer into a real, empty mempool.

Documented outcomes (node/runtime/peer_messages.py): a body that is not a
list of at most `MAX_TXS_PER_FRAME` byte strings disconnects the peer
(PEER_PROTOCOL_ERROR) and admits nothing; otherwise the peer stays, every
item is counted, bad items are only dropped (an honest peer relays in a
race), and exactly the items that decode, are for this chain, carry a valid
signature and an unused nonce within the window enter the mempool.
"""

from __future__ import annotations

from typing import Any

from ledger.accounts import next_nonce
from ledger.crypto import Tag, tagged_hash
from ledger.errors import Code, LedgerError
from ledger.types import SignedTransaction
from node.peers.protocol import MAX_FRAME_SIZE, FrameKind, decode_frame
from node.runtime.peer_messages import MAX_TXS_PER_FRAME
from tests.fuzz.seeds import txs_frames
from tests.fuzz.world import CHAIN_ID, LOCAL, PEER, peer_layer
from tests.fuzz.outcomes import require


def seeds() -> list[bytes]:
    return txs_frames()


def TestOneInput(data: bytes) -> None:  # noqa: N802
    try:
        kind, body = decode_frame(data, MAX_FRAME_SIZE)
    except LedgerError:
        return  # fuzz_frame's business
    if kind is not FrameKind.TXS:
        return
    layer = peer_layer()
    layer.handler.on_message(PEER, kind, body)
    disconnected = [code for _, code, _ in layer.network.dropped]
    mempool = layer.app.mempool
    if not _is_batch(body):
        require(disconnected == [Code.PEER_PROTOCOL_ERROR], f"a malformed batch gave {disconnected}")
        require(len(mempool) == 0, "a malformed batch admitted transactions")
        return
    require(not disconnected, f"a well-formed batch disconnected the peer: {layer.network.dropped}")
    require(layer.handler.txs_received == len(body), "not every item was counted")
    admitted = {tagged_hash(Tag.TX_ID, raw): raw for raw in body
                if tagged_hash(Tag.TX_ID, raw) in mempool}
    require(len(admitted) == len(mempool), "the mempool holds a transaction not in the batch")
    state = LOCAL.state()
    for raw in admitted.values():
        tx = SignedTransaction.decode(raw)
        tx.validate(CHAIN_ID)
        require(tx.tx.nonce >= next_nonce(state, tx.tx.sender), "a used nonce was admitted")
    require(not layer.network.sent and not layer.driver.messages, "TXS made the node act")


def _is_batch(body: Any) -> bool:
    return (type(body) is list and len(body) <= MAX_TXS_PER_FRAME
            and all(type(raw) is bytes for raw in body))
