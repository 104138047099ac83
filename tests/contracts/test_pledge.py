"""Pledge financing through real blocks: the worked example of docs/product-pledge.md end
to end (hand-checked interest, release and margin-call numbers), default after an
uncured margin call and after maturity, title transfer, exposure events.

Every step is a signed transaction in its own block (PledgeChain: build, re-validate
with apply_block, commit) on the UTC date the test chooses. Refusals are in
test_pledge_refusals.py, the formulas alone in test_pledge_terms.py.
"""

from __future__ import annotations

from contracts import pledge
from contracts import warehouse_receipts as wr
from contracts.calendar import parse_date
from contracts.liens import active_lien
from tests.contracts.test_factoring_support import created, events_of
from tests.contracts.test_pledge_support import (
    PL,
    WR,
    PledgeChain,
    check_pledge,
    issue,
    open_pledge,
    payments_of,
    release,
    repay,
)


def _deal(chain: PledgeChain, deal_id: str) -> pledge.PledgeDeal:
    deal = pledge.get_deal(chain.state, deal_id)
    assert deal is not None
    return deal


def _receipt(chain: PledgeChain, receipt_id: str) -> wr.Receipt:
    receipt = wr.get_receipt(chain.state, receipt_id)
    assert receipt is not None
    return receipt


