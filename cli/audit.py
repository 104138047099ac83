"""`scf audit replay|export`: an auditor re-verifies a whole chain from the genesis they trust.

`replay` takes the raw entries of a stopped node's home, of a node's API or
of an archive (node/chain_source.py), re-checks every block from genesis
(ledger/replay.py; an archive through ledger/archive.py's import), counts
what happened (ledger/audit_report.py) and, with `--compare-node`, asks
nodes whether their header at the final height carries the same state
root. `export` writes the portable archive of docs/operations.md.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any, NoReturn

import click

from cli.exits import Exit
from cli.session import emit, fail, json_option
from contracts.registry import default_registry
from genesis.document import Genesis, load_genesis
from ledger.archive import ExportSummary, export_chain
from ledger.audit_report import AMOUNT_TOTALS, AuditReport, AuditTally
from ledger.errors import Code, LedgerError
from ledger.money import format_amount
from ledger.replay import GC_YOUNG_THRESHOLD, MapFn, RawEntry, ReplayReport, replay
from ledger.store import LevelDBStore
from ledger.store.leveldb import SCRATCH_TUNING
from ledger.store.chain import ChainStore
from node.chain_source import (
    ArchiveSource,
    ChainSource,
    FaultKind,
    NodeSource,
    SourceFault,
    StoreSource,
    home_genesis_file,
    open_home_chain,
)
from node.client import ApiError
from node.root_comparison import DISAGREEING, Agreement, NodeComparison, compare_with_node
from node.runtime.durable import fsync_directory
from node.runtime.gc_tuning import tune_garbage_collector
from cli.progress import ProgressLine

FAULT_EXITS = {FaultKind.UNREACHABLE: Exit.NODE_UNREACHABLE, FaultKind.REFUSED: Exit.REFUSED,
               FaultKind.MALFORMED: Exit.FAILED}


@click.group()
def audit() -> None:
    """Re-verify a whole chain from genesis; export it as a portable archive."""


# -- options ---------------------------------------------------------------------------------

def _default_workers() -> int:
    return max(1, os.cpu_count() or 1)


_home = click.option("--home", type=click.Path(file_okay=False, path_type=Path),
                     help="A STOPPED node's home directory (its LevelDB store).")
_node = click.option("--node", "node_url", metavar="URL",
                     help="A node's URL: fetch every block over HTTP.")
_genesis = click.option("--genesis", "genesis_file", metavar="GENESIS.json",
                        type=click.Path(dir_okay=False, path_type=Path),
                        help="The genesis you trust (default with --home: the home's copy).")
_workers = click.option("--workers", type=click.IntRange(1, 64), default=_default_workers,
                        show_default="number of CPUs",
                        help="Processes checking transaction signatures (--home, --node; "
                             "an archive is verified by its import, in one process).")


# -- replay ----------------------------------------------------------------------------------

@audit.command("replay")
@_home
@_node
@click.option("--export", "archive", metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="An archive file written by `scf audit export`.")
@_genesis
@click.option("--compare-node", "compare", metavar="URL", multiple=True,
              help="Also ask this node for its state root at the final height (repeat). "
                   "With --node, that node is always asked.")
@_workers
@json_option
def replay_command(home: Path | None, node_url: str | None, archive: Path | None,
                   genesis_file: Path | None, compare: tuple[str, ...], workers: int,
                   as_json: bool) -> None:
    """Replay the chain from genesis, verifying everything, and report what it holds.

    Every block is checked as a validator would: canonical bytes, every
    transaction signature, the hash chain, the certificate of > 2/3 of the
    voting power, re-execution of every transaction, the receipts and the
    state root. The report counts transactions per type and per receipt
    code, totals per product and currency (from the receipts' events), and
    gives the final height and state root.

    Give exactly one source: --home (a stopped node), --node (over HTTP) or
    --export (an archive). With --node or --export, --genesis is required:
    an auditor replays against the genesis they trust, never one a node or a
    file hands them.

    \b
    Example:
      scf audit replay --node http://bank-a.example:26600 --genesis genesis.json \\
          --compare-node http://core.example:26600 --compare-node http://bank-b.example:26600
      scf audit replay --export chain-2026-11-23.scfa --genesis genesis.json --json

    Exit codes: 0 every block verified and every node compared agrees;
    1 a bad block ("first bad height H: reason"; for an archive, damage
    inside the record of block H); 2 usage error; 3 the source cannot be
    read or is of another chain (STORE_LOCKED for a running node's home,
    CHAIN_MISMATCH, ARCHIVE_* for a damaged archive header or trailer);
    5 a node did not answer; 7 a compared node's state root differs, or it
    serves another chain.
    """
    kind, location = _one_source(home, node_url, archive)
    genesis = _trusted_genesis(genesis_file, home, kind, as_json)
    started = time.perf_counter()
    with ExitStack() as stack:
        map_fn = _signature_map(stack, workers) if kind != "archive" else map
        source = _open_source(stack, kind, location, genesis, as_json)
        progress = stack.enter_context(ProgressLine(source.head))
        try:
            report, audit_report = _run(source, genesis, map_fn, progress, stack)
        except LedgerError as error:  # an archive damaged outside its block records
            progress.close()
            _refuse(error, as_json)
    elapsed = time.perf_counter() - started
    fault = source.fault if report.ok else None
    targets = list(dict.fromkeys(([node_url] if node_url else []) + list(compare)))
    nodes = ([compare_with_node(url, genesis, report) for url in targets]
             if report.ok and fault is None else [])
    result = _replay_result(kind, location, genesis, report, audit_report, fault, nodes,
                            elapsed, workers if kind != "archive" else 1)
    emit(result, as_json, _print_replay, _replay_exit(report, fault, nodes))


def _one_source(home: Path | None, node_url: str | None, archive: Path | None
                ) -> tuple[str, Any]:
    given = [(kind, value) for kind, value in (("home", home), ("node", node_url),
                                               ("archive", archive)) if value is not None]
    if len(given) != 1:
        raise click.UsageError("give exactly one source: --home DIR, --node URL or --export FILE")
    return given[0]


def _trusted_genesis(genesis_file: Path | None, home: Path | None, kind: str,
                     as_json: bool) -> Genesis:
    try:
        if genesis_file is not None:
            return load_genesis(genesis_file)
        if home is not None:
            return load_genesis(home_genesis_file(home))
    except LedgerError as error:
        _refuse(error, as_json)
    what = "a node" if kind == "node" else "an archive"
    raise click.UsageError(f"--genesis GENESIS.json is required with {what}: an auditor "
                           "replays against the genesis they trust, not one handed to them by "
                           "what they audit")


def _signature_map(stack: ExitStack, workers: int) -> MapFn:
    """`map` in a pool of `workers` processes (started now, before any thread is)."""
    if workers == 1:
        return map
    pool = stack.enter_context(ProcessPoolExecutor(max_workers=workers))
    list(pool.map(abs, range(workers)))  # start the processes

    def pool_map(function: Callable[[Any], Any], items: list[Any]) -> Iterable[Any]:
        return pool.map(function, items, chunksize=max(1, len(items) // (4 * workers)))

    return pool_map


def _open_source(stack: ExitStack, kind: str, location: Any, genesis: Genesis,
                 as_json: bool) -> ChainSource:
    try:
        if kind == "home":
            return stack.enter_context(StoreSource(location, genesis))
        if kind == "node":
            return stack.enter_context(NodeSource(location, genesis))
        return stack.enter_context(ArchiveSource(location, genesis))
    except LedgerError as error:
        _refuse(error, as_json)
    except ApiError as error:
        fail(error.code, error.message, as_json,
             Exit.NODE_UNREACHABLE if error.status == 0 else Exit.REFUSED)


def _scratch_store(stack: ExitStack) -> LevelDBStore:
    """An empty LevelDB in a new temporary directory, closed and deleted with
    `stack`: the replay's rebuilt state lives there, not in memory."""
    directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="scf-audit-"))
    return stack.enter_context(LevelDBStore(Path(directory) / "state", tuning=SCRATCH_TUNING))


