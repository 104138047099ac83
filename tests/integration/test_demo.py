"""`make demo` end to end, and the bank's check it relies on.

The demo runs as `make demo` does, in a subprocess, on a fresh 4-validator
localnet in tmp_path: it must exit 0, tell the key facts (the bank's verdict,
the refusal of a second financing, equal state roots) without terminal
control characters, and leave no node process behind.

The bank's check (`check_invoice`) is then held to proved answers built the
way the node builds them, from a real chain (tests/contracts FinanceChain):
an honest answer passes, and a node that lies (a forged value, the absence
of some other key passed off as the lien's, too few signatures) is caught.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cli.demo_scenario import DemoFailure, InvoiceCheck, check_invoice, money
from contracts.invoices import invoice_key
from contracts.liens import invoice_asset, lien_key
from contracts.provenance import count_key, entry_key, get_provenance
from ledger.errors import Code, LedgerError
from ledger.types import Commit
from node import localnet
from node.api.views import commit_view, header_view, state_proof_view
from tests.contracts.support import GENESIS, fingerprint_of, invoice_args
from tests.contracts.test_factoring_support import FinanceChain, open_deal, register_confirmed

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
    assert "all stopped, no process left" in out
    assert "\r" not in out and "\x1b" not in out          # not a terminal: plain lines
    assert sorted(n.member_id for n in localnet.load(home)) == VALIDATORS
    assert list(home.glob("nodes/*/node.pid")) == []
    assert all((node.log_file.stat().st_size > 0) for node in localnet.load(home))


# -- the bank's check ----------------------------------------------------------------------

def proved_answer(chain: FinanceChain, fingerprint: bytes) -> dict[str, Any]:
    """What GET /v1/invoices/<fp>?prove=1 answers at the chain's head."""
    height = chain.store.height
    state = chain.store.state_at(height)
    history = get_provenance(chain.state, fingerprint)
    keys = [invoice_key(fingerprint), lien_key(invoice_asset(fingerprint)),
            count_key(fingerprint), *(entry_key(fingerprint, i) for i in range(len(history)))]
    values = {}
    for index, key in enumerate(keys):
        value, proof = state.get_with_proof(key)
        values[f"value/{index}"] = {"key": key.hex(),
                                    "value": None if value is None else value.hex(),
                                    "proof": state_proof_view(proof)}
    return {"height": height, "values": values,
            "header": header_view(chain.store.block(height).header),
            "commit": commit_view(chain.store.commit(height))}


@pytest.fixture(scope="module")
def confirmed() -> tuple[FinanceChain, bytes]:
    chain = FinanceChain()
    return chain, register_confirmed(chain)


def test_an_honest_answer_about_a_confirmed_invoice_is_free_to_finance(
        confirmed: tuple[FinanceChain, bytes]) -> None:
    chain, fingerprint = confirmed
    check = check_invoice(proved_answer(chain, fingerprint), fingerprint, GENESIS)
    assert isinstance(check, InvoiceCheck) and check.free_to_finance
    assert (check.height, check.signers, check.proofs) == (chain.store.height, 3, 5)
    assert check.lien is None and check.invoice.status == "confirmed"
    assert [(e.action, e.signer) for e in check.history] == [("register", "SUPPLIER-01"),
                                                             ("confirm", "CORE-01")]


def test_a_financed_invoice_shows_its_lien() -> None:
    chain = FinanceChain()
    fingerprint = register_confirmed(chain)
    deal_id = open_deal(chain, fingerprint)
    check = check_invoice(proved_answer(chain, fingerprint), fingerprint, GENESIS)
    assert not check.free_to_finance and check.invoice.status == "assigned"
    assert check.lien is not None and (check.lien.holder, check.lien.deal_id) == ("BANK-A", deal_id)


def test_a_forged_status_fails_its_proof(confirmed: tuple[FinanceChain, bytes]) -> None:
    chain, fingerprint = confirmed
    answer = proved_answer(chain, fingerprint)
    record = answer["values"]["value/0"]
    confirmed_hex, other_hex = b"confirmed".hex(), b"disputed\0".hex()
    assert confirmed_hex in record["value"]
    record["value"] = record["value"].replace(confirmed_hex, other_hex)
    with pytest.raises(LedgerError):
        check_invoice(answer, fingerprint, GENESIS)


def test_a_hidden_lien_fails_its_proof() -> None:
    chain = FinanceChain()
    fingerprint = register_confirmed(chain)
    open_deal(chain, fingerprint)
    answer = proved_answer(chain, fingerprint)
    assert answer["values"]["value/1"]["value"] is not None
    answer["values"]["value/1"]["value"] = None          # "no lien", with the lien's proof
    with pytest.raises(LedgerError):
        check_invoice(answer, fingerprint, GENESIS)


def test_the_absence_of_another_key_does_not_pass_for_no_lien() -> None:
    chain = FinanceChain()
    fingerprint = register_confirmed(chain)
    open_deal(chain, fingerprint)
    answer = proved_answer(chain, fingerprint)
    key = lien_key(invoice_asset(fingerprint_of(invoice_args("INV-OTHER"))))  # truly absent
    _, proof = chain.store.state_at(chain.store.height).get_with_proof(key)
    answer["values"]["value/1"] = {"key": key.hex(), "value": None,
                                   "proof": state_proof_view(proof)}
    with pytest.raises(DemoFailure, match="did not prove"):
        check_invoice(answer, fingerprint, GENESIS)


def test_a_header_certified_by_too_few_validators_is_refused(
        confirmed: tuple[FinanceChain, bytes]) -> None:
    chain, fingerprint = confirmed
    answer = proved_answer(chain, fingerprint)
    commit = chain.store.commit(chain.store.height)
    weak = Commit(commit.height, commit.round, commit.block_hash, commit.signatures[:2])
    answer["commit"] = commit_view(weak)
    with pytest.raises(LedgerError) as refused:
        check_invoice(answer, fingerprint, GENESIS)
    assert refused.value.code is Code.INVALID_BLOCK


def test_money_is_shown_with_the_currencys_digits_and_thousands() -> None:
    assert money(100_000_000, "CNY") == "CNY 1,000,000.00"
    assert money(98_816_438, "CNY") == "CNY 988,164.38"
    assert money(5, "USD") == "USD 0.05"
    assert money(1_234_567, "JPY") == "JPY 1,234,567"
