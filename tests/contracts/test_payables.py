"""Payable certificates through real blocks: the worked example, the math, provenance.

The example of docs/product-payables.md step by step, with its numbers
checked by hand; the discount formula on a table; the lineage and the
invoice provenance a bank sees; the double-financing refusals both ways
(factoring after a certificate, a certificate after factoring); overdue,
default and the exposure notice; events found by subject.
"""

from __future__ import annotations

import pytest

from contracts.liens import active_lien
from contracts.payables_records import (
    certificate_of_invoice,
    certificate_parts,
    exposure,
    get_certificate,
    get_discount,
    get_part,
    part_lineage,
)
from contracts.provenance import get_provenance
from contracts.terms import certificate_discount
from ledger.errors import Code, LedgerError
from tests.contracts.test_factoring_support import (
    DD,
    DUE,
    F,
    FACE,
    created,
    events_of,
    offer_args,
    open_deal,
    register_confirmed,
)
from tests.contracts.test_payables_support import (
    P,
    PayablesChain,
    check_certificate,
    discount,
    issue,
    leaves,
    pay,
    split,
    transfer,
)

# -- the math -----------------------------------------------------------------------

# amount, rate_bps, days, basis, fee -> discount, paid_out   (advance = amount, reserve = 0)
DISCOUNT_TABLE = [
    # 40000000·500·60 / 3650000 = 328767.12… -> 328767 (rounds half up: .12 goes down)
    (40_000_000, 500, 60, 365, 0, 328_767, 39_671_233),
    # with a fee of 71233: 40000000 − 328767 − 71233 = 39600000
    (40_000_000, 500, 60, 365, 71_233, 328_767, 39_600_000),
    # 100000000·600·90 / 3650000 = 1479452.05… -> 1479452
    (100_000_000, 600, 90, 365, 0, 1_479_452, 98_520_548),
    # ACT/360: 100000000·600·90 / 3600000 = 1500000 exactly
    (100_000_000, 600, 90, 360, 0, 1_500_000, 98_500_000),
    # 7000003·333·45 / 3600000 = 29137.51… -> 29138
    (7_000_003, 333, 45, 360, 0, 29_138, 6_970_865),
    # an exact half: 1825·5000·1 / 3650000 = 2.5 -> 3
    (1_825, 5_000, 1, 365, 0, 3, 1_822),
    # too small to discount: 1·1·1 / 3650000 -> 0
    (1, 1, 1, 365, 0, 0, 1),
]


@pytest.mark.parametrize("amount,rate,days,basis,fee,expected_discount,paid_out", DISCOUNT_TABLE)
def test_certificate_discount_is_factoring_at_full_advance(
        amount: int, rate: int, days: int, basis: int, fee: int, expected_discount: int,
        paid_out: int) -> None:
    terms = certificate_discount(amount, rate, days, basis, fee)
    assert tuple(terms) == (amount, expected_discount, paid_out, 0)


@pytest.mark.parametrize("args,code", [
    ((40_000_000, 500, 0, 365, 0), Code.INVOICE_NOT_FINANCEABLE),          # no day left
    ((1_825, 5_000, 1, 365, 1_822), Code.INVOICE_NOT_FINANCEABLE),         # nothing paid out
    ((40_000_000, 10_001, 60, 365, 0), Code.INVALID_ARGUMENT),             # rate above 100 %
    ((40_000_000, 500, 60, 366, 0), Code.INVALID_ARGUMENT),                # no such basis
])
def test_certificate_discount_refusals(args: tuple[int, ...], code: Code) -> None:
    with pytest.raises(LedgerError) as caught:
        certificate_discount(*args)
    assert caught.value.code == code


# -- the worked example ---------------------------------------------------------------