def _run(source: ChainSource, genesis: Genesis, map_fn: MapFn,
         progress: ProgressLine, stack: ExitStack) -> tuple[ReplayReport, AuditReport]:
    registry = default_registry()
    tally = AuditTally()
    if isinstance(source, ArchiveSource):
        report = source.verify(registry, progress=progress)
        for block, _, receipts in source.entries():
            tally.add_entry(block, receipts)
        return report, tally.report()
    verified = VerifiedFeed(tally)

    def replayed(height: int, transactions: int) -> None:
        verified.up_to(height)
        progress(height, transactions)

    tune_garbage_collector(young=GC_YOUNG_THRESHOLD)  # a replay allocates like a node, in bursts
    report = replay(genesis, verified.tap(source.entries()), registry, map_fn=map_fn,
                    progress=replayed, store=_scratch_store(stack))
    verified.up_to(report.final_height)
    return report, tally.report()


class VerifiedFeed:
    """Hands the tally only entries the replay has verified: the replay reads a
    window of entries ahead of what it has checked."""

    def __init__(self, tally: AuditTally) -> None:
        self._tally = tally
        self._read: deque[RawEntry] = deque()
        self._height = 0

    def tap(self, entries: Iterator[RawEntry]) -> Iterator[RawEntry]:
        for entry in entries:
            self._read.append(entry)
            yield entry

    def up_to(self, height: int) -> None:
        while self._height < height:
            block, _, receipts = self._read.popleft()
            self._tally.add_entry(block, receipts)
            self._height += 1


