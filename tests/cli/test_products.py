"""The member commands on a real localnet: invoices, factoring, dynamic discounting.

The factoring worked path runs `scf` as subprocesses, the way members run
it; the rest goes through click's runner. Invoice numbers are unique per
test: the localnet is shared by the whole session.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from cli.discount import discount
from cli.factoring import factoring
from cli.invoice import invoice
from cli.signing import minor_units
from contracts.fingerprint import compute_fingerprint
from contracts.terms import dynamic_discount, factoring_terms
from ledger.errors import Code, LedgerError
from ledger.money import format_amount, minor_unit_exponent
from node.client import NodeClient
from node.keyfile import public_key_of_file
from tests.cli.conftest import Localnet, run_scf

runner = CliRunner()
VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "einvoices"
SELLER_TAX_ID, BUYER_TAX_ID = "91440300SUP0001", "91110000CORE001"


def today() -> datetime.date:
    """The UTC date blocks carry; waits out the last seconds of a UTC day.

    A factoring deal must be funded on its acceptance day, so a test must
    not straddle midnight (at most a few seconds' wait, once in a while).
    """
    now = datetime.datetime.now(datetime.timezone.utc)
    midnight = datetime.datetime.combine(now.date() + datetime.timedelta(days=1),
                                         datetime.time(), datetime.timezone.utc)
    if (midnight - now).total_seconds() < 20:
        time.sleep((midnight - now).total_seconds() + 1)
    return datetime.datetime.now(datetime.timezone.utc).date()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def invoice_options(localnet: Localnet, number: str, amount: str = "1250000.00",
                    due_in_days: int = 90) -> list[str]:
    day = today()
    return ["--key", str(localnet.key("SUPPLIER-01")), "--node", localnet.url,
            "--number", number, "--buyer", "CORE-01", "--amount", amount, "--currency", "CNY",
            "--issue-date", (day - datetime.timedelta(days=3)).isoformat(),
            "--due-date", (day + datetime.timedelta(days=due_in_days)).isoformat(),
            "--seller-tax-id", SELLER_TAX_ID, "--buyer-tax-id", BUYER_TAX_ID]


def unique_number() -> str:
    return "INV-" + uuid.uuid4().hex[:12].upper()


def ok_json(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["ok"] is True and report["code"] == "OK", report
    return report


def registered_and_confirmed(localnet: Localnet, amount: str = "1250000.00") -> str:
    """A new confirmed invoice of SUPPLIER-01 on CORE-01; its fingerprint."""
    registered = ok_json(runner.invoke(
        invoice, ["register", *invoice_options(localnet, unique_number(), amount), "--json"]))
    fingerprint: str = registered["ids"]["fingerprint"]
    ok_json(runner.invoke(invoice, ["confirm", "--key", str(localnet.key("CORE-01")),
                                    "--node", localnet.url, "--fingerprint", fingerprint,
                                    "--json"]))
    return fingerprint


def next_nonce(localnet: Localnet, member: str) -> int:
    return NodeClient(localnet.url).nonce(public_key_of_file(localnet.key(member)))


# -- the factoring worked path, as members run it ---------------------------------------

class Scf:
    """`scf ... --node URL --key keys/MEMBER.json --json` as a subprocess."""

    def __init__(self, localnet: Localnet) -> None:
        self.localnet = localnet

    def __call__(self, member: str, *args: str, json_output: bool = True
                 ) -> subprocess.CompletedProcess[str]:
        extra = ["--json"] if json_output else []
        return run_scf(*args, "--node", self.localnet.url,
                       "--key", str(self.localnet.key(member)), *extra)

    def ok(self, member: str, *args: str) -> dict[str, Any]:
        result = self(member, *args)
        assert result.returncode == 0, result.stdout + result.stderr
        report: dict[str, Any] = json.loads(result.stdout)
        assert report["ok"] is True and report["code"] == "OK"
        return report


def test_factoring_worked_path_with_the_cli_only(localnet: Localnet, tmp_path: Path) -> None:
    scf = Scf(localnet)
    document = tmp_path / "invoice.pdf"
    document.write_bytes(b"%PDF-1.7 the invoice " + uuid.uuid4().bytes)
    number = unique_number()
    day = today()

    registered = scf.ok("SUPPLIER-01", "invoice", "register",
                        *invoice_options(localnet, number)[4:], "--document", str(document))
    fp = registered["ids"]["fingerprint"]
    assert fp == compute_fingerprint(SELLER_TAX_ID, BUYER_TAX_ID, number,
                                     (day - datetime.timedelta(days=3)).isoformat(), "CNY",
                                     125000000).hex()
    event = registered["events"][0]["attributes"]
    assert event["face_amount"] == 125000000 and event["currency"] == "CNY"
    assert NodeClient(localnet.url).invoice(fp)["invoice"]["document_sha256"] == \
        hashlib.sha256(document.read_bytes()).hexdigest()

    scf.ok("CORE-01", "invoice", "confirm", "--fingerprint", fp)
    offer_args = ("factoring", "offer", "--supplier", "SUPPLIER-01", "--currency", "CNY",
                  "--advance-bps", "8000", "--rate-bps", "600", "--recourse",
                  "--grace-days", "5", "--penalty-rate-bps", "1800",
                  "--expiry", (day + datetime.timedelta(days=30)).isoformat())
    offer_id = scf.ok("BANK-A", *offer_args)["ids"]["offer_id"]
    assert offer_id.startswith("FO-")

    accepted = scf("SUPPLIER-01", "factoring", "accept", "--offer", offer_id,
                   "--fingerprint", fp, json_output=False)
    assert accepted.returncode == 0, accepted.stderr
    lines = accepted.stdout.splitlines()
    deal_id = next(line for line in lines if line.startswith("deal_id: ")).split(": ")[1]
    terms = factoring_terms(125000000, 8000, 600, 90, 365, 0)
    shown = {line.split(":")[0].strip(): line.split(":", 1)[1].strip()
             for line in lines if ":" in line}
    assert shown["advance"] == f"{format_amount(terms.advance, 'CNY')} CNY" == "1000000.00 CNY"
    assert shown["paid_out"] == f"{format_amount(terms.paid_out, 'CNY')} CNY"

    funded = scf.ok("BANK-A", "factoring", "fund", "--deal", deal_id,
                    "--payment-ref", "BANKA-TT-" + number)
    kinds = [event["kind"] for event in funded["events"]]
    assert kinds == ["lien.placed", "invoice.assigned", "factoring.funded"]
    notice = funded["events"][2]["attributes"]
    assert notice["pay_to"] == "BANK-A" and notice["paid_out"] == terms.paid_out

    # A second bank: its own offer cannot be accepted for the assigned invoice,
    # and it cannot fund BANK-A's deal.
    other_offer = scf.ok("BANK-B", *offer_args)["ids"]["offer_id"]
    refused = scf("SUPPLIER-01", "factoring", "accept", "--offer", other_offer,
                  "--fingerprint", fp, json_output=False)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: INVALID_STATE_TRANSITION: ")
    assert "assigned -> assigned" in refused.stderr
    nonce = next_nonce(localnet, "BANK-B")
    stolen = scf("BANK-B", "factoring", "fund", "--deal", deal_id, "--payment-ref", "BANKB-1")
    assert stolen.returncode == 1
    report = json.loads(stolen.stdout)
    assert report["ok"] is False and report["code"] == "FORBIDDEN" and report["ids"] == {}
    assert next_nonce(localnet, "BANK-B") == nonce + 1  # a failed receipt uses its nonce

    # Repayment: the supplier acknowledges its funding, the buyer pays in two
    # parts, the financier acknowledges, releases the reserve.
    scf.ok("SUPPLIER-01", "factoring", "acknowledge", "--deal", deal_id,
           "--payment-ref", "BANKA-TT-" + number)
    scf.ok("CORE-01", "factoring", "pay", "--deal", deal_id, "--amount", "1000000",
           "--payment-ref", "CORE-P-1")
    over = scf("CORE-01", "factoring", "pay", "--deal", deal_id, "--amount", "250000.01",
               "--payment-ref", "CORE-P-2")
    assert over.returncode == 1 and json.loads(over.stdout)["code"] == "OVERPAYMENT"
    scf.ok("CORE-01", "factoring", "pay", "--deal", deal_id, "--amount", "250000.00",
           "--payment-ref", "CORE-P-3")
    scf.ok("BANK-A", "factoring", "acknowledge", "--deal", deal_id, "--payment-ref", "CORE-P-1")
    settled = scf.ok("BANK-A", "factoring", "acknowledge", "--deal", deal_id,
                     "--payment-ref", "CORE-P-3")
    assert "factoring.settled" in [event["kind"] for event in settled["events"]]
    released = scf.ok("BANK-A", "factoring", "release-reserve", "--deal", deal_id,
                      "--payment-ref", "REL-" + number)
    assert released["events"][0]["attributes"]["amount"] == terms.reserve
    scf.ok("SUPPLIER-01", "factoring", "acknowledge", "--deal", deal_id,
           "--payment-ref", "REL-" + number)
    assert NodeClient(localnet.url).invoice(fp)["invoice"]["status"] == "settled"


# -- dynamic discounting --------------------------------------------------------------

def test_discount_offer_accept_pay_acknowledge(localnet: Localnet) -> None:
    fp = registered_and_confirmed(localnet, amount="1000000.00")
    common = ["--node", localnet.url, "--json"]
    buyer = ["--key", str(localnet.key("CORE-01")), *common]
    supplier = ["--key", str(localnet.key("SUPPLIER-01")), *common]
    expiry = (today() + datetime.timedelta(days=10)).isoformat()
    published = ok_json(runner.invoke(discount, [
        "offer", *buyer, "--table", "10:800, 30:1000,60:1200", "--expiry", expiry,
        "--supplier", "SUPPLIER-01", "--currency", "CNY"]))
    offer_id = published["ids"]["offer_id"]
    assert offer_id.startswith("DO-")
    assert published["events"][0]["attributes"]["table"] == [[10, 800], [30, 1000], [60, 1200]]

    accepted = ok_json(runner.invoke(discount, ["accept", *supplier, "--offer", offer_id,
                                                "--fingerprint", fp]))
    acceptance_id = accepted["ids"]["acceptance_id"]
    terms = dynamic_discount(100000000, 1200, 90, 365)
    event = next(e["attributes"] for e in accepted["events"]
                 if e["kind"] == "dynamic_discounting.accepted")
    assert (event["days_early"], event["rate_bps"]) == (90, 1200)
    assert (event["discount"], event["paid"]) == (terms.discount, terms.paid)
    assert "invoice.settled" in [e["kind"] for e in accepted["events"]]

    ok_json(runner.invoke(discount, ["pay", *buyer, "--acceptance", acceptance_id,
                                     "--payment-ref", "CORE-EP-1"]))
    acknowledged = ok_json(runner.invoke(discount, [
        "acknowledge", *supplier, "--acceptance", acceptance_id, "--payment-ref", "CORE-EP-1"]))
    assert acknowledged["events"][0]["attributes"]["amount"] == terms.paid

    human = runner.invoke(discount, ["withdraw", "--key", str(localnet.key("CORE-01")),
                                     "--node", localnet.url, "--offer", offer_id])
    assert human.exit_code == 0 and "dynamic_discounting.offer_withdrawn" in human.stdout


def test_discount_offer_needs_one_rate_form(localnet: Localnet) -> None:
    base = ["offer", "--key", str(localnet.key("CORE-01")), "--node", localnet.url,
            "--expiry", "2099-01-01"]
    assert runner.invoke(discount, base).exit_code == 2
    assert runner.invoke(discount, [*base, "--rate-bps", "5", "--table", "1:5"]).exit_code == 2
    bad = runner.invoke(discount, [*base, "--table", "10-800", "--json"])
    assert bad.exit_code == 3 and json.loads(bad.stdout)["code"] == "INVALID_ARGUMENT"


# -- invoices -------------------------------------------------------------------------

def test_register_human_output_shows_the_amount_and_the_fingerprint(localnet: Localnet) -> None:
    result = runner.invoke(invoice, ["register", *invoice_options(localnet, unique_number())])
    assert result.exit_code == 0, result.output
    assert "face_amount:          1250000.00 CNY" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("fingerprint: ")


def test_a_duplicate_registration_exits_1_with_the_receipt_code(localnet: Localnet) -> None:
    options = invoice_options(localnet, unique_number())
    ok_json(runner.invoke(invoice, ["register", *options, "--json"]))
    again = runner.invoke(invoice, ["register", *options])
    assert again.exit_code == 1
    assert again.stderr.startswith("error: DUPLICATE_INVOICE: invoice ")
    assert "receipt: DUPLICATE_INVOICE: " in again.stdout


@pytest.mark.parametrize("replace,code", [
    (("--amount", "1250000.001"), "INVALID_ARGUMENT"),     # more decimals than CNY has
    (("--amount", "1250000.000"), "INVALID_ARGUMENT"),     # even zeros
    (("--amount", "-5"), "INVALID_ARGUMENT"),
    (("--amount", "1e6"), "INVALID_ARGUMENT"),
    (("--currency", "XXQ"), "INVALID_ARGUMENT"),
    (("--due-date", "2027-02-30"), "INVALID_ARGUMENT"),
    (("--buyer", "core-01"), "INVALID_ARGUMENT"),
])
def test_bad_input_exits_3_and_sends_nothing(localnet: Localnet, replace: tuple[str, str],
                                             code: str) -> None:
    options = invoice_options(localnet, unique_number())
    options[options.index(replace[0]) + 1] = replace[1]
    before = next_nonce(localnet, "SUPPLIER-01")
    result = runner.invoke(invoice, ["register", *options, "--json"])
    assert result.exit_code == 3, result.output
    assert json.loads(result.stdout)["code"] == code
    assert next_nonce(localnet, "SUPPLIER-01") == before


def test_confirm_a_partial_amount_in_the_invoice_currency(localnet: Localnet) -> None:
    registered = ok_json(runner.invoke(
        invoice, ["register", *invoice_options(localnet, unique_number()), "--json"]))
    fp = registered["ids"]["fingerprint"]
    core = ["--key", str(localnet.key("CORE-01")), "--node", localnet.url, "--json",
            "--fingerprint", fp]
    too_precise = runner.invoke(invoice, ["confirm", *core, "--amount", "1000.005"])
    assert too_precise.exit_code == 3
    confirmed = ok_json(runner.invoke(invoice, ["confirm", *core, "--amount", "1200000.50"]))
    assert confirmed["events"][0]["attributes"]["amount"] == 120000050
    not_the_buyer = runner.invoke(invoice, ["confirm", "--key", str(localnet.key("BANK-A")),
                                            "--node", localnet.url, "--fingerprint", fp])
    assert not_the_buyer.exit_code == 1 and not_the_buyer.stderr.startswith("error: FORBIDDEN")


def test_cancel_a_confirmed_invoice_needs_the_buyers_consent(localnet: Localnet) -> None:
    fp = registered_and_confirmed(localnet)
    seller = ["--key", str(localnet.key("SUPPLIER-01")), "--node", localnet.url, "--json",
              "--fingerprint", fp]
    refused = runner.invoke(invoice, ["cancel", *seller, "--reason", "issued twice"])
    assert refused.exit_code == 1
    assert json.loads(refused.stdout)["code"] == "CANCEL_CONSENT_REQUIRED"
    ok_json(runner.invoke(invoice, ["consent-cancel", "--key", str(localnet.key("CORE-01")),
                                    "--node", localnet.url, "--fingerprint", fp, "--json"]))
    cancelled = ok_json(runner.invoke(invoice, ["cancel", *seller, "--reason", "issued twice"]))
    assert cancelled["events"][0]["attributes"]["reason"] == "issued twice"


def test_import_with_a_key_posts_the_registration(localnet: Localnet, tmp_path: Path) -> None:
    number = unique_number()
    data = (VECTORS / "oasis-ubl21" / "UBL-Invoice-2.1-Example.xml").read_bytes()
    path = tmp_path / "invoice.xml"
    path.write_bytes(data.replace(b"<cbc:ID>TOSL108</cbc:ID>", f"<cbc:ID>{number}</cbc:ID>"
                                  .encode(), 1))
    key = ["--key", str(localnet.key("SUPPLIER-01")), "--node", localnet.url]
    no_buyer = runner.invoke(invoice, ["import", str(path), *key])
    assert no_buyer.exit_code == 3 and "--buyer" in no_buyer.stderr
    posted = ok_json(runner.invoke(invoice, ["import", str(path), *key, "--buyer", "CORE-01",
                                             "--json"]))
    attributes = posted["events"][0]["attributes"]
    assert attributes["invoice_number"] == number and attributes["currency"] == "EUR"
    stored = NodeClient(localnet.url).invoice(posted["ids"]["fingerprint"])["invoice"]
    assert stored["document_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_import_without_key_or_dry_run_still_needs_a_node(tmp_path: Path) -> None:
    path = VECTORS / "oasis-ubl21" / "UBL-Invoice-2.1-Example.xml"
    result = runner.invoke(invoice, ["import", str(path), "--json"])
    assert result.exit_code == 4
    assert json.loads(result.stdout)["error"]["code"] == "NODE_REQUIRED"


# -- the shared path's edges --------------------------------------------------------------

def test_an_unreachable_node_exits_5(localnet: Localnet) -> None:
    result = runner.invoke(factoring, ["fund", "--key", str(localnet.key("BANK-A")),
                                       "--node", closed_port_url(), "--deal", "FD-1",
                                       "--payment-ref", "R-1"])
    assert result.exit_code == 5
    assert result.stderr.startswith("error: NODE_UNREACHABLE: ")


def test_factoring_offer_must_say_who_bears_a_default(localnet: Localnet) -> None:
    result = runner.invoke(factoring, ["offer", "--key", str(localnet.key("BANK-A")),
                                       "--node", localnet.url, "--supplier", "SUPPLIER-01",
                                       "--currency", "CNY", "--advance-bps", "8000",
                                       "--rate-bps", "600", "--expiry", "2099-01-01"])
    assert result.exit_code == 2 and "--recourse" in result.output


def test_pay_on_an_unknown_deal_is_refused_before_sending(localnet: Localnet) -> None:
    result = runner.invoke(factoring, ["pay", "--key", str(localnet.key("CORE-01")),
                                       "--node", localnet.url, "--deal", "FD-none",
                                       "--amount", "1.00", "--payment-ref", "P-1", "--json"])
    assert result.exit_code == 3 and json.loads(result.stdout)["code"] == "DEAL_NOT_FOUND"


def test_a_bad_key_file_exits_3(localnet: Localnet, tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    path.write_text("{}")
    path.chmod(0o600)
    result = runner.invoke(factoring, ["withdraw", "--key", str(path), "--node", localnet.url,
                                       "--offer", "FO-1", "--json"])
    assert result.exit_code == 3 and json.loads(result.stdout)["code"] == "KEY_FILE_INVALID"


@pytest.mark.parametrize("group", [invoice, factoring, discount])
def test_every_command_has_an_example(group: Any) -> None:
    for name in group.commands:
        result = runner.invoke(group, [name, "--help"])
        assert result.exit_code == 0 and "Example" in result.stdout, name


# -- amounts ------------------------------------------------------------------------------

CURRENCIES = st.sampled_from(["CNY", "JPY", "KWD", "CLF", "EUR"])


@given(amount=st.integers(1, 2**63 - 1), currency=CURRENCIES)
def test_a_formatted_amount_reads_back_exactly(amount: int, currency: str) -> None:
    assert minor_units(format_amount(amount, currency), currency, "--amount") == amount


@given(whole=st.integers(0, 10**9), extra=st.text("0123456789", min_size=1, max_size=3),
       currency=CURRENCIES)
def test_more_decimals_than_the_currency_has_are_refused(whole: int, extra: str,
                                                         currency: str) -> None:
    text = f"{whole}." + "5" * minor_unit_exponent(currency) + extra
    with pytest.raises(LedgerError) as refused:
        minor_units(text, currency, "--amount")
    assert refused.value.code == Code.INVALID_ARGUMENT
    assert refused.value.message.startswith("--amount: ")


def test_a_zero_fee_is_allowed_where_asked() -> None:
    assert minor_units("0", "CNY", "--fee", allow_zero=True) == 0
    assert minor_units("0.00", "CNY", "--fee", allow_zero=True) == 0
    with pytest.raises(LedgerError):
        minor_units("0", "CNY", "--amount")
