"""State store scaling: the cost of a block's state updates as the state grows.

Drives a `ChainStore` on a real LevelDB (in a temporary directory) the way a
validator commits a block, at state sizes from 10^4 keys to `--max-keys`
(default 10^6), and reports two costs at each size:

* per key update: blocks of `--block` (1,000) state changes and no
  transactions, through `compute_update` (the state tree's new version) and
  `append` (certificate check, one synced write batch), the block header
  carrying the real state root. Half the changes overwrite random existing
  keys, half add keys; values are 100 bytes. This is the store alone.
* per transaction: blocks of 1,000 signed `notes.set` transactions (one new
  key each, plus the senders' nonces), built by the proposer, re-executed and
  checked by `apply_block` (signatures included) and appended: a validator's
  whole path, signing excepted (bench/ledger_core.py at a given state size).

The state is filled to each size with blocks of 50,000 new keys and LevelDB
compacted (set-up, not measured, garbage collector off), then `--warmup`
blocks run unmeasured (a running node has its tree cache warm), then
`--blocks` blocks are measured.
Both wall and CPU time are reported (CPU: this process, LevelDB's background
compaction threads included; on a shared machine the steadier figure). The
issue's target: the cost at 10^6 keys at most twice the cost at 10^4.

Run: .venv/bin/python bench/store.py [--max-keys 1000000] [--blocks 10]
     [--block 1000] [--tx-blocks 2] [--keep-versions N]
Prints `RESULT name=value unit` lines last.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test support lives in tests/

from genesis.examples.make_consortium import MEMBERS  # noqa: E402
from ledger.contract_api import contract_prefix  # noqa: E402
from ledger.store import LevelDBStore  # noqa: E402
from node.runtime.gc_tuning import tune_garbage_collector  # noqa: E402
from ledger.store.chain import ChainStore  # noqa: E402
from ledger.transition import BlockExecution, apply_block  # noqa: E402
from ledger.types import (  # noqa: E402
    Block,
    BlockHeader,
    SignedTransaction,
    Transaction,
    compute_commit_hash,
    compute_receipts_root,
    compute_txs_root,
)
from tests.support.chain import (  # noqa: E402
    REGISTRY,
    VALIDATOR_KEYS,
    build,
    certify,
    example_genesis,
    member_key,
)

PREFIX = contract_prefix("bench")
VALUE_SIZE = 100
FILL_BLOCK = 50_000
TXS_PER_BLOCK = 1000


class Clock:
    """Wall and CPU seconds spent in some step, summed over blocks."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def add(self, start: tuple[float, float]) -> None:
        self.wall += time.perf_counter() - start[0]
        self.cpu += time.process_time() - start[1]


def now() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


