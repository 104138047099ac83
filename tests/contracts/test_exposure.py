"""Exposure after splits and discounts, and the default notices of every product naming
every financier exposed to the obligor through any product (domain guide §7, §8).

* A discounted part of a split certificate books exactly its own amount, once, on the
  issuer (risk outstanding and the payables exposure index), and its payment at
  maturity takes back exactly that: no parent, sibling or spent part is counted.
  The financier cannot split, transfer or re-discount the part it holds (the only
  way a discounted part could be counted twice), and the refusal changes nothing.
* A factoring default and a certificate default name a financier exposed to the same
  obligor through a prepayment (`repayment.exposed_financiers`, the one list the
  pledge, prepayment and freeze notices use too).

Money: the certificate is the factoring worked example's invoice, 100_000_000 fen,
split 30_000_000 / 70_000_000; the prepayment is test_pledge_support's
280_000_000 (1000 t at 400000 fen, 70 %).
"""

from __future__ import annotations

from contracts import risk
from contracts.payables_records import exposure as payables_exposure
from contracts.payables_records import get_part
from contracts.repayment import exposed_financiers
from tests.contracts.test_factoring_support import (
    DUE,
    F,
    created,
    events_of,
    open_deal,
    register_confirmed,
)
from tests.contracts.test_payables_support import P, check_certificate, issue, pay, split
from tests.contracts.test_pledge_support import PP
from tests.contracts.test_risk_products import ConsortiumChain, accepted_prepayment, refused


def discounted_split_part(chain: ConsortiumChain) -> tuple[str, str, str]:
    """CORE-01's certificate on SUPPLIER-01's invoice, split 30/70 million; BANK-A buys
    the 70 million part. Returns (certificate id, the 30 million part, BANK-A's part)."""
    fp = register_confirmed(chain, "EXP-1")
    certificate_id, root = issue(chain, fp, grace_days=5, penalty_rate_bps=1800)  # type: ignore[arg-type]
    small, large = split(chain, "SUPPLIER-01", root, [30_000_000, 70_000_000])  # type: ignore[arg-type]
    requested = chain.do("SUPPLIER-01", P, "request_discount", part_id=large,
                         financier="BANK-A", rate_bps=500)
    discount_id = created(requested, "payables.discount_requested", "discount_id")
    funded = chain.do("BANK-A", P, "fund_discount", discount_id=discount_id,
                      payment_ref="DISC-1")
    return certificate_id, small, str(created(funded, "payables.discounted", "new_part_id"))


def test_a_discounted_split_part_books_its_own_amount_once_and_payment_frees_it() -> None:
    chain = ConsortiumChain()
    certificate_id, small, bank_part = discounted_split_part(chain)
    state = chain.state
    assert risk.outstanding(state, "BANK-A", "CORE-01", "CNY") == 70_000_000
    assert risk.financier_total(state, "BANK-A", "CNY") == 70_000_000
    assert risk.supplier_outstanding(state, "SUPPLIER-01", "CNY") == 70_000_000
    assert payables_exposure(state, "CORE-01") == [["BANK-A", 1]]
    # the financier holds its part to maturity: no split, transfer or second discount
    for method, args in (("split", {"amounts": [1, 69_999_999]}),
                         ("transfer", {"to": "SUPPLIER-02"}),
                         ("request_discount", {"financier": "BANK-B", "rate_bps": 1})):
        refused(chain, "FORBIDDEN", "BANK-A", P, method, part_id=bank_part, **args)
    # nor can the seller, who sold it
    refused(chain, "FORBIDDEN", "SUPPLIER-01", P, "split", part_id=bank_part,
            amounts=[1, 69_999_999])
    pay(chain, small, "M-1", date=DUE)
    assert risk.outstanding(chain.state, "BANK-A", "CORE-01", "CNY") == 70_000_000
    pay(chain, bank_part, "M-2")
    assert get_part(chain.state, bank_part).status == "paid"  # type: ignore[union-attr]
    assert risk.outstanding(chain.state, "BANK-A", "CORE-01", "CNY") == 0
    assert risk.financier_total(chain.state, "BANK-A", "CNY") == 0
    assert risk.supplier_outstanding(chain.state, "SUPPLIER-01", "CNY") == 0
    assert payables_exposure(chain.state, "CORE-01") == []
    assert check_certificate(chain.state, certificate_id).status == "settled"


def test_a_certificate_default_names_a_financier_exposed_through_a_prepayment() -> None:
    chain = ConsortiumChain()
    prepaid = accepted_prepayment(chain, financier="BANK-B")     # BANK-B exposed to CORE-01
    chain.do("BANK-B", PP, "fund", deal_id=prepaid, payment_ref="PP-1")
    _, small, bank_part = discounted_split_part(chain)
    assert exposed_financiers(chain.state, "CORE-01") == ["BANK-A", "BANK-B"]
    pay(chain, small, "M-1", date=DUE)
    chain.do("BANK-A", P, "mark_overdue", part_id=bank_part, date="2027-02-27")
    receipt = chain.do("BANK-A", P, "declare_default", part_id=bank_part)
    notice = events_of(receipt, "payables.obligor_default")[0]
    assert notice["exposed"] == ["BANK-A", "BANK-B"]      # this one included, as before
    assert {"member:BANK-A", "member:BANK-B"} <= set(notice["subjects"])
    assert exposed_financiers(chain.state, "CORE-01") == ["BANK-B"]
    assert risk.outstanding(chain.state, "BANK-A", "CORE-01", "CNY") == 0


def test_a_factoring_default_names_a_financier_exposed_through_a_prepayment() -> None:
    chain = ConsortiumChain()
    prepaid = accepted_prepayment(chain, financier="BANK-B")
    chain.do("BANK-B", PP, "fund", deal_id=prepaid, payment_ref="PP-1")
    deal = open_deal(chain, register_confirmed(chain, "EXP-F"))
    chain.do("BANK-A", F, "mark_overdue", deal_id=deal, date="2027-02-27")
    receipt = chain.do("BANK-A", F, "declare_default", deal_id=deal)
    notice = events_of(receipt, "factoring.obligor_default")[0]
    assert notice["exposed"] == ["BANK-A", "BANK-B"]
    assert "member:BANK-B" in notice["subjects"]
