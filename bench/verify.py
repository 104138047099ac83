"""`scf invoice verify` end to end against a 4-validator localnet with a large invoice state.

For each state size N, a localnet is created whose chain already holds N
`invoices.register` transactions (SUPPLIER-01 invoicing CORE-01, distinct
amounts and documents, so no near-match bucket grows), plus, in the last
generated block, CORE-01's confirmation of a sample of them. Building that
through consensus would take hours (the cluster commits ~300 tx/s), so the
chain is built offline, the way a proposer and the validators would: the
transactions are signed by the localnet's member key in a process pool,
executed by `build_block` with the real contract registry, certified by all
four validator keys, and appended to one LevelDB chain store, which is then
copied into every node's `data/chain`. The nodes are started on it, keep
making (empty) blocks, and `scf invoice verify` runs as a fresh subprocess
per check, so every figure includes interpreter start and imports.

Reported per size: wall and CPU time per check (p50, p95; one node asked, a
bundle written) over a mix of confirmed (FREE TO FINANCE), registered only
(NOT CONFIRMED) and unknown (proved absent) invoices, with the project's
bytecode cached (under --cache) and, for a few checks, without it; what
start and imports alone take (`scf invoice verify --help`) and the node's
proved answer alone; the proof sizes (bundle bytes, and SMT siblings per
proof: they grow with log2 of the state's key count, about 5 keys per
invoice); generation time and rate. The generated localnets are kept under
--cache, so a rerun only starts the nodes and checks; a cached localnet
made for other contract code or another store format is generated again
(its nodes would refuse to start).

Run: .venv/bin/python bench/verify.py [--invoices 10000 100000] [--checks 30]
     [--cache DIR] [--ask 1]        (the issue's size: --invoices 1000000)
Prints `RESULT name=value unit` lines last.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import itertools
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contracts.fingerprint import compute_fingerprint  # noqa: E402
from contracts.registry import default_registry  # noqa: E402
from genesis.contract_pins import compute_node_pins  # noqa: E402
from genesis.document import load_genesis  # noqa: E402
from ledger.block_builder import build_block  # noqa: E402
from ledger.certificates import make_commit  # noqa: E402
from ledger.crypto import SigningKey  # noqa: E402
from ledger.proof_bundle import ProofBundle  # noqa: E402
from ledger.smt_proof import SparseMerkleProof  # noqa: E402
from ledger.store import LevelDBStore, schema  # noqa: E402
from ledger.store.chain import ChainStore  # noqa: E402
from ledger.types import SignedTransaction, Transaction  # noqa: E402
from node import localnet  # noqa: E402
from node.keyfile import read_key_file  # noqa: E402
from tests.support.localnet import free_base_port  # noqa: E402

TXS_PER_BLOCK = 1000
SIGNING_PROCESSES = 2
SIGN_AHEAD_BLOCKS = 6
#: Generated state is kept pruned to the last versions (nodes never need older state here).
KEEP_VERSIONS = 2
CONFIRMED_SAMPLE = 200
SELLER, BUYER = "SUPPLIER-01", "CORE-01"
SELLER_TAX_ID, BUYER_TAX_ID = "91440300SUP0001", "91110000CORE001"
FIRST_ISSUE_DAY = datetime.date(2024, 1, 1).toordinal()
MARKER = "generated.json"
SCF = Path(sys.executable).with_name("scf")
CHECK_TIMEOUT_S = 60.0
START_TIMEOUT_S = 300.0
EXIT_OF_KIND = {"free": 0, "unconfirmed": 11, "unknown": 12}


# -- the invoices --------------------------------------------------------------------


def invoice_args(index: int) -> dict[str, Any]:
    """Registration arguments of invoice `index`: unique amount and document."""
    issue = datetime.date.fromordinal(FIRST_ISSUE_DAY + index % 700)
    due = issue + datetime.timedelta(days=60)
    number = f"BENCH-{index:08d}"
    return {"invoice_number": number, "buyer": BUYER, "seller_tax_id": SELLER_TAX_ID,
            "buyer_tax_id": BUYER_TAX_ID, "issue_date": issue.isoformat(),
            "due_date": due.isoformat(), "currency": "CNY", "face_amount": 1_000_000 + index,
            "document_sha256": hashlib.sha256(number.encode()).digest()}


def fingerprint_of(index: int) -> bytes:
    a = invoice_args(index)
    return compute_fingerprint(a["seller_tax_id"], a["buyer_tax_id"], a["invoice_number"],
                               a["issue_date"], a["currency"], a["face_amount"])


def confirmed_sample(invoices: int) -> list[int]:
    """Indices confirmed by the buyer in the last generated block: spread evenly."""
    count = min(CONFIRMED_SAMPLE, invoices // 2)
    return [i * invoices // count for i in range(count)]


def unconfirmed_sample(invoices: int) -> list[int]:
    return [index + 1 for index in confirmed_sample(invoices)]


# -- signing, in worker processes -----------------------------------------------------

_worker_key: SigningKey | None = None


def _load_worker_key(key_file: str) -> None:
    global _worker_key
    _worker_key = read_key_file(Path(key_file))


def sign_registrations(chain_id: str, first: int, count: int) -> list[bytes]:
    """Encoded registrations `first` .. `first + count - 1` (nonce = index)."""
    key = _worker_key
    assert key is not None
    return [Transaction(chain_id, key.public_key, index, "invoices", "register",
                        invoice_args(index)).sign(key).encode()
            for index in range(first, first + count)]


# -- generation ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Generated:
    invoices: int
    height: int
    seconds: float
    signing_seconds: float

    def to_json(self) -> str:
        return json.dumps({"invoices": self.invoices, "height": self.height,
                           "seconds": self.seconds, "signing_seconds": self.signing_seconds,
                           "store_format": schema.FORMAT_VERSION})


def generate(directory: Path, invoices: int) -> Generated:
    """Creates a 4-validator localnet in `directory` whose chain holds `invoices`
    registrations and the confirmations of `confirmed_sample(invoices)`."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    nodes = localnet.create(directory, validators=4, base_port=free_base_port(4))
    genesis = load_genesis(directory / "genesis.json")
    validator_keys = [read_key_file(n.home / "keys" / "validator.json") for n in nodes]
    buyer_key = localnet.member_key(directory, BUYER)
    registry = default_registry()
    chain_dir = nodes[0].home / "data" / "chain"
    started = time.perf_counter()
    signing_wait = 0.0
    with LevelDBStore(chain_dir) as kv, ProcessPoolExecutor(
            SIGNING_PROCESSES, initializer=_load_worker_key,
            initargs=(str(directory / "keys" / f"{SELLER}.json"),)) as pool:
        chain = ChainStore(kv, genesis, keep_versions=KEEP_VERSIONS)
        firsts = iter(range(0, invoices, TXS_PER_BLOCK))
        pending: deque[Future[list[bytes]]] = deque()
        while True:
            # signing runs a few blocks ahead of execution, not the whole chain ahead
            for first in itertools.islice(firsts, SIGN_AHEAD_BLOCKS - len(pending)):
                pending.append(pool.submit(sign_registrations, genesis.chain_id, first,
                                           min(TXS_PER_BLOCK, invoices - first)))
            if not pending:
                break
            waited = time.perf_counter()
            encoded = pending.popleft().result()
            signing_wait += time.perf_counter() - waited
            _append(chain, [SignedTransaction.decode(raw) for raw in encoded], validator_keys,
                    registry)
            if chain.height % 50 == 0:
                rate = chain.height * TXS_PER_BLOCK / (time.perf_counter() - started)
                print(f"  generated {chain.height * TXS_PER_BLOCK:,} of {invoices:,} "
                      f"({rate:,.0f} tx/s)", file=sys.stderr, flush=True)
        confirms = [Transaction(genesis.chain_id, buyer_key.public_key, nonce, "invoices",
                                "confirm", {"fingerprint": fingerprint_of(index)}).sign(buyer_key)
                    for nonce, index in enumerate(confirmed_sample(invoices))]
        _append(chain, confirms, validator_keys, registry)
        height = chain.height
    seconds = time.perf_counter() - started
    for node in nodes[1:]:
        shutil.copytree(chain_dir, node.home / "data" / "chain")
    generated = Generated(invoices, height, seconds, signing_wait)
    (directory / MARKER).write_text(generated.to_json(), encoding="utf-8")
    return generated


