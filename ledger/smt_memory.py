"""A dict-backed node store for the state tree, with its stale index: for
tests and tools that run `ledger.smt.SparseMerkleTree` without LevelDB."""

from __future__ import annotations

from ledger.smt import NodeKey, StaleNode, TreeUpdate, compute_prunable


class MemoryNodeStore:
    """A dict-backed node store with a stale index, for tests and tools."""

    __slots__ = ("nodes", "stale")

    def __init__(self) -> None:
        self.nodes: dict[NodeKey, bytes] = {}
        self.stale: list[StaleNode] = []

    def get_node(self, key: NodeKey) -> bytes | None:
        return self.nodes.get(key)

    def put_update(self, update: TreeUpdate) -> None:
        self.nodes.update(update.new_nodes)
        self.stale.extend(update.stale)

    def prune(self, keep_from_version: int) -> tuple[NodeKey, ...]:
        """Deletes what `compute_prunable` allows; returns the deleted keys."""
        doomed = compute_prunable(self.stale, keep_from_version)
        for key in doomed:
            self.nodes.pop(key, None)
        self.stale = [s for s in self.stale if s.stale_since_version > keep_from_version]
        return doomed
