"""Helpers for the warehouse receipt, pledge and prepayment tests (this module holds no test).

`PledgeChain` is test_factoring_support's `FinanceChain` (real blocks: build,
re-validate with `apply_block`, commit; `on(date)` lands the next block on a
UTC date) on a genesis with a distributor (DISTRIBUTOR-01) and a second
warehouse (WAREHOUSE-02) added, running invoices, factoring, dynamic
discounting, warehouse receipts, pledge, prepayment and testfin.

`check_pledge` / `check_prepayment` assert the money-conservation equations
of docs/product-pledge.md for one deal from its record, its receipt and its
payment records.
"""

from __future__ import annotations

import json
from typing import Any

from contracts import dynamic_discounting as dd
from contracts import factoring, invoices, pledge, prepayment
from contracts import warehouse_receipts as wr
from contracts.calendar import parse_date
from contracts.engine import ContractRegistry
from contracts.pledge_records import PledgeDeal
from contracts.prepayment import PrepaymentDeal
from contracts.repayment import ACKNOWLEDGED, PENDING, Payment, get_payment
from contracts.terms import penalty_interest, pledge_max_loan, releasable_total
from genesis.demo_keys import demo_key
from genesis.document import Genesis, parse_genesis
from genesis.examples.make_consortium import document
from ledger.accounts import nonce_key
from ledger.store import MemoryStore
from ledger.store.chain import ChainStore
from tests.contracts.support import EXTRA_MEMBERS, TESTFIN, contract_changes
from tests.contracts.test_factoring_support import FinanceChain, created

WR, PL, PP = "warehouse_receipts", "pledge", "prepayment"
REGISTRY = ContractRegistry([invoices.CONTRACT, factoring.CONTRACT, dd.CONTRACT, wr.CONTRACT,
                             pledge.CONTRACT, prepayment.CONTRACT, TESTFIN])
PLEDGE_MEMBERS = [*EXTRA_MEMBERS,
                  ("DISTRIBUTOR-01", "Eastern Steel Distribution Co.", ["distributor"]),
                  ("WAREHOUSE-02", "Harbour Bonded Storage", ["warehouse"])]
GOODS = "hot-rolled steel coil Q235, tonnes"
TERMS: dict[str, Any] = {"ltv_bps": 7000, "rate_bps": 600, "basis": 365,
                         "maintenance_bps": 8000, "cure_days": 5, "grace_days": 5,
                         "penalty_rate_bps": 1800}


def pledge_genesis() -> Genesis:
    doc = document()
    doc["members"] += [{"id": member_id, "name": name, "roles": roles,
                        "keys": [demo_key(member_id).public_key.hex()]}
                       for member_id, name, roles in PLEDGE_MEMBERS]
    return parse_genesis(json.dumps(doc))


GENESIS = pledge_genesis()


class PledgeChain(FinanceChain):
    registry = REGISTRY

    def __init__(self) -> None:
        super().__init__()
        self.store = ChainStore(MemoryStore(), GENESIS)


def issue(chain: PledgeChain, owner: str = "DISTRIBUTOR-01", *, quantity: int = 1000,
          unit_value: int = 400_000, warehouse: str = "WAREHOUSE-01",
          currency: str = "CNY") -> str:
    """Issues a receipt; returns its id."""
    receipt = chain.do(warehouse, WR, "issue", owner=owner, goods=GOODS, quantity=quantity,
                       unit_value=unit_value, currency=currency)
    return str(created(receipt, "receipt.issued", "receipt_id"))


def apply_args(receipt_id: str, principal: int = 280_000_000, *, financier: str = "BANK-A",
               tenor_days: int = 180, **changes: Any) -> dict[str, Any]:
    args = {"receipt_id": receipt_id, "financier": financier, "principal": principal,
            "tenor_days": tenor_days, **TERMS, **changes}
    return {name: value for name, value in args.items() if value is not None}


def open_pledge(chain: PledgeChain, receipt_id: str, principal: int = 280_000_000, *,
                fund: bool = True, **changes: Any) -> str:
    """The owner applies, the financier funds (unless told not to); returns the deal id."""
    receipt = wr.get_receipt(chain.state, receipt_id)
    assert receipt is not None
    owner = receipt.owner
    args = apply_args(receipt_id, principal, **changes)
    deal_id = str(created(chain.do(owner, PL, "apply", **args), "pledge.applied", "deal_id"))
    if fund:
        chain.do(args["financier"], PL, "fund", deal_id=deal_id,
                 payment_ref="FUND-" + deal_id[3:11])
    return deal_id


def repay(chain: PledgeChain, deal_id: str, amount: int, ref: str, *,
          date: str | None = None) -> None:
    """The borrower repays and the financier acknowledges, in two blocks on `date`."""
    deal = pledge.get_deal(chain.state, deal_id)
    assert deal is not None
    chain.do(deal.borrower, PL, "repay", deal_id=deal_id, amount=amount, payment_ref=ref,
             date=date)
    chain.do(deal.financier, PL, "acknowledge_payment", deal_id=deal_id, payment_ref=ref)