def test_the_worked_example_end_to_end() -> None:
    chain = PledgeChain()                                     # 2026-11-23
    # 1000 t at 4000.00 CNY: collateral 400000000 fen; ltv 7000 -> max loan 280000000
    receipt_id = issue(chain)
    assert receipt_id.startswith("WR-")
    applied = chain.do("DISTRIBUTOR-01", PL, "apply", receipt_id=receipt_id, financier="BANK-A",
                       principal=280_000_000, tenor_days=180, ltv_bps=7000, rate_bps=600,
                       maintenance_bps=8000, cure_days=5, grace_days=5, penalty_rate_bps=1800)
    deal_id = created(applied, "pledge.applied", "deal_id")
    assert deal_id == "PL-" + applied.tx_id.hex()
    lien = active_lien(chain.state, "receipt:" + receipt_id)
    assert lien is not None and (lien.holder, lien.deal_id) == ("BANK-A", deal_id)
    assert _receipt(chain, receipt_id).status == "pledged"

    funded = chain.do("BANK-A", PL, "fund", deal_id=deal_id, payment_ref="BANKA-PL-1")
    deal = _deal(chain, deal_id)
    assert (deal.status, deal.funded_date, deal.due_date) == ("funded", "2026-11-23",
                                                              "2027-05-22")   # + 180 days
    assert events_of(funded, "pledge.funded")[0]["principal"] == 280_000_000
    chain.do("DISTRIBUTOR-01", PL, "acknowledge_payment", deal_id=deal_id,
             payment_ref="BANKA-PL-1")

    # 2027-01-22, 60 days: interest = round_half_up(280000000*600*60 / 3650000)
    #   = round_half_up(2761643.83...) = 2761644; the payment 142761644 pays it, then
    #   140000000 of principal: half repaid -> 1000 * 140000000 // 280000000 = 500 units
    assert deal.owed(parse_date("2027-01-22")) == 280_000_000 + 2_761_644
    repay(chain, deal_id, 142_761_644, "DIST-R-1", date="2027-01-22")
    deal = _deal(chain, deal_id)
    assert (deal.interest_accrued, deal.interest_paid, deal.principal_repaid) == (
        2_761_644, 2_761_644, 140_000_000)
    assert deal.accrued_through == "2027-01-22"
    # releasable: by repayment 500 - 0; by margin 1000 - ceil(140000000*10000 /
    # (8000*400000)) = 1000 - ceil(437.5) = 562 -> 500
    assert deal.releasable(400_000) == 500
    assert chain.try_("DISTRIBUTOR-01", PL, "request_release", deal_id=deal_id,
                      quantity=501).code == "RELEASE_ABOVE_LIMIT"
    release(chain, deal_id, 500)
    deal, receipt = _deal(chain, deal_id), _receipt(chain, receipt_id)
    assert (deal.released, deal.remaining, receipt.released, receipt.remaining) == (
        500, 500, 500, 500)

    # 2027-02-01 the warehouse re-appraises at 3200.00: collateral 500 * 320000 = 160000000,
    # ltv = ceil(140000000 * 10000 / 160000000) = 8750 > 8000: margin call, cure by 02-06
    appraised = chain.do("WAREHOUSE-01", PL, "reappraise", deal_id=deal_id, unit_value=320_000,
                         date="2027-02-01")
    call = events_of(appraised, "pledge.margin_call")[0]
    assert (call["ltv_bps"], call["collateral_value"], call["cure_deadline"]) == (
        8750, 160_000_000, "2027-02-06")
    assert "member:DISTRIBUTOR-01" in call["subjects"] and "receipt:" + receipt_id in \
        call["subjects"]
    assert _deal(chain, deal_id).releasable(320_000) == 0     # nothing leaves in a margin call
    assert chain.try_("BANK-A", PL, "declare_default", deal_id=deal_id,
                      date="2027-02-06").code == "NOT_IN_ARREARS"   # cure period runs

    # 2027-02-06 (last cure day): 15 days since 01-22 on 140000000:
    #   round_half_up(140000000*600*15 / 3650000) = round_half_up(345205.47) = 345205;
    #   paying 20345205 repays 20000000 of principal: ltv 120000000*10000/160000000 = 7500
    chain.do("DISTRIBUTOR-01", PL, "repay", deal_id=deal_id, amount=20_345_205,
             payment_ref="DIST-R-2")
    cured = chain.do("BANK-A", PL, "acknowledge_payment", deal_id=deal_id,
                     payment_ref="DIST-R-2")
    assert events_of(cured, "pledge.payment_acknowledged")[0]["to_principal"] == 20_000_000
    assert events_of(cured, "pledge.margin_cured")[0]["ltv_bps"] == 7500
    deal = _deal(chain, deal_id)
    assert (deal.outstanding, deal.cure_deadline) == (120_000_000, None)
    # releasable: by repayment 1000*160000000//280000000 - 500 = 571 - 500 = 71;
    # by margin 500 - ceil(120000000*10000 / (8000*320000)) = 500 - ceil(468.75) = 31
    assert deal.releasable(320_000) == 31
    release(chain, deal_id, 31)

    # 2027-05-22 (due): 105 days since 02-06 on 120000000:
    #   round_half_up(120000000*600*105 / 3650000) = round_half_up(2071232.87) = 2071233
    chain.do("DISTRIBUTOR-01", PL, "repay", deal_id=deal_id, amount=122_071_233,
             payment_ref="DIST-R-3", date="2027-05-22")
    repaid = chain.do("BANK-A", PL, "acknowledge_payment", deal_id=deal_id,
                      payment_ref="DIST-R-3")
    kinds = [event.kind for event in repaid.events]
    assert kinds == ["pledge.payment_acknowledged", "lien.released", "receipt.unpledged",
                     "pledge.repaid"]
    deal, receipt = _deal(chain, deal_id), _receipt(chain, receipt_id)
    assert (deal.status, deal.interest_paid, deal.released) == (
        "repaid", 2_761_644 + 345_205 + 2_071_233, 531)
    assert events_of(repaid, "pledge.repaid")[0]["freed"] == 469
    assert (receipt.status, receipt.owner, receipt.remaining) == ("issued", "DISTRIBUTOR-01", 469)
    assert active_lien(chain.state, "receipt:" + receipt_id) is None
    assert pledge.exposure(chain.state, "DISTRIBUTOR-01") == []
    check_pledge(deal, receipt, payments_of(chain, PL, deal_id,
                                            ["BANKA-PL-1", "DIST-R-1", "DIST-R-2", "DIST-R-3"]))
    # money: the borrower paid principal + interest; the financier's net is the interest
    assert 142_761_644 + 20_345_205 + 122_071_233 == 280_000_000 + deal.interest_paid
    # the freed goods leave on the owner's request alone, confirmed by the warehouse
    chain.do("DISTRIBUTOR-01", WR, "request_delivery", receipt_id=receipt_id, quantity=469)
    chain.do("WAREHOUSE-01", WR, "confirm_delivery", receipt_id=receipt_id)
    assert _receipt(chain, receipt_id).status == "released"


