"""Prepayment financing through real blocks: delivery into the warehouse turning into a
pledge loan (interest since the prepayment), a delivery short of value raising a margin
call at once, the seller's buy-back on non-delivery and its default, and the refusals."""

from __future__ import annotations

from contracts import pledge, prepayment
from contracts import warehouse_receipts as wr
from contracts.calendar import parse_date
from contracts.liens import active_lien
from tests.contracts.test_factoring_support import (
    created,
    events_of,
    open_deal,
    register_confirmed,
)
from tests.contracts.test_pledge_support import (
    PL,
    PP,
    PledgeChain,
    check_pledge,
    check_prepayment,
    open_prepayment,
    payments_of,
    prepayment_args,
    refuse,
    repay,
)


def _deal(chain: PledgeChain, deal_id: str) -> prepayment.PrepaymentDeal:
    deal = prepayment.get_deal(chain.state, deal_id)
    assert deal is not None
    return deal


def test_delivery_turns_the_prepayment_into_a_pledge_loan() -> None:
    chain = PledgeChain()                                   # 2026-11-23
    # 1000 t at 4000.00: 70 % = 1000 * 400000 * 7000 // 10000 = 280000000 prepaid
    applied = chain.do("DISTRIBUTOR-01", PP, "apply", **prepayment_args())
    deal_id = created(applied, "prepayment.applied", "deal_id")
    assert deal_id == "PP-" + applied.tx_id.hex()
    accepted = chain.do("CORE-01", PP, "accept", deal_id=deal_id)
    assert "member:CORE-01" in events_of(accepted, "prepayment.accepted")[0]["subjects"]
    funded = chain.do("BANK-A", PP, "fund", deal_id=deal_id, payment_ref="BANKA-PP-1")
    assert events_of(funded, "prepayment.funded")[0]["delivery_deadline"] == "2026-12-23"
    chain.do("CORE-01", PP, "acknowledge_payment", deal_id=deal_id, payment_ref="BANKA-PP-1")
    assert prepayment.exposure(chain.state, "CORE-01") == [["BANK-A", 1]]

    # 2026-12-10: the goods arrive, appraised at 3900.00: ltv ceil(280000000 * 10000 /
    # 390000000) = ceil(7179.49) = 7180 <= 8000, no margin call
    delivered = chain.do("WAREHOUSE-01", PP, "deliver", deal_id=deal_id, unit_value=390_000,
                         date="2026-12-10")
    assert [e.kind for e in delivered.events] == [
        "receipt.issued", "lien.placed", "receipt.pledged", "pledge.funded",
        "prepayment.delivered"]
    deal = _deal(chain, deal_id)
    assert deal.receipt_id is not None and deal.pledge_deal_id is not None
    receipt = wr.get_receipt(chain.state, deal.receipt_id)
    loan = pledge.get_deal(chain.state, deal.pledge_deal_id)
    assert receipt is not None and loan is not None
    assert (receipt.owner, receipt.warehouse, receipt.quantity, receipt.unit_value,
            receipt.status) == ("DISTRIBUTOR-01", "WAREHOUSE-01", 1000, 390_000, "pledged")
    lien = active_lien(chain.state, receipt.asset)
    assert lien is not None and (lien.holder, lien.deal_id) == ("BANK-A", loan.deal_id)
    assert (loan.status, loan.principal, loan.funded_date, loan.due_date, loan.origin) == (
        "funded", 280_000_000, "2026-11-23", "2027-05-22", deal_id)
    assert prepayment.exposure(chain.state, "CORE-01") == []
    assert pledge.exposure(chain.state, "DISTRIBUTOR-01") == [["BANK-A", 1]]

    # interest runs since the prepayment: 60 days to 2027-01-22 give 2761644 (as in
    # test_pledge's worked example)
    repay(chain, loan.deal_id, 142_761_644, "DIST-R-1", date="2027-01-22")
    loan = pledge.get_deal(chain.state, loan.deal_id)
    assert loan is not None
    assert (loan.interest_paid, loan.principal_repaid) == (2_761_644, 140_000_000)
    pledged = wr.get_receipt(chain.state, loan.receipt_id)
    assert pledged is not None
    check_pledge(loan, pledged, payments_of(chain, PL, loan.deal_id, ["DIST-R-1"]))
    check_prepayment(_deal(chain, deal_id), payments_of(chain, PP, deal_id, ["BANKA-PP-1"]),
                     loan)
    # the delivered deal is done: no buy-back, no second delivery
    refuse(chain, "INVALID_STATE_TRANSITION", "BANK-A", PP, "call_buyback", deal_id=deal_id,
           date="2027-02-01")
    refuse(chain, "INVALID_STATE_TRANSITION", "WAREHOUSE-01", PP, "deliver", deal_id=deal_id,
           unit_value=1)