def release(chain: PledgeChain, deal_id: str, quantity: int) -> None:
    """Request (borrower), approval (financier), confirmation (warehouse)."""
    deal = pledge.get_deal(chain.state, deal_id)
    assert deal is not None
    chain.do(deal.borrower, PL, "request_release", deal_id=deal_id, quantity=quantity)
    chain.do(deal.financier, PL, "approve_release", deal_id=deal_id)
    chain.do(deal.warehouse, PL, "confirm_release", deal_id=deal_id)


def prepayment_args(**changes: Any) -> dict[str, Any]:
    """prepayment.apply: 1000 t at 400000 fen each, 70 % prepaid by BANK-A to CORE-01."""
    args = {"financier": "BANK-A", "seller": "CORE-01", "warehouse": "WAREHOUSE-01",
            "currency": "CNY", "amount": 280_000_000, "goods": GOODS, "quantity": 1000,
            "unit_price": 400_000, "delivery_days": 30, "tenor_days": 180, **TERMS, **changes}
    return {name: value for name, value in args.items() if value is not None}


def open_prepayment(chain: PledgeChain, *, fund: bool = True, **changes: Any) -> str:
    """Applied by DISTRIBUTOR-01, accepted by the seller, funded; returns the deal id."""
    args = prepayment_args(**changes)
    deal_id = str(created(chain.do("DISTRIBUTOR-01", PP, "apply", **args),
                          "prepayment.applied", "deal_id"))
    chain.do(args["seller"], PP, "accept", deal_id=deal_id)
    if fund:
        chain.do(args["financier"], PP, "fund", deal_id=deal_id,
                 payment_ref="PP-FUND-" + deal_id[3:11])
    return deal_id


def refuse(chain: PledgeChain, code: str, member: str, contract: str, method: str, *,
           date: str | None = None, **args: Any) -> str:
    """Sends a transaction that must fail with `code`: the block then changes nothing but
    the sender's nonce (no contract key written, no event); returns the message."""
    receipt = chain.try_(member, contract, method, date=date, **args)
    assert (receipt.code, receipt.events) == (code, ()), (method, receipt.code, receipt.message)
    assert contract_changes(chain.last_changes) == [], receipt
    assert [key for key in chain.last_changes] == [nonce_key(demo_key(member).public_key)]
    return receipt.message


# -- money conservation --------------------------------------------------------------

def check_pledge(deal: PledgeDeal, receipt: wr.Receipt, payments: list[Payment]) -> None:
    """The equations of docs/product-pledge.md § Money conservation, for one pledge."""
    t = deal.terms

    def total(kind: str, status: str) -> int:
        return sum(p.amount for p in payments if p.kind == kind and p.status == status)

    # (1) the loan: repaid principal and outstanding make the principal; the
    # acknowledged repayments are exactly the interest and principal paid
    assert 0 <= deal.principal_repaid <= deal.principal
    assert deal.principal_repaid + deal.outstanding == deal.principal
    assert 0 <= deal.interest_paid <= deal.interest_accrued
    assert total("repayment", ACKNOWLEDGED) == deal.interest_paid + deal.principal_repaid
    assert total("repayment", PENDING) == deal.repay_pending
    assert all((p.payer, p.payee) == (deal.borrower, deal.financier)
               for p in payments if p.kind == "repayment")
    # (2) the funding: the principal, financier to borrower (a prepayment's funding is
    # recorded in the prepayment deal, financier to seller: check_prepayment)
    funding = [(p.payer, p.payee, p.amount) for p in payments if p.kind == "funding"]
    funded = deal.status not in ("applied", "cancelled")
    if deal.origin is None:
        assert funding == ([(deal.financier, deal.borrower, deal.principal)] if funded else [])
    else:
        assert funding == [] and funded
    # (3) the goods: released units never above the repaid share, nor the pledge
    assert 0 <= deal.released <= releasable_total(deal.quantity, deal.principal,
                                                  deal.principal_repaid) <= deal.quantity
    assert deal.release_requested <= deal.remaining
    assert deal.release_approved <= (deal.release_requested > 0)
    if deal.status in ("applied", "funded", "defaulted"):
        # the receipt is pledged to this deal and holds exactly the pledge's units
        assert receipt.status == "pledged" and receipt.remaining == deal.remaining
        assert receipt.delivery_requested == 0
    # (4) the end: repaid in full, or defaulted with what was owed claimed
    if deal.status == "repaid":
        assert deal.outstanding == 0 and deal.interest_paid == deal.interest_accrued
        assert deal.release_requested == 0 and deal.cure_deadline is None
    default = deal.default
    assert (default is not None) == (deal.status in ("defaulted", "title_transferred"))
    if default is not None:
        owed = deal.outstanding + deal.interest_accrued - deal.interest_paid
        assert default.uncovered == owed > 0 and default.financier_loss == 0
        penalty = penalty_interest(owed, t.penalty_rate_bps, default.days_late, t.basis)
        assert (default.penalty, default.recourse_claim) == (penalty, owed + penalty)
        assert deal.accrued_through == default.default_date
    assert (deal.title_value is not None) == (deal.status == "title_transferred")


