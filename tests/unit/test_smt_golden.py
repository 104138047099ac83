"""The state tree's exact output, pinned: every node's bytes and every stale record.

The roots are pinned by docs/state-tree.md and checked against the naive
definition elsewhere; this pins the rest of what a node stores (node keys,
node bytes, stale records) over a long seeded history, so that a faster
`apply` can be shown to write byte for byte what the first one wrote. The
digest was computed with the original, unoptimised implementation.
"""

from __future__ import annotations

import hashlib
import random

from ledger import codec
from ledger.smt import SparseMerkleTree, TreeUpdate
from ledger.smt_memory import MemoryNodeStore

CRAFTED = [b"k2861205", b"k3180416", b"k3821709"]  # long shared prefixes (test_smt.py)
GOLDEN_DIGEST = "2efe77070244b999f6d1cf5c2b2e80550808caa9a7795dd102e6b7fc75c4651e"


def seeded_history() -> list[tuple[int, dict[bytes, bytes | None]]]:
    """Versions with gaps (some large, for every int width), inserts, rewrites,
    deletes of present and absent keys, values of every bin width."""
    rng = random.Random(20261124)
    pool = [b"key-%d" % i for i in range(700)] + CRAFTED + [b""]
    steps = [1, 1, 2, 3, 1, 200, 1, 70_000, 1, 5, 2**32, 1, 1, 3, 1, 1, 2, 1, 1, 1,
             2**40, 1, 1, 1, 4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    history: list[tuple[int, dict[bytes, bytes | None]]] = []
    for step in steps:
        changes: dict[bytes, bytes | None] = {}
        for key in rng.sample(pool, rng.choice([0, 1, 2, 5, 40, 150, 400])):
            roll = rng.random()
            if roll < 0.25:
                changes[key] = None
            elif roll < 0.27:
                changes[key] = rng.randbytes(rng.choice([256, 70_000]))
            else:
                changes[key] = rng.randbytes(rng.randrange(0, 120))
        history.append((step, changes))
    history.append((1, dict.fromkeys(pool)))  # everything deleted: the empty root
    history.append((1, {CRAFTED[0]: b"alone"}))  # a lone leaf at the root
    return history


def run(tree: SparseMerkleTree, store: MemoryNodeStore) -> list[TreeUpdate]:
    updates = []
    previous: int | None = None
    version = 0
    for step, changes in seeded_history():
        version += step
        update = tree.apply(previous, version, changes)
        store.put_update(update)
        updates.append(update)
        previous = version
        if len(updates) % 7 == 0:
            store.prune(version - 2)
    return updates


def digest(updates: list[TreeUpdate]) -> str:
    sha = hashlib.sha256()
    for update in updates:
        sha.update(codec.encode([
            update.version, update.root,
            [[k.version, k.depth, k.path, node] for k, node in update.new_nodes],
            [[s.stale_since_version, s.node_key.version, s.node_key.depth, s.node_key.path]
             for s in update.stale],
        ]))
    return sha.hexdigest()


def test_the_tree_writes_exactly_the_pinned_bytes() -> None:
    store = MemoryNodeStore()
    assert digest(run(SparseMerkleTree(store), store)) == GOLDEN_DIGEST
