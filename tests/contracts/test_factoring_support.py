"""Helpers for the factoring and dynamic discounting tests (this module holds no test).

`FinanceChain` is tests/contracts/support.py's `ContractChain` (the example
consortium, real blocks: build, re-validate with `apply_block`, commit) with
a registry that also runs `factoring` and `dynamic_discounting`. `on(date)`
gives the block time step that lands the next block on a UTC date, so a test
can accept, fund, pay late and default on the days it chooses.

`check_deal` / `check_acceptance` assert the money-conservation equations of
docs/products.md for one deal from its record and its payment records.
"""

from __future__ import annotations

from typing import Any

from contracts import dynamic_discounting as dd
from contracts import factoring, invoices
from contracts.calendar import block_date, format_date, parse_date
from contracts.engine import ContractRegistry
from contracts.repayment import ACKNOWLEDGED, PENDING, Payment, get_payment
from contracts.terms import dynamic_discount, factoring_terms, penalty_interest
from ledger.types import Receipt
from tests.contracts.support import (
    DAY_MS,
    TESTFIN,
    Call,
    ContractChain,
    fingerprint_of,
    invoice_args,
)

REGISTRY = ContractRegistry([invoices.CONTRACT, factoring.CONTRACT, dd.CONTRACT, TESTFIN])
F, DD = "factoring", "dynamic_discounting"
DUE = "2027-02-21"           # 90 days after the genesis date 2026-11-23
FACE = 100_000_000


class FinanceChain(ContractChain):
    """ContractChain running REGISTRY (invoices, factoring, dynamic discounting, testfin)."""

    registry = REGISTRY

    @property
    def today(self) -> str:
        return format_date(block_date(self.store.tip().time_ms))

    def on(self, date: str) -> int:
        """The step_ms that puts the next block on `date` (UTC), one second into it or
        one second after the tip if the tip is already that day."""
        tip, start = self.store.tip().time_ms, parse_date(date) * DAY_MS
        if tip >= start:
            assert block_date(tip) == parse_date(date), f"the chain is already past {date}"
            return 1000
        return start + 1000 - tip

    def do(self, member: str, contract: str, method: str, *, date: str | None = None,
           **args: Any) -> Receipt:
        """One transaction in its own block (on `date` if given); must succeed."""
        receipt = self.try_(member, contract, method, date=date, **args)
        assert receipt.code == "OK", (method, receipt.code, receipt.message)
        return receipt

    def try_(self, member: str, contract: str, method: str, *, date: str | None = None,
             **args: Any) -> Receipt:
        step = 1000 if date is None else self.on(date)
        return self.run([Call(member, method, args, contract)], step_ms=step)[0]


def register_confirmed(chain: FinanceChain, number: str = "INV-2026-001", *,
                       due_date: str = DUE, amount: int = FACE, confirm: int | None = None,
                       seller: str = "SUPPLIER-01", buyer: str = "CORE-01",
                       currency: str = "CNY", confirmed: bool = True) -> bytes:
    """Registers (and unless told otherwise confirms) an invoice; returns its fingerprint."""
    args = invoice_args(number, due_date=due_date, amount=amount, buyer=buyer,
                        currency=currency)
    chain.do(seller, "invoices", "register", **args)
    fp = fingerprint_of(args)
    if confirmed:
        extra = {} if confirm is None else {"amount": confirm}
        chain.do(buyer, "invoices", "confirm", fingerprint=fp, **extra)
    return fp


def offer_args(**changes: Any) -> dict[str, Any]:
    """factoring.offer arguments: the worked example's conditions to SUPPLIER-01."""
    args: dict[str, Any] = {"currency": "CNY", "advance_bps": 8000, "rate_bps": 600,
                            "basis": 365, "fee": 0, "recourse": True, "grace_days": 5,
                            "penalty_rate_bps": 1800, "expiry_date": "2027-06-30",
                            "supplier": "SUPPLIER-01"}
    args.update(changes)
    return {name: value for name, value in args.items() if value is not None}