def test_uncured_margin_call_default_and_title() -> None:
    chain = PledgeChain()                                     # 2026-11-23
    receipt_id = issue(chain)
    deal_id = open_pledge(chain, receipt_id)                  # 280000000, due 2027-05-22
    other = issue(chain, "SUPPLIER-01", quantity=10, unit_value=1_000_000)
    open_pledge(chain, other, 5_000_000, financier="BANK-B")  # BANK-B lends to SUPPLIER-01
    also = issue(chain, quantity=10, unit_value=1_000_000)
    open_pledge(chain, also, 5_000_000, financier="BANK-B")   # ... and to DISTRIBUTOR-01
    assert pledge.exposure(chain.state, "DISTRIBUTOR-01") == [["BANK-A", 1], ["BANK-B", 1]]

    # 2026-12-23: 300000 a unit -> ltv ceil(280000000*10000 / 300000000) = 9334 > 8000
    chain.do("WAREHOUSE-01", PL, "reappraise", deal_id=deal_id, unit_value=300_000,
             date="2026-12-23")
    assert _deal(chain, deal_id).cure_deadline == "2026-12-28"
    # a higher appraisal that still breaches keeps the first deadline
    chain.do("WAREHOUSE-01", PL, "reappraise", deal_id=deal_id, unit_value=340_000,
             date="2026-12-26")
    assert _deal(chain, deal_id).cure_deadline == "2026-12-28"
    assert chain.try_("BANK-A", PL, "declare_default", deal_id=deal_id,
                      date="2026-12-28").code == "NOT_IN_ARREARS"

    # 2027-01-07, 10 days after the deadline: interest for 45 days since funding
    #   round_half_up(280000000*600*45 / 3650000) = round_half_up(2071232.88) = 2071233
    # owed 282071233; penalty round_half_up(282071233*1800*10 / 3650000)
    #   = round_half_up(1391036.22) = 1391036
    defaulted = chain.do("BANK-A", PL, "declare_default", deal_id=deal_id, date="2027-01-07")
    attributes = events_of(defaulted, "pledge.defaulted")[0]
    assert (attributes["breach_date"], attributes["days_late"], attributes["uncovered"],
            attributes["penalty"], attributes["recourse_claim"]) == (
        "2026-12-28", 10, 282_071_233, 1_391_036, 283_462_269)
    notice = events_of(defaulted, "pledge.obligor_default")[0]
    assert notice["exposed"] == ["BANK-A", "BANK-B"]          # both lend to the distributor
    assert {"member:BANK-B", "member:DISTRIBUTOR-01"} <= set(notice["subjects"])
    assert pledge.exposure(chain.state, "DISTRIBUTOR-01") == [["BANK-B", 1]]
    # the lien stays until title passes; the owner can neither transfer nor appraise
    assert chain.try_("DISTRIBUTOR-01", WR, "transfer", receipt_id=receipt_id,
                      new_owner="SUPPLIER-01").code == "ASSET_ENCUMBERED"
    assert chain.try_("DISTRIBUTOR-01", PL, "repay", deal_id=deal_id, amount=1,
                      payment_ref="LATE").code == "INVALID_STATE_TRANSITION"

    titled = chain.do("BANK-A", PL, "take_title", deal_id=deal_id)
    deal, receipt = _deal(chain, deal_id), _receipt(chain, receipt_id)
    assert (deal.status, deal.title_value) == ("title_transferred", 1000 * 340_000)
    assert (receipt.owner, receipt.status) == ("BANK-A", "issued")
    assert active_lien(chain.state, "receipt:" + receipt_id) is None
    assert [e.kind for e in titled.events] == ["lien.released", "receipt.title_transferred",
                                               "pledge.title_transferred"]
    assert "member:DISTRIBUTOR-01" in events_of(titled, "receipt.title_transferred")[0][
        "subjects"]
    check_pledge(deal, receipt, payments_of(chain, PL, deal_id, ["FUND-" + deal_id[3:11]]))
    # the financier now holds an ordinary receipt: it may sell it on
    chain.do("BANK-A", WR, "transfer", receipt_id=receipt_id, new_owner="CORE-01")