def _append(chain: ChainStore, txs: list[SignedTransaction], validator_keys: list[SigningKey],
            registry: Any) -> None:
    tip = chain.tip()
    last_commit = None if tip.height == 0 else chain.commit(tip.height)
    execution, left_out = build_block(
        chain, tip, txs, time_ms=tip.time_ms + 1,
        proposer=validator_keys[tip.height % len(validator_keys)].public_key,
        last_commit=last_commit, registry=registry, max_txs=len(txs), signatures_verified=True)
    if left_out:
        tx, error = left_out[0]
        raise SystemExit(f"block {tip.height + 1}: {len(left_out)} transactions left out, "
                         f"first nonce {tx.tx.nonce}: {error}")
    block = execution.block
    chain.append(execution, make_commit(chain_id=tip.chain_id, height=block.header.height,
                                        round=0, block_hash=block.hash, signers=validator_keys))


def load_or_generate(cache: Path, invoices: int) -> tuple[Path, Generated, bool]:
    directory = cache / f"localnet-{invoices}"
    marker = directory / MARKER
    if marker.exists():
        data = json.loads(marker.read_text(encoding="utf-8"))
        same_format = data.pop("store_format", None) == schema.FORMAT_VERSION
        same_code = load_genesis(directory / "genesis.json").contracts == compute_node_pins()
        if same_format and same_code:
            return directory, Generated(**data), True
        print(f"  {directory}: made for another store format or contract code (the nodes "
              "would refuse it); generating again", file=sys.stderr)
    return directory, generate(directory, invoices), False


