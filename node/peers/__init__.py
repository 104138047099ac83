"""The authenticated peer channel between consortium nodes (docs/peers.md).

Transport, mutual authentication, framing and per-peer limits only: the
node's message kinds pass through unread. `protocol` frames, `handshake`
authenticates (no I/O), `limits` says what a peer may cost, `connection`
is one websocket, `network` is the set of them the node uses.
"""

from node.peers.connection import PeerInfo
from node.peers.limits import PeerLimits
from node.peers.network import PeerNetwork
from node.peers.protocol import MAX_FRAME_SIZE, FrameKind, decode_frame, encode_frame

__all__ = [
    "MAX_FRAME_SIZE",
    "FrameKind",
    "PeerInfo",
    "PeerLimits",
    "PeerNetwork",
    "decode_frame",
    "encode_frame",
]
