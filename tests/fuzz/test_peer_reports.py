"""What a peer reports over time: a committed height never goes down.

The harnesses see one frame at a time; this property sees a peer's sequence
of STATUS reports and block requests against the real peer layer.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import Code
from node.peers.protocol import FrameKind
from node.runtime.sync import BATCH_BLOCKS
from tests.fuzz.world import LOCAL_HEIGHT, PEER, peer_layer

heights = st.integers(0, 2**63 - 1) | st.integers(0, 50)


@settings(max_examples=200, deadline=None)
@given(st.lists(heights, min_size=1, max_size=20))
def test_a_peer_is_disconnected_each_time_its_height_goes_down(reports: list[int]) -> None:
    layer = peer_layer()
    for height in reports:
        layer.handler.on_message(PEER, FrameKind.STATUS, {"height": height})
    backwards = sum(1 for i in range(1, len(reports)) if reports[i] < max(reports[:i]))
    assert [code for _, code, _ in layer.network.dropped] == \
        [Code.PEER_PROTOCOL_ERROR] * backwards
    assert layer.sync.peer_heights[PEER] == max(reports)


@settings(max_examples=200, deadline=None)
@given(st.integers(-2**63, 2**63 - 1) | st.integers(-2, 40),
       st.integers(-2**63, 2**63 - 1) | st.integers(-2, 40))
def test_a_block_request_out_of_range_disconnects_the_peer(first: int, count: int) -> None:
    layer = peer_layer()
    layer.handler.on_message(PEER, FrameKind.GET_BLOCKS, {"from": first, "count": count})
    in_range = first >= 1 and 1 <= count <= BATCH_BLOCKS
    assert bool(layer.network.dropped) is not in_range
    if in_range:
        ((_, kind, entries),) = layer.network.sent
        expected = max(0, min(LOCAL_HEIGHT, first + count - 1) - first + 1)
        assert kind == FrameKind.BLOCKS and len(entries) == expected
