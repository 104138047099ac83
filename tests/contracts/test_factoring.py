"""Factoring and reverse factoring through real blocks: the worked example end to end,
overdue and default with and without recourse, the reverse path, lapses, events.

Every step is a signed transaction in its own block (FinanceChain: build,
re-validate with apply_block, commit), on the UTC date the test chooses.
Refusals are in test_factoring_refusals.py.
"""

from __future__ import annotations

from contracts.factoring import exposure, get_deal, get_offer, latest_deal
from contracts.invoices import get_invoice
from contracts.liens import active_lien, invoice_asset
from contracts.provenance import get_provenance
from contracts.repayment import get_payment
from tests.contracts.test_factoring_support import (
    DUE,
    F,
    FinanceChain,
    check_deal,
    created,
    events_of,
    offer_args,
    open_deal,
    payments_of,
    register_confirmed,
)


def test_the_worked_example_end_to_end() -> None:
    chain = FinanceChain()                       # every block below is on 2026-11-23
    fp = register_confirmed(chain)               # face 100000000 fen, due 2027-02-21
    receipt = chain.do("BANK-A", F, "offer", **offer_args())
    offer_id = created(receipt, "factoring.offered", "offer_id")
    assert offer_id == "FO-" + receipt.tx_id.hex()
    accepted = chain.do("SUPPLIER-01", F, "accept", offer_id=offer_id, fingerprint=fp)
    deal_id = created(accepted, "factoring.accepted", "deal_id")
    deal = get_deal(chain.state, deal_id)
    assert deal is not None and deal.status == "accepted" and deal.tenor_days == 90
    assert (deal.advance, deal.discount, deal.paid_out, deal.reserve) == (
        80_000_000, 1_183_562, 78_816_438, 20_000_000)
    assert get_invoice(chain.state, fp).status == "confirmed"  # type: ignore[union-attr]

    funded = chain.do("BANK-A", F, "fund", deal_id=deal_id, payment_ref="BANKA-TT-0001")
    assert get_invoice(chain.state, fp).status == "assigned"  # type: ignore[union-attr]
    lien = active_lien(chain.state, invoice_asset(fp))
    assert lien is not None and (lien.holder, lien.deal_id) == ("BANK-A", deal_id)
    notice = events_of(funded, "factoring.funded")[0]     # the buyer's notice of assignment
    assert notice["pay_to"] == "BANK-A" and "member:CORE-01" in notice["subjects"]
    assert (notice["amount"], notice["paid_out"], notice["due_date"]) == (
        100_000_000, 78_816_438, DUE)
    chain.do("SUPPLIER-01", F, "acknowledge_payment", deal_id=deal_id,
             payment_ref="BANKA-TT-0001")

    # the buyer pays in two parts; only acknowledged payments count
    chain.do("CORE-01", F, "pay", deal_id=deal_id, amount=60_000_000, payment_ref="CORE-P-1",
             date="2027-02-10")
    assert get_deal(chain.state, deal_id).buyer_paid == 0  # type: ignore[union-attr]
    assert chain.try_("BANK-A", F, "release_reserve", deal_id=deal_id,
                      payment_ref="REL-0").code == "NOTHING_TO_RELEASE"
    chain.do("BANK-A", F, "acknowledge_payment", deal_id=deal_id, payment_ref="CORE-P-1")
    assert chain.try_("BANK-A", F, "release_reserve", deal_id=deal_id,
                      payment_ref="REL-0").code == "NOTHING_TO_RELEASE"   # 60M < advance
    chain.do("CORE-01", F, "pay", deal_id=deal_id, amount=40_000_000, payment_ref="CORE-P-2",
             date=DUE)
    settled = chain.do("BANK-A", F, "acknowledge_payment", deal_id=deal_id,
                       payment_ref="CORE-P-2")
    assert [e.kind for e in settled.events] == [
        "factoring.payment_acknowledged", "lien.released", "invoice.settled",
        "factoring.settled"]
    assert get_invoice(chain.state, fp).status == "settled"  # type: ignore[union-attr]
    assert active_lien(chain.state, invoice_asset(fp)) is None
    assert exposure(chain.state, "CORE-01") == []

    # the reserve, now covered, goes to the supplier, which acknowledges it
    release = chain.do("BANK-A", F, "release_reserve", deal_id=deal_id, payment_ref="REL-1")
    assert created(release, "factoring.payment_recorded", "amount") == 20_000_000
    chain.do("SUPPLIER-01", F, "acknowledge_payment", deal_id=deal_id, payment_ref="REL-1")
    assert chain.try_("BANK-A", F, "release_reserve", deal_id=deal_id,
                      payment_ref="REL-2").code == "NOTHING_TO_RELEASE"
    deal = get_deal(chain.state, deal_id)
    assert deal is not None and deal.status == "settled"
    assert (deal.buyer_paid, deal.collected, deal.supplier_share, deal.reserve_released) == (
        100_000_000, 80_000_000, 20_000_000, 20_000_000)
    check_deal(deal, payments_of(chain, F, deal_id,
                                 ["BANKA-TT-0001", "CORE-P-1", "CORE-P-2", "REL-1"]))
    history = get_provenance(chain.state, fp)
    assert [(e.action, e.signer, e.status) for e in history] == [
        ("register", "SUPPLIER-01", "registered"), ("confirm", "CORE-01", "confirmed"),
        ("factoring.fund", "BANK-A", "assigned"), ("factoring.settle", "BANK-A", "settled")]