# -- the verdict -----------------------------------------------------------------------------

def _replay_exit(report: ReplayReport, fault: SourceFault | None,
                 nodes: list[NodeComparison]) -> Exit:
    if report.mismatch is not None:
        return Exit.FAILED
    if fault is not None:
        return FAULT_EXITS[fault.kind]
    statuses = {node.status for node in nodes}
    if statuses & DISAGREEING:
        return Exit.NODES_DISAGREE
    if statuses - {Agreement.MATCH}:
        return Exit.NODE_UNREACHABLE
    return Exit.OK


def _replay_result(kind: str, location: Any, genesis: Genesis, report: ReplayReport,
                   audit_report: AuditReport, fault: SourceFault | None,
                   nodes: list[NodeComparison], elapsed: float, workers: int) -> dict[str, Any]:
    verdict = _replay_exit(report, fault, nodes)
    mismatch = report.mismatch
    return {
        "ok": verdict is Exit.OK,
        "source": {"kind": kind, "location": str(location)},
        "chain_id": genesis.chain_id, "genesis_hash": genesis.hash.hex(),
        "height": report.final_height, "state_root": report.final_state_root.hex(),
        **audit_report.to_json(),
        "first_bad": None if mismatch is None else {
            "height": mismatch.height, "field": mismatch.field, "reason": mismatch.reason},
        "source_fault": None if fault is None else {
            "height": fault.height, "kind": fault.kind.value, "code": fault.code,
            "message": fault.message},
        "nodes": [node.to_json() for node in nodes],
        "seconds": round(elapsed, 3), "workers": workers,
        "tx_per_s": round(report.transactions / elapsed, 1) if elapsed > 0 else None,
        "blocks_per_s": round(report.blocks / elapsed, 1) if elapsed > 0 else None,
        "exit": int(verdict),
    }


def _print_replay(result: dict[str, Any]) -> None:
    echo = click.echo
    echo(f"chain {result['chain_id']} (genesis {result['genesis_hash'][:16]}…), "
         f"from {result['source']['kind']} {result['source']['location']}")
    echo(f"replayed {result['blocks']} blocks, {result['transactions']} transactions in "
         f"{result['seconds']:.1f} s ({_rate(result['tx_per_s'])} tx/s, "
         f"{_rate(result['blocks_per_s'])} blocks/s, {result['workers']} worker(s))")
    echo(f"final height {result['height']}, state root {result['state_root']}")
    if result["by_type"]:
        echo("\ntransactions by type:")
        width = max(len(name) for name in result["by_type"])
        for name, codes in result["by_type"].items():
            detail = ", ".join(f"{code} {count}" for code, count in codes.items())
            echo(f"  {name:<{width}}  {sum(codes.values()):>8}   {detail}")
        echo("receipt codes: " + ", ".join(f"{code} {count}"
                                           for code, count in result["by_code"].items()))
    for product, by_currency in result["products"].items():
        for currency, totals in by_currency.items():
            echo(f"\n{product} ({currency}):")
            width = max(len(name) for name in totals)
            for name, value in totals.items():
                shown = _money(value, currency) if name in AMOUNT_TOTALS else str(value)
                echo(f"  {name:<{width}}  {shown}")
    if result["nodes"]:
        echo("\nnodes at height {}:".format(result["height"]))
        for node in result["nodes"]:
            echo(f"  {node['url']}: {node['status']} ({node['message']})")
    echo("")
    if result["first_bad"] is not None:
        bad = result["first_bad"]
        echo(f"FAILED: first bad height {bad['height']}: {bad['field']}: {bad['reason']}")
    elif result["source_fault"] is not None:
        fault = result["source_fault"]
        echo(f"INCOMPLETE: verified up to height {result['height']}; the source failed at "
             f"height {fault['height']} ({fault['kind']}): {fault['code']}: {fault['message']}")
    elif result["ok"]:
        echo(f"OK: every block verified; state root at height {result['height']} is "
             f"{result['state_root']}")
    elif result["exit"] == Exit.NODES_DISAGREE:
        echo("NODES DISAGREE: every block verified, but a node's state root differs or it "
             "serves another chain (see above)")
    else:
        echo("NOT CONFIRMED: every block verified, but a node could not be compared (see above)")


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _money(amount: int, currency: str) -> str:
    try:
        return f"{format_amount(amount, currency)} {currency}"
    except LedgerError:
        return f"{amount} (minor units of {currency})"


# -- export ----------------------------------------------------------------------------------