def check_prepayment(deal: PrepaymentDeal, payments: list[Payment],
                     loan: PledgeDeal | None) -> None:
    """The equations of docs/product-pledge.md § Money conservation, for one prepayment."""
    assert deal.amount <= pledge_max_loan(deal.quantity, deal.unit_price, deal.terms.ltv_bps)
    funding = [(p.payer, p.payee, p.amount) for p in payments if p.kind == "funding"]
    funded = deal.status not in ("applied", "accepted", "cancelled")
    assert funding == ([(deal.financier, deal.seller, deal.amount)] if funded else [])
    buyback = [p for p in payments if p.kind == "buyback"]
    assert all((p.payer, p.payee) == (deal.seller, deal.financier) for p in buyback)
    assert sum(p.amount for p in buyback if p.status == ACKNOWLEDGED) == deal.buyback_paid
    assert sum(p.amount for p in buyback if p.status == PENDING) == deal.buyback_pending
    assert deal.buyback_paid + deal.buyback_pending <= deal.amount
    assert (loan is not None) == (deal.status == "delivered")
    if loan is not None:      # the loan continues as a pledge of the prepaid amount
        assert (loan.principal, loan.origin, loan.funding_ref, loan.funded_date) == (
            deal.amount, deal.deal_id, deal.funding_ref, deal.funded_date)
        assert (loan.borrower, loan.financier, loan.quantity) == (
            deal.distributor, deal.financier, deal.quantity)
        assert loan.receipt_id == deal.receipt_id and deal.buyback_paid == 0
    if deal.status == "bought_back":  # the financier got back exactly what it prepaid
        assert deal.buyback_paid == deal.amount and deal.buyback_pending == 0
    if deal.status in ("buyback_called", "bought_back", "defaulted"):
        assert deal.buyback_date is not None and deal.delivery_deadline is not None
        assert parse_date(deal.buyback_date) > parse_date(deal.delivery_deadline)
    default = deal.default
    assert (default is not None) == (deal.status == "defaulted")
    if default is not None:
        uncovered = deal.amount - deal.buyback_paid
        penalty = penalty_interest(uncovered, deal.terms.penalty_rate_bps, default.days_late,
                                   deal.terms.basis)
        assert (default.uncovered, default.penalty, default.recourse_claim) == (
            uncovered, penalty, uncovered + penalty)


def payments_of(chain: PledgeChain, contract: str, deal_id: str,
                refs: list[str]) -> list[Payment]:
    found = [get_payment(chain.state, contract, deal_id, ref) for ref in refs]
    assert all(p is not None for p in found)
    return [p for p in found if p is not None]


# -- determinism ---------------------------------------------------------------------

def scenario_digest() -> str:
    """A fixed scenario through the three contracts; the state root and block hashes."""
    chain = PledgeChain()
    receipt = issue(chain)
    other = issue(chain, "SUPPLIER-01", quantity=77, unit_value=1_234_567, warehouse="WAREHOUSE-02")
    chain.do("SUPPLIER-01", WR, "transfer", receipt_id=other, new_owner="SUPPLIER-02")
    chain.do("SUPPLIER-02", WR, "request_delivery", receipt_id=other, quantity=7)
    chain.do("WAREHOUSE-02", WR, "confirm_delivery", receipt_id=other)
    deal = open_pledge(chain, receipt)
    repay(chain, deal, 142_761_644, "R-1", date="2027-01-22")
    release(chain, deal, 500)
    chain.do("WAREHOUSE-01", PL, "reappraise", deal_id=deal, unit_value=320_000,
             date="2027-02-01")
    prepaid = open_prepayment(chain)
    chain.do("WAREHOUSE-01", PP, "deliver", deal_id=prepaid, unit_value=390_000)
    late = open_prepayment(chain, seller="CORE-02", financier="BANK-B")
    chain.do("BANK-B", PP, "call_buyback", deal_id=late, date="2027-03-10")
    chain.do("CORE-02", PP, "pay_buyback", deal_id=late, amount=1_000_000, payment_ref="BB-1")
    chain.do("BANK-B", PP, "acknowledge_payment", deal_id=late, payment_ref="BB-1")
    chain.do("BANK-A", PL, "declare_default", deal_id=deal)
    chain.do("BANK-A", PL, "take_title", deal_id=deal)
    hashes = [chain.store.block_hash(h).hex() for h in range(1, chain.store.height + 1)]
    return " ".join([chain.root.hex(), *hashes])
