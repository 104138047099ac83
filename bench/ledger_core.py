"""Ledger-core throughput: block append on LevelDB, and auditor replay.

Blocks of 1,000 tiny transactions (`notes.set` from the test registry, one
new state key each) from the six example members. Signing happens before the
clock starts. Figures:

* append: build (proposer executes) + validate (apply_block re-executes and
  verifies every signature) + append (one synced LevelDB batch), per block;
* replay: `replay_chain` from genesis, with tx signatures (1 process, and a
  2-process pool) and without them.

Run: .venv/bin/python bench/ledger_core.py [BLOCKS]   (default 20)
Prints `RESULT name=value unit` lines last.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test registry lives in tests/

from genesis.examples.make_consortium import MEMBERS  # noqa: E402
from ledger.replay import replay_chain
from ledger.store import LevelDBStore
from ledger.store.chain import ChainStore
from ledger.transition import apply_block
from ledger.types import SignedTransaction, Transaction
from tests.support.chain import REGISTRY, build, certify, example_genesis, member_key

TXS_PER_BLOCK = 1000


def signed_blocks(blocks: int) -> list[list[SignedTransaction]]:
    members = [m for m, _, _ in MEMBERS]
    keys = {m: member_key(m) for m in members}
    nonces = {m: 0 for m in members}
    out = []
    for height in range(blocks):
        txs = []
        for i in range(TXS_PER_BLOCK):
            member = members[i % len(members)]
            key = keys[member]
            tx = Transaction("scf-demo", key.public_key, nonces[member], "notes", "set",
                             {"key": f"b{height}-t{i}", "value": i})
            nonces[member] += 1
            txs.append(tx.sign(key))
        out.append(txs)
    return out


def main() -> None:
    blocks = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    genesis = example_genesis()
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"signing {blocks} blocks x {TXS_PER_BLOCK} txs ...", flush=True)
    workload = signed_blocks(blocks)
    with tempfile.TemporaryDirectory() as tmp:
        kv = LevelDBStore(Path(tmp) / "chain")
        chain = ChainStore(kv, genesis)
        build_s = validate_s = append_s = 0.0
        for txs in workload:
            t0 = time.perf_counter()
            built = build(chain, txs)
            t1 = time.perf_counter()
            validated = apply_block(chain, chain.tip(), built.block, REGISTRY)
            t2 = time.perf_counter()
            chain.append(validated, certify(chain, built.block))
            t3 = time.perf_counter()
            build_s, validate_s, append_s = build_s + t1 - t0, validate_s + t2 - t1, append_s + t3 - t2
        total_txs = blocks * TXS_PER_BLOCK
        per_block = (build_s + validate_s + append_s) / blocks
        print(f"per block: build {build_s / blocks * 1000:.0f} ms, validate "
              f"{validate_s / blocks * 1000:.0f} ms, append {append_s / blocks * 1000:.0f} ms")
        results = [
            ("append_blocks_per_s", blocks / (build_s + validate_s + append_s), "blocks/s"),
            ("append_tx_per_s", total_txs / (build_s + validate_s + append_s), "tx/s"),
            ("validate_and_append_tx_per_s", total_txs / (validate_s + append_s), "tx/s"),
            ("block_ms", per_block * 1000, "ms"),
        ]
        for label, options in (("replay_with_signatures_1proc", {}),
                               ("replay_without_signatures", {"check_tx_signatures": False})):
            t0 = time.perf_counter()
            report = replay_chain(chain, REGISTRY, **options)
            elapsed = time.perf_counter() - t0
            if not report.ok:
                raise SystemExit(f"replay failed: {report.mismatch}")
            results.append((label + "_tx_per_s", total_txs / elapsed, "tx/s"))
        with ProcessPoolExecutor(max_workers=2) as pool:
            t0 = time.perf_counter()
            report = replay_chain(chain, REGISTRY, map_fn=pool.map, window=4)
            elapsed = time.perf_counter() - t0
        if not report.ok:
            raise SystemExit(f"replay failed: {report.mismatch}")
        results.append(("replay_with_signatures_2proc_tx_per_s", total_txs / elapsed, "tx/s"))
        kv.close()
    for name, value, unit in results:
        print(f"RESULT {name}={value:.1f} {unit}")


if __name__ == "__main__":
    main()