def test_the_reserve_is_released_as_soon_as_payments_pass_the_advance() -> None:
    chain = FinanceChain()
    fp = register_confirmed(chain)
    deal_id = open_deal(chain, fp)
    chain.do("CORE-01", F, "pay", deal_id=deal_id, amount=85_000_000, payment_ref="P-1")
    chain.do("BANK-A", F, "acknowledge_payment", deal_id=deal_id, payment_ref="P-1")
    release = chain.do("BANK-A", F, "release_reserve", deal_id=deal_id, payment_ref="R-1")
    assert created(release, "factoring.payment_recorded", "amount") == 5_000_000
    chain.do("SUPPLIER-01", F, "reject_payment", deal_id=deal_id, payment_ref="R-1",
             reason="not received")
    again = chain.do("BANK-A", F, "release_reserve", deal_id=deal_id, payment_ref="R-2")
    assert created(again, "factoring.payment_recorded", "amount") == 5_000_000
    deal = get_deal(chain.state, deal_id)
    assert deal is not None and (deal.reserve_pending, deal.reserve_released) == (5_000_000, 0)
    check_deal(deal, payments_of(chain, F, deal_id, [f"FUND-{deal_id[3:11]}", "P-1", "R-1",
                                                     "R-2"]))


def _default(recourse: bool) -> tuple[FinanceChain, str, bytes]:
    chain = FinanceChain()
    fp = register_confirmed(chain)
    other = register_confirmed(chain, "INV-2026-002", seller="SUPPLIER-02")
    deal_id = open_deal(chain, fp, recourse=recourse)                     # BANK-A
    open_deal(chain, other, bank="BANK-B", supplier="SUPPLIER-02")        # same obligor
    chain.do("CORE-01", F, "pay", deal_id=deal_id, amount=30_000_000, payment_ref="P-1",
             date="2027-02-01")
    chain.do("BANK-A", F, "acknowledge_payment", deal_id=deal_id, payment_ref="P-1")
    # due 2027-02-21 with 5 grace days: overdue from 2027-02-27 on
    early = chain.try_("BANK-A", F, "mark_overdue", deal_id=deal_id, date="2027-02-26")
    assert early.code == "NOT_IN_ARREARS" and "2027-02-26" in early.message, early.message
    chain.do("BANK-A", F, "mark_overdue", deal_id=deal_id, date="2027-02-27")
    assert get_invoice(chain.state, fp).status == "overdue"  # type: ignore[union-attr]
    return chain, deal_id, fp


