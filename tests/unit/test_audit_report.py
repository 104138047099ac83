"""The auditor's totals, from the blocks and receipts of a real chain, checked by hand.

The chain (tests/contracts/test_factoring_support.py's FinanceChain, genesis
day 2026-11-23, every block that day unless a date is given):

* invoices A (100,000,000 CNY), B (50,000,000 CNY), C (20,000,000 EUR), all
  due 2027-02-21 (90 days ahead) and confirmed; A registered twice (the
  second time DUPLICATE_INVOICE);
* factoring of A (BANK-A, 80 % advance at 6 %/365 for 90 days, no fee):
  advance 80,000,000; discount round(80,000,000 x 0.06 x 90 / 365) =
  round(1,183,561.64) = 1,183,562; paid out 78,816,438; reserve 20,000,000.
  The buyer pays 100,000,000 (settles), the reserve is released;
* factoring of B (BANK-B, fee 100,000): advance 40,000,000; discount
  round(591,780.82) = 591,781; paid out 40,000,000 - 591,781 - 100,000 =
  39,308,219. The buyer pays 10,000,000; on 2027-03-01 (8 days late, past
  5 grace days) overdue and default with recourse: uncovered 30,000,000,
  penalty round(30,000,000 x 0.18 x 8 / 365) = round(118,356.16) = 118,356;
* dynamic discounting of C at 12 %, 90 days early: discount
  round(20,000,000 x 0.12 x 90 / 365) = round(591,780.82) = 591,781; paid
  19,408,219, recorded and acknowledged.
"""

from __future__ import annotations

import pytest

from ledger.audit_report import AMOUNT_TOTALS, AuditReport, AuditTally
from tests.contracts.test_factoring_support import (
    DD,
    F,
    FinanceChain,
    created,
    offer_args,
    register_confirmed,
)
from tests.contracts.support import invoice_args


@pytest.fixture(scope="module")
def chain() -> FinanceChain:
    chain = FinanceChain()
    fp_a = register_confirmed(chain, "INV-A", amount=100_000_000)
    fp_b = register_confirmed(chain, "INV-B", amount=50_000_000)
    fp_c = register_confirmed(chain, "INV-C", amount=20_000_000, currency="EUR")
    refused = chain.try_("SUPPLIER-01", "invoices", "register",
                         **invoice_args("INV-A", amount=100_000_000))
    assert refused.code == "DUPLICATE_INVOICE"

    deal_a = _fund(chain, "BANK-A", fp_a)
    chain.do("CORE-01", F, "pay", deal_id=deal_a, amount=100_000_000, payment_ref="PAY-A")
    chain.do("BANK-A", F, "acknowledge_payment", deal_id=deal_a, payment_ref="PAY-A")
    chain.do("BANK-A", F, "release_reserve", deal_id=deal_a, payment_ref="RES-A")
    chain.do("SUPPLIER-01", F, "acknowledge_payment", deal_id=deal_a, payment_ref="RES-A")

    deal_b = _fund(chain, "BANK-B", fp_b, fee=100_000)
    chain.do("CORE-01", F, "pay", deal_id=deal_b, amount=10_000_000, payment_ref="PAY-B")
    chain.do("BANK-B", F, "acknowledge_payment", deal_id=deal_b, payment_ref="PAY-B")

    offer = created(chain.do("CORE-01", DD, "publish_offer", rate_bps=1200,
                             expiry_date="2027-06-30"),
                    "dynamic_discounting.offer_published", "offer_id")
    acceptance = created(chain.do("SUPPLIER-01", DD, "accept", offer_id=offer, fingerprint=fp_c),
                         "dynamic_discounting.accepted", "acceptance_id")
    chain.do("CORE-01", DD, "record_payment", acceptance_id=acceptance, payment_ref="EP-C")
    chain.do("SUPPLIER-01", DD, "acknowledge_payment", acceptance_id=acceptance,
             payment_ref="EP-C")

    chain.do("BANK-B", F, "mark_overdue", deal_id=deal_b, date="2027-03-01")
    chain.do("BANK-B", F, "declare_default", deal_id=deal_b)
    return chain


def _fund(chain: FinanceChain, bank: str, fp: bytes, **conditions: int) -> str:
    offer = created(chain.do(bank, F, "offer", **offer_args(**conditions)),
                    "factoring.offered", "offer_id")
    deal = created(chain.do("SUPPLIER-01", F, "accept", offer_id=offer, fingerprint=fp),
                   "factoring.accepted", "deal_id")
    chain.do(bank, F, "fund", deal_id=deal, payment_ref=f"FUND-{bank}")
    return str(deal)


