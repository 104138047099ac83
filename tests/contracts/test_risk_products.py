"""Risk controls on the pledge, prepayment and payables paths, through real blocks
with every production contract (contracts.registry.default_registry()).

* the limits refuse the financing of every product with their code, and a refusal
  changes nothing but the sender's nonce (the state root is the previous one with
  that nonce written: test_payables_support.assert_rejected_changed_nothing);
* `risk.on_closed` takes back exactly what `on_funded` booked, after settlement and
  after default, for factoring, pledge, prepayment and payables;
* the circular-trade warning on a two- and a three-member cycle (members holding
  both the supplier and the core enterprise role, added to the test genesis);
* the same blocks give the same state root under several PYTHONHASHSEED values.

Money: the pledge of test_pledge_support (1000 t at 400000 fen, 70 %) is
280_000_000; the prepayment the same 280_000_000; the certificate on the
factoring worked example's invoice is 100_000_000.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from contracts import factoring, pledge, prepayment, risk
from contracts.payables_records import get_part
from contracts.registry import default_registry
from genesis.demo_keys import demo_key
from genesis.document import Genesis, parse_genesis
from genesis.examples.make_consortium import document
from ledger.store import MemoryStore
from ledger.store.chain import ChainStore
from ledger.types import Receipt
from tests.contracts.support import DAY_MS
from tests.contracts.test_factoring_support import (
    F,
    FinanceChain,
    created,
    events_of,
    open_deal,
    register_confirmed,
)
from tests.contracts.test_payables_support import (
    P,
    assert_rejected_changed_nothing,
    issue as issue_certificate,
)
from tests.contracts.test_pledge_support import (
    PL,
    PLEDGE_MEMBERS,
    PP,
    apply_args,
    issue as issue_receipt,
    prepayment_args,
)

ROOT = Path(__file__).resolve().parents[2]
# Traders both sell and buy, so that a trade cycle can be confirmed on the ledger.
TRADERS = [(f"TRADER-{n}", f"Trading House {n}", ["supplier", "core_enterprise"])
           for n in ("A", "B", "C")]
CONSORTIUM_MEMBERS = [*PLEDGE_MEMBERS, *TRADERS]
PRINCIPAL = 280_000_000
OPERATORS = ("CORE-01", "BANK-A", "BANK-B")      # operator_quorum is 3


def consortium_genesis() -> Genesis:
    """The example consortium plus SUPPLIER-02, CORE-02, DISTRIBUTOR-01, WAREHOUSE-02
    and three traders."""
    doc = document()
    doc["members"] += [{"id": member_id, "name": name, "roles": roles,
                        "keys": [demo_key(member_id).public_key.hex()]}
                       for member_id, name, roles in CONSORTIUM_MEMBERS]
    return parse_genesis(json.dumps(doc))


GENESIS = consortium_genesis()


class ConsortiumChain(FinanceChain):
    """FinanceChain (real blocks, `on(date)`) running every production contract."""

    registry = default_registry()

    def __init__(self) -> None:
        super().__init__()
        self.store = ChainStore(MemoryStore(), GENESIS)


# -- helpers ---------------------------------------------------------------------------

def refused(chain: ConsortiumChain, code: str, member: str, contract: str, method: str,
            **args: Any) -> Receipt:
    """Must fail with `code` and leave the state root as the nonce alone would."""
    receipt = chain.try_(member, contract, method, **args)
    assert receipt.code == code, (method, receipt.code, receipt.message)
    assert_rejected_changed_nothing(chain, receipt, member)  # type: ignore[arg-type]
    return receipt


def set_param(chain: ConsortiumChain, name: str, value: int) -> None:
    proposal = created(chain.do(OPERATORS[0], "risk", "propose_param", name=name, value=value),
                       "risk.param_proposed", "proposal_id")
    for operator in OPERATORS[1:]:
        chain.do(operator, "risk", "approve_param", proposal_id=proposal)
    assert risk.param(chain.state, name) == value


def set_limit(chain: ConsortiumChain, bank: str, obligor: str, limit: int) -> None:
    chain.do(bank, "risk", "set_credit_limit", obligor=obligor, currency="CNY", limit=limit)


def exposure(chain: ConsortiumChain, bank: str, obligor: str, supplier: str) -> tuple[int, ...]:
    """(outstanding on the obligor, the bank's total, the supplier's financed outstanding)."""
    state = chain.state
    return (risk.outstanding(state, bank, obligor, "CNY"),
            risk.financier_total(state, bank, "CNY"),
            risk.supplier_outstanding(state, supplier, "CNY"))


def applied_pledge(chain: ConsortiumChain, principal: int = PRINCIPAL) -> str:
    receipt_id = issue_receipt(chain)  # type: ignore[arg-type]
    return str(created(chain.do("DISTRIBUTOR-01", PL, "apply", **apply_args(receipt_id,
                                                                              principal)),
                       "pledge.applied", "deal_id"))


def accepted_prepayment(chain: ConsortiumChain, **changes: Any) -> str:
    args = prepayment_args(**changes)
    deal_id = str(created(chain.do("DISTRIBUTOR-01", PP, "apply", **args),
                          "prepayment.applied", "deal_id"))
    chain.do(args["seller"], PP, "accept", deal_id=deal_id)
    return deal_id


def requested_discount(chain: ConsortiumChain, amount: int | None = None,
                       number: str = "CERT-1") -> tuple[str, str]:
    """A certificate of CORE-01 to SUPPLIER-01 maturing 2027-02-21; SUPPLIER-01 asks
    BANK-A to discount its root part (or a part of `amount` split off it).
    Returns (discount id, the part discounted)."""
    fp = register_confirmed(chain, number)
    _, part = issue_certificate(chain, fp)  # type: ignore[arg-type]
    if amount is not None:
        receipt = chain.do("SUPPLIER-01", P, "split", part_id=part,
                           amounts=[amount, 100_000_000 - amount])
        part = created(receipt, "payables.split", "parts")[0]
    receipt = chain.do("SUPPLIER-01", P, "request_discount", part_id=part, financier="BANK-A",
                       rate_bps=500)
    return created(receipt, "payables.discount_requested", "discount_id"), part


def repay_in_full(chain: ConsortiumChain, deal_id: str, ref: str) -> None:
    deal = pledge.get_deal(chain.state, deal_id)
    assert deal is not None
    owed = deal.owed((chain.store.tip().time_ms + 1000) // DAY_MS)
    chain.do(deal.borrower, PL, "repay", deal_id=deal_id, amount=owed, payment_ref=ref)
    chain.do(deal.financier, PL, "acknowledge_payment", deal_id=deal_id, payment_ref=ref)
    assert pledge.get_deal(chain.state, deal_id).status == "repaid"  # type: ignore[union-attr]


def freeze(chain: ConsortiumChain, member: str) -> None:
    proposal = created(chain.do("BANK-B", "governance", "propose", action="freeze",
                                params={"member_id": member, "reason": "fake trade"}),
                       "governance.proposed", "proposal_id")
    for approver in ("AUDITOR-01", "BANK-A"):
        chain.do(approver, "governance", "approve", proposal_id=proposal)


# -- credit limits on each product's financing -------------------------------------------

def test_credit_limit_refuses_a_pledge_fund_and_repayment_frees_it_exactly() -> None:
    chain = ConsortiumChain()
    deal = applied_pledge(chain)
    set_limit(chain, "BANK-A", "DISTRIBUTOR-01", PRINCIPAL - 1)
    refused(chain, "CREDIT_LIMIT_EXCEEDED", "BANK-A", PL, "fund", deal_id=deal,
            payment_ref="F-1")
    assert pledge.get_deal(chain.state, deal).status == "applied"  # type: ignore[union-attr]
    set_limit(chain, "BANK-A", "DISTRIBUTOR-01", PRINCIPAL)         # exactly the principal
    chain.do("BANK-A", PL, "fund", deal_id=deal, payment_ref="F-2")
    # pledge: financier BANK-A, obligor the borrower; an inventory loan has no supplier book
    assert exposure(chain, "BANK-A", "DISTRIBUTOR-01", "DISTRIBUTOR-01") == (PRINCIPAL,) * 2 + (0,)
    refused(chain, "CREDIT_LIMIT_BELOW_OUTSTANDING", "BANK-A", "risk", "set_credit_limit",
            obligor="DISTRIBUTOR-01", currency="CNY", limit=PRINCIPAL - 1)
    repay_in_full(chain, deal, "R-1")
    assert exposure(chain, "BANK-A", "DISTRIBUTOR-01", "DISTRIBUTOR-01") == (0, 0, 0)
    set_limit(chain, "BANK-A", "DISTRIBUTOR-01", 0)                 # allowed again
    assert risk.credit_limit(chain.state, "BANK-A", "DISTRIBUTOR-01", "CNY") == 0


def test_credit_limit_refuses_a_prepayment_fund_on_the_seller() -> None:
    chain = ConsortiumChain()
    deal = accepted_prepayment(chain)
    set_limit(chain, "BANK-A", "CORE-01", PRINCIPAL - 1)
    refused(chain, "CREDIT_LIMIT_EXCEEDED", "BANK-A", PP, "fund", deal_id=deal,
            payment_ref="PP-1")
    assert prepayment.get_deal(chain.state, deal).status == "accepted"  # type: ignore[union-attr]
    # a limit on another obligor (the distributor) does not apply to the seller's deal
    set_limit(chain, "BANK-A", "CORE-01", PRINCIPAL)
    set_limit(chain, "BANK-A", "DISTRIBUTOR-01", 0)
    chain.do("BANK-A", PP, "fund", deal_id=deal, payment_ref="PP-2")
    assert exposure(chain, "BANK-A", "CORE-01", "CORE-01") == (PRINCIPAL,) * 2 + (0,)


def test_delivery_moves_the_prepaid_amount_to_the_distributor_and_is_checked_again() -> None:
    chain = ConsortiumChain()
    deal = accepted_prepayment(chain)
    chain.do("BANK-A", PP, "fund", deal_id=deal, payment_ref="PP-1")
    # delivery closes the prepayment (on CORE-01) and opens the pledge loan on
    # DISTRIBUTOR-01, whose credit limit is then checked: below the amount, refused
    set_limit(chain, "BANK-A", "DISTRIBUTOR-01", PRINCIPAL - 1)
    refused(chain, "CREDIT_LIMIT_EXCEEDED", "WAREHOUSE-01", PP, "deliver", deal_id=deal,
            unit_value=400_000)
    assert exposure(chain, "BANK-A", "CORE-01", "CORE-01") == (PRINCIPAL,) * 2 + (0,)
    set_limit(chain, "BANK-A", "DISTRIBUTOR-01", PRINCIPAL)
    chain.do("WAREHOUSE-01", PP, "deliver", deal_id=deal, unit_value=400_000)
    state = chain.state
    assert risk.outstanding(state, "BANK-A", "CORE-01", "CNY") == 0
    assert risk.supplier_outstanding(state, "CORE-01", "CNY") == 0
    assert exposure(chain, "BANK-A", "DISTRIBUTOR-01", "DISTRIBUTOR-01") == (PRINCIPAL,) * 2 + (0,)
    loan = prepayment.get_deal(state, deal).pledge_deal_id  # type: ignore[union-attr]
    repay_in_full(chain, str(loan), "R-1")
    assert exposure(chain, "BANK-A", "DISTRIBUTOR-01", "DISTRIBUTOR-01") == (0, 0, 0)


def test_credit_limit_refuses_a_certificate_discount_on_the_issuer() -> None:
    chain = ConsortiumChain()
    discount_id, part = requested_discount(chain, 60_000_000)
    set_limit(chain, "BANK-A", "CORE-01", 59_999_999)
    refused(chain, "CREDIT_LIMIT_EXCEEDED", "BANK-A", P, "fund_discount",
            discount_id=discount_id, payment_ref="D-1")
    assert get_part(chain.state, part).status == "live"  # type: ignore[union-attr]
    set_limit(chain, "BANK-A", "CORE-01", 60_000_000)
    chain.do("BANK-A", P, "fund_discount", discount_id=discount_id, payment_ref="D-2")
    # payables: obligor the issuer, "supplier" the holder who discounted
    assert exposure(chain, "BANK-A", "CORE-01", "SUPPLIER-01") == (60_000_000,) * 3


# -- consortium limits -----------------------------------------------------------------

def test_supplier_cap_on_a_certificate_discount_counts_the_holder() -> None:
    chain = ConsortiumChain()
    set_param(chain, "supplier_cap_bps", 5000)
    discount_id, _ = requested_discount(chain, 50_000_001)
    # SUPPLIER-01's confirmed volume 100_000_000: cap 100_000_000 * 5000 // 10000 = 50_000_000
    refused(chain, "SUPPLIER_CAP_EXCEEDED", "BANK-A", P, "fund_discount",
            discount_id=discount_id, payment_ref="D-1")
    assert exposure(chain, "BANK-A", "CORE-01", "SUPPLIER-01") == (0, 0, 0)
    second, _ = requested_discount(chain, 50_000_000, "CERT-2")
    # volume now 200_000_000: cap 100_000_000; the first request is still open today
    chain.do("BANK-A", P, "fund_discount", discount_id=discount_id, payment_ref="D-2")
    refused(chain, "SUPPLIER_CAP_EXCEEDED", "BANK-A", P, "fund_discount",
            discount_id=second, payment_ref="D-3")   # 50_000_001 + 50_000_000 > 100_000_000
    assert exposure(chain, "BANK-A", "CORE-01", "SUPPLIER-01") == (50_000_001,) * 3


def test_supplier_cap_leaves_inventory_loans_out() -> None:
    """The cap compares receivables financing with confirmed trade (domain guide §8):
    a distributor's pledge and a seller's prepayment neither count toward it nor are
    held to it, so a borrower with no confirmed invoices can still be funded."""
    chain = ConsortiumChain()
    deal = applied_pledge(chain)
    prepaid = accepted_prepayment(chain)
    set_param(chain, "supplier_cap_bps", 10_000)
    # DISTRIBUTOR-01 and CORE-01 confirmed no invoice: a receivables cap of 0 for both
    assert risk.supplier_cap(chain.state, "DISTRIBUTOR-01", "CNY", 0) == 0
    chain.do("BANK-A", PL, "fund", deal_id=deal, payment_ref="F-1")
    chain.do("BANK-A", PP, "fund", deal_id=prepaid, payment_ref="PP-1")
    assert exposure(chain, "BANK-A", "DISTRIBUTOR-01", "DISTRIBUTOR-01") == (
        PRINCIPAL, 2 * PRINCIPAL, 0)
    assert risk.supplier_outstanding(chain.state, "CORE-01", "CNY") == 0


def test_concentration_limit_across_products() -> None:
    chain = ConsortiumChain()
    set_param(chain, "concentration_bps", 6000)
    set_param(chain, "concentration_floor", PRINCIPAL)
    deal = applied_pledge(chain)
    chain.do("BANK-A", PL, "fund", deal_id=deal, payment_ref="F-1")  # total = floor: free
    prepaid = accepted_prepayment(chain)
    # CORE-01 would be 280_000_000 of 560_000_000 = 5000 bp <= 6000: admitted
    chain.do("BANK-A", PP, "fund", deal_id=prepaid, payment_ref="PP-1")
    second = accepted_prepayment(chain)
    # CORE-01 560_000_000 of 840_000_000: 560e6 * 10000 > 6000 * 840e6 -> refused
    refused(chain, "CONCENTRATION_LIMIT_EXCEEDED", "BANK-A", PP, "fund", deal_id=second,
            payment_ref="PP-2")
    assert risk.financier_total(chain.state, "BANK-A", "CNY") == 2 * PRINCIPAL
    # another financier's book is its own: BANK-B's first financing is under the floor
    third = accepted_prepayment(chain, financier="BANK-B")
    chain.do("BANK-B", PP, "fund", deal_id=third, payment_ref="PP-3")


def test_a_frozen_obligor_obtains_no_financing() -> None:
    chain = ConsortiumChain()
    deal = applied_pledge(chain)
    freeze(chain, "DISTRIBUTOR-01")
    refused(chain, "MEMBER_FROZEN", "BANK-A", PL, "fund", deal_id=deal, payment_ref="F-1")


# -- on_closed: outstanding goes back down exactly -------------------------------------------

def test_factoring_settlement_and_default_take_back_exactly_the_advance() -> None:
    chain = ConsortiumChain()
    settled = open_deal(chain, register_confirmed(chain, "INV-S"))
    defaulted = open_deal(chain, register_confirmed(chain, "INV-D"))
    assert exposure(chain, "BANK-A", "CORE-01", "SUPPLIER-01") == (160_000_000,) * 3
    chain.do("CORE-01", F, "pay", deal_id=settled, amount=100_000_000, payment_ref="P-1")
    chain.do("BANK-A", F, "acknowledge_payment", deal_id=settled, payment_ref="P-1")
    assert factoring.get_deal(chain.state, settled).status == "settled"  # type: ignore[union-attr]
    assert exposure(chain, "BANK-A", "CORE-01", "SUPPLIER-01") == (80_000_000,) * 3
    chain.do("BANK-A", F, "mark_overdue", deal_id=defaulted, date="2027-02-27")
    chain.do("BANK-A", F, "declare_default", deal_id=defaulted)
    assert exposure(chain, "BANK-A", "CORE-01", "SUPPLIER-01") == (0, 0, 0)


def test_pledge_default_takes_back_exactly_the_principal() -> None:
    chain = ConsortiumChain()
    other = applied_pledge(chain, 1_000_000)
    chain.do("BANK-A", PL, "fund", deal_id=other, payment_ref="F-0")
    deal = applied_pledge(chain)
    chain.do("BANK-A", PL, "fund", deal_id=deal, payment_ref="F-1")
    total = PRINCIPAL + 1_000_000
    assert exposure(chain, "BANK-A", "DISTRIBUTOR-01", "DISTRIBUTOR-01") == (total, total, 0)
    # funded 2026-11-23 for 180 days: due 2027-05-22, grace 5 days
    chain.do("BANK-A", PL, "declare_default", deal_id=deal, date="2027-05-28")
    assert exposure(chain, "BANK-A", "DISTRIBUTOR-01", "DISTRIBUTOR-01") == (
        1_000_000, 1_000_000, 0)


def test_prepayment_buyback_and_default_take_back_exactly_the_amount() -> None:
    chain = ConsortiumChain()
    bought = accepted_prepayment(chain)
    chain.do("BANK-A", PP, "fund", deal_id=bought, payment_ref="PP-1")
    lost = accepted_prepayment(chain)
    chain.do("BANK-A", PP, "fund", deal_id=lost, payment_ref="PP-2")
    assert exposure(chain, "BANK-A", "CORE-01", "CORE-01") == (2 * PRINCIPAL, 2 * PRINCIPAL, 0)
    # delivery deadline 2026-12-23; buy-back called the day after
    for deal in (bought, lost):
        chain.do("BANK-A", PP, "call_buyback", deal_id=deal, date="2026-12-24")
    chain.do("CORE-01", PP, "pay_buyback", deal_id=bought, amount=PRINCIPAL - 1,
             payment_ref="BB-1")
    chain.do("BANK-A", PP, "acknowledge_payment", deal_id=bought, payment_ref="BB-1")
    assert exposure(chain, "BANK-A", "CORE-01", "CORE-01") == (
        2 * PRINCIPAL, 2 * PRINCIPAL, 0)  # not yet
    chain.do("CORE-01", PP, "pay_buyback", deal_id=bought, amount=1, payment_ref="BB-2")
    chain.do("BANK-A", PP, "acknowledge_payment", deal_id=bought, payment_ref="BB-2")
    assert exposure(chain, "BANK-A", "CORE-01", "CORE-01") == (PRINCIPAL, PRINCIPAL, 0)
    chain.do("BANK-A", PP, "declare_default", deal_id=lost, date="2026-12-30")  # grace 5
    assert exposure(chain, "BANK-A", "CORE-01", "CORE-01") == (0, 0, 0)


def test_certificate_payment_and_default_take_back_exactly_the_part() -> None:
    chain = ConsortiumChain()
    discount_id, _ = requested_discount(chain, 60_000_000)
    receipt = chain.do("BANK-A", P, "fund_discount", discount_id=discount_id, payment_ref="D-1")
    paid = created(receipt, "payables.discounted", "new_part_id")
    second, _ = requested_discount(chain, 30_000_000, "CERT-2")
    receipt = chain.do("BANK-A", P, "fund_discount", discount_id=second, payment_ref="D-2")
    lost = created(receipt, "payables.discounted", "new_part_id")
    assert exposure(chain, "BANK-A", "CORE-01", "SUPPLIER-01") == (90_000_000,) * 3
    chain.do("CORE-01", P, "pay", part_id=paid, payment_ref="M-1", date="2027-02-21")
    assert exposure(chain, "BANK-A", "CORE-01", "SUPPLIER-01") == (90_000_000,) * 3  # pending
    chain.do("BANK-A", P, "acknowledge_payment", deal_id=paid, payment_ref="M-1")
    assert exposure(chain, "BANK-A", "CORE-01", "SUPPLIER-01") == (30_000_000,) * 3
    # matures 2027-02-21 with no grace days: overdue from 2027-02-22
    chain.do("BANK-A", P, "mark_overdue", part_id=lost, date="2027-02-22")
    chain.do("BANK-A", P, "declare_default", part_id=lost)
    assert exposure(chain, "BANK-A", "CORE-01", "SUPPLIER-01") == (0, 0, 0)


# -- early warnings ----------------------------------------------------------------------

def trade(chain: ConsortiumChain, seller: str, buyer: str, number: str, *,
          date: str | None = None) -> Receipt:
    """`seller` invoices `buyer`; returns the buyer's confirmation receipt."""
    fp = register_confirmed(chain, number, seller=seller, buyer=buyer, confirmed=False)
    return chain.do(buyer, "invoices", "confirm", fingerprint=fp, date=date)