def created(receipt: Receipt, kind: str, attribute: str) -> Any:
    """An attribute of the receipt's first event of `kind`."""
    for event in receipt.events:
        if event.kind == kind:
            return event.attributes[attribute]
    raise AssertionError(f"no {kind} event in {[e.kind for e in receipt.events]}")


def events_of(receipt: Receipt, kind: str) -> list[dict[str, Any]]:
    return [event.attributes for event in receipt.events if event.kind == kind]


def open_deal(chain: FinanceChain, fp: bytes, *, bank: str = "BANK-A", fund: bool = True,
              **offer: Any) -> str:
    """Offer (by `bank`, to SUPPLIER-01 unless told), accept, and fund; returns the deal id."""
    offer_id = created(chain.do(bank, F, "offer", **offer_args(**offer)), "factoring.offered",
                       "offer_id")
    seller = invoices.get_invoice(chain.state, fp).seller  # type: ignore[union-attr]
    deal_id = created(chain.do(seller, F, "accept", offer_id=offer_id, fingerprint=fp),
                      "factoring.accepted", "deal_id")
    if fund:
        chain.do(bank, F, "fund", deal_id=deal_id, payment_ref=f"FUND-{deal_id[3:11]}")
    return str(deal_id)


# -- money conservation --------------------------------------------------------------

def payments_of(chain: FinanceChain, contract: str, deal_id: str,
                refs: list[str]) -> list[Payment]:
    found = [get_payment(chain.state, contract, deal_id, ref) for ref in refs]
    assert all(p is not None for p in found)
    return [p for p in found if p is not None]


def check_deal(deal: factoring.Deal, payments: list[Payment]) -> None:
    """The equations of docs/products.md § Factoring, Money conservation."""
    c = deal.conditions
    # (1) the terms are contracts.terms' on the amount due and the tenor, and add up
    assert (deal.advance, deal.discount, deal.paid_out, deal.reserve) == tuple(factoring_terms(
        deal.amount, c.advance_bps, c.rate_bps, deal.tenor_days, c.basis, c.fee))
    assert deal.advance + deal.reserve == deal.amount
    assert deal.paid_out + deal.discount + c.fee == deal.advance

    def total(kind: str, status: str) -> int:
        return sum(p.amount for p in payments if p.kind == kind and p.status == status)

    # (2) the deal's counters are its payment records
    assert (deal.buyer_paid, deal.buyer_pending) == (total("buyer", ACKNOWLEDGED),
                                                     total("buyer", PENDING))
    assert (deal.reserve_released, deal.reserve_pending) == (total("reserve", ACKNOWLEDGED),
                                                             total("reserve", PENDING))
    funding = [p for p in payments if p.kind == "funding"]
    funded = deal.status in ("funded", "overdue", "settled", "defaulted")
    assert [(p.payer, p.payee, p.amount) for p in funding] == (
        [(deal.financier, deal.supplier, deal.paid_out)] if funded else [])
    assert all((p.payer, p.payee) == (deal.buyer, deal.financier)
               for p in payments if p.kind == "buyer")
    assert all((p.payer, p.payee) == (deal.financier, deal.supplier)
               for p in payments if p.kind == "reserve")
    # (3) the waterfall: the financier keeps the first `advance`, the rest is the reserve's
    assert 0 <= deal.buyer_paid + deal.buyer_pending <= deal.amount
    assert deal.collected == min(deal.buyer_paid, deal.advance)
    assert deal.collected + deal.supplier_share == deal.buyer_paid
    assert 0 <= deal.reserve_released + deal.reserve_pending <= deal.supplier_share <= deal.reserve
    # (4) settled: the buyer paid the amount due; what the supplier gets plus what the
    # financier earns is exactly that
    if deal.status == "settled":
        assert deal.buyer_paid == deal.amount and deal.supplier_share == deal.reserve
        supplier_total = deal.paid_out + deal.reserve
        financier_net = deal.collected - deal.paid_out
        assert financier_net == deal.discount + c.fee
        assert supplier_total + financier_net == deal.buyer_paid == deal.amount
    # (5) defaulted: the uncovered advance is claimed from the supplier (recourse, with
    # penalty interest since the due date) or lost by the financier
    default = deal.default
    assert (default is not None) == (deal.status == "defaulted")
    if default is not None:
        assert default.uncovered == deal.advance - deal.buyer_paid > 0
        assert default.days_late == parse_date(default.default_date) - parse_date(deal.due_date)
        assert deal.collected + default.uncovered == deal.advance
        if c.recourse:
            penalty = penalty_interest(default.uncovered, c.penalty_rate_bps, default.days_late,
                                       c.basis)
            assert (default.penalty, default.recourse_claim, default.financier_loss) == (
                penalty, default.uncovered + penalty, 0)
        else:
            assert (default.penalty, default.recourse_claim, default.financier_loss) == (
                0, 0, default.uncovered)
        assert deal.reserve_released == deal.reserve_pending == 0


