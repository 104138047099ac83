"""Block sync: a node that is behind fetches certified blocks from a peer.

Peers announce their committed height (STATUS) every second and after each
commit. When a peer is ahead, this node asks the highest one for the next
blocks (GET_BLOCKS), at most `BATCH_BLOCKS` at a time and one request in
flight, re-asked after `REQUEST_TIMEOUT_MS` or when the answer arrives. The
blocks go to the consensus driver, which verifies each exactly as the
auditor replay does (the application's `apply_synced`: header, body, every
signature, execution and state root, then the certificate against the
validator set) before committing it, then joins consensus at the next
height. A peer whose blocks fail verification is disconnected.

This module is pure bookkeeping (no I/O): the node's peer layer calls
`on_status`/`on_blocks` and carries out the requests it returns.
"""

from __future__ import annotations

from dataclasses import dataclass

BATCH_BLOCKS = 32
REQUEST_TIMEOUT_MS = 5_000
#: A node this many blocks behind fetches at once; one block behind, it first
#: gives consensus `GRACE_MS` to finish (peers announce a commit as they make
#: it, so a node a moment slower is one block "behind" at every height).
LAG_TO_SYNC = 2
GRACE_MS = 1_000


@dataclass(frozen=True, slots=True)
class BlockRequest:
    peer: bytes
    first: int
    count: int


class BlockSync:
    def __init__(self) -> None:
        self.peer_heights: dict[bytes, int] = {}
        self._in_flight: tuple[BlockRequest, int] | None = None
        self._behind_since: tuple[int, int] | None = None  # (our height, since ms)

    @property
    def best_peer_height(self) -> int:
        return max(self.peer_heights.values(), default=0)

    def lag(self, height: int) -> int:
        """How many blocks the best peer has beyond `height`."""
        return max(0, self.best_peer_height - height)

    def is_syncing(self, height: int) -> bool:
        return self.lag(height) >= LAG_TO_SYNC

    @property
    def in_flight(self) -> BlockRequest | None:
        return None if self._in_flight is None else self._in_flight[0]

    def on_status(self, peer: bytes, peer_height: int) -> None:
        self.peer_heights[peer] = peer_height

    def forget(self, peer: bytes) -> None:
        self.peer_heights.pop(peer, None)
        if self._in_flight is not None and self._in_flight[0].peer == peer:
            self._in_flight = None

    def on_blocks(self, peer: bytes) -> bool:
        """An answer arrived; True if it answers the request in flight."""
        if self._in_flight is not None and self._in_flight[0].peer == peer:
            self._in_flight = None
            return True
        return False

    def next_request(self, height: int, now_ms: int) -> BlockRequest | None:
        """What to ask for, given our committed `height`; None if nothing (yet)."""
        if self._in_flight is not None:
            request, sent_ms = self._in_flight
            if now_ms - sent_ms < REQUEST_TIMEOUT_MS and request.first == height + 1:
                return None
            self._in_flight = None
        lag = self.lag(height)
        if lag == 0:
            self._behind_since = None
            return None
        if self._behind_since is None or self._behind_since[0] != height:
            self._behind_since = (height, now_ms)
        if lag < LAG_TO_SYNC and now_ms - self._behind_since[1] < GRACE_MS:
            return None
        # the highest peer; ties broken by key so the choice is reproducible
        peer = max(self.peer_heights, key=lambda key: (self.peer_heights[key], key))
        count = min(BATCH_BLOCKS, self.peer_heights[peer] - height)
        request = BlockRequest(peer, height + 1, count)
        self._in_flight = (request, now_ms)
        return request
