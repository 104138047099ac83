"""Auditor replay of a generated chain: tx/s with full verification, and peak memory.

Generates a chain of N transactions (blocks of 1,000 `notes.set` calls from
the six example members, certified by 3 of 4 validators) into LevelDB, then
replays it from genesis in a fresh process with every check on (transaction
signatures in a 2-process pool, certificates, execution, receipts and state
roots), and reports the replay rate and the replaying process's peak
resident memory. Run it at two sizes to see whether memory stays flat in the
chain's length. The issue's target is 1,000,000 transactions (generation
alone takes several minutes on 2 cores).

Run: .venv/bin/python bench/replay.py [TRANSACTIONS ...]   (default 20000 50000)
Prints `RESULT name=value unit` lines last.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genesis.examples.make_consortium import MEMBERS  # noqa: E402
from ledger.store import LevelDBStore  # noqa: E402
from ledger.store.chain import ChainStore  # noqa: E402
from ledger.types import Transaction  # noqa: E402
from tests.support.chain import build, certify, example_genesis, member_key  # noqa: E402

TXS_PER_BLOCK = 1000


def generate(directory: Path, transactions: int) -> float:
    """Writes the chain; returns the seconds it took."""
    members = [m for m, _, _ in MEMBERS]
    keys = {m: member_key(m) for m in members}
    nonces = dict.fromkeys(members, 0)
    start = time.perf_counter()
    with LevelDBStore(directory) as kv:
        chain = ChainStore(kv, example_genesis())
        for height in range(transactions // TXS_PER_BLOCK):
            txs = []
            for i in range(TXS_PER_BLOCK):
                member = members[i % len(members)]
                txs.append(Transaction("scf-demo", keys[member].public_key, nonces[member],
                                       "notes", "set", {"key": f"b{height}-t{i}", "value": i}
                                       ).sign(keys[member]))
                nonces[member] += 1
            built = build(chain, txs)
            chain.append(built, certify(chain, built.block))
    return time.perf_counter() - start


def replay_in_child(directory: Path) -> dict[str, float]:
    """Replays in a fresh process, so its peak memory is the replay's own."""
    script = f"""
import json, sys, time
from concurrent.futures import ProcessPoolExecutor
sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
from ledger.replay import replay_chain
from ledger.store import LevelDBStore
from ledger.store.chain import ChainStore
from tests.support.chain import REGISTRY, example_genesis
with LevelDBStore({str(directory)!r}) as kv, ProcessPoolExecutor(max_workers=2) as pool:
    chain = ChainStore(kv, example_genesis())
    start = time.perf_counter()
    report = replay_chain(chain, REGISTRY, map_fn=pool.map, window=4)
    elapsed = time.perf_counter() - start
print(json.dumps({{"ok": report.ok, "txs": report.transactions, "seconds": elapsed}}))
"""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    if not answer["ok"]:
        raise SystemExit("the replay found a mismatch in a chain it generated")
    return {"tx_s": answer["txs"] / answer["seconds"], "seconds": answer["seconds"],
            "peak_mib": max(peak_kib, before) / 1024}


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [20_000, 50_000]
    print(f"machine: {platform.machine()}, {len(os.sched_getaffinity(0))} cores, "
          f"Python {platform.python_version()}")
    results = []
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp) / "chain"
            generated = generate(directory, size)
            figures = replay_in_child(directory)
        print(f"{size:>9} txs: generated in {generated:.0f} s; replay {figures['tx_s']:,.0f} "
              f"tx/s ({figures['seconds']:.1f} s), peak memory {figures['peak_mib']:.0f} MiB "
              f"(largest child so far)")
        results.append((size, figures))
    for size, figures in results:
        print(f"RESULT replay_tx_per_s_{size}={figures['tx_s']:.0f} tx/s")
        print(f"RESULT replay_peak_mib_{size}={figures['peak_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