def check_acceptance(acceptance: dd.Acceptance, payments: list[Payment]) -> None:
    """Dynamic discounting: paid + discount == amount due; the supplier's acknowledged
    payment, if any, is exactly `paid` from the buyer."""
    assert (acceptance.discount, acceptance.paid) == tuple(dynamic_discount(
        acceptance.amount, acceptance.rate_bps, acceptance.days_early, acceptance.basis))
    assert acceptance.paid + acceptance.discount == acceptance.amount
    assert acceptance.days_early == (parse_date(acceptance.due_date)
                                     - parse_date(acceptance.accepted_date))
    assert all((p.payer, p.payee, p.amount) == (acceptance.buyer, acceptance.supplier,
                                                acceptance.paid) for p in payments)
    acked = [p for p in payments if p.status == ACKNOWLEDGED]
    pending = [p for p in payments if p.status == PENDING]
    assert len(acked) <= 1 and len(acked) + len(pending) <= 1
    status = "paid" if acked else "pending" if pending else "unpaid"
    assert acceptance.payment_status == status
    live = acked + pending
    assert acceptance.payment_ref == (live[0].payment_ref if live else None)


# -- determinism ---------------------------------------------------------------------

def scenario_digest() -> str:
    """A fixed scenario through both products; the state root and block hashes (hex)."""
    chain = FinanceChain()
    fp1 = register_confirmed(chain, "DET-1")
    fp2 = register_confirmed(chain, "DET-2", seller="SUPPLIER-02")
    fp3 = register_confirmed(chain, "DET-3", due_date="2027-03-31")
    deal = open_deal(chain, fp1)
    reverse = open_deal(chain, fp2, bank="BANK-B", supplier=None, reverse=True, buyer="CORE-01",
                        recourse=False)
    offer = created(chain.do("CORE-01", DD, "publish_offer", table=[[10, 800], [30, 1000]],
                             basis=360, expiry_date="2027-01-31"),
                    "dynamic_discounting.offer_published", "offer_id")
    accepted = created(chain.do("SUPPLIER-01", DD, "accept", offer_id=offer, fingerprint=fp3,
                                date="2026-12-01"), "dynamic_discounting.accepted",
                       "acceptance_id")
    chain.do("CORE-01", DD, "record_payment", acceptance_id=accepted, payment_ref="DD-1")
    chain.do("SUPPLIER-01", DD, "acknowledge_payment", acceptance_id=accepted,
             payment_ref="DD-1")
    chain.do("CORE-01", F, "pay", deal_id=deal, amount=90_000_000, payment_ref="P-1",
             date="2027-02-20")
    chain.do("BANK-A", F, "acknowledge_payment", deal_id=deal, payment_ref="P-1")
    chain.do("BANK-A", F, "release_reserve", deal_id=deal, payment_ref="R-1")
    chain.do("CORE-01", F, "pay", deal_id=reverse, amount=1_000_000, payment_ref="P-2")
    chain.do("BANK-B", F, "acknowledge_payment", deal_id=reverse, payment_ref="P-2")
    chain.do("BANK-B", F, "mark_overdue", deal_id=reverse, date="2027-02-27")
    chain.do("BANK-B", F, "declare_default", deal_id=reverse, date="2027-03-10")
    hashes = [chain.store.block_hash(h).hex() for h in range(1, chain.store.height + 1)]
    return " ".join([chain.root.hex(), *hashes])
