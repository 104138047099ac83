"""`make demo` end to end, and the bank's check it relies on.

The demo runs as `make demo` does, in a subprocess, on a fresh 4-validator
localnet in tmp_path: it must exit 0, tell the key facts (the bank's verdict,
the refusal of a second financing, equal state roots) without terminal
control characters, and leave no node process behind.

The bank's check the demo runs is `scf invoice verify`'s (node/verify_invoice.py),
held to lying nodes in tests/cli/test_verify.py and tests/unit/test_proof_bundle.py.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cli.demo_scenario import money
from node import localnet

ROOT = Path(__file__).resolve().parents[2]
DEMO_TIMEOUT_S = 180
REFUSALS = "INVALID_STATE_TRANSITION|ASSET_ENCUMBERED|DEAL_ALREADY_OPEN|INVOICE_NOT_FINANCEABLE"
VALIDATORS = ["AUDITOR-01", "BANK-A", "BANK-B", "CORE-01"]


def node_processes(home: Path) -> list[int]:
    """Pids of `node start` processes with a home under `home`/nodes."""
    prefix = f"{home / 'nodes'}/"
    found = []
    for entry in Path("/proc").iterdir():
        try:
            args = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except (OSError, NotADirectoryError):
            continue
        if entry.name.isdigit() and "start" in args and any(a.startswith(prefix) for a in args):
            found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_the_demo_tells_the_story_and_leaves_no_process(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    try:
        run = subprocess.run([sys.executable, "-m", "cli.demo", "--home", str(home), "--keep"],
                             cwd=ROOT, capture_output=True, text=True, timeout=DEMO_TIMEOUT_S)
    finally:
        left = node_processes(home)
        for pid in left:            # only if the demo itself failed to stop them
            os.kill(pid, signal.SIGKILL)
    out = run.stdout
    assert run.returncode == 0, out + run.stderr
    assert left == [], out
    assert "=>  FREE TO FINANCE" in out
    assert re.search(rf"=>  REFUSED ({REFUSALS})", out), out
    assert re.search(r"=>  STATE ROOTS EQUAL [0-9a-f]{64}\n", out), out
    released = re.search(r"confirms ([0-9,]+) units left\n +=  ?([0-9,]+) x CNY ([0-9,.]+) "
                         r"repaid // CNY ([0-9,.]+) lent", out)
    assert released, out
    units, total, repaid, lent = (float(g.replace(",", "")) for g in released.groups())
    assert units == total * repaid // lent, out            # the proportional release
    assert "=>  LOAN REPAID, BANK-B's lien released, 500 units free" in out
    assert "all stopped, no process left" in out
    assert "\r" not in out and "\x1b" not in out          # not a terminal: plain lines
    assert sorted(n.member_id for n in localnet.load(home)) == VALIDATORS
    assert list(home.glob("nodes/*/node.pid")) == []
    assert all((node.log_file.stat().st_size > 0) for node in localnet.load(home))


# -- the bank's check ----------------------------------------------------------------------

def test_money_is_shown_with_the_currencys_digits_and_thousands() -> None:
    assert money(100_000_000, "CNY") == "CNY 1,000,000.00"
    assert money(98_816_438, "CNY") == "CNY 988,164.38"
    assert money(5, "USD") == "USD 0.05"
    assert money(1_234_567, "JPY") == "JPY 1,234,567"