def test_worked_example_issue_split_transfer_discount_pay_settle() -> None:
    chain = PayablesChain()
    fp = register_confirmed(chain, due_date=DUE)                     # 100000000, 2027-02-21
    certificate_id, root = issue(chain, fp, grace_days=5, penalty_rate_bps=1800)
    certificate = get_certificate(chain.state, certificate_id)
    assert certificate is not None
    assert (certificate.issuer, certificate.seller, certificate.amount, certificate.currency,
            certificate.issue_date, certificate.maturity_date) == (
        "CORE-01", "SUPPLIER-01", FACE, "CNY", "2026-11-23", DUE)
    assert certificate_of_invoice(chain.state, fp) == certificate
    lien = active_lien(chain.state, "invoice:" + fp.hex())
    assert lien is not None and (lien.holder, lien.deal_id, lien.assignment) == (
        "CORE-01", certificate_id, False)

    a, b = split(chain, "SUPPLIER-01", root, [60_000_000, 40_000_000], date="2026-11-24")
    b2 = transfer(chain, "SUPPLIER-01", b, "SUPPLIER-02")
    assert get_part(chain.state, b2).tier == 2                      # type: ignore[union-attr]
    discount_id, bank_part = discount(chain, "SUPPLIER-02", b2, rate_bps=500,
                                      date="2026-12-23", ref="BANKA-TT-7")
    record = get_discount(chain.state, discount_id)
    assert record is not None
    # n = days(2026-12-23, 2027-02-21) = 60; 40000000·500·60/3650000 = 328767.12 -> 328767
    assert (record.tenor_days, record.discount, record.paid_out, record.seller,
            record.financier) == (60, 328_767, 39_671_233, "SUPPLIER-02", "BANK-A")
    held = get_part(chain.state, bank_part)
    assert held is not None and (held.holder, held.status, held.tier, held.origin) == (
        "BANK-A", "discounted", 2, "discount")
    assert exposure(chain.state, "CORE-01") == [["BANK-A", 1]]
    assert sorted(p.amount for p in leaves(chain.state, certificate_id)) == [
        40_000_000, 60_000_000]

    pay(chain, a, "CORE-M-1", date=DUE)
    last = pay(chain, bank_part, "CORE-M-2")
    assert [e.kind for e in last.events] == [
        "payables.payment_acknowledged", "lien.released", "invoice.settled", "payables.settled"]
    certificate = check_certificate(chain.state, certificate_id, {
        a: ["CORE-M-1"], bank_part: ["CORE-M-2"], discount_id: ["BANKA-TT-7"]})
    assert (certificate.status, certificate.paid_amount, certificate.outstanding_parts) == (
        "settled", FACE, 0)
    assert exposure(chain.state, "CORE-01") == []
    # Balance: SUPPLIER-01 60000000, SUPPLIER-02 39671233, BANK-A nets 40000000 − 39671233 =
    # 328767 = the discount: together 100000000, what CORE-01 paid.
    assert 60_000_000 + 39_671_233 + (40_000_000 - 39_671_233) == FACE