@audit.command("export")
@_home
@_node
@click.option("--output", required=True, metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path), help="The archive to write.")
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@_genesis
@_workers
@json_option
def export_command(home: Path | None, node_url: str | None, output: Path, force: bool,
                   genesis_file: Path | None, workers: int, as_json: bool) -> None:
    """Write the chain as a portable archive (genesis, every block and certificate).

    From --home the node must be STOPPED (LevelDB admits one process; a
    running node holds the lock): the store's blocks are written as they
    are. From --node every block is fetched over HTTP and verified from the
    genesis you give (as `scf audit replay` does) before it is written. The
    archive ends at the height the source had when the export started. It
    is written to FILE.partial, synced, then renamed to FILE.

    \b
    Example:
      scf audit export --node http://bank-a.example:26600 --genesis genesis.json \\
          --output chain-2026-11-23.scfa
      scf audit export --home /var/lib/scf/bank-a --output chain.scfa --json

    Exit codes: 0 written; 1 a fetched block failed verification (nothing
    written); 2 usage error; 3 the source cannot be read (STORE_LOCKED: the
    node runs), is of another chain, or FILE exists; 5 the node did not answer.
    """
    if (home is None) == (node_url is None):
        raise click.UsageError("give exactly one source: --home DIR or --node URL")
    kind, location = ("home", home) if home is not None else ("node", node_url)
    genesis = _trusted_genesis(genesis_file, home, kind, as_json)
    if output.exists() and not force:
        fail(Code.STORE_IO_ERROR.value, f"{output} exists; choose another name or give --force",
             as_json, Exit.REFUSED)
    started = time.perf_counter()
    with ExitStack() as stack:
        if home is not None:
            kv, chain = _open_home_or_refuse(home, genesis, as_json)
            stack.callback(kv.close)
        else:
            map_fn = _signature_map(stack, workers)
            source = _open_source(stack, "node", node_url, genesis, as_json)
            chain = _verified_copy(source, genesis, map_fn, as_json,
                                   stack.enter_context(ProgressLine(source.head)), stack)
        summary = _write_archive(chain, output, as_json)
    result = {"ok": True, "output": str(output), "source": {"kind": kind,
                                                             "location": str(location)},
              "chain_id": summary.chain_id, "first_height": summary.first_height,
              "last_height": summary.last_height, "blocks": summary.blocks,
              "transactions": summary.txs, "bytes": summary.bytes,
              "digest": summary.digest.hex(),
              "seconds": round(time.perf_counter() - started, 3)}
    emit(result, as_json, _print_export)


def _open_home_or_refuse(home: Path, genesis: Genesis, as_json: bool
                         ) -> tuple[LevelDBStore, ChainStore]:
    try:
        return open_home_chain(home, genesis)
    except LedgerError as error:
        _refuse(error, as_json)


def _verified_copy(source: ChainSource, genesis: Genesis, map_fn: MapFn, as_json: bool,
                   progress: ProgressLine, stack: ExitStack) -> ChainStore:
    """The node's blocks replayed into a scratch chain store (deleted with
    `stack`): only verified blocks are exported."""
    chain = ChainStore(_scratch_store(stack), genesis, keep_versions=2)
    report = replay(genesis, source.entries(), default_registry(), into=chain,
                    map_fn=map_fn, progress=progress)
    progress.close()
    if report.mismatch is not None:
        fail(Code.INVALID_BLOCK.value, f"first bad height {report.mismatch.height}: "
             f"{report.mismatch.field}: {report.mismatch.reason}; nothing was written",
             as_json, Exit.FAILED)
    if source.fault is not None:
        fault = source.fault
        fail(fault.code, f"{source.description} failed at height {fault.height} "
             f"({fault.kind.value}): {fault.message}; nothing was written", as_json,
             FAULT_EXITS[fault.kind])
    return chain


def _write_archive(chain: ChainStore, output: Path, as_json: bool) -> ExportSummary:
    partial = output.with_name(output.name + ".partial")
    try:
        with open(partial, "wb") as out:
            summary = export_chain(chain, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, output)
        fsync_directory(output.parent)
    except OSError as error:
        partial.unlink(missing_ok=True)
        fail(Code.STORE_IO_ERROR.value, f"cannot write {output}: {error}", as_json, Exit.REFUSED)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return summary


def _print_export(result: dict[str, Any]) -> None:
    click.echo(f"wrote {result['output']}: chain {result['chain_id']}, blocks "
               f"{result['first_height']}..{result['last_height']} ({result['blocks']} blocks, "
               f"{result['transactions']} transactions, {result['bytes']} bytes) in "
               f"{result['seconds']:.1f} s")
    click.echo(f"digest {result['digest']} (keep it with the archive: it identifies its "
               "contents)")


def _refuse(error: LedgerError, as_json: bool) -> NoReturn:
    fail(error.code.value, error.message, as_json, Exit.REFUSED)
