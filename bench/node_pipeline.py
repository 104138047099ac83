"""One validator's work per transaction, stage by stage, in one process.

The cluster benchmark (bench/cluster.py) gives the end-to-end figure, but 4
nodes and the load clients share 2 cores there, so it cannot say where the
CPU goes. This runs the same code a validator runs for each block, on real
LevelDB, and times each stage in CPU seconds (`time.process_time`):

* admit:   decode the transaction bytes, admission checks, signature, mempool
* build:   the proposer reaps the mempool and executes the block it proposes
* encode:  the proposer encodes the block for the wire (once per block)
* decode:  every other validator decodes the block it receives
* execute: a validator executes the received block (signatures known from its mempool)
* commit:  the block, its certificate, receipts and state go to LevelDB in one batch

A validator pays admit + decode + execute + commit for each transaction, and
build + encode when it proposes (one height in 4). The sum gives the CPU
capacity of 4 validators on this machine's cores, an upper bound for what
bench/cluster.py can reach (it leaves out consensus messages, HTTP and gossip).

Run: .venv/bin/python bench/node_pipeline.py [--blocks 10] [--block-txs 1000] [--profile]
Prints `RESULT name=value unit` lines last.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from contracts.registry import default_registry  # noqa: E402
from ledger.store import LevelDBStore  # noqa: E402
from ledger.store.chain import ChainStore  # noqa: E402
from ledger.types import Block  # noqa: E402
from node.runtime.admission import admit, decode_signed_tx  # noqa: E402
from node.runtime.application import LedgerApplication  # noqa: E402
from node.runtime.gc_tuning import tune_garbage_collector  # noqa: E402
from node.runtime.mempool import Mempool, MempoolLimits  # noqa: E402
from ceiling import signed_registrations  # noqa: E402
from tests.support.chain import VALIDATOR_KEYS, certify, example_genesis  # noqa: E402

STAGES = ("admit", "build", "encode", "decode", "execute", "commit")
T = TypeVar("T")


class Validator:
    """A chain store on LevelDB, a mempool and the application, as a node wires them."""

    def __init__(self, directory: Path, proposer_index: int) -> None:
        self.kv = LevelDBStore(directory)
        self.chain = ChainStore(self.kv, example_genesis(), keep_versions=None)
        limits = MempoolLimits(max_count=1_000_000, max_bytes=1 << 30, nonce_window=1_000_000)
        self.mempool = Mempool(limits)
        # A still clock turns the proposer's build budget off: it is timed on
        # the wall clock, and on a busy machine it would cut blocks short.
        self.app = LedgerApplication(self.chain, default_registry(), self.mempool,
                                     VALIDATOR_KEYS[proposer_index].public_key,
                                     clock=lambda: 0.0)

    def admit_all(self, raw: list[bytes]) -> None:
        state = self.chain.state()
        for data in raw:
            tx = decode_signed_tx(data)
            admitted = admit(tx, chain_id=self.chain.genesis.chain_id, state=state,
                             next_height=self.chain.height + 1)
            self.mempool.add(admitted)


def timed(totals: dict[str, float], stage: str, work: Callable[[], T]) -> T:
    start = time.process_time()
    result = work()
    totals[stage] += time.process_time() - start
    return result


def run(blocks: int, block_txs: int, directory: Path) -> dict[str, float]:
    proposer = Validator(directory / "proposer", 0)
    validator = Validator(directory / "validator", 1)
    chain_id = proposer.chain.genesis.chain_id
    totals = dict.fromkeys(STAGES, 0.0)
    for height in range(1, blocks + 1):
        raw = signed_registrations(block_txs, (height - 1) * block_txs, chain_id)
        proposer.admit_all(raw)  # the proposer's admission is not timed: same as below
        timed(totals, "admit", lambda: validator.admit_all(raw))
        now_ms = proposer.chain.tip().time_ms + 1000
        block = timed(totals, "build", lambda: proposer.app.build(height, now_ms))
        if len(block.txs) != block_txs:
            raise SystemExit(f"height {height}: built {len(block.txs)} of {block_txs} txs")
        wire = timed(totals, "encode", block.encode)
        received = timed(totals, "decode", lambda: Block.decode(wire))
        if not timed(totals, "execute", lambda: validator.app.execute(received)):
            raise SystemExit(f"height {height}: {validator.app.invalid_reason(received.hash)}")
        commit = certify(proposer.chain, block)
        timed(totals, "commit", lambda: validator.app.commit(received, commit))
        proposer.app.commit(block, commit)
    proposer.kv.close()
    validator.kv.close()
    return {stage: seconds / (blocks * block_txs) for stage, seconds in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--block-txs", type=int, default=1000)
    parser.add_argument("--profile", action="store_true", help="cProfile the run, print the top")
    options = parser.parse_args()
    tune_garbage_collector()  # as a node does after start-up
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp:
        profiler = cProfile.Profile() if options.profile else None
        if profiler is not None:
            profiler.enable()
        per_tx = run(options.blocks, options.block_txs, Path(tmp))
        if profiler is not None:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    every_node = per_tx["admit"] + per_tx["decode"] + per_tx["execute"] + per_tx["commit"]
    node = every_node + (per_tx["build"] + per_tx["encode"]) / 4
    capacity = cores / (4 * node)
    print(f"{options.blocks} blocks of {options.block_txs} invoices.register, LevelDB, "
          f"{cores} cores")
    for stage in STAGES:
        print(f"  {stage:<8} {per_tx[stage] * 1e6:8.1f} us/tx")
    print(f"  one validator: {node * 1e6:.1f} us/tx; 4 validators on {cores} cores: "
          f"at most {capacity:,.0f} tx/s")
    for stage in STAGES:
        print(f"RESULT pipeline_{stage}_us={per_tx[stage] * 1e6:.1f} us")
    print(f"RESULT pipeline_validator_us={node * 1e6:.1f} us")
    print(f"RESULT pipeline_capacity_4_validators={capacity:.0f} tx/s")


if __name__ == "__main__":
    main()
