"""`scf invoice import`, run as a real subprocess on the public example e-invoices."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from contracts.fingerprint import compute_fingerprint
from tests.unit.test_einvoice import ACCEPTED, ATTACKS, REFUSED, VECTORS

SCF = Path(sys.executable).with_name("scf")
JSON_KEYS = {"syntax", "invoice_number", "issue_date", "due_date", "currency", "amount_minor",
             "seller_id", "buyer_id", "document_sha256", "fingerprint"}


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(SCF), *args], input=stdin, capture_output=True, timeout=60)
    return subprocess.CompletedProcess(result.args, result.returncode,
                                       result.stdout.decode(), result.stderr.decode())


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_dry_run_json_prints_the_extracted_fields(name: str) -> None:
    path = VECTORS / name
    result = run("invoice", "import", str(path), "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == JSON_KEYS
    expected = ACCEPTED[name]
    assert {key: report[key] for key in expected} == expected
    assert report["document_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert report["fingerprint"] == compute_fingerprint(
        expected["seller_id"], expected["buyer_id"], expected["invoice_number"],
        expected["issue_date"], expected["currency"], expected["amount_minor"]).hex()


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_dry_run_json_refusals_exit_3(name: str) -> None:
    result = run("invoice", "import", str(VECTORS / name), "--dry-run", "--json")
    assert result.returncode == 3
    report = json.loads(result.stdout)
    assert set(report) == {"error"} and set(report["error"]) == {"code", "message"}
    assert report["error"]["code"] == REFUSED[name][0].value


@pytest.mark.parametrize("name", sorted(p.name for p in ATTACKS.glob("*.xml")))
def test_attack_files_exit_3_malformed(name: str) -> None:
    result = run("invoice", "import", str(ATTACKS / name), "--dry-run", "--json")
    assert result.returncode == 3
    assert json.loads(result.stdout)["error"]["code"] == "EINVOICE_MALFORMED"


def test_human_output_shows_a_decimal_amount_with_currency() -> None:
    path = VECTORS / "oasis-ubl21/UBL-Invoice-2.1-Example.xml"
    result = run("invoice", "import", str(path), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "729.00 EUR" in result.stdout and "TOSL108" in result.stdout
    assert hashlib.sha256(path.read_bytes()).hexdigest() in result.stdout


def test_human_output_with_buyer_shows_the_registration_arguments() -> None:
    path = VECTORS / "en16931-cii/huf_example_cii.xml"
    result = run("invoice", "import", str(path), "--dry-run", "--buyer", "CORE-01")
    assert result.returncode == 0, result.stderr
    assert "87859.00 HUF" in result.stdout
    line = next(text for text in result.stdout.splitlines() if "register args" in text)
    args = json.loads(line.split(":", 1)[1])
    assert args["buyer"] == "CORE-01" and args["face_amount"] == 8785900
    assert args["document_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_human_refusal_goes_to_stderr() -> None:
    result = run("invoice", "import", str(VECTORS / "en16931-ubl/CreditNote-Max_content.xml"),
                 "--dry-run")
    assert result.returncode == 3 and result.stdout == ""
    assert result.stderr.startswith("error: EINVOICE_CREDIT_NOTE:")


def test_reads_stdin() -> None:
    data = (VECTORS / "en16931-ubl/ubl-tc434-example5.xml").read_bytes()
    result = run("invoice", "import", "-", "--dry-run", "--json", stdin=data)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["document_sha256"] == hashlib.sha256(data).hexdigest()


def test_missing_due_date_exits_3() -> None:
    data = (VECTORS / "oasis-ubl21/UBL-Invoice-2.1-Example.xml").read_bytes().replace(
        b"<cbc:PaymentDueDate>2009-12-31</cbc:PaymentDueDate>", b"")
    result = run("invoice", "import", "-", "--dry-run", "--json", stdin=data)
    assert result.returncode == 3
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "EINVOICE_FIELD_MISSING" and error["message"].startswith("due_date")


def test_without_dry_run_posting_needs_a_node_exit_4() -> None:
    path = VECTORS / "oasis-ubl21/UBL-Invoice-2.1-Example.xml"
    result = run("invoice", "import", str(path), "--json")
    assert result.returncode == 4
    assert json.loads(result.stdout)["error"]["code"] == "NODE_REQUIRED"
    result = run("invoice", "import", str(path))
    assert result.returncode == 4 and "node" in result.stderr and "--dry-run" in result.stderr


@pytest.mark.parametrize("args", [("no-such-file.xml", "--dry-run"),
                                  ("-", "--dry-run", "--buyer", "core-01")])
def test_usage_errors_exit_2(args: tuple[str, ...]) -> None:
    assert run("invoice", "import", *args, stdin=b"").returncode == 2


def test_help_has_an_example() -> None:
    result = run("invoice", "import", "--help")
    assert result.returncode == 0
    assert "Example" in result.stdout and "--dry-run --json" in result.stdout
    assert "invoice" in run("--help").stdout