def test_default_after_maturity_with_the_grace_days() -> None:
    chain = PledgeChain()
    receipt_id = issue(chain)
    deal_id = open_pledge(chain, receipt_id, 100_000_000, tenor_days=30)   # due 2026-12-23
    # grace 5 days: not before 2026-12-29
    assert chain.try_("BANK-A", PL, "declare_default", deal_id=deal_id,
                      date="2026-12-28").code == "NOT_IN_ARREARS"
    # a release request open blocks the default until cancelled
    repay(chain, deal_id, 50_000_000, "R-1", date="2026-12-29")
    chain.do("DISTRIBUTOR-01", PL, "request_release", deal_id=deal_id, quantity=10)
    assert chain.try_("BANK-A", PL, "declare_default", deal_id=deal_id).code == \
        "RELEASE_PENDING"
    chain.do("BANK-A", PL, "cancel_release", deal_id=deal_id, reason="in arrears")
    chain.do("DISTRIBUTOR-01", PL, "repay", deal_id=deal_id, amount=1, payment_ref="R-2")
    assert chain.try_("BANK-A", PL, "declare_default", deal_id=deal_id).code == \
        "PAYMENT_PENDING"
    chain.do("BANK-A", PL, "reject_payment", deal_id=deal_id, payment_ref="R-2",
             reason="not received")
    # 36 days of interest on 100000000 at the payment of 2026-12-29:
    #   round_half_up(100000000*600*36 / 3650000) = round_half_up(591780.82) = 591781,
    #   so R-1 paid 591781 of interest and 49408219 of principal; outstanding 50591781
    defaulted = chain.do("BANK-A", PL, "declare_default", deal_id=deal_id)
    deal = _deal(chain, deal_id)
    assert deal.default is not None
    assert (deal.default.uncovered, deal.default.days_late) == (50_591_781, 6)  # since 12-23
    # penalty round_half_up(50591781*1800*6 / 3650000) = round_half_up(149696.23) = 149696
    assert deal.default.penalty == 149_696
    assert events_of(defaulted, "pledge.defaulted")[0]["breach_date"] == "2026-12-23"
    check_pledge(deal, _receipt(chain, receipt_id),
                 payments_of(chain, PL, deal_id, ["FUND-" + deal_id[3:11], "R-1", "R-2"]))


def test_cancel_before_funding_frees_the_receipt_for_another_financier() -> None:
    chain = PledgeChain()
    receipt_id = issue(chain)
    deal_id = open_pledge(chain, receipt_id, fund=False)
    assert chain.try_("DISTRIBUTOR-01", PL, "apply", receipt_id=receipt_id,
                      financier="BANK-B", principal=1, tenor_days=30, ltv_bps=5000,
                      rate_bps=500, maintenance_bps=6000).code == "ASSET_ENCUMBERED"
    chain.do("BANK-A", PL, "cancel", deal_id=deal_id, reason="credit committee")
    assert _deal(chain, deal_id).status == "cancelled"
    assert _receipt(chain, receipt_id).status == "issued"
    second = open_pledge(chain, receipt_id, 1, financier="BANK-B")
    assert _deal(chain, second).status == "funded"


def test_a_re_appraisal_before_funding_can_push_the_loan_above_its_limit() -> None:
    chain = PledgeChain()
    receipt_id = issue(chain)
    deal_id = open_pledge(chain, receipt_id, fund=False)
    chain.do("WAREHOUSE-01", PL, "reappraise", deal_id=deal_id, unit_value=399_999)
    # 1000 * 399999 * 7000 // 10000 = 279999300 < 280000000
    refused = chain.try_("BANK-A", PL, "fund", deal_id=deal_id, payment_ref="F-1")
    assert refused.code == "LOAN_ABOVE_LTV" and "279999300" in refused.message
    chain.do("WAREHOUSE-01", PL, "reappraise", deal_id=deal_id, unit_value=400_000)
    chain.do("BANK-A", PL, "fund", deal_id=deal_id, payment_ref="F-1")


def test_full_repayment_closes_an_open_release_request() -> None:
    chain = PledgeChain()
    receipt_id = issue(chain, quantity=10, unit_value=1_000_000)
    deal_id = open_pledge(chain, receipt_id, 7_000_000)
    repay(chain, deal_id, 3_500_000, "R-1")                  # same day: no interest
    chain.do("DISTRIBUTOR-01", PL, "request_release", deal_id=deal_id, quantity=5)
    chain.do("BANK-A", PL, "approve_release", deal_id=deal_id)
    chain.do("DISTRIBUTOR-01", PL, "repay", deal_id=deal_id, amount=3_500_000, payment_ref="R-2")
    done = chain.do("BANK-A", PL, "acknowledge_payment", deal_id=deal_id, payment_ref="R-2")
    closed = events_of(done, "pledge.release_cancelled")[0]
    assert closed["quantity"] == 5 and "repaid" in closed["reason"]
    assert chain.try_("WAREHOUSE-01", PL, "confirm_release", deal_id=deal_id).code == \
        "RELEASE_NOT_FOUND"
    deal = _deal(chain, deal_id)
    assert (deal.status, deal.released, deal.interest_accrued) == ("repaid", 0, 0)
    assert _receipt(chain, receipt_id).remaining == 10