def test_a_delivery_worth_too_little_raises_a_margin_call_at_once() -> None:
    chain = PledgeChain()
    deal_id = open_prepayment(chain)
    # 340000 a unit: ltv ceil(280000000 * 10000 / 340000000) = ceil(8235.29) = 8236 > 8000
    delivered = chain.do("WAREHOUSE-01", PP, "deliver", deal_id=deal_id, unit_value=340_000,
                         date="2026-12-01")
    call = events_of(delivered, "pledge.margin_call")[0]
    assert (call["ltv_bps"], call["cure_deadline"]) == (8236, "2026-12-06")
    loan = pledge.get_deal(chain.state, str(_deal(chain, deal_id).pledge_deal_id))
    assert loan is not None and loan.cure_deadline == "2026-12-06"


def test_non_delivery_the_seller_buys_back() -> None:
    chain = PledgeChain()
    deal_id = open_prepayment(chain)                       # deadline 2026-12-23
    refuse(chain, "DELIVERY_NOT_DUE", "BANK-A", PP, "call_buyback", deal_id=deal_id,
           date="2026-12-23")
    called = chain.do("BANK-A", PP, "call_buyback", deal_id=deal_id, date="2026-12-24")
    notice = events_of(called, "prepayment.buyback_called")[0]
    assert (notice["owed"], notice["pay_to"]) == (280_000_000, "BANK-A")
    assert "member:CORE-01" in notice["subjects"]
    refuse(chain, "INVALID_STATE_TRANSITION", "WAREHOUSE-01", PP, "deliver", deal_id=deal_id,
           unit_value=400_000)                             # too late once called
    chain.do("CORE-01", PP, "pay_buyback", deal_id=deal_id, amount=100_000_000,
             payment_ref="CORE-BB-1")
    refuse(chain, "OVERPAYMENT", "CORE-01", PP, "pay_buyback", deal_id=deal_id,
           amount=180_000_001, payment_ref="CORE-BB-2")
    chain.do("BANK-A", PP, "acknowledge_payment", deal_id=deal_id, payment_ref="CORE-BB-1")
    chain.do("CORE-01", PP, "pay_buyback", deal_id=deal_id, amount=180_000_000,
             payment_ref="CORE-BB-2")
    done = chain.do("BANK-A", PP, "acknowledge_payment", deal_id=deal_id,
                    payment_ref="CORE-BB-2")
    assert events_of(done, "prepayment.bought_back")[0]["buyback_paid"] == 280_000_000
    deal = _deal(chain, deal_id)
    assert deal.status == "bought_back"
    assert prepayment.exposure(chain.state, "CORE-01") == []
    refs = ["PP-FUND-" + deal_id[3:11], "CORE-BB-1", "CORE-BB-2"]
    check_prepayment(deal, payments_of(chain, PP, deal_id, refs), None)


def test_buyback_default_names_every_financier_exposed_to_the_seller() -> None:
    chain = PledgeChain()
    fp = register_confirmed(chain, "INV-PP-1")             # BANK-B factors a CORE-01 invoice
    open_deal(chain, fp, bank="BANK-B")
    deal_id = open_prepayment(chain)
    chain.do("BANK-A", PP, "call_buyback", deal_id=deal_id, date="2026-12-24")
    refuse(chain, "NOT_IN_ARREARS", "BANK-A", PP, "declare_default", deal_id=deal_id,
           date="2026-12-29")                              # grace: 5 days from the call
    chain.do("CORE-01", PP, "pay_buyback", deal_id=deal_id, amount=80_000_000,
             payment_ref="CORE-BB-1")
    refuse(chain, "PAYMENT_PENDING", "BANK-A", PP, "declare_default", deal_id=deal_id,
           date="2027-01-08")
    chain.do("BANK-A", PP, "acknowledge_payment", deal_id=deal_id, payment_ref="CORE-BB-1")
    # 2027-01-08, 15 days after the call: uncovered 200000000, penalty
    #   round_half_up(200000000 * 1800 * 15 / 3650000) = round_half_up(1479452.05) = 1479452
    defaulted = chain.do("BANK-A", PP, "declare_default", deal_id=deal_id)
    attributes = events_of(defaulted, "prepayment.defaulted")[0]
    assert (attributes["days_late"], attributes["uncovered"], attributes["penalty"],
            attributes["recourse_claim"]) == (15, 200_000_000, 1_479_452, 201_479_452)
    notice = events_of(defaulted, "prepayment.obligor_default")[0]
    assert (notice["obligor"], notice["exposed"]) == ("CORE-01", ["BANK-A", "BANK-B"])
    assert "member:BANK-B" in notice["subjects"]
    deal = _deal(chain, deal_id)
    assert deal.status == "defaulted" and prepayment.exposure(chain.state, "CORE-01") == []
    refs = ["PP-FUND-" + deal_id[3:11], "CORE-BB-1"]
    check_prepayment(deal, payments_of(chain, PP, deal_id, refs), None)
    assert parse_date(str(deal.buyback_date)) == parse_date("2026-12-24")


