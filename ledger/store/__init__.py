"""Storage: one small key-value contract (`KVStore`) and its two backends.

Chain code is written against `KVStore`/`KVReader` and `WriteBatch` only;
`MemoryStore` serves tests and the simulated network, `LevelDBStore` a
node's disk (the one plyvel user in the project). Both keep the same
contract, stated in `ledger.store.kv`, and report every failure as a
`LedgerError` with a `STORE_*` code.

`LevelDBStore` is imported lazily, so that the pure core and the simulator
can use `MemoryStore` without loading plyvel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledger.store.kv import KVReader, KVSnapshot, KVStore, WriteBatch, compute_prefix_end
from ledger.store.memory import MemorySnapshot, MemoryStore

if TYPE_CHECKING:
    from ledger.store.leveldb import LevelDBSnapshot, LevelDBStore

__all__ = [
    "KVReader",
    "KVSnapshot",
    "KVStore",
    "LevelDBSnapshot",
    "LevelDBStore",
    "MemorySnapshot",
    "MemoryStore",
    "WriteBatch",
    "compute_prefix_end",
]


def __getattr__(name: str) -> Any:
    if name in ("LevelDBStore", "LevelDBSnapshot"):
        from ledger.store import leveldb

        return getattr(leveldb, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
