"""`make demo`: a financing story on a real 4-validator consortium on this machine.

Brings up a fresh localnet (node/localnet.py: four node processes on
loopback, each with its LevelDB store, WAL, HTTP API, authenticated peer
channel and BFT consensus), runs the story of cli/demo_scenario.py through
the HTTP API, prints a summary, and stops every node: on success, on failure
and on Ctrl-C or SIGTERM alike. Exit 0 if the story went as it must, 1 if
not (the localnet directory is then kept, with each node's log), 130 if
interrupted.

    python -m cli.demo [--home DIR] [--keep]
"""

from __future__ import annotations

import random
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TextIO

import click

from cli.demo_scenario import CURRENCY, Book, DemoFailure, Scenario, money
from ledger.errors import LedgerError
from node import localnet
from node.client import ApiError

VALIDATORS = 4
START_TIMEOUT_S = 60.0
PORT_RANGE = (20_000, 32_000)   # below Linux's ephemeral ports (32768-60999)
SPINNER = "|/-\\"
PLAIN_PROGRESS_EVERY_S = 5.0
LOG_ERRORS_SHOWN = 3
MEMBERS = ("SUPPLIER-01", "CORE-01", "BANK-A", "BANK-B", "WAREHOUSE-01", "AUDITOR-01")


class Console:
    """Numbered steps, indented lines, and a progress indicator while waiting:
    a spinner on a terminal, a plain line every few seconds otherwise (CI logs)."""

    def __init__(self, stream: TextIO = sys.stdout) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.number = 0

    def step(self, title: str) -> None:
        self.number += 1
        self._write(f"\n[{self.number}] {title}\n")

    def say(self, text: str) -> None:
        self._write(f"    {text}\n")

    def plain(self, text: str) -> None:
        self._write(f"{text}\n")

    @contextmanager
    def waiting(self, what: str) -> Iterator[None]:
        done = threading.Event()
        ticker = threading.Thread(target=self._tick, args=(what, done), daemon=True)
        ticker.start()
        try:
            yield
        finally:
            done.set()
            ticker.join()

    def _tick(self, what: str, done: threading.Event) -> None:
        start = time.monotonic()
        frame, last_plain = 0, start
        while not done.wait(0.1 if self.tty else 0.5):
            elapsed = time.monotonic() - start
            if self.tty:
                self._write(f"\r    {SPINNER[frame % len(SPINNER)]} {what} ({elapsed:.1f} s)\033[K")
                frame += 1
            elif time.monotonic() - last_plain >= PLAIN_PROGRESS_EVERY_S:
                last_plain = time.monotonic()
                self._write(f"    ... still waiting: {what} ({elapsed:.0f} s)\n")
        if self.tty and frame:
            self._write("\r\033[K")

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


# -- the localnet ------------------------------------------------------------------------

def free_base_port(count: int, attempts: int = 20) -> int:
    """A base port with `count` free consecutive ports on 127.0.0.1."""
    for _ in range(attempts):
        base = random.randrange(PORT_RANGE[0], PORT_RANGE[1] - count)
        if all(_port_free(base + i) for i in range(count)):
            return base
    raise DemoFailure(f"no {count} free consecutive ports in {PORT_RANGE} after {attempts} tries")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start_network(nodes: list[localnet.LocalNode], console: Console) -> None:
    """Starts every node; returns once each has committed a block with 3 peers."""
    for node in nodes:
        localnet.start(node)
    deadline = time.monotonic() + START_TIMEOUT_S
    with console.waiting(f"{len(nodes)} validators to connect and commit block 1"):
        while True:
            dead = [n.member_id for n in nodes if localnet.pid_of(n) is None]
            if dead:
                raise DemoFailure(f"node {', '.join(dead)} exited at start")
            answers = [localnet.status(n) for n in nodes]
            if all(a is not None and a["height"] >= 1 and len(a["peers"]) == len(nodes) - 1
                   for a in answers):
                return
            if time.monotonic() > deadline:
                raise DemoFailure(f"the network was not up within {START_TIMEOUT_S:.0f} s")
            time.sleep(0.2)


def stop_network(nodes: list[localnet.LocalNode]) -> None:
    """SIGTERM to every node at once, SIGKILL after the grace period."""
    with ThreadPoolExecutor(max_workers=len(nodes) or 1) as pool:
        list(pool.map(localnet.stop, nodes))


def nodes_running_under(directory: Path) -> list[int]:
    """Pids of `node start` processes whose home is under `directory`/nodes (left-overs)."""
    prefix = f"{directory / 'nodes'}/"
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "start" in args and any(arg.startswith(prefix) for arg in args):
            pids.append(int(entry.name))
    return pids


# -- the printout ------------------------------------------------------------------------

def print_consortium(console: Console, nodes: list[localnet.LocalNode], seconds: float) -> None:
    status = localnet.status(nodes[0]) or {}
    validators = {v["member_id"] for v in status.get("validators", [])}
    if validators != {node.member_id for node in nodes}:
        raise DemoFailure(f"the nodes report validators {sorted(validators)}")
    console.step("The consortium")
    console.say(f"chain {status['chain_id']}, genesis {status['genesis_hash'][:16]}..., "
                f"validators {', '.join(node.member_id for node in nodes)}")
    console.say(f"{len(nodes)} nodes on 127.0.0.1:{nodes[0].port}-{nodes[-1].port}, each with "
                f"{len(nodes) - 1} authenticated peers; block 1 after {seconds:.1f} s")
    console.say("SUPPLIER-01 sends through CORE-01's node, the other members through their own")