def test_circular_trade_of_two_members_is_warned() -> None:
    chain = ConsortiumChain()
    assert not events_of(trade(chain, "TRADER-A", "TRADER-B", "T-1"), "risk.circular_trade")
    back = trade(chain, "TRADER-B", "TRADER-A", "T-2")
    [warning] = events_of(back, "risk.circular_trade")
    assert warning["cycle"] == ["TRADER-B", "TRADER-A", "TRADER-B"]
    assert warning["subjects"][:2] == ["member:TRADER-B", "member:TRADER-A"]
    assert warning["subjects"][2].startswith("invoice:")


def test_circular_trade_of_three_members_is_warned() -> None:
    chain = ConsortiumChain()
    assert not events_of(trade(chain, "TRADER-A", "TRADER-B", "T-1"), "risk.circular_trade")
    assert not events_of(trade(chain, "TRADER-B", "TRADER-C", "T-2"), "risk.circular_trade")
    [warning] = events_of(trade(chain, "TRADER-C", "TRADER-A", "T-3"), "risk.circular_trade")
    assert warning["cycle"] == ["TRADER-C", "TRADER-A", "TRADER-B", "TRADER-C"]


def test_no_circular_trade_warning_once_the_first_leg_left_the_window() -> None:
    chain = ConsortiumChain()                    # 2026-11-23
    trade(chain, "TRADER-A", "TRADER-B", "T-1")
    # 90 days later (2027-02-21) the trade of 2026-11-23 is out of the 90-day window
    late = trade(chain, "TRADER-B", "TRADER-A", "T-2", date="2027-02-21")
    assert not events_of(late, "risk.circular_trade")
    inside = trade(chain, "TRADER-A", "TRADER-B", "T-3")   # B -> A is 0 days old
    assert events_of(inside, "risk.circular_trade")


