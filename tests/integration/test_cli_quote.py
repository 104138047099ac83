"""`scf quote` run as a subprocess: the domain guide's numbers, refusals, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from contracts.terms import dynamic_discount, factoring_terms

SCF = Path(sys.executable).with_name("scf")
WORKED = ["--face", "100000000", "--advance-bps", "8000", "--rate-bps", "600", "--days", "90",
          "--basis", "365"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCF), "quote", *args], capture_output=True, text=True, timeout=60)


def test_worked_example_in_minor_units() -> None:
    result = run("factoring", *WORKED, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "inputs": {"face": 100000000, "advance_bps": 8000, "rate_bps": 600, "days": 90,
                   "basis": 365, "fee": 0},
        "currency": "CNY", "advance": 80000000, "discount": 1183562, "fee": 0,
        "paid_out": 78816438, "reserve": 20000000}


def test_human_output_shows_decimals_of_the_currency() -> None:
    result = run("factoring", *WORKED, "--currency", "USD")
    assert result.returncode == 0
    assert "11835.62 USD" in result.stdout and "788164.38 USD" in result.stdout


@pytest.mark.parametrize("face,rate,days,basis", [(100000000, 800, 30, 365), (1, 1, 1, 360),
                                                  (2**63 - 1, 500, 30, 360)])
def test_discount_matches_the_contract_math(face: int, rate: int, days: int, basis: int) -> None:
    result = run("discount", "--face", str(face), "--rate-bps", str(rate), "--days-early",
                 str(days), "--basis", str(basis), "--json")
    expected = dynamic_discount(face, rate, days, basis)
    assert json.loads(result.stdout)["discount"] == expected.discount
    assert json.loads(result.stdout)["paid"] == expected.paid


def test_factoring_matches_the_contract_math_with_a_fee() -> None:
    result = run("factoring", "--face", "5000000", "--advance-bps", "9000", "--rate-bps", "450",
                 "--days", "61", "--basis", "360", "--fee", "2500", "--json")
    terms = factoring_terms(5000000, 9000, 450, 61, 360, 2500)
    assert json.loads(result.stdout)["paid_out"] == terms.paid_out


@pytest.mark.parametrize("args,code", [
    (["factoring", *WORKED[:-2], "--basis", "365", "--days", "0"], "INVOICE_NOT_FINANCEABLE"),
    (["factoring", "--face", "0", *WORKED[2:]], "INVALID_ARGUMENT"),
    (["discount", "--face", "100", "--rate-bps", "20000", "--days-early", "3", "--basis", "360"],
     "INVALID_ARGUMENT"),
])
def test_refusals_exit_3_with_the_code(args: list[str], code: str) -> None:
    result = run(*args, "--json")
    assert result.returncode == 3 and json.loads(result.stdout)["error"]["code"] == code


def test_bad_basis_is_a_usage_error() -> None:
    assert run("factoring", *WORKED[:-1], "364").returncode == 2