def test_lineage_and_provenance_lead_back_to_the_invoice() -> None:
    chain = PayablesChain()
    fp = register_confirmed(chain)
    certificate_id, root = issue(chain, fp)
    a, b, c = split(chain, "SUPPLIER-01", root, [1, 2, FACE - 3])
    c2 = transfer(chain, "SUPPLIER-01", c, "SUPPLIER-02")
    c3, c4 = split(chain, "SUPPLIER-02", c2, [FACE - 4, 1])
    c5 = transfer(chain, "SUPPLIER-02", c3, "SUPPLIER-01")          # tier 3: back up the chain
    _, bank_part = discount(chain, "SUPPLIER-01", c5, bank="BANK-B")

    lineage = part_lineage(chain.state, bank_part)
    assert [p.part_id for p in lineage.parts] == [bank_part, c5, c3, c2, c, root]
    assert [p.holder for p in lineage.parts] == ["BANK-B", "SUPPLIER-01", "SUPPLIER-02",
                                                 "SUPPLIER-02", "SUPPLIER-01", "SUPPLIER-01"]
    assert [p.tier for p in lineage.parts] == [3, 3, 2, 2, 1, 1]
    assert [p.origin for p in lineage.parts] == ["discount", "transfer", "split", "transfer",
                                                 "split", "issue"]
    assert lineage.certificate.certificate_id == certificate_id
    assert lineage.invoice.fingerprint == fp and lineage.invoice.status == "confirmed"
    check_certificate(chain.state, certificate_id)

    actions = [(e.action, e.signer, e.status) for e in get_provenance(chain.state, fp)]
    assert actions == [
        ("register", "SUPPLIER-01", "registered"), ("confirm", "CORE-01", "confirmed"),
        ("payables.issue", "CORE-01", "confirmed"),
        ("payables.split", "SUPPLIER-01", "confirmed"),
        ("payables.transfer", "SUPPLIER-01", "confirmed"),
        ("payables.split", "SUPPLIER-02", "confirmed"),
        ("payables.transfer", "SUPPLIER-02", "confirmed"),
        ("payables.discount_request", "SUPPLIER-01", "confirmed"),
        ("payables.discount", "BANK-B", "confirmed"),
        ("payables.discount_payment_acknowledged", "SUPPLIER-01", "confirmed"),
    ]
    # every entry's transaction is in the chain: the bank fetches it and its proof
    for entry in get_provenance(chain.state, fp):
        assert chain.store.tx_location(entry.tx_id) is not None
    # the children of a split are named by the splitting tx id
    split_entry = get_provenance(chain.state, fp)[3]
    assert a == f"PP-{split_entry.tx_id.hex()}-0" and b.endswith("-1") and c.endswith("-2")
    assert {a, b, c4}.isdisjoint(p.part_id for p in lineage.parts)


def test_events_are_found_by_certificate_part_invoice_and_member() -> None:
    chain = PayablesChain()
    fp = register_confirmed(chain)
    certificate_id, root = issue(chain, fp)
    b2 = transfer(chain, "SUPPLIER-01", root, "SUPPLIER-02")
    discount(chain, "SUPPLIER-02", b2, bank="BANK-B")

    def kinds(subject: str) -> list[str]:
        return [e.event.kind for e in chain.store.events_for(subject)]

    assert kinds("certificate:" + certificate_id) == [
        "payables.issued", "payables.transferred", "payables.discount_requested",
        "payables.discounted", "payables.payment_acknowledged"]
    assert kinds("certificate:" + root) == ["payables.issued", "payables.transferred"]
    assert "payables.issued" in kinds("invoice:" + fp.hex())
    assert kinds("member:BANK-B")[-3:] == ["payables.discount_requested", "payables.discounted",
                                           "payables.payment_acknowledged"]
    assert "payables.transferred" in kinds("member:SUPPLIER-02")


# -- one financing per invoice -------------------------------------------------------

def test_factoring_or_dynamic_discounting_after_a_certificate_is_refused() -> None:
    chain = PayablesChain()
    fp = register_confirmed(chain)
    certificate_id, _ = issue(chain, fp)
    offer = created(chain.do("BANK-A", F, "offer", **offer_args()), "factoring.offered",
                    "offer_id")
    refused = chain.try_("SUPPLIER-01", F, "accept", offer_id=offer, fingerprint=fp)
    assert refused.code == "ASSET_ENCUMBERED" and certificate_id in refused.message
    dd_offer = created(chain.do("CORE-01", DD, "publish_offer", rate_bps=900,
                                expiry_date="2027-01-31"),
                       "dynamic_discounting.offer_published", "offer_id")
    refused = chain.try_("SUPPLIER-01", DD, "accept", offer_id=dd_offer, fingerprint=fp)
    assert refused.code == "ASSET_ENCUMBERED"
    # nor can the invoice be disputed or cancelled under the certificate
    assert chain.try_("CORE-01", "invoices", "dispute", fingerprint=fp).code == \
        "ASSET_ENCUMBERED"
    chain.do("CORE-01", "invoices", "consent_cancel", fingerprint=fp)
    assert chain.try_("SUPPLIER-01", "invoices", "cancel", fingerprint=fp).code == \
        "ASSET_ENCUMBERED"


