"""A 4-validator localnet on this machine under open-loop load of invoice registrations.

All 4 node processes and the load clients share the machine's cores. For each
offered rate, client processes (separate from the nodes) post pre-signed
`invoices.register` transactions on a fixed schedule (open loop: a slow node
does not slow the offered load), one per POST or in batches; an observer
follows the committed events (`GET /v1/events`) and notes when each
transaction became final. Reported per rate: committed tx/s sustained over
the run, commit latency p50/p95/p99 (from the POST to the event), and what
was lost: accepted but never committed, waiting after the load while the
backlog still commits (up to 300 s, until 20 s pass without a commit). The knee is the highest rate still committed
within 10 % of the offered rate with p99 below 3 s.

Also per rate: the CPU time the 4 node processes spent per committed
transaction (read from /proc before and after), which stays meaningful when
other work shares the machine, and the capacity it implies (cores / CPU per
transaction). `bench/ceiling.py` runs first in the same process, and every
rate is also given as a fraction of its ceiling.

With `--mix factoring`, instead: whole factoring workflows (register,
confirm, offer, accept, fund, acknowledge; bench/factoring_mix.py), closed
loop, `--workflows` of them with `--concurrency` at once.

Run: .venv/bin/python bench/cluster.py [--rates 100,200,400] [--seconds 10] [--batch 0|N]
     .venv/bin/python bench/cluster.py --mix factoring [--workflows 300] [--concurrency 48]
Prints `RESULT name=value unit` lines last.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
import hashlib
import json
import multiprocessing
import os
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ledger import codec  # noqa: E402
from ledger.types import Transaction  # noqa: E402
from node import localnet  # noqa: E402
from node.client import NodeClient  # noqa: E402
from tests.support.localnet import free_base_port  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ceiling as ceiling_bench  # noqa: E402
import factoring_mix  # noqa: E402

#: invoices.register needs the supplier role; the example consortium has one
#: supplier, so the bench raises the nonce window and lets it run far ahead.
SENDERS = ("SUPPLIER-01",)
CLIENT_PROCESSES = 2
#: after the load: how long the backlog may take to commit, and how long without
#: any commit counts as stuck
DRAIN_MAX_S = 300
STALL_S = 20
BENCH_CONFIG = {"api": {"rate_per_s": 1_000_000, "burst": 1_000_000, "max_batch": 1_000},
                "mempool": {"nonce_window": 1_000_000, "max_count": 200_000}}


def configure(nodes: list[localnet.LocalNode]) -> None:
    for node in nodes:
        path = node.home / "config.json"
        config = json.loads(path.read_text())
        for section, values in BENCH_CONFIG.items():
            config[section] = {**config.get(section, {}), **values}
        path.write_text(json.dumps(config, indent=2))


def sign_all(directory: Path, chain_id: str, senders: list[str], nonces: dict[str, int],
             count: int, tag: str) -> list[tuple[str, bytes]]:
    """`count` registrations round-robin over `senders`: (tx id hex, encoded)."""
    keys = {s: localnet.member_key(directory, s) for s in senders}
    signed = []
    for i in range(count):
        sender = senders[i % len(senders)]
        key = keys[sender]
        number = f"{tag}-{i:07d}"
        args = {"invoice_number": number, "buyer": "CORE-01",
                "seller_tax_id": f"TAX-{sender}", "buyer_tax_id": "91110000CORE001",
                "issue_date": "2026-11-20", "due_date": "2027-02-18", "currency": "CNY",
                "face_amount": 1_000_000 + i,
                "document_sha256": hashlib.sha256(number.encode()).digest()}
        tx = Transaction(chain_id, key.public_key, nonces[sender], "invoices", "register",
                         args).sign(key)
        nonces[sender] += 1
        signed.append((tx.tx_id.hex(), tx.encode()))
    return signed


def client(url: str, txs: list[tuple[str, bytes]], rate: float, batch: int, start: float,
           results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """Posts on schedule; reports (tx id, sent time) of each accepted transaction."""
    sent: list[tuple[str, float]] = []
    groups = [txs[i:i + max(1, batch)] for i in range(0, len(txs), max(1, batch))]
    interval = max(1, batch) / rate
    for index, group in enumerate(groups):
        due = start + index * interval
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        if batch:
            body = codec.encode([raw for _, raw in group], max_size=64 * 1024 * 1024)
            path = "/v1/txs/batch"
        else:
            body, path = group[0][1], "/v1/txs"
        request = urllib.request.Request(url + path, data=body, method="POST",
                                         headers={"Content-Type": "application/msgpack"})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                answer.read()
            now = time.time()
            sent.extend((tx_id, now) for tx_id, _ in group)
        except OSError:
            pass
    results.put(sent)


def observe(url: str, committed: dict[str, float], stop: threading.Event) -> None:
    request = urllib.request.Request(url + "/v1/events?kind=invoice.registered")
    with urllib.request.urlopen(request, timeout=600) as stream:
        for line in stream:
            if stop.is_set():
                return
            if line.startswith(b"data: "):
                event = json.loads(line[6:])
                committed.setdefault(event["tx_id"], time.time())


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def measure_ceiling(validators: int) -> float:
    decode, verify, hashing = ceiling_bench.cost_per_tx(ceiling_bench.signed_registrations(2000))
    return len(os.sched_getaffinity(0)) / (validators * (decode + verify + hashing))


def wait_for_backlog(committed: dict[str, float], sent: dict[str, float]) -> None:
    """Waits until every accepted transaction is committed, or the commits stop
    (none for STALL_S), or DRAIN_MAX_S: above the knee the backlog commits
    after the load ends, and only what never commits counts as lost."""
    deadline = time.time() + DRAIN_MAX_S
    last_count, last_progress = -1, time.time()
    while time.time() < deadline:
        count = sum(1 for tx in sent if tx in committed)
        if count == len(sent):
            return
        if count != last_count:
            last_count, last_progress = count, time.time()
        elif time.time() - last_progress > STALL_S:
            return
        time.sleep(0.2)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def run_rate(directory: Path, nodes: list[localnet.LocalNode], rate: int, seconds: int,
             batch: int, tag: str) -> dict[str, float]:
    chain_id = NodeClient(nodes[0].url).chain_id()
    nonces = {s: NodeClient(nodes[0].url).nonce(localnet.member_key(directory, s).public_key)
              for s in SENDERS}
    signed = sign_all(directory, chain_id, list(SENDERS), nonces, rate * seconds, tag)
    # each client posts every CLIENT_PROCESSES-th transaction, so nonces interleave
    work = [signed[i::CLIENT_PROCESSES] for i in range(CLIENT_PROCESSES)]
    committed: dict[str, float] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=observe, args=(nodes[0].url, committed, stop), daemon=True)
    watcher.start()
    time.sleep(0.5)
    results: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    start = time.time() + 0.5
    pids = [p for p in (localnet.pid_of(node) for node in nodes) if p is not None]
    cpu_before = cpu_seconds(pids)
    processes = [multiprocessing.Process(target=client, args=(
        nodes[(i + 1) % len(nodes)].url, work[i], rate / CLIENT_PROCESSES, batch, start,
        results)) for i in range(CLIENT_PROCESSES)]
    for process in processes:
        process.start()
    sent: dict[str, float] = {}
    for _ in processes:
        sent.update(results.get())
    for process in processes:
        process.join()
    wait_for_backlog(committed, sent)
    stop.set()
    cpu = cpu_seconds(pids) - cpu_before
    finals = [committed[tx] for tx in sent if tx in committed]
    latencies = [committed[tx] - at for tx, at in sent.items() if tx in committed]
    span = (max(finals) - start) if finals else float("nan")
    return {"offered": rate, "accepted": len(sent), "committed": len(finals),
            "lost": len(sent) - len(finals), "tx_s": len(finals) / span if finals else 0.0,
            "p50": percentile(latencies, 0.50), "p95": percentile(latencies, 0.95),
            "p99": percentile(latencies, 0.99),
            "cpu_ms_per_tx": 1000 * cpu / len(finals) if finals else float("nan")}


@contextmanager
def running_cluster() -> Iterator[tuple[Path, list[localnet.LocalNode]]]:
    """A fresh 4-validator localnet with the bench's limits, stopped on the way out."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        nodes = localnet.create(directory, validators=4, base_port=free_base_port(4))
        configure(nodes)
        try:
            for node in nodes:
                localnet.start(node)
            if not localnet.wait_until(nodes, 1, timeout_s=60):
                raise SystemExit("the localnet did not start")
            yield directory, nodes
        finally:
            for node in nodes:
                localnet.stop(node)