def test_default_with_recourse_charges_the_supplier_penalty_interest() -> None:
    chain, deal_id, fp = _default(recourse=True)
    receipt = chain.do("BANK-A", F, "declare_default", deal_id=deal_id, date="2027-03-23")
    deal = get_deal(chain.state, deal_id)
    assert deal is not None and deal.default is not None and deal.status == "defaulted"
    # uncovered = 80000000 - 30000000; 30 days late (2027-02-21 -> 2027-03-23);
    # penalty = round_half_up(50000000 * 1800 * 30 / 3650000) = round(739726.027...) = 739726
    assert (deal.default.uncovered, deal.default.days_late, deal.default.penalty) == (
        50_000_000, 30, 739_726)
    assert (deal.default.recourse_claim, deal.default.financier_loss) == (50_739_726, 0)
    event = events_of(receipt, "factoring.defaulted")[0]
    assert (event["recourse_claim"], event["reserve_forfeited"]) == (50_739_726, 20_000_000)
    assert "member:SUPPLIER-01" in event["subjects"]
    obligor = events_of(receipt, "factoring.obligor_default")[0]
    assert obligor["exposed"] == ["BANK-A", "BANK-B"]
    assert {"member:BANK-A", "member:BANK-B", "member:CORE-01"} <= set(obligor["subjects"])
    assert exposure(chain.state, "CORE-01") == [["BANK-B", 1]]
    assert get_invoice(chain.state, fp).status == "defaulted"  # type: ignore[union-attr]
    lien = active_lien(chain.state, invoice_asset(fp))           # a defaulted invoice keeps it
    assert lien is not None and lien.deal_id == deal_id
    check_deal(deal, payments_of(chain, F, deal_id, [f"FUND-{deal_id[3:11]}", "P-1"]))
    # defaulted is final: no more payments, no second default
    assert chain.try_("CORE-01", F, "pay", deal_id=deal_id, amount=1,
                      payment_ref="P-9").code == "INVALID_STATE_TRANSITION"
    assert chain.try_("BANK-A", F, "declare_default",
                      deal_id=deal_id).code == "INVALID_STATE_TRANSITION"


def test_default_without_recourse_is_the_financiers_loss() -> None:
    chain, deal_id, _ = _default(recourse=False)
    chain.do("BANK-A", F, "declare_default", deal_id=deal_id, date="2027-03-23")
    deal = get_deal(chain.state, deal_id)
    assert deal is not None and deal.default is not None
    assert (deal.default.uncovered, deal.default.penalty, deal.default.recourse_claim,
            deal.default.financier_loss) == (50_000_000, 0, 0, 50_000_000)
    check_deal(deal, payments_of(chain, F, deal_id, [f"FUND-{deal_id[3:11]}", "P-1"]))


def test_penalty_interest_rounds_half_up() -> None:
    # uncovered 80000000 (nothing paid), 2000 bp, ACT/360, 9 days late:
    # 80000000 * 2000 * 9 / 3600000 = 400000 exactly;
    # with 1 bp, 1 day under ACT/365: 80000000 / 3650000 = 21.917... -> 22
    for rate, basis, date, expected in ((2000, 360, "2027-03-02", 400_000),
                                        (1, 365, "2027-02-22", 22)):
        chain = FinanceChain()
        fp = register_confirmed(chain)
        deal_id = open_deal(chain, fp, penalty_rate_bps=rate, basis=basis, grace_days=0)
        chain.do("BANK-A", F, "mark_overdue", deal_id=deal_id, date="2027-02-22")
        chain.do("BANK-A", F, "declare_default", deal_id=deal_id, date=date)
        deal = get_deal(chain.state, deal_id)
        assert deal is not None and deal.default is not None
        assert deal.default.penalty == expected


