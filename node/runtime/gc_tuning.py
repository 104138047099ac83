"""The cyclic garbage collector's thresholds for a long-running node or replay.

CPython frees almost everything by reference counting; the cyclic collector
only finds reference cycles. With its default thresholds (a young collection
every 700 net allocations, an old one every 100 of those) a node executing
blocks spends a fifth of its CPU in it: each block allocates hundreds of
thousands of short-lived values, and every old collection walks the whole
heap (mempool, caches, decoded tree nodes). Measured with
bench/node_pipeline.py: 717 -> 566 us of a validator's CPU per transaction.

So: objects alive after start-up are moved out of the collector's sight
(`gc.freeze`), and collections run less often. Cycles are still collected;
memory held by cyclic garbage between collections stays bounded by the
thresholds.
"""

from __future__ import annotations

import gc

#: young generation: net allocations between collections (CPython's default: 700)
YOUNG_THRESHOLD = 50_000
#: collections of a generation before the next one is collected (defaults: 10, 10)
MIDDLE_THRESHOLD = 20
OLD_THRESHOLD = 100


def tune_garbage_collector(young: int = YOUNG_THRESHOLD) -> None:
    """Call once, after start-up (what exists then lives as long as the process).

    `young`: a replay passes its own, larger one (ledger.replay.GC_YOUNG_THRESHOLD)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(young, MIDDLE_THRESHOLD, OLD_THRESHOLD)