def print_summary(console: Console, book: Book) -> None:
    console.step("Summary")
    console.say(f"{'member':<14}{'received':<19}{'paid':<19}what they did")
    for member in MEMBERS:
        received, paid = book.flows(member)
        console.say(f"{member:<14}{_amount(received):<19}{_amount(paid):<19}"
                    + ", ".join(book.deeds.get(member, ["-"])))
    received, _ = book.flows("SUPPLIER-01")
    supplier = received - book.pledge_loan        # for its invoices
    bank_in, bank_out = book.flows("BANK-A")
    pledge_in, pledge_out = book.flows("BANK-B")
    cost = book.financed_face - supplier
    if cost != (bank_in - bank_out) + book.early_discount:
        raise DemoFailure(f"the money does not add up: {book.payments}")
    console.say(f"SUPPLIER-01 got {money(supplier, CURRENCY)} for "
                f"{money(book.financed_face, CURRENCY)} of invoices, months early; the cost,")
    console.say(f"{money(cost, CURRENCY)}, is BANK-A's interest "
                f"{money(bank_in - bank_out, CURRENCY)} + CORE-01's discount "
                f"{money(book.early_discount, CURRENCY)}")
    if pledge_out != book.pledge_loan:
        raise DemoFailure(f"BANK-B lent {book.pledge_loan}, paid {pledge_out}: {book.payments}")
    console.say(f"SUPPLIER-01 also borrowed {money(book.pledge_loan, CURRENCY)} from BANK-B "
                f"on its goods and repaid {money(pledge_in, CURRENCY)}:")
    console.say(f"BANK-B's interest {money(pledge_in - pledge_out, CURRENCY)} (repaid the day "
                f"it was lent); every unit free again")
    rate = book.chain_height / book.chain_seconds if book.chain_seconds else 0.0
    console.say(f"chain: height {book.chain_height}, {book.transactions} transactions, "
                f"{rate:.1f} blocks/s")


def _amount(value: int) -> str:
    return money(value, CURRENCY) if value else "-"


# -- main --------------------------------------------------------------------------------

@click.command()
@click.option("--home", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Create the localnet here (kept afterwards) instead of a temporary directory.")
@click.option("--keep", is_flag=True, help="Keep the temporary directory after a success.")
def main(home: Path | None, keep: bool) -> None:
    """Run the supply chain finance demo on a fresh 4-validator localnet."""
    signal.signal(signal.SIGTERM, _terminated)
    sys.exit(run(home, keep, Console()))


def run(home: Path | None, keep: bool, console: Console) -> int:
    started = time.monotonic()
    directory = home.resolve() if home is not None else Path(tempfile.mkdtemp(prefix="scf-demo-"))
    nodes: list[localnet.LocalNode] = []
    outcome = 1
    console.plain("scf-ledger demo: supply chain finance on a 4-validator consortium")
    try:
        nodes = localnet.create(directory, validators=VALIDATORS,
                                base_port=free_base_port(VALIDATORS))
        start_network(nodes, console)
        print_consortium(console, nodes, time.monotonic() - started)
        book = Scenario(directory, nodes, console).run()
        print_summary(console, book)
        outcome = 0
    except KeyboardInterrupt:
        console.plain("\ninterrupted")
        outcome = 130
    except (DemoFailure, LedgerError, ApiError) as error:
        console.plain(f"\nDEMO FAILED: {error}")
    finally:
        # let the nodes stop, whatever happens
        previous = {caught: signal.signal(caught, signal.SIG_IGN)
                    for caught in (signal.SIGINT, signal.SIGTERM)}
        console.plain(f"\nstopping the {len(nodes)} nodes")
        with console.waiting("nodes to stop"):
            stop_network(nodes)
        for caught, handler in previous.items():
            signal.signal(caught, handler)
        left = nodes_running_under(directory)
        console.plain(f"all stopped, no process left; {time.monotonic() - started:.1f} s in all"
                      if not left else f"STILL RUNNING: pids {left}")
        if left:
            outcome = outcome or 1
        _tidy(directory, home, keep, outcome, nodes, console)
    return outcome


def _tidy(directory: Path, home: Path | None, keep: bool, outcome: int,
          nodes: list[localnet.LocalNode], console: Console) -> None:
    if outcome == 0 and home is None and not keep:
        shutil.rmtree(directory, ignore_errors=True)
        return
    console.plain(f"the localnet is kept in {directory}")
    if outcome != 0:
        for node in nodes:
            console.plain(f"  {node.member_id:<11} log: {node.log_file}")
            for line in _errors(node.log_file)[-LOG_ERRORS_SHOWN:]:
                console.plain(f"      {line}")


def _errors(log_file: Path) -> list[str]:
    try:
        text = log_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if " ERROR " in line or " CRITICAL " in line]


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    main()