def test_a_factoring_acceptance_made_before_the_certificate_cannot_be_funded() -> None:
    chain = PayablesChain()
    fp = register_confirmed(chain)
    deal = open_deal(chain, fp, fund=False)
    issue(chain, fp)
    refused = chain.try_("BANK-A", F, "fund", deal_id=deal, payment_ref="F-1")
    assert refused.code == "ASSET_ENCUMBERED"


def test_a_certificate_after_factoring_or_under_a_lien_is_refused() -> None:
    chain = PayablesChain()
    factored = register_confirmed(chain, "INV-F")
    open_deal(chain, factored)
    refused = chain.try_("CORE-01", P, "issue", fingerprint=factored)
    assert refused.code == "INVALID_STATE_TRANSITION" and "assigned" in refused.message
    pledged = register_confirmed(chain, "INV-L")
    chain.do("BANK-B", "testfin", "place_lien", asset="invoice:" + pledged.hex(),
             deal_id="PLEDGE-9")
    refused = chain.try_("CORE-01", P, "issue", fingerprint=pledged)
    assert refused.code == "ASSET_ENCUMBERED" and "PLEDGE-9" in refused.message
    issue(chain, register_confirmed(chain, "INV-OK"))
    first = register_confirmed(chain, "INV-TWICE")
    issue(chain, first)
    assert chain.try_("CORE-01", P, "issue", fingerprint=first).code == "ASSET_ENCUMBERED"


# -- partial certificates, rejected payments, overdue and default --------------------

def test_a_certificate_below_the_amount_due_settles_the_invoice_when_paid() -> None:
    chain = PayablesChain()
    fp = register_confirmed(chain, confirm=90_000_000)
    certificate_id, root = issue(chain, fp, amount=50_000_000)
    refused = chain.try_("CORE-01", P, "pay", part_id=root, payment_ref="EARLY")
    assert refused.code == "CERTIFICATE_NOT_MATURE"
    pay(chain, root, "M-1", date=DUE)
    certificate = check_certificate(chain.state, certificate_id, {root: ["M-1"]})
    assert certificate.status == "settled"
    settled = [e for e in get_provenance(chain.state, fp) if e.action == "payables.settle"]
    assert len(settled) == 1 and settled[0].status == "settled"


def test_a_rejected_payment_is_paid_again_under_a_new_reference() -> None:
    chain = PayablesChain()
    fp = register_confirmed(chain)
    certificate_id, root = issue(chain, fp)
    chain.do("CORE-01", P, "pay", part_id=root, payment_ref="M-1", date=DUE)
    assert chain.try_("CORE-01", P, "pay", part_id=root, payment_ref="M-2").code == \
        "PAYMENT_PENDING"
    receipt = chain.do("SUPPLIER-01", P, "reject_payment", deal_id=root, payment_ref="M-1",
                       reason="not received")
    assert created(receipt, "payables.payment_rejected", "reason") == "not received"
    assert chain.try_("CORE-01", P, "pay", part_id=root, payment_ref="M-1").code == \
        "DUPLICATE_PAYMENT"
    pay(chain, root, "M-2")
    check_certificate(chain.state, certificate_id, {root: ["M-1", "M-2"]})


