"""`scf receipt` and `scf pledge` on a real localnet: the worked path, releases, refusals.

The loan is repaid the day it is funded, so no interest accrues and the
release formula is the plain repaid share: units x repaid // principal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from cli.pledge import pledge
from cli.receipt import receipt
from contracts.terms import pledge_max_loan, releasable_total
from tests.cli.conftest import Localnet, run_scf
from tests.cli.test_products import closed_port_url, next_nonce, today

runner = CliRunner()
UNITS, UNIT_VALUE = 1000, "500.00"         # 50000 fen a unit: CNY 500,000.00 of goods
TERMS = ("--tenor-days", "90", "--ltv-bps", "6000", "--rate-bps", "550",
         "--maintenance-bps", "8000", "--cure-days", "5", "--grace-days", "5",
         "--penalty-rate-bps", "1800")


class Member:
    """One member's commands through click's runner (`--node`, `--key`, `--json` added)."""

    def __init__(self, localnet: Localnet, member_id: str) -> None:
        self.options = ["--node", localnet.url, "--key", str(localnet.key(member_id)), "--json"]

    def run(self, group: Any, *args: str) -> Result:
        return runner.invoke(group, [*args, *self.options])

    def ok(self, group: Any, *args: str) -> dict[str, Any]:
        result = self.run(group, *args)
        assert result.exit_code == 0, result.output
        report: dict[str, Any] = json.loads(result.stdout)
        assert report["ok"] is True and report["code"] == "OK", report
        return report

    def failed(self, group: Any, *args: str, code: str, exit_code: int = 1) -> dict[str, Any]:
        result = self.run(group, *args)
        assert result.exit_code == exit_code, result.output
        report: dict[str, Any] = json.loads(result.stdout)
        assert report["ok"] is False and report["code"] == code, report
        return report


def events(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {event["kind"]: event["attributes"] for event in report["events"]}


def issued_receipt(localnet: Localnet, quantity: int = UNITS) -> str:
    warehouse = Member(localnet, "WAREHOUSE-01")
    report = warehouse.ok(receipt, "issue", "--owner", "SUPPLIER-01", "--goods", "steel coil",
                          "--quantity", str(quantity), "--unit-value", UNIT_VALUE,
                          "--currency", "CNY")
    receipt_id: str = report["ids"]["receipt_id"]
    assert receipt_id.startswith("WR-")
    return receipt_id


def test_pledge_fund_repay_release_and_repay_in_full(localnet: Localnet) -> None:
    supplier, bank, warehouse = (Member(localnet, m)
                                 for m in ("SUPPLIER-01", "BANK-B", "WAREHOUSE-01"))
    today()                                  # not across midnight: interest stays 0
    receipt_id = issued_receipt(localnet)
    limit = pledge_max_loan(UNITS, 50_000, 6000)
    assert limit == 30_000_000

    supplier.failed(pledge, "apply", "--receipt", receipt_id, "--financier", "BANK-B",
                    "--principal", "300000.01", *TERMS, code="LOAN_ABOVE_LTV")
    applied = supplier.ok(pledge, "apply", "--receipt", receipt_id, "--financier", "BANK-B",
                          "--principal", "300000.00", *TERMS)
    deal = applied["ids"]["deal_id"]
    assert deal.startswith("PL-")
    assert events(applied)["pledge.applied"]["principal"] == limit
    # pledged: the owner can neither transfer it nor take goods out
    supplier.failed(receipt, "transfer", "--receipt", receipt_id, "--to", "CORE-01",
                    code="ASSET_ENCUMBERED")

    supplier.failed(pledge, "fund", "--deal", deal, "--payment-ref", "X-1", code="FORBIDDEN")
    funded = bank.ok(pledge, "fund", "--deal", deal, "--payment-ref", "BANKB-PL-1")
    assert events(funded)["pledge.funded"]["principal"] == limit
    supplier.ok(pledge, "acknowledge", "--deal", deal, "--payment-ref", "BANKB-PL-1")

    supplier.ok(pledge, "repay", "--deal", deal, "--amount", "150000.00",
                "--payment-ref", "SUP-PL-1")
    acknowledged = bank.ok(pledge, "acknowledge", "--deal", deal, "--payment-ref", "SUP-PL-1")
    assert events(acknowledged)["pledge.payment_acknowledged"]["to_principal"] == 15_000_000

    allowed = releasable_total(UNITS, limit, 15_000_000)
    assert allowed == 500
    supplier.failed(pledge, "request-release", "--deal", deal, "--quantity", str(allowed + 1),
                    code="RELEASE_ABOVE_LIMIT")
    supplier.ok(pledge, "request-release", "--deal", deal, "--quantity", str(allowed))
    warehouse.failed(pledge, "confirm-release", "--deal", deal, code="RELEASE_NOT_APPROVED")
    bank.ok(pledge, "approve-release", "--deal", deal)
    released = events(warehouse.ok(pledge, "confirm-release", "--deal", deal))
    assert released["pledge.released"]["quantity"] == allowed
    assert released["receipt.goods_released"]["remaining"] == UNITS - allowed

    supplier.failed(pledge, "repay", "--deal", deal, "--amount", "150000.01",
                    "--payment-ref", "SUP-PL-2", code="OVERPAYMENT")
    supplier.ok(pledge, "repay", "--deal", deal, "--amount", "150000",
                "--payment-ref", "SUP-PL-3")
    settled = events(bank.ok(pledge, "acknowledge", "--deal", deal, "--payment-ref", "SUP-PL-3"))
    assert settled["pledge.repaid"]["freed"] == UNITS - allowed
    assert "lien.released" in settled and "receipt.unpledged" in settled

    # free again: the owner takes the rest out, the receipt is released
    supplier.ok(receipt, "request-delivery", "--receipt", receipt_id,
                "--quantity", str(UNITS - allowed))
    delivered = events(warehouse.ok(receipt, "confirm-delivery", "--receipt", receipt_id))
    assert delivered["receipt.goods_released"]["status"] == "released"


def test_cancel_reject_margin_call_and_refused_defaults(localnet: Localnet) -> None:
    supplier, bank, warehouse = (Member(localnet, m)
                                 for m in ("SUPPLIER-01", "BANK-B", "WAREHOUSE-01"))
    today()
    receipt_id = issued_receipt(localnet)
    first = supplier.ok(pledge, "apply", "--receipt", receipt_id, "--financier", "BANK-B",
                        "--principal", "100000.00", *TERMS)["ids"]["deal_id"]
    cancelled = bank.ok(pledge, "cancel", "--deal", first, "--reason", "not today")
    assert events(cancelled)["pledge.cancelled"]["reason"] == "not today"

    deal = supplier.ok(pledge, "apply", "--receipt", receipt_id, "--financier", "BANK-B",
                       "--principal", "240000.00", *TERMS)["ids"]["deal_id"]
    bank.ok(pledge, "fund", "--deal", deal, "--payment-ref", "BANKB-PL-2")
    supplier.ok(pledge, "repay", "--deal", deal, "--amount", "10000.00",
                "--payment-ref", "SUP-R-1")
    rejected = bank.ok(pledge, "reject", "--deal", deal, "--payment-ref", "SUP-R-1",
                       "--reason", "no such transfer")
    assert "pledge.payment_rejected" in events(rejected)

    # CNY 300.00 a unit: 240000 / 300000 = 80 % is still within maintenance; 290.00 is not
    quiet = events(warehouse.ok(pledge, "reappraise", "--deal", deal, "--unit-value", "300.00"))
    assert "pledge.margin_call" not in quiet
    called = events(warehouse.ok(pledge, "reappraise", "--deal", deal, "--unit-value", "290.00"))
    assert called["pledge.margin_call"]["ltv_bps"] > 8000
    warehouse.failed(receipt, "appraise", "--receipt", receipt_id, "--unit-value", "500.00",
                     code="ASSET_ENCUMBERED")
    # nothing may leave during a margin call
    supplier.failed(pledge, "request-release", "--deal", deal, "--quantity", "1",
                    code="RELEASE_ABOVE_LIMIT")
    bank.failed(pledge, "declare-default", "--deal", deal, code="NOT_IN_ARREARS")
    bank.failed(pledge, "take-title", "--deal", deal, code="INVALID_STATE_TRANSITION")
    warehouse.failed(pledge, "approve-release", "--deal", deal, code="FORBIDDEN")
    supplier.failed(pledge, "cancel-release", "--deal", deal, code="RELEASE_NOT_FOUND")


def test_delivery_of_an_unpledged_receipt_and_its_cancellation(localnet: Localnet) -> None:
    supplier, warehouse = Member(localnet, "SUPPLIER-01"), Member(localnet, "WAREHOUSE-01")
    receipt_id = issued_receipt(localnet, quantity=10)
    supplier.failed(receipt, "request-delivery", "--receipt", receipt_id, "--quantity", "11",
                    code="QUANTITY_UNAVAILABLE")
    supplier.ok(receipt, "request-delivery", "--receipt", receipt_id, "--quantity", "4")
    cancelled = supplier.ok(receipt, "cancel-delivery", "--receipt", receipt_id,
                            "--reason", "truck cancelled")
    assert events(cancelled)["receipt.delivery_cancelled"]["quantity"] == 4
    warehouse.failed(receipt, "confirm-delivery", "--receipt", receipt_id,
                     code="RELEASE_NOT_FOUND")
    appraised = events(warehouse.ok(receipt, "appraise", "--receipt", receipt_id,
                                    "--unit-value", "480.50"))
    assert appraised["receipt.appraised"]["unit_value"] == 48_050
    moved = events(supplier.ok(receipt, "transfer", "--receipt", receipt_id, "--to", "CORE-01"))
    assert moved["receipt.transferred"]["owner"] == "CORE-01"


def test_bad_input_is_refused_before_anything_is_signed(localnet: Localnet) -> None:
    warehouse, supplier = Member(localnet, "WAREHOUSE-01"), Member(localnet, "SUPPLIER-01")
    nonce = next_nonce(localnet, "WAREHOUSE-01")
    report = warehouse.failed(receipt, "issue", "--owner", "SUPPLIER-01", "--goods", "coal",
                              "--quantity", "5", "--unit-value", "1.001", "--currency", "CNY",
                              code="INVALID_ARGUMENT", exit_code=3)
    assert "--unit-value" in report["message"]
    warehouse.failed(receipt, "issue", "--owner", "SUPPLIER-01", "--goods", "coal",
                     "--quantity", "0", "--unit-value", "1.00", "--currency", "CNY",
                     code="INVALID_ARGUMENT", exit_code=3)
    supplier.failed(pledge, "apply", "--receipt", "WR-nothing", "--financier", "BANK-B",
                    "--principal", "1.00", *TERMS, code="RECEIPT_NOT_FOUND", exit_code=3)
    supplier.failed(pledge, "repay", "--deal", "PL-nothing", "--amount", "1.00",
                    "--payment-ref", "R-1", code="DEAL_NOT_FOUND", exit_code=3)
    assert next_nonce(localnet, "WAREHOUSE-01") == nonce
    unreachable = runner.invoke(pledge, ["fund", "--deal", "PL-x", "--payment-ref", "R-1",
                                         "--node", closed_port_url(),
                                         "--key", str(localnet.key("BANK-B"))])
    assert unreachable.exit_code == 5, unreachable.output


@settings(max_examples=40, deadline=None)
@given(whole=st.integers(0, 10**9), fraction=st.integers(0, 10**6 - 1),
       digits=st.integers(3, 6))
def test_a_unit_value_finer_than_the_currency_is_never_sent(whole: int, fraction: int,
                                                            digits: int) -> None:
    """More fraction digits than CNY has (2), even zeros: exit 3 before any node is asked."""
    typed = f"{whole}.{fraction % 10**digits:0{digits}d}"
    result = runner.invoke(receipt, ["issue", "--node", "http://127.0.0.1:9", "--key",
                                     "/nonexistent", "--owner", "SUPPLIER-01", "--goods", "g",
                                     "--quantity", "1", "--unit-value", typed,
                                     "--currency", "CNY", "--json"])
    assert result.exit_code == 3, result.output
    assert json.loads(result.stdout)["code"] == "INVALID_ARGUMENT"


def test_receipt_and_pledge_as_subprocesses(localnet: Localnet, tmp_path: Path) -> None:
    common = ["--node", localnet.url]
    issued = run_scf("receipt", "issue", *common, "--key", str(localnet.key("WAREHOUSE-01")),
                     "--owner", "SUPPLIER-01", "--goods", "copper cathode", "--quantity", "20",
                     "--unit-value", "65000.00", "--currency", "CNY")
    assert issued.returncode == 0, issued.stderr
    lines = issued.stdout.splitlines()
    receipt_id = next(line for line in lines if line.startswith("receipt_id: ")).split(": ")[1]
    assert "receipt.issued" in issued.stdout and "status:  committed" in issued.stdout

    applied = run_scf("pledge", "apply", *common, "--key", str(localnet.key("SUPPLIER-01")),
                      "--receipt", receipt_id, "--financier", "BANK-A", "--principal",
                      "780000.00", *TERMS, "--json")
    assert applied.returncode == 0, applied.stderr
    deal = json.loads(applied.stdout)["ids"]["deal_id"]
    refused = run_scf("pledge", "cancel", *common, "--key", str(localnet.key("CORE-01")),
                      "--deal", deal)
    assert refused.returncode == 1 and refused.stderr.startswith("error: FORBIDDEN: ")
    cancelled = run_scf("pledge", "cancel", *common, "--key", str(localnet.key("SUPPLIER-01")),
                        "--deal", deal, "--json")
    assert cancelled.returncode == 0, cancelled.stderr
    assert "receipt.unpledged" in [e["kind"] for e in json.loads(cancelled.stdout)["events"]]
