"""Helpers for the payable certificate tests (this module holds no test).

`PayablesChain` is test_factoring_support's `FinanceChain` (the example
consortium, real blocks: build, re-validate with `apply_block`, commit; `on`
to land a block on a UTC date) with a registry that also runs `payables`.

`check_certificate` asserts the invariants of docs/product-payables.md for
one certificate from its records alone: the leaves sum to the amount, the
tree is linked both ways, the counters are the leaves', money is conserved
for each discount and each maturity payment. `assert_rejected_changed_nothing`
checks a refused transaction against the state root itself.
"""

from __future__ import annotations

from typing import Any

from contracts import dynamic_discounting as dd
from contracts import factoring, governance, invoices, payables
from contracts.calendar import parse_date
from contracts.engine import ContractRegistry
from contracts.liens import active_lien
from contracts.payables_records import (
    Certificate,
    Part,
    certificate_parts,
    get_certificate,
    get_discount,
    part_lineage,
)
from contracts.repayment import ACKNOWLEDGED, PENDING, get_payment
from contracts.terms import certificate_discount
from genesis.demo_keys import demo_key
from ledger.accounts import nonce_key
from ledger.state import StateReader
from ledger.types import Receipt
from tests.contracts.support import TESTFIN, contract_changes
from tests.contracts.test_factoring_support import (
    FinanceChain,
    created,
    register_confirmed,
)

REGISTRY = ContractRegistry([governance.CONTRACT, invoices.CONTRACT, factoring.CONTRACT,
                             dd.CONTRACT, payables.CONTRACT, TESTFIN])
P = "payables"
UNPAID = ("live", "discounted", "overdue")


class PayablesChain(FinanceChain):
    """FinanceChain running governance (to freeze members), invoices, factoring, dynamic
    discounting, payables and testfin."""

    registry = REGISTRY


def issue(chain: PayablesChain, fp: bytes, *, issuer: str = "CORE-01", date: str | None = None,
          **args: Any) -> tuple[str, str]:
    """Issues a certificate against the invoice; returns (certificate id, root part id)."""
    receipt = chain.do(issuer, P, "issue", fingerprint=fp, date=date, **args)
    return (created(receipt, "payables.issued", "certificate_id"),
            created(receipt, "payables.issued", "part_id"))


def split(chain: PayablesChain, holder: str, part_id: str, amounts: list[int],
          date: str | None = None) -> list[str]:
    receipt = chain.do(holder, P, "split", part_id=part_id, amounts=amounts, date=date)
    return list(created(receipt, "payables.split", "parts"))


def transfer(chain: PayablesChain, holder: str, part_id: str, to: str,
             date: str | None = None) -> str:
    receipt = chain.do(holder, P, "transfer", part_id=part_id, to=to, date=date)
    return str(created(receipt, "payables.transferred", "new_part_id"))


def discount(chain: PayablesChain, holder: str, part_id: str, *, bank: str = "BANK-A",
             rate_bps: int = 500, date: str | None = None, ref: str = "DISC-1",
             acknowledge: bool = True, **args: Any) -> tuple[str, str]:
    """Request, fund (same day) and acknowledge; returns (discount id, the bank's part id)."""
    receipt = chain.do(holder, P, "request_discount", part_id=part_id, financier=bank,
                       rate_bps=rate_bps, date=date, **args)
    discount_id = created(receipt, "payables.discount_requested", "discount_id")
    receipt = chain.do(bank, P, "fund_discount", discount_id=discount_id, payment_ref=ref)
    if acknowledge:
        chain.do(holder, P, "acknowledge_payment", deal_id=discount_id, payment_ref=ref)
    return discount_id, str(created(receipt, "payables.discounted", "new_part_id"))


def pay(chain: PayablesChain, part_id: str, ref: str, *, issuer: str = "CORE-01",
        date: str | None = None, acknowledge: bool = True) -> Receipt:
    """The issuer pays the part's holder; the holder acknowledges (the last receipt)."""
    receipt = chain.do(issuer, P, "pay", part_id=part_id, payment_ref=ref, date=date)
    if acknowledge:
        holder = created(receipt, "payables.payment_recorded", "payee")
        receipt = chain.do(holder, P, "acknowledge_payment", deal_id=part_id, payment_ref=ref)
    return receipt