def test_overdue_then_default_names_every_financier_exposed_to_the_issuer() -> None:
    chain = PayablesChain()
    fp = register_confirmed(chain)
    other = register_confirmed(chain, "INV-2", seller="SUPPLIER-02")
    open_deal(chain, other, bank="BANK-B", supplier=None, reverse=True, buyer="CORE-01")
    certificate_id, root = issue(chain, fp, grace_days=5, penalty_rate_bps=1800)
    a, b = split(chain, "SUPPLIER-01", root, [60_000_000, 40_000_000])
    discount_id, bank_part = discount(chain, "SUPPLIER-01", b, date="2026-12-23")
    pay(chain, a, "M-1", date=DUE)

    # grace: due 2027-02-21 + 5 days -> overdue from 2027-02-27
    refused = chain.try_("BANK-A", P, "mark_overdue", part_id=bank_part, date="2027-02-26")
    assert refused.code == "NOT_IN_ARREARS" and "2027-02-26" in refused.message
    assert chain.try_("BANK-A", P, "declare_default", part_id=bank_part).code == \
        "INVALID_STATE_TRANSITION"
    chain.do("BANK-A", P, "mark_overdue", part_id=bank_part, date="2027-02-27")
    receipt = chain.do("BANK-A", P, "declare_default", part_id=bank_part, date="2027-03-23")
    # 30 days late: round_half_up(40000000·1800·30/3650000) = round_half_up(591780.82) = 591781
    defaulted = events_of(receipt, "payables.defaulted")[0]
    assert (defaulted["days_late"], defaulted["uncovered"], defaulted["penalty"],
            defaulted["recourse_claim"], defaulted["financier_loss"]) == (
        30, 40_000_000, 591_781, 40_591_781, 0)
    notice = events_of(receipt, "payables.obligor_default")[0]
    assert notice["obligor"] == "CORE-01" and notice["exposed"] == ["BANK-A", "BANK-B"]
    assert {"member:BANK-A", "member:BANK-B", "member:CORE-01"} <= set(notice["subjects"])
    certificate = check_certificate(chain.state, certificate_id,
                                    {a: ["M-1"], discount_id: ["DISC-1"]})
    assert (certificate.status, certificate.paid_amount, certificate.defaulted_amount,
            certificate.outstanding_parts) == ("defaulted", 60_000_000, 40_000_000, 0)
    assert exposure(chain.state, "CORE-01") == []
    # the defaulted part takes no payment; the invoice keeps the certificate's lien
    assert chain.try_("CORE-01", P, "pay", part_id=bank_part, payment_ref="LATE").code == \
        "INVALID_STATE_TRANSITION"
    assert active_lien(chain.state, "invoice:" + fp.hex()) is not None


def test_a_supplier_holder_marks_overdue_but_cannot_declare_default_and_late_payment_settles(
        ) -> None:
    chain = PayablesChain()
    fp = register_confirmed(chain)
    certificate_id, root = issue(chain, fp)
    chain.do("SUPPLIER-01", P, "mark_overdue", part_id=root, date="2027-02-22")
    assert get_part(chain.state, root).status == "overdue"      # type: ignore[union-attr]
    assert chain.try_("SUPPLIER-01", P, "declare_default", part_id=root).code == "FORBIDDEN"
    pay(chain, root, "LATE-1", date="2027-04-01")
    assert check_certificate(chain.state, certificate_id).status == "settled"


def test_holders_of_record_are_fixed_at_maturity() -> None:
    chain = PayablesChain()
    fp = register_confirmed(chain)
    _, root = issue(chain, fp)
    for method, args in (("split", {"amounts": [1, FACE - 1]}), ("transfer", {"to": "SUPPLIER-02"}),
                         ("request_discount", {"financier": "BANK-A", "rate_bps": 1})):
        refused = chain.try_("SUPPLIER-01", P, method, part_id=root, date=DUE, **args)
        assert refused.code == "CERTIFICATE_MATURED", method
    fp2 = register_confirmed(chain, "INV-LATE", due_date="2027-02-21")
    assert chain.try_("CORE-01", P, "issue", fingerprint=fp2).code == "CERTIFICATE_MATURED"


def test_queries_name_what_is_missing() -> None:
    chain = PayablesChain()
    with pytest.raises(LedgerError) as caught:
        certificate_parts(chain.state, "PC-" + "0" * 64)
    assert caught.value.code == Code.CERTIFICATE_NOT_FOUND
    with pytest.raises(LedgerError) as caught:
        part_lineage(chain.state, "PP-" + "0" * 64 + "-0")
    assert caught.value.code == Code.PART_NOT_FOUND
    assert certificate_of_invoice(chain.state, bytes(32)) is None