def run_factoring_mix(workflows: int, concurrency: int) -> None:
    cores = len(os.sched_getaffinity(0))
    ceiling = measure_ceiling(4)
    with running_cluster() as (directory, nodes):
        pids = [p for p in (localnet.pid_of(node) for node in nodes) if p is not None]
        cpu_before = cpu_seconds(pids)
        result = factoring_mix.run(directory, nodes, workflows, concurrency)
        cpu = cpu_seconds(pids) - cpu_before
    if result["aborted"]:
        print(f"stopped early: {result['aborted']}")
    operations = result["operations"]
    print(f"4 validators on {cores} cores; {workflows} factoring workflows of "
          f"{len(factoring_mix.STEPS)} transactions, {concurrency} at once (closed loop)")
    print(f"{result['workflows']} workflows, {operations} operations in {result['seconds']:.1f} s:"
          f" {result['workflows_s']:.1f} workflows/s, {result['ops_s']:.0f} operations/s "
          f"({result['ops_s'] / ceiling:.1%} of the ceiling of {ceiling:,.0f} tx/s)")
    print(f"node CPU per operation: {1000 * cpu / max(1, operations):.2f} ms")
    print(f"{'operation':<12} {'count':>6} {'p50 s':>7} {'p95 s':>7} {'p99 s':>7}")
    for step in factoring_mix.STEPS:
        values = result["latencies"].get(step, [])
        print(f"{step:<12} {len(values):>6} {percentile(values, 0.5):>7.2f} "
              f"{percentile(values, 0.95):>7.2f} {percentile(values, 0.99):>7.2f}")
    for reason, count in sorted(result["refused"].items()):
        print(f"refused: {reason} x{count}")
    every = [v for values in result["latencies"].values() for v in values]
    print(f"RESULT factoring_workflows_per_s={result['workflows_s']:.1f} workflows/s")
    print(f"RESULT factoring_ops_per_s={result['ops_s']:.0f} tx/s")
    print(f"RESULT factoring_fraction_of_ceiling={result['ops_s'] / ceiling:.3f}")
    print(f"RESULT factoring_node_cpu_per_op={1000 * cpu / max(1, operations):.2f} ms")
    print(f"RESULT factoring_p50={percentile(every, 0.5):.2f} s")
    print(f"RESULT factoring_p99={percentile(every, 0.99):.2f} s")
    print(f"RESULT factoring_refused={sum(result['refused'].values())} tx")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="100,200,400")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--batch", type=int, default=0, help="0: one tx per POST")
    parser.add_argument("--mix", choices=("registrations", "factoring"), default="registrations")
    parser.add_argument("--workflows", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=48)
    options = parser.parse_args()
    if options.mix == "factoring":
        run_factoring_mix(options.workflows, options.concurrency)
        return
    rates = [int(r) for r in options.rates.split(",")]
    cores = len(os.sched_getaffinity(0))
    ceiling = measure_ceiling(4)
    print(f"ceiling (bench/ceiling.py, this run): {ceiling:,.0f} tx/s for 4 validators "
          f"on {cores} cores")
    with running_cluster() as (directory, nodes):
        mode = f"batches of {options.batch}" if options.batch else "one tx per POST"
        print(f"4 validators + {CLIENT_PROCESSES} load clients on this machine; {mode}; "
              f"{options.seconds} s per rate")
        print(f"{'offered':>8} {'committed':>10} {'tx/s':>8} {'p50 s':>7} {'p95 s':>7} "
              f"{'p99 s':>7} {'lost':>5} {'of ceiling':>10} {'node CPU ms/tx':>15} "
              f"{'CPU capacity tx/s':>18}")
        rows = []
        for rate in rates:
            row = run_rate(directory, nodes, rate, options.seconds, options.batch,
                           f"R{rate}")
            rows.append(row)
            print(f"{rate:>8} {row['committed']:>10} {row['tx_s']:>8.0f} {row['p50']:>7.2f} "
                  f"{row['p95']:>7.2f} {row['p99']:>7.2f} {row['lost']:>5} "
                  f"{row['tx_s'] / ceiling:>10.1%} {row['cpu_ms_per_tx']:>15.2f} "
                  f"{1000 * cores / row['cpu_ms_per_tx']:>18,.0f}")
    good = [r for r in rows if r["tx_s"] >= 0.9 * r["offered"] and r["p99"] < 3.0]
    knee = max((r["offered"] for r in good), default=0)
    best = max(rows, key=lambda r: r["tx_s"])
    suffix = f"batch{options.batch}" if options.batch else "single"
    print(f"RESULT ceiling_4_validators={ceiling:.0f} tx/s")
    print(f"RESULT cluster_max_committed_{suffix}={best['tx_s']:.0f} tx/s")
    print(f"RESULT cluster_max_fraction_of_ceiling_{suffix}={best['tx_s'] / ceiling:.3f}")
    print(f"RESULT cluster_node_cpu_per_tx_{suffix}="
          f"{min(r['cpu_ms_per_tx'] for r in rows):.2f} ms")
    print(f"RESULT cluster_knee_{suffix}={knee} tx/s")
    for row in rows:
        print(f"RESULT cluster_p50_at_{row['offered']}_{suffix}={row['p50']:.2f} s")
        print(f"RESULT cluster_p99_at_{row['offered']}_{suffix}={row['p99']:.2f} s")
    print(f"RESULT cluster_lost_{suffix}={sum(r['lost'] for r in rows):.0f} tx")


if __name__ == "__main__":
    main()