def test_a_one_way_trade_is_not_circular() -> None:
    chain = ConsortiumChain()
    for number in ("T-1", "T-2", "T-3"):
        assert not events_of(trade(chain, "TRADER-A", "TRADER-B", number),
                             "risk.circular_trade")


# -- refusals of the risk methods change nothing but the nonce ------------------------------

def test_every_risk_method_refusal_changes_nothing_but_the_nonce() -> None:
    chain = ConsortiumChain()
    refused(chain, "PROPOSAL_NOT_FOUND", "BANK-A", "risk", "approve_param", proposal_id=7)
    chain.do("CORE-01", "risk", "propose_param", name="supplier_cap_bps", value=1)
    refused(chain, "ALREADY_APPROVED", "CORE-01", "risk", "approve_param", proposal_id=1)
    chain.do("BANK-A", "risk", "approve_param", proposal_id=1)
    chain.do("BANK-B", "risk", "approve_param", proposal_id=1)
    refused(chain, "PROPOSAL_CLOSED", "AUDITOR-01", "risk", "approve_param", proposal_id=1)
    refused(chain, "FORBIDDEN", "SUPPLIER-01", "risk", "set_credit_limit", obligor="CORE-01",
            currency="CNY", limit=1)
    refused(chain, "INVALID_ARGUMENT", "CORE-01", "risk", "propose_param", name="nothing",
            value=1)