# -- the checks -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Check:
    kind: str
    seconds: float              # wall, from spawning `scf` to its exit
    cpu_seconds: float          # user + system of the `scf` process
    bundle_bytes: int
    siblings: tuple[int, ...]   # per proof in the bundle


def cli_environment(cache: Path, *, bytecode: bool) -> dict[str, str]:
    """The checks' environment: with a warm bytecode cache of the project's modules
    kept under `cache` (as an installed package has), or without one (the
    project's modules compiled at every start, as in a work tree without
    __pycache__ under PYTHONDONTWRITEBYTECODE=1; installed packages keep theirs)."""
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    if bytecode:
        environment["PYTHONPYCACHEPREFIX"] = str(cache / "pycache")
    else:
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
    return environment


def checks_to_run(invoices: int, count: int) -> Iterator[tuple[str, bytes]]:
    free, unconfirmed = confirmed_sample(invoices), unconfirmed_sample(invoices)
    for i in range(count):
        kind = ("free", "unconfirmed", "unknown")[i % 3]
        pick = i // 3
        if kind == "free":
            yield kind, fingerprint_of(free[pick * 7 % len(free)])
        elif kind == "unconfirmed":
            yield kind, fingerprint_of(unconfirmed[pick * 7 % len(unconfirmed)])
        else:
            yield kind, hashlib.sha256(f"no such invoice {i}".encode()).digest()


def run_check(directory: Path, urls: list[str], kind: str, fingerprint: bytes,
              environment: dict[str, str]) -> Check:
    bundle = directory / "check.scfproof"
    bundle.unlink(missing_ok=True)
    command = [str(SCF), "invoice", "verify", "--fingerprint", fingerprint.hex(),
               "--genesis", str(directory / "genesis.json"), "--bundle", str(bundle), "--json"]
    for url in urls:
        command += ["--node", url]
    seconds, cpu_seconds, returncode, output = timed(command, environment)
    if returncode != EXIT_OF_KIND[kind]:
        raise SystemExit(f"{kind} check exited {returncode}:\n{output}")
    data = bundle.read_bytes()
    return Check(kind, seconds, cpu_seconds, len(data), proof_siblings(data))


def timed(command: list[str], environment: dict[str, str]) -> tuple[float, float, int, str]:
    """Runs `command`: wall seconds, its CPU seconds, exit code, output (stdout + stderr)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=CHECK_TIMEOUT_S,
                            stdin=subprocess.DEVNULL, env=environment)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu, result.returncode, result.stdout + result.stderr


def proof_siblings(data: bytes) -> tuple[int, ...]:
    answer = ProofBundle.decode(data).answer
    proved = [answer.invoice, answer.lien, answer.provenance_count, *answer.provenance]
    return tuple(len(SparseMerkleProof.decode(p.proof).siblings) for p in proved
                 if p is not None)


def startup_floor(environment: dict[str, str], runs: int = 9) -> float:
    """Median wall time of `scf invoice verify --help`: interpreter start and imports."""
    return statistics.median(timed([str(SCF), "invoice", "verify", "--help"], environment)[0]
                             for _ in range(runs))


def node_answer(url: str, fingerprint: bytes, runs: int = 9) -> float:
    """Median wall time of the node's proved answer (`GET /v1/invoices/{fp}?prove=1`)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        with urllib.request.urlopen(f"{url}/v1/invoices/{fingerprint.hex()}?prove=1",
                                    timeout=CHECK_TIMEOUT_S) as answer:
            answer.read()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def wait_for_fresh_tip(nodes: list[localnet.LocalNode], min_height: int) -> bool:
    """Every node at `min_height` or above, with a tip made since the start (after a
    restart, the first block may be one proposed in the last run, as old as it)."""
    started_ms = time.time_ns() // 1_000_000
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        tips = [localnet.status(node) or {} for node in nodes]
        if all(t.get("height", -1) >= min_height and t.get("time_ms", 0) >= started_ms
               for t in tips):
            return True
        time.sleep(0.2)
    return False


@dataclass(frozen=True, slots=True)
class Measured:
    warm: list[Check]          # with a bytecode cache
    cold: list[Check]          # without one
    floor_warm: float
    floor_cold: float
    node_answer: float