def leaves(state: StateReader, certificate_id: str) -> list[Part]:
    return [part for part in certificate_parts(state, certificate_id) if part.status != "spent"]


# -- the invariants -----------------------------------------------------------------

def check_certificate(state: StateReader, certificate_id: str,
                      payment_refs: dict[str, list[str]] | None = None) -> Certificate:
    """Every invariant of one certificate (docs/product-payables.md § Invariants).

    `payment_refs`, when given, maps every part or discount id with payments to all
    the payment references recorded on it, to check the payment records too.
    """
    certificate = get_certificate(state, certificate_id)
    assert certificate is not None
    parts = certificate_parts(state, certificate_id)
    by_id = {part.part_id: part for part in parts}
    assert len(by_id) == len(parts), "a part reached twice: the tree has a cycle or a join"
    root = by_id[certificate.root_part]
    assert (root.parent, root.holder, root.tier, root.origin) == (
        None, certificate.seller, 1, "issue")
    # (1) the leaves, and only they, are claims; they sum to the certificate's amount
    found = [part for part in parts if part.status != "spent"]
    assert sum(part.amount for part in found) == certificate.amount
    # (2) the tree is linked both ways; a spent part's children sum to it exactly
    for part in parts:
        assert part.certificate_id == certificate_id
        assert (part.status == "spent") == bool(part.children)
        children = [by_id[child] for child in part.children]
        assert all(child.parent == part.part_id for child in children)
        if children:
            assert sum(child.amount for child in children) == part.amount
            origins = {child.origin for child in children}
            assert len(origins) == 1 and (len(children) == 1) == (origins != {"split"})
            origin = children[0].origin
            if origin == "split":
                assert all((c.holder, c.tier) == (part.holder, part.tier) for c in children)
            elif origin == "transfer":
                child = children[0]
                assert child.tier == part.tier + 1 and child.holder != part.holder
            else:
                child = children[0]
                record = get_discount(state, child.discount_id or "")
                assert record is not None and (record.part_id, record.new_part) == (
                    part.part_id, child.part_id)
                assert (record.seller, record.financier) == (part.holder, child.holder)
        lineage = part_lineage(state, part.part_id)
        assert lineage.parts[0] == part and lineage.parts[-1].part_id == certificate.root_part
        assert lineage.invoice.fingerprint == certificate.fingerprint
    # (3) the counters are the leaves'
    assert certificate.outstanding_parts == sum(part.status in UNPAID for part in found)
    assert certificate.paid_amount == sum(part.amount for part in found if part.status == "paid")
    assert certificate.defaulted_amount == sum(part.amount for part in found
                                               if part.status == "defaulted")
    assert (certificate.status == "defaulted") == (certificate.defaulted_amount > 0)
    assert (certificate.status == "settled") == (certificate.paid_amount == certificate.amount)
    # (4) the invoice: its lien is the certificate's until it settles with it
    invoice = invoices.get_invoice(state, certificate.fingerprint)
    assert invoice is not None and certificate.amount <= invoice.amount_due
    lien = active_lien(state, invoice.asset)
    if certificate.status == "settled":
        assert invoice.status == "settled"
        assert lien is None or lien.deal_id != certificate_id   # (another product's lien)
    else:
        assert invoice.status == "confirmed"
        assert lien is not None and (lien.deal_id, lien.holder) == (certificate_id,
                                                                   certificate.issuer)
    # (5) money: discounts are §2 with a = 10000; maturity payments go to holders of record
    for part in parts:
        if part.origin == "discount":
            _check_discount(state, part, payment_refs)
        if part.status == "defaulted":
            default = part.default
            assert default is not None and default.uncovered == part.amount
            assert default.days_late == (parse_date(default.default_date)
                                         - parse_date(certificate.maturity_date))
            assert default.recourse_claim == part.amount + default.penalty
        if payment_refs is None:
            continue
        payments = [get_payment(state, P, part.part_id, ref)
                    for ref in payment_refs.get(part.part_id, [])]
        assert all(p is not None and (p.kind, p.payer, p.payee, p.amount) == (
            "maturity", certificate.issuer, part.holder, part.amount) for p in payments)
        acked = [p for p in payments if p is not None and p.status == ACKNOWLEDGED]
        pending = [p for p in payments if p is not None and p.status == PENDING]
        assert len(acked) == (part.status == "paid") and len(acked) + len(pending) <= 1
        assert part.pending_ref == (pending[0].payment_ref if pending else None)
    return certificate