def test_refusals() -> None:
    chain = PledgeChain()
    for changes, field in (({"seller": "DISTRIBUTOR-01"}, "seller"),
                           ({"seller": "SUPPLIER-01"}, "seller"),
                           ({"financier": "CORE-01"}, "financier"),
                           ({"warehouse": "BANK-A"}, "warehouse"),
                           ({"delivery_days": 180}, "delivery_days"),
                           ({"maintenance_bps": 6000}, "maintenance_bps"),
                           ({"goods": ""}, "goods"), ({"quantity": 0}, "quantity")):
        message = refuse(chain, "INVALID_ARGUMENT", "DISTRIBUTOR-01", PP, "apply",
                         **prepayment_args(**changes))
        assert message.startswith(field), message
    refuse(chain, "LOAN_ABOVE_LTV", "DISTRIBUTOR-01", PP, "apply",
           **prepayment_args(amount=280_000_001))
    refuse(chain, "FORBIDDEN", "SUPPLIER-01", PP, "apply", **prepayment_args())
    refuse(chain, "DEAL_NOT_FOUND", "CORE-01", PP, "accept", deal_id="PP-0")

    deal_id = created(chain.do("DISTRIBUTOR-01", PP, "apply", **prepayment_args()),
                      "prepayment.applied", "deal_id")
    refuse(chain, "FORBIDDEN", "CORE-02", PP, "accept", deal_id=deal_id)
    refuse(chain, "INVALID_STATE_TRANSITION", "BANK-A", PP, "fund", deal_id=deal_id,
           payment_ref="F-1")                              # not accepted yet
    chain.do("CORE-01", PP, "accept", deal_id=deal_id)
    refuse(chain, "INVALID_STATE_TRANSITION", "CORE-01", PP, "accept", deal_id=deal_id)
    refuse(chain, "FORBIDDEN", "BANK-B", PP, "fund", deal_id=deal_id, payment_ref="F-1")
    refuse(chain, "INVALID_STATE_TRANSITION", "WAREHOUSE-01", PP, "deliver", deal_id=deal_id,
           unit_value=1)                                   # not funded
    refuse(chain, "FORBIDDEN", "WAREHOUSE-01", PP, "cancel", deal_id=deal_id)
    chain.do("BANK-A", PP, "fund", deal_id=deal_id, payment_ref="F-1")
    refuse(chain, "INVALID_STATE_TRANSITION", "DISTRIBUTOR-01", PP, "cancel", deal_id=deal_id)
    refuse(chain, "FORBIDDEN", "WAREHOUSE-02", PP, "deliver", deal_id=deal_id, unit_value=1)
    refuse(chain, "INVALID_ARGUMENT", "WAREHOUSE-01", PP, "deliver", deal_id=deal_id,
           unit_value=2**62)                               # 1000 units would exceed 2^63-1
    refuse(chain, "INVALID_STATE_TRANSITION", "CORE-01", PP, "pay_buyback", deal_id=deal_id,
           amount=1, payment_ref="BB")                     # not called
    refuse(chain, "FORBIDDEN", "BANK-B", PP, "call_buyback", deal_id=deal_id)
    refuse(chain, "INVALID_STATE_TRANSITION", "BANK-A", PP, "declare_default", deal_id=deal_id)
    refuse(chain, "FORBIDDEN", "BANK-A", PP, "acknowledge_payment", deal_id=deal_id,
           payment_ref="F-1")                              # the seller acknowledges funding
    chain.do("CORE-01", PP, "acknowledge_payment", deal_id=deal_id, payment_ref="F-1")
    # cancellation before funding, by any of the three
    other = created(chain.do("DISTRIBUTOR-01", PP, "apply", **prepayment_args()),
                    "prepayment.applied", "deal_id")
    chain.do("CORE-01", PP, "cancel", deal_id=other, reason="no stock")
    assert _deal(chain, other).status == "cancelled"
