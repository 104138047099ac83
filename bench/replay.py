"""Auditor replay of a generated chain: tx/s with full verification, and peak memory.

Generates a chain of N transactions (blocks of 1,000 `notes.set` calls from
the six example members, each writing a new state key, certified by 3 of 4
validators) into LevelDB, then replays it from genesis in a fresh process
with every check on (transaction signatures in a process pool, certificates,
execution, receipts and state roots; `ledger/replay.py`), rebuilding the
state in a scratch LevelDB, and reports the replay rate and the peak
resident memory of the replaying process and of its workers. Run it at two
sizes or more to see that memory stays flat in the chain's length. The
issue's target is 1,000,000 transactions at >= 15,000 tx/s on 2 cores.

Generation is the slow part (a validator's work, block by block; signing
runs in the pool): with `--cache DIR` each chain is kept in DIR/chain-N and
a rerun replays it without generating it again.

The rate is also given as a fraction of the machine's ceiling for one
auditor (bench/ceiling.py's measurement with one validator: the cores over
decode + verify + hash per transaction, the work no replay can skip).

Run: .venv/bin/python bench/replay.py [TRANSACTIONS ...] [--cache DIR] [--workers N]
     (default sizes 20000 100000)
Prints `RESULT name=value unit` lines last.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ceiling import cost_per_tx, signed_registrations  # noqa: E402
from genesis.examples.make_consortium import MEMBERS  # noqa: E402
from ledger.store import LevelDBStore  # noqa: E402
from ledger.store.chain import ChainStore  # noqa: E402
from ledger.types import SignedTransaction, Transaction  # noqa: E402
from genesis.document import load_genesis  # noqa: E402
from genesis.examples.make_consortium import OUTPUT as EXAMPLE_GENESIS  # noqa: E402
from tests.support.chain import build, certify, member_key  # noqa: E402

TXS_PER_BLOCK = 1000
COMPLETE = "complete"  # marks a cached chain whose generation finished
MEMBER_IDS = [m for m, _, _ in MEMBERS]


def sign_block(height: int, first_nonce: dict[str, int]) -> list[bytes]:
    """Worker: the signed transactions of block `height` (index i is member i % 6's)."""
    keys = {m: member_key(m) for m in MEMBER_IDS}
    nonces = dict(first_nonce)
    encoded = []
    for i in range(TXS_PER_BLOCK):
        member = MEMBER_IDS[i % len(MEMBER_IDS)]
        tx = Transaction("scf-demo", keys[member].public_key, nonces[member], "notes", "set",
                         {"key": f"b{height}-t{i}", "value": i})
        encoded.append(tx.sign(keys[member]).encode())
        nonces[member] += 1
    return encoded


def _first_nonces(height: int) -> dict[str, int]:
    """Each member's nonce at the start of block `height` (blocks are all alike)."""
    per_block = {m: sum(1 for i in range(TXS_PER_BLOCK) if MEMBER_IDS[i % len(MEMBER_IDS)] == m)
                 for m in MEMBER_IDS}
    return {m: height * per_block[m] for m in MEMBER_IDS}


def generate(directory: Path, transactions: int, pool: Executor) -> float:
    """Writes the chain; returns the seconds it took."""
    start = time.perf_counter()
    blocks = transactions // TXS_PER_BLOCK
    directory.mkdir(parents=True)
    # the genesis goes with the chain: another edit of contracts/ re-pins the example's
    shutil.copyfile(EXAMPLE_GENESIS, directory / "genesis.json")
    with LevelDBStore(directory / "db") as kv:
        chain = ChainStore(kv, load_genesis(directory / "genesis.json"), keep_versions=2)
        for height, encoded in enumerate(_bounded_map(pool, sign_block, blocks)):
            txs = [SignedTransaction.decode(data) for data in encoded]
            built = build(chain, txs)
            chain.append(built, certify(chain, built.block))
            if height % 100 == 99:
                print(f"  generated {(height + 1) * TXS_PER_BLOCK:,} txs "
                      f"({time.perf_counter() - start:.0f} s)", flush=True)
    (directory / COMPLETE).write_text(str(transactions))
    return time.perf_counter() - start


def _bounded_map(pool: Executor, sign: Callable[[int, dict[str, int]], list[bytes]],
                 blocks: int, ahead: int = 8) -> Iterator[list[bytes]]:
    """The signed blocks in order, at most `ahead` of them waiting (memory)."""
    pending: deque[Future[list[bytes]]] = deque()
    for height in range(blocks):
        pending.append(pool.submit(sign, height, _first_nonces(height)))
        if len(pending) >= ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


REPLAY_SCRIPT = """
import json, resource, sys, tempfile, time
from concurrent.futures import ProcessPoolExecutor
sys.path.insert(0, {root!r})
from ledger.replay import GC_YOUNG_THRESHOLD, replay_chain
from ledger.store import LevelDBStore
from ledger.store.chain import ChainStore
from ledger.store.leveldb import SCRATCH_TUNING
from genesis.document import load_genesis
from tests.support.chain import REGISTRY
from node.runtime.gc_tuning import tune_garbage_collector
tune_garbage_collector(young=GC_YOUNG_THRESHOLD)  # as `scf audit replay` does
with LevelDBStore({chain!r} + "/db", create=False) as kv, \\
        tempfile.TemporaryDirectory(prefix="scf-replay-") as scratch_dir, \\
        LevelDBStore(scratch_dir, tuning=SCRATCH_TUNING) as scratch:
    chain = ChainStore(kv, load_genesis({chain!r} + "/genesis.json"))
    anon_kib = [0]

    def sample(height, transactions):
        # resident anonymous memory: ru_maxrss also counts the pages of the
        # chain's table files LevelDB reads through mmap (page cache)
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    anon_kib[0] = max(anon_kib[0], int(line.split()[1]))

    with ProcessPoolExecutor(max_workers={workers}) as pool:
        list(pool.map(abs, range({workers})))  # start the workers before the clock
        start, cpu = time.perf_counter(), time.process_time()
        report = replay_chain(chain, REGISTRY, map_fn=pool.map, store=scratch, progress=sample)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
workers_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
main_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"ok": report.ok, "mismatch": str(report.mismatch), "txs": report.transactions,
                  "seconds": elapsed, "main_cpu": cpu, "main_kib": main_kib,
                  "anon_kib": anon_kib[0],
                  "workers_kib": workers_kib}}))
"""


def replay_in_child(directory: Path, workers: int) -> dict[str, float]:
    """Replays in a fresh process, so its peak memory is the replay's own."""
    script = REPLAY_SCRIPT.format(root=str(ROOT), chain=str(directory), workers=workers)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=6 * 3600)
    if result.returncode != 0:
        raise SystemExit(f"the replay process failed:\n{result.stderr[-3000:]}")
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    if not answer["ok"]:
        raise SystemExit(f"the replay found a mismatch in a chain it generated: "
                         f"{answer['mismatch']}")
    return {"tx_s": answer["txs"] / answer["seconds"], "seconds": answer["seconds"],
            "main_cpu_us": answer["main_cpu"] / answer["txs"] * 1e6,
            "main_mib": answer["main_kib"] / 1024, "anon_mib": answer["anon_kib"] / 1024,
            "workers_mib": answer["workers_kib"] / 1024}