def _report_from_store(chain: FinanceChain) -> AuditReport:
    tally = AuditTally()
    for height in range(1, chain.store.height + 1):
        tally.add_block(chain.store.block(height), chain.store.receipts(height))
    return tally.report()


def test_transactions_by_type_and_code(chain: FinanceChain) -> None:
    report = _report_from_store(chain)
    assert report.blocks == chain.store.height == 25  # 6 + 1 + 7 + 5 + 4 + 2
    assert report.transactions == 25
    assert report.by_code == {"DUPLICATE_INVOICE": 1, "OK": 24}
    assert report.failed == 1
    assert report.by_type == {
        "dynamic_discounting.accept": {"OK": 1},
        "dynamic_discounting.acknowledge_payment": {"OK": 1},
        "dynamic_discounting.publish_offer": {"OK": 1},
        "dynamic_discounting.record_payment": {"OK": 1},
        "factoring.accept": {"OK": 2},
        "factoring.acknowledge_payment": {"OK": 3},
        "factoring.declare_default": {"OK": 1},
        "factoring.fund": {"OK": 2},
        "factoring.mark_overdue": {"OK": 1},
        "factoring.offer": {"OK": 2},
        "factoring.pay": {"OK": 2},
        "factoring.release_reserve": {"OK": 1},
        "invoices.confirm": {"OK": 3},
        "invoices.register": {"DUPLICATE_INVOICE": 1, "OK": 3},
    }
    assert report.events["invoice.registered"] == 3
    assert report.events["factoring.obligor_default"] == 1


def test_invoice_totals_per_currency(chain: FinanceChain) -> None:
    invoices = _report_from_store(chain).products["invoices"]
    assert invoices == {
        "CNY": {"assigned": 2, "assigned_face": 150_000_000,
                "confirmed": 2, "confirmed_amount": 150_000_000, "confirmed_face": 150_000_000,
                "defaulted": 1, "defaulted_face": 50_000_000,
                "overdue": 1, "overdue_face": 50_000_000,
                "registered": 2, "registered_face": 150_000_000,
                "settled": 1, "settled_face": 100_000_000},
        "EUR": {"confirmed": 1, "confirmed_amount": 20_000_000, "confirmed_face": 20_000_000,
                "registered": 1, "registered_face": 20_000_000,
                "settled": 1, "settled_face": 20_000_000},
    }


def test_factoring_totals(chain: FinanceChain) -> None:
    assert _report_from_store(chain).products["factoring"] == {"CNY": {
        "offers": 2,
        "accepted": 2, "accepted_amount": 150_000_000,
        "funded": 2, "funded_amount": 150_000_000, "advanced": 120_000_000,
        "discount": 1_183_562 + 591_781, "fees": 100_000,
        "paid_out": 78_816_438 + 39_308_219, "reserve": 30_000_000,
        "repayments": 2, "repaid": 110_000_000, "reserve_released": 20_000_000,
        "settled": 1, "settled_amount": 100_000_000,
        "overdue": 1, "overdue_uncovered": 30_000_000,
        "defaulted": 1, "default_uncovered": 30_000_000, "penalties": 118_356,
        "recourse_claims": 30_118_356, "financier_losses": 0,
    }}


def test_dynamic_discounting_totals(chain: FinanceChain) -> None:
    assert _report_from_store(chain).products["dynamic_discounting"] == {"EUR": {
        "accepted": 1, "accepted_amount": 20_000_000, "discounts": 591_781,
        "early_paid": 19_408_219, "payments_acknowledged": 1, "paid": 19_408_219,
    }}


def test_raw_entries_give_the_same_report(chain: FinanceChain) -> None:
    tally = AuditTally()
    for height in range(1, chain.store.height + 1):
        block, _, receipts = chain.store.raw_entry(height)
        tally.add_entry(block, receipts)
    assert tally.report() == _report_from_store(chain)


def test_every_product_total_is_a_count_or_a_named_amount(chain: FinanceChain) -> None:
    counts = {"registered", "confirmed", "disputed", "cancelled", "assigned", "settled",
              "overdue", "defaulted", "possible_duplicates", "offers", "accepted", "funded",
              "repayments", "payments_rejected", "lapsed", "payments_acknowledged"}
    for by_currency in _report_from_store(chain).products.values():
        for totals in by_currency.values():
            assert set(totals) <= counts | AMOUNT_TOTALS


def test_an_empty_chain_reports_nothing() -> None:
    report = AuditTally().report()
    assert (report.blocks, report.transactions, report.by_type, report.products) == (0, 0, {}, {})
    assert report.to_json()["by_code"] == {}