def _check_discount(state: StateReader, part: Part,
                    payment_refs: dict[str, list[str]] | None) -> None:
    record = get_discount(state, part.discount_id or "")
    assert record is not None and record.status == "funded" and record.new_part == part.part_id
    terms = certificate_discount(record.amount, record.rate_bps, record.tenor_days,
                                 record.basis, record.fee)
    assert (terms.advance, terms.reserve) == (record.amount, 0)
    assert (record.discount, record.paid_out) == (terms.discount, terms.paid_out)
    assert record.paid_out + record.discount + record.fee == record.amount == part.amount
    assert record.tenor_days == (parse_date(record.maturity_date)
                                 - parse_date(record.request_date))
    funding = get_payment(state, P, record.discount_id, record.funding_ref or "")
    assert funding is not None and (funding.kind, funding.payer, funding.payee,
                                    funding.amount) == ("discount", record.financier,
                                                        record.seller, record.paid_out)
    if payment_refs is not None:
        assert payment_refs.get(record.discount_id) == [record.funding_ref]


def assert_rejected_changed_nothing(chain: PayablesChain, receipt: Receipt, member: str) -> None:
    """A refused transaction (in a block of its own, just committed) used its
    sender's nonce and nothing else: the state root is the previous state's with
    that one nonce written, and the receipt carries no event."""
    assert receipt.code not in ("OK", "CONTRACT_BUG"), receipt
    assert receipt.events == ()
    assert contract_changes(chain.last_changes) == []
    key = nonce_key(demo_key(member).public_key)
    only_nonce = chain.store.compute_update({key: chain.state.get(key)}, chain.store.height)
    assert chain.root == only_nonce.root


# -- determinism ---------------------------------------------------------------------

def scenario_digest() -> str:
    """A fixed scenario: issue, splits, transfers down two tiers, a discount, a
    rejected and a repeated payment, settlement of one certificate and the default
    of another; the state root and every block hash (hex)."""
    chain = PayablesChain()
    fp1 = register_confirmed(chain, "PAY-DET-1", due_date="2027-01-31")
    fp2 = register_confirmed(chain, "PAY-DET-2", due_date="2027-01-15", seller="SUPPLIER-02",
                             amount=7_000_003)
    certificate, root = issue(chain, fp1, amount=90_000_000, grace_days=2)
    _, root2 = issue(chain, fp2, grace_days=0, penalty_rate_bps=1800, basis=360)
    a, b, c = split(chain, "SUPPLIER-01", root, [50_000_000, 30_000_000, 10_000_000])
    b2 = transfer(chain, "SUPPLIER-01", b, "SUPPLIER-02")
    b3 = transfer(chain, "SUPPLIER-02", b2, "SUPPLIER-01")
    _, bank_part = discount(chain, "SUPPLIER-01", c, rate_bps=700, fee=1_000,
                            date="2026-12-01")
    _, bank_part2 = discount(chain, "SUPPLIER-02", root2, bank="BANK-B", rate_bps=333,
                             basis=360, ref="DISC-2")
    chain.do("CORE-01", P, "pay", part_id=a, payment_ref="M-1", date="2027-01-31")
    chain.do("SUPPLIER-01", P, "reject_payment", deal_id=a, payment_ref="M-1", reason="no")
    for part, ref in ((a, "M-2"), (b3, "M-3"), (bank_part, "M-4")):
        pay(chain, part, ref)
    chain.do("BANK-B", P, "mark_overdue", part_id=bank_part2)
    chain.do("BANK-B", P, "declare_default", part_id=bank_part2, date="2027-02-10")
    assert check_certificate(chain.state, certificate).status == "settled"
    hashes = [chain.store.block_hash(h).hex() for h in range(1, chain.store.height + 1)]
    return " ".join([chain.root.hex(), *hashes])
