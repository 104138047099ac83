"""The node's metrics, served at GET /metrics (Prometheus text format).

| metric | type | meaning |
|---|---|---|
| scf_height | gauge | last committed height |
| scf_consensus_round | gauge | round of the height in progress |
| scf_commit_latency_seconds | histogram | time from the start of a height to its commit on this node |
| scf_block_interval_seconds | histogram | time between two consecutive block times (header time_ms) |
| scf_txs_committed_total | counter | transactions in committed blocks (consensus and sync) |
| scf_blocks_committed_total | counter | blocks committed, by how (`consensus`, `sync`) |
| scf_mempool_txs | gauge | transactions pending in the mempool |
| scf_mempool_bytes | gauge | their encoded size |
| scf_peers | gauge | authenticated peer connections |
| scf_sync_lag_blocks | gauge | how far the best peer is ahead |
| scf_event_streams | gauge | open /v1/events streams |
| scf_evidence_total | gauge | equivocation evidence recorded since start |
| scf_build_seconds_per_tx | gauge | this node's recent cost of building a block, per transaction (0: not learnt yet); its blocks hold at most a third of the propose timeout's worth (node/runtime/build_budget.py) |
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from node.metrics import Registry
from node.runtime.application import CommittedBlock

if TYPE_CHECKING:
    from node.service import Node

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)


class NodeMetrics:
    def __init__(self, node: Node) -> None:
        self.registry = registry = Registry()
        registry.gauge("scf_height", "Last committed height", read=lambda: node.chain.height)
        registry.gauge("scf_consensus_round", "Round of the height in progress",
                       read=lambda: max(0, node.driver.core.round))
        self.commit_latency = registry.histogram(
            "scf_commit_latency_seconds", "From the start of a height to its commit",
            LATENCY_BUCKETS)
        self.block_interval = registry.histogram(
            "scf_block_interval_seconds", "Between consecutive block times", LATENCY_BUCKETS)
        self.txs_committed = registry.counter("scf_txs_committed_total",
                                              "Transactions in committed blocks")
        self.blocks_committed = registry.counter("scf_blocks_committed_total",
                                                 "Blocks committed", ("via",))
        registry.gauge("scf_mempool_txs", "Transactions pending in the mempool",
                       read=lambda: len(node.mempool))
        registry.gauge("scf_mempool_bytes", "Encoded bytes pending in the mempool",
                       read=lambda: node.mempool.total_bytes)
        registry.gauge("scf_peers", "Authenticated peer connections",
                       read=lambda: len(node.network.connected()))
        registry.gauge("scf_sync_lag_blocks", "Blocks the best peer is ahead",
                       read=lambda: node.sync.lag(node.chain.height))
        registry.gauge("scf_event_streams", "Open event streams",
                       read=lambda: node.feed.stream_count)
        registry.gauge("scf_evidence_total", "Equivocation evidence recorded since start",
                       read=lambda: node.driver.evidence_total)
        registry.gauge("scf_build_seconds_per_tx",
                       "Recent cost of building a block, per transaction (0: not learnt yet)",
                       read=lambda: node.app.build_budget.seconds_per_tx or 0)
        self._node = node
        self._last_time_ms: int | None = None

    def on_commit(self, committed: CommittedBlock, now_ms: int) -> None:
        header = committed.block.header
        via = "consensus" if self._node.driver.height == header.height else "sync"
        self.blocks_committed.labels(via=via).inc()
        self.txs_committed.inc(len(committed.block.txs))
        if via == "consensus":
            self.commit_latency.observe(max(0, now_ms - self._node.driver.height_started_ms) / 1000)
        if self._last_time_ms is not None:
            self.block_interval.observe(max(0, header.time_ms - self._last_time_ms) / 1000)
        self._last_time_ms = header.time_ms
