"""Guided rules of the consortium state machine: each picks a deal of one product and
takes the next step its life cycle allows, signed by the right member, so that random
runs reach the deep paths (settlement, release, margin call, default, title transfer,
buy-back, certificate default) and not only the first steps.

The random rules of tests/contracts/test_consortium_machine.py send anything, by
anyone; these send what a well-behaved consortium would send next, and let the
random rules (limits, freezes, wrong signers, other deals, time) get in the way.
A step may still be refused (a limit, a frozen member, a lapse at midnight): that
is a path too, and the refusal is checked like any other.

Branches are drawn by hypothesis (`branch`); "late" branches move the chain to
the first day the next step is due (every deal's clock moves with it).
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import rule

from contracts import factoring, invoices, pledge, prepayment
from contracts import warehouse_receipts as wr
from contracts.calendar import block_date, format_date, parse_date
from contracts.payables_records import certificate_parts, get_certificate
from contracts.repayment import get_payment
from tests.contracts.consortium_support import BANKS, TALLY, ConsortiumBase, index
from tests.contracts.support import Call, fingerprint_of, invoice_args
from tests.contracts.test_factoring_support import DD, F, offer_args
from tests.contracts.test_payables_support import P
from tests.contracts.test_pledge_support import GOODS, PL, PP, WR, apply_args, prepayment_args

branch = st.integers(0, 11)
burst = st.integers(1, 4)
SELLERS = [("SUPPLIER-01", "CORE-01"), ("SUPPLIER-02", "CORE-01"), ("SUPPLIER-01", "CORE-02"),
           ("SUPPLIER-02", "CORE-02")]


class ConsortiumFlows(ConsortiumBase):
    # -- time and fresh assets --------------------------------------------------------

    def next_day(self) -> int:
        """The UTC day of the next block (one second after the tip)."""
        return block_date(self.chain.store.tip().time_ms + 1000)

    def days_until(self, day: int) -> int:
        return max(0, day - self.next_day())

    def drive(self, items: list[str], get: Any, live: tuple[str, ...], choice: int,
              first: tuple[str, ...] = ()) -> Any:
        """The record to drive: mostly the latest live one of the 6 most recent (one in a
        status of `first` before any other), so one deal is taken through several
        steps; None (open a new one) when there is none."""
        found = [record for record in (get(self.chain.state, item) for item in items[-6:])
                 if record is not None and record.status in live]
        found = ([r for r in found if r.status not in first]
                 + [r for r in found if r.status in first])
        return None if not found else found[-1] if choice < 10 else found[choice % len(found)]

    def fresh_invoice(self, choice: int, tenor: int) -> bytes | None:
        """A confirmed invoice due `tenor` days from the next block, or None if refused."""
        seller, buyer = SELLERS[choice % len(SELLERS)]
        self.counter += 1
        today = self.next_day()
        args = invoice_args(f"FLOW-{self.counter}", amount=10_000_000 + 1_234_567 * choice,
                            issue_date=format_date(today), due_date=format_date(today + tenor),
                            buyer=buyer)
        if not self.step(Call(seller, "register", args)).succeeded:
            return None
        fp = fingerprint_of(args)
        self.fps.append(fp)
        return fp if self.step(Call(buyer, "confirm", {"fingerprint": fp})).succeeded else None

    # -- factoring ----------------------------------------------------------------------

    @rule(choice=index, path=branch, steps=burst)
    def drive_factoring(self, choice: int, path: int, steps: int) -> None:
        """Up to `steps` next steps of one factoring deal (the invariants after each)."""
        TALLY["rule drive_factoring"] += 1
        for step in range(steps):
            if step:
                self.check_all()
            self.next_factoring_step(choice, path)

    def next_factoring_step(self, choice: int, path: int) -> None:
        deal = self.drive(self.deals, factoring.get_deal, ("accepted", "funded", "overdue"),
                          choice)
        if deal is None or path == 0:
            self.open_factoring(choice, recourse=path % 2 == 0)
            return
        if deal.status == "accepted":
            self.step(Call(deal.financier, "fund", {"deal_id": deal.deal_id,
                                                    "payment_ref": self.ref()}, F))
        elif deal.buyer_pending or deal.reserve_pending:
            self.close_pending(F, deal.deal_id)
        elif deal.releasable > 0 and path < 6:
            self.settle(self.step(Call(deal.financier, "release_reserve", {
                "deal_id": deal.deal_id, "payment_ref": self.ref()}, F)), F, deal.deal_id)
        elif path < 8 and deal.buyer_paid < deal.amount:
            left = deal.amount - deal.buyer_paid
            amount = left if path % 2 else max(1, left // 3)
            self.settle(self.step(Call(deal.buyer, "pay", {
                "deal_id": deal.deal_id, "amount": amount, "payment_ref": self.ref()}, F)),
                F, deal.deal_id)
        elif deal.status == "funded":
            late = parse_date(deal.due_date) + deal.conditions.grace_days + 1
            self.step(Call(deal.financier, "mark_overdue", {"deal_id": deal.deal_id}, F),
                      days=self.days_until(late))
        else:
            self.step(Call(deal.financier, "declare_default", {"deal_id": deal.deal_id}, F))

    def open_factoring(self, choice: int, recourse: bool) -> None:
        fp = self.fresh_invoice(choice, 30 + 10 * (choice % 4))
        if fp is None:
            return
        invoice = invoices.get_invoice(self.chain.state, fp)
        assert invoice is not None
        bank = BANKS[choice % 2]
        offered = self.step(Call(bank, "offer", offer_args(
            supplier=invoice.seller, recourse=recourse, grace_days=choice % 3,
            expiry_date=format_date(self.next_day() + 10)), F))
        if not offered.succeeded:
            return
        if self.step(Call(invoice.seller, "accept", {"offer_id": self.offers[-1],
                                                     "fingerprint": fp}, F)).succeeded:
            self.step(Call(bank, "fund", {"deal_id": self.deals[-1],
                                          "payment_ref": self.ref()}, F))

    # -- dynamic discounting ------------------------------------------------------------

    @rule(choice=index)
    def drive_discounting(self, choice: int) -> None:
        """A fresh offer of the buyer, taken up at once on a fresh invoice and paid."""
        TALLY["rule drive_discounting"] += 1
        fp = self.fresh_invoice(choice, 20 + choice)
        invoice = None if fp is None else invoices.get_invoice(self.chain.state, fp)
        if invoice is None:
            return
        published = self.step(Call(invoice.buyer, "publish_offer", {
            "rate_bps": 600 + 10 * choice, "basis": 365,
            "expiry_date": format_date(self.next_day() + 5)}, DD))
        if not published.succeeded:
            return
        if self.step(Call(invoice.seller, "accept", {"offer_id": self.dd_offer,
                                                     "fingerprint": fp}, DD)).succeeded:
            acceptance = self.acceptances[-1]
            self.settle(self.step(Call(invoice.buyer, "record_payment", {
                "acceptance_id": acceptance, "payment_ref": self.ref()}, DD)), DD, acceptance)

    # -- payable certificates ---------------------------------------------------------

    @rule(choice=index, path=branch, steps=burst)
    def drive_certificate(self, choice: int, path: int, steps: int) -> None:
        """Up to `steps` next steps of one certificate deal (the invariants after each)."""
        TALLY["rule drive_certificate"] += 1
        for step in range(steps):
            if step:
                self.check_all()
            self.next_certificate_step(choice, path)

    def next_certificate_step(self, choice: int, path: int) -> None:
        certificate = self.drive(self.certificates, get_certificate,
                                 ("outstanding", "defaulted"), choice)
        matured = certificate is not None and self.next_day() >= parse_date(
            certificate.maturity_date)
        if certificate is None or path == 0 or (matured and path < 6):
            # a fresh certificate (the others may have matured while time passed), its
            # root part at once split, transferred or discounted as `path` says
            fp = self.fresh_invoice(choice, 25 + 5 * (choice % 5))
            invoice = None if fp is None else invoices.get_invoice(self.chain.state, fp)
            if invoice is None:
                return
            issued = self.step(Call(invoice.buyer, "issue", {
                "fingerprint": fp, "grace_days": choice % 3, "penalty_rate_bps": 1800}, P))
            if issued.succeeded and path:
                self.check_all()
                self.spend_part(self.parts[-1], invoice.seller, invoice.amount_due, "live",
                                choice, path)
            return
        unpaid = [part for part in certificate_parts(self.chain.state,
                                                     certificate.certificate_id)
                  if part.status in ("live", "discounted", "overdue")]
        if not unpaid:
            return
        maturity = parse_date(certificate.maturity_date)
        bought = [part for part in unpaid if part.origin == "discount"]
        if self.next_day() >= maturity and path >= 7 and bought:
            unpaid = bought         # a financier's part, towards its default
        part = unpaid[choice % len(unpaid)]
        if part.pending_ref is not None:
            self.close_pending(P, part.part_id)
        elif self.next_day() < maturity and path < 10:
            self.spend_part(part.part_id, part.holder, part.amount, part.status, choice, path)
        elif path < 7 or self.next_day() < maturity:
            receipt = self.step(Call(certificate.issuer, "pay", {
                "part_id": part.part_id, "payment_ref": self.ref()}, P),
                days=self.days_until(maturity))
            self.settle(receipt, P, part.part_id)
        elif part.status != "overdue":
            late = maturity + certificate.grace_days + 1
            self.step(Call(part.holder, "mark_overdue", {"part_id": part.part_id}, P),
                      days=self.days_until(late))
        else:
            self.step(Call(part.holder, "declare_default", {"part_id": part.part_id}, P))

    def spend_part(self, part_id: str, holder: str, amount: int, status: str, choice: int,
                   path: int) -> None:
        if status != "live":           # a financier's part waits for maturity
            return
        if path < 4 and amount > 1:
            first = max(1, amount * (1 + choice % 3) // 4)
            self.step(Call(holder, "split", {"part_id": part_id,
                                             "amounts": [first, amount - first]}, P))
        elif path < 6:
            to = "SUPPLIER-02" if holder != "SUPPLIER-02" else "SUPPLIER-01"
            self.step(Call(holder, "transfer", {"part_id": part_id, "to": to}, P))
        else:
            bank = BANKS[choice % 2]
            requested = self.step(Call(holder, "request_discount", {
                "part_id": part_id, "financier": bank, "rate_bps": 500 + choice}, P))
            if requested.succeeded:
                discount_id = self.discounts[-1]
                funded = self.step(Call(bank, "fund_discount", {
                    "discount_id": discount_id, "payment_ref": self.ref()}, P))
                self.settle(funded, P, discount_id)

    # -- warehouse receipts and pledges ------------------------------------------------

    @rule(choice=index, path=branch, steps=burst)
    def drive_pledge(self, choice: int, path: int, steps: int) -> None:
        """Up to `steps` next steps of one pledge deal (the invariants after each)."""
        TALLY["rule drive_pledge"] += 1
        for step in range(steps):
            if step:
                self.check_all()
            self.next_pledge_step(choice, path)

    def next_pledge_step(self, choice: int, path: int) -> None:
        deal = self.drive(self.pledges, pledge.get_deal,
                          ("applied", "funded", "defaulted", "title_transferred"), choice,
                          first=("defaulted",))
        if deal is None or path == 0:
            self.open_pledge(choice)
            return
        receipt = wr.get_receipt(self.chain.state, deal.receipt_id)
        assert receipt is not None
        d: dict[str, Any] = {"deal_id": deal.deal_id}
        if deal.status == "applied":
            self.step(Call(deal.financier, "fund", {**d, "payment_ref": self.ref()}, PL))
        elif deal.status == "defaulted":
            self.step(Call(deal.financier, "take_title", d, PL))
        elif deal.status == "title_transferred":
            self.after_title(receipt, choice)
        elif deal.repay_pending:
            self.close_pending(PL, deal.deal_id)
        elif deal.release_requested:
            signer, method = ((deal.warehouse, "confirm_release") if deal.release_approved
                              else (deal.financier, "approve_release"))
            self.step(Call(signer, method, d, PL))
        elif path < 5 and deal.releasable(receipt.unit_value) > 0:
            quantity = max(1, deal.releasable(receipt.unit_value) // (1 + choice % 2))
            self.step(Call(deal.borrower, "request_release", {**d, "quantity": quantity}, PL))
        elif path < 7:
            owed = deal.owed(self.next_day())
            amount = owed if path == 6 else max(1, owed * (1 + choice % 3) // 5)
            self.settle(self.step(Call(deal.borrower, "repay", {
                **d, "amount": amount, "payment_ref": self.ref()}, PL)), PL, deal.deal_id)
        elif path < 9:      # re-appraisal: down (a margin call) or back up (a cure)
            factor = (12 if choice % 4 == 0 else 6) if deal.cure_deadline is None else 20
            self.step(Call(deal.warehouse, "reappraise", {
                **d, "unit_value": max(1, receipt.unit_value * factor // 10)}, PL))
        else:
            due = parse_date(str(deal.due_date)) + deal.terms.grace_days
            if deal.cure_deadline is not None:
                due = min(due, parse_date(deal.cure_deadline))
            self.step(Call(deal.financier, "declare_default", d, PL),
                      days=self.days_until(due + 1))

    def open_pledge(self, choice: int) -> None:
        owner = ("DISTRIBUTOR-01", "SUPPLIER-01", "SUPPLIER-02")[choice % 3]
        issued = self.step(Call(("WAREHOUSE-01", "WAREHOUSE-02")[choice % 2], "issue", {
            "owner": owner, "goods": GOODS, "quantity": 50 + 7 * choice,
            "unit_value": 300_000 + 1_000 * choice, "currency": "CNY"}, WR))
        if not issued.succeeded:
            return
        receipt = wr.get_receipt(self.chain.state, self.receipts[-1])
        assert receipt is not None
        bank = BANKS[choice % 2]
        principal = receipt.quantity * receipt.unit_value * (5000 + 100 * choice) // 10_000
        if self.step(Call(owner, "apply", apply_args(
                receipt.receipt_id, principal, financier=bank, tenor_days=20 + 10 * (choice % 4),
                cure_days=choice % 4, grace_days=choice % 3), PL)).succeeded:
            self.step(Call(bank, "fund", {"deal_id": self.pledges[-1],
                                          "payment_ref": self.ref()}, PL))

    def after_title(self, receipt: wr.Receipt, choice: int) -> None:
        """The financier owns the goods left: it takes some out, or sells the receipt."""
        if receipt.status != "issued" or receipt.owner not in BANKS:
            return
        r = {"receipt_id": receipt.receipt_id}
        if receipt.delivery_requested:
            self.step(Call(receipt.warehouse, "confirm_delivery", r, WR))
        elif choice % 2:
            self.step(Call(receipt.owner, "request_delivery",
                           {**r, "quantity": max(1, receipt.remaining // 2)}, WR))
        else:
            self.step(Call(receipt.owner, "transfer", {**r, "new_owner": "DISTRIBUTOR-01"}, WR))

    # -- prepayment --------------------------------------------------------------------

    @rule(choice=index, path=branch, steps=burst)
    def drive_prepayment(self, choice: int, path: int, steps: int) -> None:
        """Up to `steps` next steps of one prepayment deal (the invariants after each)."""
        TALLY["rule drive_prepayment"] += 1
        for step in range(steps):
            if step:
                self.check_all()
            self.next_prepayment_step(choice, path)

    def next_prepayment_step(self, choice: int, path: int) -> None:
        deal = self.drive(self.prepayments, prepayment.get_deal,
                          ("applied", "accepted", "funded", "buyback_called"), choice)
        if deal is None or path == 0:
            seller, bank = ("CORE-01", "CORE-02")[choice % 2], BANKS[choice // 2 % 2]
            args = prepayment_args(seller=seller, financier=bank, quantity=40 + choice,
                                   amount=(40 + choice) * 200_000, delivery_days=5 + choice % 5,
                                   tenor_days=30 + choice, grace_days=choice % 3)
            if self.step(Call("DISTRIBUTOR-01", "apply", args, PP)).succeeded:
                deal_id = self.prepayments[-1]
                if self.step(Call(seller, "accept", {"deal_id": deal_id}, PP)).succeeded:
                    self.step(Call(bank, "fund", {"deal_id": deal_id,
                                                  "payment_ref": self.ref()}, PP))
            return
        d: dict[str, Any] = {"deal_id": deal.deal_id}
        if deal.status == "applied":
            self.step(Call(deal.seller, "accept", d, PP))
        elif deal.status == "accepted":
            self.step(Call(deal.financier, "fund", {**d, "payment_ref": self.ref()}, PP))
        elif deal.status == "funded" and path < 5:
            self.step(Call(deal.warehouse, "deliver", {
                **d, "unit_value": deal.unit_price * (7 + choice % 6) // 10}, PP))
        elif deal.status == "funded":
            self.step(Call(deal.financier, "call_buyback", d, PP),
                      days=self.days_until(parse_date(str(deal.delivery_deadline)) + 1))
        elif deal.buyback_pending:
            self.close_pending(PP, deal.deal_id)
        elif path < 8:
            left = deal.amount - deal.buyback_paid
            amount = left if path % 2 else max(1, left // 2)
            self.settle(self.step(Call(deal.seller, "pay_buyback", {
                **d, "amount": amount, "payment_ref": self.ref()}, PP)), PP, deal.deal_id)
        else:
            late = parse_date(str(deal.buyback_date)) + deal.terms.grace_days + 1
            self.step(Call(deal.financier, "declare_default", d, PP),
                      days=self.days_until(late))

    # -- shared ------------------------------------------------------------------------

    def close_pending(self, contract: str, record_id: str) -> None:
        """The payee acknowledges the record's oldest pending payment."""
        for ref in self.refs.get((contract, record_id), []):
            payment = get_payment(self.chain.state, contract, record_id, ref)
            if payment is not None and payment.status == "pending":
                self.step(Call(payment.payee, "acknowledge_payment",
                               {"deal_id": record_id, "payment_ref": ref}, contract))
                return
