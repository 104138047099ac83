"""`scf certificate` on a real localnet: issue, split, discount, and the refusals before maturity.

The localnet's blocks carry today's date and certificates mature on their
invoice's due date (months ahead), so paying at maturity, overdue and
default are seen here only as the refusals they are today; the contract
tests (tests/contracts) run them on a simulated calendar.
"""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from cli.certificate import certificate
from contracts.terms import certificate_discount
from ledger.money import format_amount
from tests.cli.conftest import Localnet, run_scf
from tests.cli.test_pledge_cli import Member, events
from tests.cli.test_products import next_nonce, registered_and_confirmed, today

runner = CliRunner()


def issued(localnet: Localnet, amount: str = "1000000.00") -> dict[str, Any]:
    fingerprint = registered_and_confirmed(localnet, amount="1250000.00")
    report = Member(localnet, "CORE-01").ok(
        certificate, "issue", "--fingerprint", fingerprint, "--amount", amount,
        "--grace-days", "5", "--penalty-rate-bps", "1800", "--basis", "365")
    return {"fingerprint": fingerprint, **report["ids"]}


def test_issue_split_discount_and_refusals_before_maturity(localnet: Localnet) -> None:
    core, supplier, bank = (Member(localnet, m) for m in ("CORE-01", "SUPPLIER-01", "BANK-A"))
    day = today()                 # a discount is funded the day it is requested
    ids = issued(localnet)
    assert ids["certificate_id"].startswith("PC-") and ids["part_id"].startswith("PP-")
    core.failed(certificate, "issue", "--fingerprint", ids["fingerprint"],
                code="ASSET_ENCUMBERED")                   # one certificate per invoice

    supplier.failed(certificate, "split", "--part", ids["part_id"], "--amount", "600000.00",
                    "--amount", "400000.01", code="SPLIT_SUM_MISMATCH")
    split = supplier.ok(certificate, "split", "--part", ids["part_id"],
                        "--amount", "600000.00", "--amount", "400000")
    kept, sold = split["ids"]["parts"]
    assert events(split)["payables.split"]["amounts"] == [60_000_000, 40_000_000]
    supplier.failed(certificate, "split", "--part", ids["part_id"], "--amount", "1",
                    "--amount", "999999.00", code="PART_SPENT")
    refused = supplier.failed(certificate, "transfer", "--part", kept, "--to", "BANK-A",
                              code="INVALID_ARGUMENT")     # parts go to suppliers only
    assert "BANK-A" in refused["message"]

    requested = supplier.ok(certificate, "request-discount", "--part", sold,
                            "--financier", "BANK-A", "--rate-bps", "500")
    withdrawn = supplier.ok(certificate, "withdraw-discount",
                            "--discount", requested["ids"]["discount_id"])
    assert events(withdrawn)["payables.discount_withdrawn"]["discount_status"] == "withdrawn"
    requested = supplier.ok(certificate, "request-discount", "--part", sold,
                            "--financier", "BANK-A", "--rate-bps", "500", "--fee", "10.00")
    terms = events(requested)["payables.discount_requested"]
    expected = certificate_discount(40_000_000, 500, terms["tenor_days"], 365, 1000)
    assert (terms["discount"], terms["paid_out"]) == (expected.discount, expected.paid_out)
    discount_id = requested["ids"]["discount_id"]
    funded = bank.ok(certificate, "fund-discount", "--discount", discount_id,
                     "--payment-ref", "BANKA-PC-" + day.isoformat())
    bought = funded["ids"]["new_part_id"]
    assert events(funded)["payables.discounted"]["paid_out"] == expected.paid_out
    supplier.ok(certificate, "acknowledge", "--discount", discount_id,
                "--payment-ref", "BANKA-PC-" + day.isoformat())

    core.failed(certificate, "pay", "--part", bought, "--payment-ref", "CORE-M-1",
                code="CERTIFICATE_NOT_MATURE")
    bank.failed(certificate, "mark-overdue", "--part", bought, code="NOT_IN_ARREARS")
    bank.failed(certificate, "declare-default", "--part", bought,
                code="INVALID_STATE_TRANSITION")
    supplier.failed(certificate, "reject", "--part", kept, "--payment-ref", "NONE-1",
                    "--reason", "never paid", code="PAYMENT_NOT_FOUND")


def test_acknowledge_needs_exactly_one_of_part_and_discount(localnet: Localnet) -> None:
    options = ["--node", localnet.url, "--key", str(localnet.key("SUPPLIER-01")),
               "--payment-ref", "R-1"]
    nonce = next_nonce(localnet, "SUPPLIER-01")
    neither = runner.invoke(certificate, ["acknowledge", *options])
    both = runner.invoke(certificate, ["acknowledge", *options, "--part", "PP-1",
                                       "--discount", "PD-1"])
    assert neither.exit_code == both.exit_code == 2
    assert "--part" in neither.output and "--discount" in neither.output
    unknown = runner.invoke(certificate, ["split", *options[:4], "--part", "PP-" + "0" * 64 + "-0",
                                          "--amount", "1", "--amount", "2", "--json"])
    assert unknown.exit_code == 3 and json.loads(unknown.stdout)["code"] == "PART_NOT_FOUND"
    assert next_nonce(localnet, "SUPPLIER-01") == nonce


def test_issue_as_a_subprocess_shows_amounts_in_the_currency(localnet: Localnet) -> None:
    fingerprint = registered_and_confirmed(localnet, amount="500000.00")
    done = run_scf("certificate", "issue", "--node", localnet.url,
                   "--key", str(localnet.key("CORE-01")), "--fingerprint", fingerprint)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.strip() == f"amount:               {format_amount(50_000_000, 'CNY')} CNY"
               for line in lines), done.stdout
    assert any(line.startswith("certificate_id: PC-") for line in lines)
    part = next(line for line in lines if line.startswith("part_id: ")).split(": ")[1]
    refused = run_scf("certificate", "transfer", "--node", localnet.url,
                      "--key", str(localnet.key("CORE-01")), "--part", part, "--to", "BANK-A")
    assert refused.returncode == 1 and refused.stderr.startswith("error: FORBIDDEN: ")