def auditor_ceiling(cores: int) -> float:
    """bench/ceiling.py's ceiling for one validator: cores / (decode + verify + hash)."""
    return cores / sum(cost_per_tx(signed_registrations(2000)))


def chain_for(size: int, cache: Path | None, pool: Executor, tmp: Path) -> tuple[Path, float | None]:
    """The chain of `size` transactions (cached or new) and its generation time, if generated."""
    directory = (cache if cache is not None else tmp) / f"chain-{size}"
    if (directory / COMPLETE).exists():
        return directory, None
    if directory.exists():
        shutil.rmtree(directory)  # an interrupted generation
    return directory, generate(directory, size, pool)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[20_000, 100_000])
    parser.add_argument("--cache", type=Path, help="keep generated chains here and reuse them")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    print(f"machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}; "
          f"replay with {args.workers} signature workers")
    results = []
    with tempfile.TemporaryDirectory(prefix="scf-bench-replay-") as tmp, \
            ProcessPoolExecutor(max_workers=args.workers) as pool:
        for size in args.sizes:
            directory, generated = chain_for(size, args.cache, pool, Path(tmp))
            figures = replay_in_child(directory, args.workers)
            made = "cached" if generated is None else f"generated in {generated:.0f} s"
            print(f"{size:>9,} txs ({made}): replay {figures['tx_s']:,.0f} tx/s "
                  f"({figures['seconds']:.1f} s, main process {figures['main_cpu_us']:.0f} us "
                  f"CPU per tx), peak memory {figures['main_mib']:.0f} MiB main "
                  f"({figures['anon_mib']:.0f} MiB anonymous), "
                  f"{figures['workers_mib']:.0f} MiB per worker", flush=True)
            results.append((size, figures))
            if args.cache is None:
                shutil.rmtree(directory)
    ceiling = auditor_ceiling(cores)
    print(f"ceiling for one auditor on {cores} cores (bench/ceiling.py, 1 validator): "
          f"{ceiling:,.0f} tx/s")
    for size, figures in results:
        print(f"RESULT replay_tx_per_s_{size}={figures['tx_s']:.0f} tx/s")
        print(f"RESULT replay_main_cpu_us_per_tx_{size}={figures['main_cpu_us']:.0f} us")
        print(f"RESULT replay_peak_mib_{size}={figures['main_mib']:.0f} MiB")
        print(f"RESULT replay_peak_anon_mib_{size}={figures['anon_mib']:.0f} MiB")
        print(f"RESULT replay_worker_peak_mib_{size}={figures['workers_mib']:.0f} MiB")
        print(f"RESULT replay_fraction_of_ceiling_{size}={figures['tx_s'] / ceiling:.3f}")
    print(f"RESULT auditor_ceiling={ceiling:.0f} tx/s")


if __name__ == "__main__":
    main()
