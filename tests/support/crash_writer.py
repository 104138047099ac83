"""A validator-like writer to be killed: commits blocks to a LevelDB chain store forever.

    python -m tests.support.crash_writer DB_PATH

Used by tests/integration/test_crash_safety.py, which SIGKILLs it at random
moments. It prints to stdout, one line each, flushed at once:

    opening          before the store is opened (or created and initialised)
    opened H         the store is open, its head is H
    H                block H is committed: `append` returned (its synced batch
                     is on disk), so block H is acknowledged and must survive

Block contents depend only on the height (see `block_txs`), so the state at
any height is known without the store (`expected_notes`, `expected_nonces`).
The writer stops by itself if its parent dies, so a crashed test run never
leaves it filling the disk.
"""

from __future__ import annotations

import os
import sys

from ledger.store.chain import ChainStore
from ledger.types import SignedTransaction
from tests.support.chain import commit_block, example_genesis, note_tx

SLOTS = 4
TXS_PER_BLOCK = 3
MEMBERS = ("SUPPLIER-01", "BANK-A")


def block_txs(chain: ChainStore) -> list[SignedTransaction]:
    """The transactions of the block on top of `chain`'s head: a function of its height."""
    height = chain.height + 1
    last = note_tx(chain, "SUPPLIER-01", key="last", value=height)
    slot = note_tx(chain, "SUPPLIER-01", nonce=last.tx.nonce + 1,
                   key=f"slot{height % SLOTS}", value=7 * height)
    bank = note_tx(chain, "BANK-A", key="bank", value=3 * height)
    return [last, slot, bank]


def expected_notes(height: int) -> dict[str, int]:
    """Every notes key and its value after block `height` (genesis: none)."""
    if height == 0:
        return {}
    notes = {"last": height, "bank": 3 * height}
    for h in range(max(1, height - SLOTS + 1), height + 1):
        notes[f"slot{h % SLOTS}"] = 7 * h
    return notes


def all_note_keys() -> list[str]:
    return ["last", "bank", *(f"slot{k}" for k in range(SLOTS))]


def expected_nonces(height: int) -> dict[str, int]:
    """The next nonce of each writing member after block `height`."""
    return {"SUPPLIER-01": 2 * height, "BANK-A": height}


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.support.crash_writer DB_PATH", file=sys.stderr)
        return 2
    from ledger.store import LevelDBStore

    parent = os.getppid()
    genesis = example_genesis()
    _say("opening")
    kv = LevelDBStore(argv[0])
    chain = ChainStore(kv, genesis)
    _say(f"opened {chain.height}")
    while os.getppid() == parent:
        commit_block(chain, block_txs(chain))
        _say(str(chain.height))
    kv.close()
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