class Workload:
    """Deterministic state keys and values; remembers how many keys exist."""

    def __init__(self, seed: int = 10) -> None:
        self.rng = random.Random(seed)
        self.keys = 0

    def value(self) -> bytes:
        return self.rng.randbytes(VALUE_SIZE)

    def inserts(self, count: int) -> dict[bytes, bytes | None]:
        changes: dict[bytes, bytes | None] = {}
        for index in range(self.keys, self.keys + count):
            changes[PREFIX + b"k%09d" % index] = self.value()
        self.keys += count
        return changes

    def mixed(self, count: int) -> dict[bytes, bytes | None]:
        """`count` updates: half overwrite distinct existing keys, half are new."""
        changes: dict[bytes, bytes | None] = {}
        for index in self.rng.sample(range(self.keys), min(count // 2, self.keys)):
            changes[PREFIX + b"k%09d" % index] = self.value()
        changes.update(self.inserts(count - len(changes)))
        return changes


class Transactions:
    """Signed `notes.set` blocks from the example members, nonces kept here."""

    def __init__(self) -> None:
        self.members = [member for member, _, _ in MEMBERS]
        self.keys = {member: member_key(member) for member in self.members}
        self.nonces = dict.fromkeys(self.members, 0)
        self.made = 0

    def block(self) -> list[SignedTransaction]:
        txs = []
        for i in range(TXS_PER_BLOCK):
            member = self.members[i % len(self.members)]
            key = self.keys[member]
            tx = Transaction("scf-demo", key.public_key, self.nonces[member], "notes", "set",
                             {"key": f"tx{self.made}", "value": i})
            self.nonces[member] += 1
            self.made += 1
            txs.append(tx.sign(key))
        return txs


def commit_changes(chain: ChainStore, changes: dict[bytes, bytes | None],
                   compute: Clock, append: Clock) -> None:
    """Commits a block carrying only `changes`, timing compute_update and append."""
    tip = chain.tip()
    height = tip.height + 1
    last_commit = None if tip.height == 0 else chain.commit(tip.height)
    start = now()
    update = chain.compute_update(changes, height)
    compute.add(start)
    header = BlockHeader(
        chain_id=tip.chain_id, height=height, time_ms=tip.time_ms + 1000,
        previous_hash=tip.block_hash, proposer=VALIDATOR_KEYS[height % 4].public_key,
        tx_count=0, txs_root=compute_txs_root([]), receipts_root=compute_receipts_root([]),
        state_root=update.root, validator_set_hash=tip.validators.hash,
        last_commit_hash=compute_commit_hash(last_commit),
    )
    block = Block(header, (), last_commit)
    commit = certify(chain, block)
    start = now()
    chain.append(BlockExecution(block, (), changes, update), commit)
    append.add(start)


def commit_transactions(chain: ChainStore, txs: list[SignedTransaction], clock: Clock) -> None:
    """Build (the proposer), validate (every validator) and append one block."""
    start = now()
    built = build(chain, txs)
    validated = apply_block(chain, chain.tip(), built.block, REGISTRY)
    chain.append(validated, certify(chain, built.block))
    clock.add(start)
    if built.block.header.tx_count != len(txs):
        raise SystemExit(f"only {built.block.header.tx_count} of {len(txs)} txs were included")


def fill(chain: ChainStore, kv: LevelDBStore, workload: Workload, size: int) -> tuple[int, float]:
    """Adds keys up to `size`; (keys added, seconds, compaction excepted)."""
    start, added = time.perf_counter(), 0
    unused = Clock()
    gc.disable()  # set-up, not measured: spare it the collector's passes over huge batches
    try:
        while workload.keys < size:
            changes = workload.inserts(min(FILL_BLOCK, size - workload.keys))
            commit_changes(chain, changes, unused, unused)
            added += len(changes)
            del changes
    finally:
        gc.enable()
        gc.collect()
    seconds = time.perf_counter() - start
    # A node takes weeks to reach this size, and LevelDB compacts as it goes;
    # compacting now keeps the fill's backlog out of the measured blocks.
    kv._handle.db.compact_range()  # (LevelDBStore exposes no compaction: set-up only)
    return added, seconds


def sizes_up_to(max_keys: int) -> list[int]:
    sizes = []
    size = 10_000
    while size <= max_keys:
        sizes.append(size)
        size *= 10
    if not sizes or sizes[-1] != max_keys:
        sizes.append(max_keys)
    return sizes


def anonymous_memory_mib() -> float:
    """Resident memory not backed by files (LevelDB maps its tables: those
    pages are the page cache's, not the node's heap); peak RSS elsewhere."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-keys", type=int, default=1_000_000)
    parser.add_argument("--blocks", type=int, default=10, help="measured update blocks per size")
    parser.add_argument("--block", type=int, default=1000, help="updates per measured block")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured blocks per size")
    parser.add_argument("--tx-blocks", type=int, default=2,
                        help="measured blocks of 1,000 transactions per size (0: none)")
    parser.add_argument("--keep-versions", type=int, default=None,
                        help="prune the tree to the last N versions (default: keep all, "
                             "as a node's default configuration does)")
    args = parser.parse_args()
    tune_garbage_collector()  # as a node does after start-up
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    sizes = sizes_up_to(args.max_keys)
    transactions = Transactions()
    signed = [transactions.block() for _ in range(len(sizes) * args.tx_blocks)]
    workload = Workload()
    results: list[tuple[str, float, str]] = []
    update_wall: dict[int, float] = {}
    update_cpu: dict[int, float] = {}
    tx_wall: dict[int, float] = {}
    tx_cpu: dict[int, float] = {}
    filled = fill_s = 0.0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        kv = LevelDBStore(Path(tmp) / "chain")
        chain = ChainStore(kv, example_genesis(), keep_versions=args.keep_versions)
        for size in sizes:
            added, seconds = fill(chain, kv, workload, size)
            filled, fill_s = filled + added, fill_s + seconds
            unused = Clock()
            for _ in range(args.warmup):
                commit_changes(chain, workload.mixed(args.block), unused, unused)
            compute, append = Clock(), Clock()
            updates = 0
            for _ in range(args.blocks):
                changes = workload.mixed(args.block)
                commit_changes(chain, changes, compute, append)
                updates += len(changes)
            label = _size_label(size)
            update_wall[size] = (compute.wall + append.wall) / updates * 1e6
            update_cpu[size] = (compute.cpu + append.cpu) / updates * 1e6
            line = (f"{size:>9,} keys: {update_wall[size]:6.1f} µs/update "
                    f"(compute_update {compute.wall / updates * 1e6:5.1f}, "
                    f"append {append.wall / updates * 1e6:5.1f}; CPU {update_cpu[size]:6.1f})")
            results += [(f"update_us_{label}", update_wall[size], "µs"),
                        (f"update_cpu_us_{label}", update_cpu[size], "µs"),
                        (f"compute_update_us_{label}", compute.wall / updates * 1e6, "µs"),
                        (f"append_us_{label}", append.wall / updates * 1e6, "µs")]
            if args.tx_blocks:
                clock = Clock()
                for _ in range(args.tx_blocks):
                    commit_transactions(chain, signed.pop(0), clock)
                txs = args.tx_blocks * TXS_PER_BLOCK
                tx_wall[size], tx_cpu[size] = clock.wall / txs * 1e6, clock.cpu / txs * 1e6
                line += f", {tx_wall[size]:6.1f} µs/tx (CPU {tx_cpu[size]:6.1f})"
                results += [(f"tx_us_{label}", tx_wall[size], "µs"),
                            (f"tx_cpu_us_{label}", tx_cpu[size], "µs")]
            results.append((f"heap_mib_{label}", anonymous_memory_mib(), "MiB"))
            print(line + f", heap {anonymous_memory_mib():.0f} MiB", flush=True)
        kv.close()
    ratio = f"{_size_label(sizes[-1])}_over_{_size_label(sizes[0])}"
    for name, figures in (("update", update_wall), ("update_cpu", update_cpu),
                          ("tx", tx_wall), ("tx_cpu", tx_cpu)):
        if figures:
            results.append((f"{name}_cost_ratio_{ratio}", figures[sizes[-1]] / figures[sizes[0]],
                            "x"))
    results.append(("fill_keys_per_s", filled / fill_s if fill_s else 0.0, "keys/s"))
    results.append(("peak_rss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MiB"))
    results.append(("wall", time.perf_counter() - started, "s"))
    for name, value, unit in results:
        print(f"RESULT {name}={value:.2f} {unit}")


def _size_label(size: int) -> str:
    for power, suffix in ((1_000_000, "m"), (1_000, "k")):
        if size % power == 0:
            return f"{size // power}{suffix}"
    return str(size)


if __name__ == "__main__":
    main()