def test_late_payment_settles_an_overdue_invoice() -> None:
    chain, deal_id, fp = _default(recourse=True)
    chain.do("CORE-01", F, "pay", deal_id=deal_id, amount=70_000_000, payment_ref="P-2",
             date="2027-03-01")
    pending = chain.try_("BANK-A", F, "declare_default", deal_id=deal_id)
    assert pending.code == "PAYMENT_PENDING", pending.message
    chain.do("BANK-A", F, "acknowledge_payment", deal_id=deal_id, payment_ref="P-2")
    assert get_invoice(chain.state, fp).status == "settled"  # type: ignore[union-attr]
    deal = get_deal(chain.state, deal_id)
    assert deal is not None and deal.status == "settled"
    check_deal(deal, payments_of(chain, F, deal_id, [f"FUND-{deal_id[3:11]}", "P-1", "P-2"]))


def test_a_covered_advance_is_not_in_arrears() -> None:
    chain = FinanceChain()
    fp = register_confirmed(chain)
    deal_id = open_deal(chain, fp)
    chain.do("CORE-01", F, "pay", deal_id=deal_id, amount=80_000_000, payment_ref="P-1")
    chain.do("BANK-A", F, "acknowledge_payment", deal_id=deal_id, payment_ref="P-1")
    late = chain.try_("BANK-A", F, "mark_overdue", deal_id=deal_id, date="2027-04-01")
    assert late.code == "NOT_IN_ARREARS" and "cover the advance" in late.message


def test_reverse_factoring_finances_any_confirmed_invoice_of_the_buyer() -> None:
    chain = FinanceChain()
    first = register_confirmed(chain, "R-1")
    second = register_confirmed(chain, "R-2", seller="SUPPLIER-02", amount=50_000_000)
    unconfirmed = register_confirmed(chain, "R-3", confirmed=False)
    elsewhere = register_confirmed(chain, "R-4", buyer="CORE-02")
    receipt = chain.do("BANK-B", F, "offer", **offer_args(
        supplier=None, reverse=True, buyer="CORE-01", rate_bps=350, advance_bps=10_000,
        recourse=False))
    offer_id = created(receipt, "factoring.offered", "offer_id")
    offer = get_offer(chain.state, offer_id)
    assert offer is not None and offer.reverse and offer.buyer == "CORE-01"
    assert "member:CORE-01" in events_of(receipt, "factoring.offered")[0]["subjects"]
    # the buyer's confirmation comes before any funding
    refused = chain.try_("SUPPLIER-01", F, "accept", offer_id=offer_id, fingerprint=unconfirmed)
    assert refused.code == "INVALID_STATE_TRANSITION" and "registered -> assigned" in \
        refused.message
    refused = chain.try_("SUPPLIER-01", F, "accept", offer_id=offer_id, fingerprint=elsewhere)
    assert refused.code == "OFFER_NOT_APPLICABLE" and "buyer CORE-01" in refused.message
    deals = []
    for supplier, fp in (("SUPPLIER-01", first), ("SUPPLIER-02", second)):
        accepted = chain.do(supplier, F, "accept", offer_id=offer_id, fingerprint=fp)
        deal_id = created(accepted, "factoring.accepted", "deal_id")
        chain.do("BANK-B", F, "fund", deal_id=deal_id, payment_ref="RF-" + supplier)
        deals.append(deal_id)
    deal = get_deal(chain.state, deals[1])
    assert deal is not None and deal.reverse and deal.supplier == "SUPPLIER-02"
    # a = 100 %: no reserve; discount = round_half_up(50000000 * 350 * 90 / 3650000) = 431507
    assert (deal.advance, deal.discount, deal.paid_out, deal.reserve) == (
        50_000_000, 431_507, 49_568_493, 0)
    assert exposure(chain.state, "CORE-01") == [["BANK-B", 2]]
    chain.do("CORE-01", F, "pay", deal_id=deals[1], amount=50_000_000, payment_ref="P-1",
             date=DUE)
    chain.do("BANK-B", F, "acknowledge_payment", deal_id=deals[1], payment_ref="P-1")
    assert get_invoice(chain.state, second).status == "settled"  # type: ignore[union-attr]
    check_deal(get_deal(chain.state, deals[1]),  # type: ignore[arg-type]
               payments_of(chain, F, deals[1], ["RF-SUPPLIER-02", "P-1"]))