def measure(cache: Path, directory: Path, generated: Generated, checks: int,
            ask: int) -> Measured:
    nodes = localnet.load(directory)
    warm, cold = cli_environment(cache, bytecode=True), cli_environment(cache, bytecode=False)
    pids = []
    try:
        pids = [localnet.start(node) for node in nodes]
        if not wait_for_fresh_tip(nodes, generated.height + 1):
            raise SystemExit(f"the nodes of {directory} made no fresh block past height "
                             f"{generated.height} within {START_TIMEOUT_S:.0f} s")
        urls = [node.url for node in nodes[:ask]]
        first = fingerprint_of(confirmed_sample(generated.invoices)[0])
        run_check(directory, urls, "free", first, warm)  # fills the bytecode cache
        plan = list(checks_to_run(generated.invoices, checks))
        warm_checks = [run_check(directory, urls, kind, fp, warm) for kind, fp in plan]
        cold_checks = [run_check(directory, urls, kind, fp, cold)
                       for kind, fp in plan[:max(3, checks // 5)]]
        return Measured(warm_checks, cold_checks, startup_floor(warm), startup_floor(cold),
                        node_answer(urls[0], first))
    finally:
        for node in nodes:
            localnet.stop(node)
        for pid in pids:  # the nodes are our children: reap them
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


# -- report ---------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--checks", type=int, default=30, help="checks per size")
    parser.add_argument("--ask", type=int, default=1, choices=range(1, 5),
                        help="nodes asked per check")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/scf-bench-verify"),
                        help="where generated localnets are kept between runs")
    options = parser.parse_args()
    print(f"machine: {platform.machine()}, {len(os.sched_getaffinity(0))} cores, "
          f"Python {platform.python_version()}; 4 validators; {options.ask} node(s) asked; "
          f"load average {os.getloadavg()[0]:.1f}")
    rows = []
    for invoices in options.invoices:
        directory, generated, cached = load_or_generate(options.cache, invoices)
        print(f"{invoices:>9,} invoices: {'cached' if cached else 'generated'} chain of "
              f"{generated.height} blocks; generation took {generated.seconds:.0f} s "
              f"({generated.invoices / generated.seconds:,.0f} tx/s, "
              f"{generated.signing_seconds:.0f} s of it waiting for signatures)", flush=True)
        measured = measure(options.cache, directory, generated, options.checks, options.ask)
        report(measured)
        rows.append((invoices, generated, measured))
    for invoices, generated, measured in rows:
        times = [r.seconds for r in measured.warm]
        print(f"RESULT verify_p50_ms_{invoices}={percentile(times, 0.5) * 1000:.0f} ms")
        print(f"RESULT verify_p95_ms_{invoices}={percentile(times, 0.95) * 1000:.0f} ms")
        print(f"RESULT verify_cpu_p50_ms_{invoices}="
              f"{percentile([r.cpu_seconds for r in measured.warm], 0.5) * 1000:.0f} ms")
        print(f"RESULT verify_no_bytecode_cache_p50_ms_{invoices}="
              f"{percentile([r.seconds for r in measured.cold], 0.5) * 1000:.0f} ms")
        print(f"RESULT bundle_bytes_free_{invoices}="
              f"{statistics.median(r.bundle_bytes for r in measured.warm if r.kind == 'free'):.0f}"
              f" bytes")
        print(f"RESULT invoice_proof_siblings_{invoices}="
              f"{statistics.median(r.siblings[0] for r in measured.warm):.0f} siblings")
        print(f"RESULT generation_tx_per_s_{invoices}="
              f"{generated.invoices / generated.seconds:.0f} tx/s")


def report(measured: Measured) -> None:
    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.0f} ms"

    times = [r.seconds for r in measured.warm]
    cpu = [r.cpu_seconds for r in measured.warm]
    cold = [r.seconds for r in measured.cold]
    print(f"{'':>11}per check: p50 {ms(percentile(times, 0.5))}, p95 "
          f"{ms(percentile(times, 0.95))}, max {ms(max(times))}; CPU p50 "
          f"{ms(percentile(cpu, 0.5))} ({len(times)} checks)")
    print(f"{'':>11}of which: start and imports (`verify --help`) {ms(measured.floor_warm)}, "
          f"the node's proved answer {ms(measured.node_answer)}")
    print(f"{'':>11}without a bytecode cache: p50 {ms(percentile(cold, 0.5))} "
          f"({len(cold)} checks; `verify --help` {ms(measured.floor_cold)})")
    for kind in EXIT_OF_KIND:
        mine = [r for r in measured.warm if r.kind == kind]
        siblings = [n for r in mine for n in r.siblings]
        print(f"{'':>11}{kind:<12} p50 {ms(percentile([r.seconds for r in mine], 0.5))}; "
              f"bundle {statistics.median(r.bundle_bytes for r in mine):,.0f} bytes, "
              f"{len(mine[0].siblings)} proofs, SMT siblings per proof {min(siblings)}-"
              f"{max(siblings)} (median {statistics.median(siblings):.0f})")


if __name__ == "__main__":
    main()