# -- determinism -----------------------------------------------------------------------------

def scenario_digest() -> str:
    """Limits, refusals, fundings of every product, closings and warnings; the state
    root and every block hash (hex)."""
    chain = ConsortiumChain()
    set_param(chain, "concentration_bps", 9000)
    set_param(chain, "concentration_floor", 300_000_000)
    set_limit(chain, "BANK-A", "CORE-01", 200_000_000)
    deal = applied_pledge(chain)
    chain.do("BANK-A", PL, "fund", deal_id=deal, payment_ref="F-1")
    prepaid = accepted_prepayment(chain)
    assert chain.try_("BANK-A", PP, "fund", deal_id=prepaid,
                      payment_ref="PP-0").code == "CREDIT_LIMIT_EXCEEDED"
    chain.do("BANK-A", "risk", "remove_credit_limit", obligor="CORE-01", currency="CNY")
    chain.do("BANK-A", PP, "fund", deal_id=prepaid, payment_ref="PP-1")
    discount_id, _ = requested_discount(chain, 40_000_000)
    chain.do("BANK-A", P, "fund_discount", discount_id=discount_id, payment_ref="D-1")
    trade(chain, "TRADER-A", "TRADER-B", "T-1")
    trade(chain, "TRADER-B", "TRADER-C", "T-2")
    trade(chain, "TRADER-C", "TRADER-A", "T-3")
    trade(chain, "TRADER-B", "TRADER-A", "T-4")
    repay_in_full(chain, deal, "R-1")
    chain.do("BANK-A", PP, "call_buyback", deal_id=prepaid, date="2026-12-24")
    chain.do("BANK-A", PP, "declare_default", deal_id=prepaid, date="2026-12-30")
    hashes = [chain.store.block_hash(h).hex() for h in range(1, chain.store.height + 1)]
    return " ".join([chain.root.hex(), *hashes])


def _digest_in_subprocess(seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", "from tests.contracts.test_risk_products import "
                               "scenario_digest; print(scenario_digest())"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True)
    return result.stdout.strip()


def test_same_blocks_same_state_root_across_hash_seeds() -> None:
    here = scenario_digest()
    assert len(here.split()) > 30
    assert here == scenario_digest()
    for seed in ("0", "1", "4242"):
        assert _digest_in_subprocess(seed) == here, f"PYTHONHASHSEED={seed} diverged"