def test_an_unfunded_acceptance_lapses_at_the_end_of_its_day() -> None:
    chain = FinanceChain()
    fp = register_confirmed(chain)
    offer_id = created(chain.do("BANK-A", F, "offer", **offer_args()), "factoring.offered",
                       "offer_id")
    first = created(chain.do("SUPPLIER-01", F, "accept", offer_id=offer_id, fingerprint=fp),
                    "factoring.accepted", "deal_id")
    lapsed = chain.try_("BANK-A", F, "fund", deal_id=first, payment_ref="T-1",
                        date="2026-11-24")
    assert lapsed.code == "ACCEPTANCE_LAPSED" and "2026-11-23" in lapsed.message
    again = chain.do("SUPPLIER-01", F, "accept", offer_id=offer_id, fingerprint=fp)
    assert [e.kind for e in again.events] == ["factoring.lapsed", "factoring.accepted"]
    second = created(again, "factoring.accepted", "deal_id")
    assert get_deal(chain.state, first).status == "lapsed"  # type: ignore[union-attr]
    deal = get_deal(chain.state, second)
    # one day later, 89 days: round_half_up(80000000 * 600 * 89 / 3650000) = 1170411
    assert deal is not None and (deal.tenor_days, deal.discount) == (89, 1_170_411)
    assert latest_deal(chain.state, fp) == deal
    chain.do("BANK-A", F, "fund", deal_id=second, payment_ref="T-2")
    assert get_invoice(chain.state, fp).status == "assigned"  # type: ignore[union-attr]


def test_an_acceptance_may_be_cancelled_before_funding() -> None:
    chain = FinanceChain()
    fp = register_confirmed(chain)
    deal_id = open_deal(chain, fp, fund=False)
    chain.do("SUPPLIER-01", F, "cancel_acceptance", deal_id=deal_id, reason="better offer")
    assert get_deal(chain.state, deal_id).status == "cancelled"  # type: ignore[union-attr]
    other = open_deal(chain, fp, bank="BANK-B")                    # the same day
    assert get_invoice(chain.state, fp).status == "assigned"  # type: ignore[union-attr]
    assert active_lien(chain.state, invoice_asset(fp)).deal_id == other  # type: ignore[union-attr]


def test_a_reduced_confirmation_is_financed_on_the_amount_due() -> None:
    chain = FinanceChain()
    fp = register_confirmed(chain, confirm=90_000_000)
    deal_id = open_deal(chain, fp)
    deal = get_deal(chain.state, deal_id)
    # advance 72000000; discount round_half_up(72000000 * 600 * 90 / 3650000) = 1065205
    assert deal is not None and (deal.amount, deal.advance, deal.discount, deal.reserve) == (
        90_000_000, 72_000_000, 1_065_205, 18_000_000)
    refused = chain.try_("CORE-01", F, "pay", deal_id=deal_id, amount=90_000_001,
                         payment_ref="P-1")
    assert refused.code == "OVERPAYMENT"


def test_a_fee_reduces_what_is_paid_out() -> None:
    chain = FinanceChain()
    fp = register_confirmed(chain)
    deal_id = open_deal(chain, fp, fee=50_000, basis=360)
    deal = get_deal(chain.state, deal_id)
    # ACT/360: discount = 80000000 * 600 * 90 / 3600000 = 1200000 exactly
    assert deal is not None and (deal.discount, deal.paid_out) == (1_200_000, 78_750_000)
    funding = get_payment(chain.state, F, deal_id, f"FUND-{deal_id[3:11]}")
    assert funding is not None and (funding.payee, funding.amount, funding.status) == (
        "SUPPLIER-01", 78_750_000, "pending")
