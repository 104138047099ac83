"""A hypothesis state machine over warehouse receipts, pledge and prepayment financing.

Random sequences, every step a real block, of: pledge applications (at, below and
above the LTV limit), fundings, cancellations, repayments (partial, excessive,
duplicate references), acknowledgements and rejections, release requests,
approvals, confirmations and cancellations, re-appraisals up and down, margin
calls, defaults and title transfers; receipt transfers, appraisals and deliveries;
another product's liens on receipts; prepayment applications, acceptances,
fundings, deliveries, buy-back calls and payments, and their defaults; and time
passing — each by the right signer most of the time and by a wrong one otherwise.
After every step:

* a failed transaction changes nothing: the block writes only the sender's nonce,
  emits no event, and every receipt, lien, deal, payment and exposure record reads
  as before;
* receipt and deal statuses only move along their life cycles;
* money is conserved for every pledge and every prepayment
  (test_pledge_support.check_pledge / check_prepayment), and the payment records
  match a model kept from the successful steps alone;
* released goods never exceed the repaid share nor the quantity, and a receipt's
  released units are exactly the sum of its `receipt.goods_released` events (no
  goods released twice), a pledge's exactly the sum of its `pledge.released` events;
* no asset is ever under two liens (the lien events replay onto a model that
  refuses a second lien); a receipt is `pledged` exactly when one live pledge deal
  holds its lien; exposure counts the live deals.
"""

from __future__ import annotations

from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

from contracts import pledge, prepayment
from contracts import warehouse_receipts as wr
from contracts.calendar import parse_date
from contracts.liens import active_lien
from contracts.repayment import get_payment
from contracts.terms import pledge_max_loan
from tests.contracts.support import DAY_MS, Call
from tests.contracts.test_pledge_support import GOODS, PL, PP, WR, check_pledge, check_prepayment
from tests.contracts.pledge_machine_support import (
    LIVE_PLEDGE,
    OTHER,
    PledgeMachineBase,
    TERMS,
    index,
    right,
)


class PledgeMachine(PledgeMachineBase):
    @rule(choice=index, bank=st.sampled_from(["BANK-A", "BANK-B"]),
          share=st.sampled_from(["max", "half", "one", "above"]), tenor=st.sampled_from([10, 40]),
          ok=right)
    def apply(self, choice: int, bank: str, share: str, tenor: int, ok: bool) -> None:
        receipt = self.receipt(choice)
        limit = pledge_max_loan(max(1, receipt.remaining), receipt.unit_value, TERMS["ltv_bps"])
        principal = {"max": limit, "half": limit // 2, "one": 1, "above": limit + 1}[share]
        member = receipt.owner if ok else OTHER.get(receipt.owner, "SUPPLIER-02")
        self.step(Call(member, "apply", {"receipt_id": receipt.receipt_id, "financier": bank,
                                         "principal": max(1, principal), "tenor_days": tenor,
                                         **TERMS}, PL))

    @rule(choice=index, action=st.sampled_from(["fund", "cancel", "default", "title"]),
          ok=right, reuse=st.booleans())
    def lifecycle(self, choice: int, action: str, ok: bool, reuse: bool) -> None:
        deal = self.deal(choice)
        if deal is None:
            return
        bank = deal.financier if ok else OTHER[deal.financier]
        member = deal.borrower if action == "cancel" and choice % 2 and ok else bank
        args: dict[str, Any] = {"deal_id": deal.deal_id}
        if action == "fund":
            args["payment_ref"] = self.ref(reuse)
        method = {"fund": "fund", "cancel": "cancel", "default": "declare_default",
                  "title": "take_title"}[action]
        self.step(Call(member, method, args, PL))

    @rule(choice=index, share=st.sampled_from(["all", "half", "one", "over"]), ok=right,
          reuse=st.booleans())
    def repay(self, choice: int, share: str, ok: bool, reuse: bool) -> None:
        deal = self.deal(choice)
        if deal is None:
            return
        left = deal.owed(self.chain.store.tip().time_ms // DAY_MS) - deal.repay_pending
        amount = {"all": left, "half": left // 2, "one": 1, "over": left + 1}[share]
        member = deal.borrower if ok else deal.financier
        self.step(Call(member, "repay", {"deal_id": deal.deal_id, "amount": max(1, amount),
                                         "payment_ref": self.ref(reuse)}, PL))

    @rule(payment=index, acknowledge=st.sampled_from([True, True, False]), ok=right)
    def close(self, payment: int, acknowledge: bool, ok: bool) -> None:
        keys = sorted(self.payments)
        if not keys:
            return
        contract, deal_id, ref = keys[payment % len(keys)]
        record = get_payment(self.chain.state, contract, deal_id, ref)
        assert record is not None
        member = record.payee if ok else record.payer
        method = "acknowledge_payment" if acknowledge else "reject_payment"
        self.step(Call(member, method, {"deal_id": deal_id, "payment_ref": ref}, contract))

    @rule(choice=index, action=st.sampled_from(["request", "approve", "confirm", "cancel"]),
          size=st.sampled_from(["allowed", "more", "one"]), ok=right)
    def release(self, choice: int, action: str, size: str, ok: bool) -> None:
        deal = self.deal(choice)
        if deal is None:
            return
        unit_value = self.unit_value(deal)
        allowed = deal.releasable(unit_value) if deal.status == "funded" else 0
        signer = {"request": deal.borrower, "approve": deal.financier,
                  "confirm": deal.warehouse, "cancel": deal.borrower}[action]
        args: dict[str, Any] = {"deal_id": deal.deal_id}
        if action == "request":
            args["quantity"] = max(1, {"allowed": allowed, "more": allowed + 1, "one": 1}[size])
        self.step(Call(signer if ok else OTHER[signer], action + "_release", args, PL))

    @rule(choice=index, percent=st.sampled_from([40, 80, 95, 120, 200]), ok=right)
    def reappraise(self, choice: int, percent: int, ok: bool) -> None:
        deal = self.deal(choice)
        if deal is None:
            return
        unit_value = self.unit_value(deal)
        member = deal.warehouse if ok else OTHER[deal.warehouse]
        self.step(Call(member, "reappraise", {"deal_id": deal.deal_id,
                                              "unit_value": max(1, unit_value * percent // 100)},
                       PL))

    # -- receipts ----------------------------------------------------------------------

    @rule(choice=index, action=st.sampled_from(["appraise", "transfer", "request", "confirm",
                                                "cancel", "lien", "unlien"]),
          size=st.sampled_from([1, 0]), ok=right)
    def receipt_side(self, choice: int, action: str, size: int, ok: bool) -> None:
        receipt = self.receipt(choice)
        rid, owner, warehouse = receipt.receipt_id, receipt.owner, receipt.warehouse
        lien = {"asset": receipt.asset, "deal_id": "OTHER-1"}
        call = {
            "appraise": Call(warehouse, "appraise", {"receipt_id": rid,
                                                     "unit_value": receipt.unit_value + 1}, WR),
            "transfer": Call(owner, "transfer", {"receipt_id": rid,
                                                 "new_owner": OTHER.get(owner, "SUPPLIER-02")},
                             WR),
            "request": Call(owner, "request_delivery", {"receipt_id": rid,
                                                        "quantity": size or receipt.remaining or 1},
                            WR),
            "confirm": Call(warehouse, "confirm_delivery", {"receipt_id": rid}, WR),
            "cancel": Call(owner, "cancel_delivery", {"receipt_id": rid}, WR),
            "lien": Call("BANK-B", "place_lien", lien, "testfin"),
            "unlien": Call("BANK-B", "release_lien", lien, "testfin"),
        }[action]
        if not ok:
            call = Call(OTHER.get(call.member, "SUPPLIER-02"), call.method, call.args,
                        call.contract)
        self.step(call)

    # -- prepayment --------------------------------------------------------------------

    @rule(seller=st.sampled_from(["CORE-01", "CORE-02"]),
          bank=st.sampled_from(["BANK-A", "BANK-B"]), above=st.booleans(), ok=right)
    def prepay_apply(self, seller: str, bank: str, above: bool, ok: bool) -> None:
        args = {"financier": bank, "seller": seller, "warehouse": "WAREHOUSE-01",
                "currency": "CNY", "amount": 7_000_000 + above, "goods": GOODS, "quantity": 100,
                "unit_price": 100_000, "delivery_days": 5, "tenor_days": 40, **TERMS}
        self.step(Call("DISTRIBUTOR-01" if ok else "SUPPLIER-01", "apply", args, PP))

    @rule(choice=index, action=st.sampled_from(["accept", "fund", "deliver", "call", "pay",
                                                "default", "cancel"]),
          value=st.sampled_from([100_000, 80_000, 50_000]), ok=right, reuse=st.booleans())
    def prepay_step(self, choice: int, action: str, value: int, ok: bool, reuse: bool) -> None:
        deal = self.prepaid(choice)
        if deal is None:
            return
        args: dict[str, Any] = {"deal_id": deal.deal_id}
        left = deal.amount - deal.buyback_paid - deal.buyback_pending
        signer, method = {"accept": (deal.seller, "accept"), "fund": (deal.financier, "fund"),
                          "deliver": (deal.warehouse, "deliver"),
                          "call": (deal.financier, "call_buyback"),
                          "pay": (deal.seller, "pay_buyback"),
                          "default": (deal.financier, "declare_default"),
                          "cancel": (deal.distributor, "cancel")}[action]
        if action == "fund":
            args["payment_ref"] = self.ref(reuse)
        elif action == "deliver":
            args["unit_value"] = value
        elif action == "pay":
            args.update(amount=max(1, left if value == 100_000 else left // 2 + (value == 50_000)),
                        payment_ref=self.ref(reuse))
        self.step(Call(signer if ok else OTHER[signer], method, args, PP))

    # -- time, and the next sensible step ----------------------------------------------

    @rule(days=st.sampled_from([1, 3, 6, 12, 45]))
    def wait(self, days: int) -> None:
        self.chain.run([], step_ms=days * DAY_MS)

    @rule(choice=index, choices=st.lists(st.integers(0, 31), min_size=1, max_size=8))
    def drive(self, choice: int, choices: list[int]) -> None:
        """The next steps of a live pledge deal, by the right signers."""
        live = [d for d in self.deals if self.status(d) in LIVE_PLEDGE]
        for pick in choices:
            if not live:
                return
            deal = pledge.get_deal(self.chain.state, live[choice % len(live)])
            assert deal is not None
            call = self.next_step(deal, pick)
            if call is None:
                return
            self.step(call, days=self.days_before(deal, call, pick))

    def days_before(self, deal: pledge.PledgeDeal, call: Call, pick: int) -> int:
        """Days to let pass before a driven step: past the cure deadline or the grace
        days for most defaults, a few days before some repayments."""
        today = self.chain.store.tip().time_ms // DAY_MS
        if call.method == "repay":
            return (0, 0, 0, 4)[pick % 4]
        if call.method != "declare_default" or pick < 16:
            return 0
        if deal.cure_deadline is not None:
            return max(0, parse_date(deal.cure_deadline) + 1 - today)
        return max(0, parse_date(str(deal.due_date)) + deal.terms.grace_days + 1 - today)

    def next_step(self, deal: pledge.PledgeDeal, pick: int) -> Call | None:
        d = {"deal_id": deal.deal_id}
        pending = [(c, i, r) for (c, i, r), (_, _, status) in sorted(self.payments.items())
                   if status == "pending" and i == deal.deal_id]
        if pending:
            record = get_payment(self.chain.state, *pending[0])
            assert record is not None
            return Call(record.payee, "acknowledge_payment", {**d, "payment_ref": pending[0][2]},
                        PL)
        if deal.status == "applied":
            return Call(deal.financier, "fund", {**d, "payment_ref": self.ref(False)}, PL)
        if deal.status == "defaulted":
            return Call(deal.financier, "take_title", d, PL)
        if deal.status != "funded":
            return None
        if deal.release_requested:
            return Call(deal.warehouse if deal.release_approved else deal.financier,
                        "confirm_release" if deal.release_approved else "approve_release", d, PL)
        unit_value = self.unit_value(deal)
        action, percent = pick % 8, (50, 80, 90, 125)[pick // 8]
        if action in (0, 1) and deal.releasable(unit_value):
            return Call(deal.borrower, "request_release",
                        {**d, "quantity": deal.releasable(unit_value) // (action + 1) or 1}, PL)
        if action in (2, 3):
            return Call(deal.warehouse, "reappraise",
                        {**d, "unit_value": max(1, unit_value * percent // 100)}, PL)
        if action == 7:
            return Call(deal.financier, "declare_default", d, PL)
        owed = deal.owed(self.chain.store.tip().time_ms // DAY_MS)
        amount = owed if action == 6 else max(1, owed * percent // 400)
        return Call(deal.borrower, "repay", {**d, "amount": amount,
                                             "payment_ref": self.ref(False)}, PL)

    @rule(choice=index, path=st.sampled_from(["release", "release", "margin", "maturity"]))
    def funded_path(self, choice: int, path: str) -> None:
        """A whole path of a funded pledge by the right signers: repay a part and take out
        what it frees; or a price fall left uncured (or maturity passed), default, title."""
        funded = [d for d in self.deals if self.status(d) == "funded"]
        if funded:
            deal_id = funded[choice % len(funded)]
        else:                                     # a fresh receipt, pledged at the limit
            self.step(Call("WAREHOUSE-01", "issue", {
                "owner": "SUPPLIER-02", "goods": GOODS, "quantity": 40 + choice,
                "unit_value": 250_000, "currency": "CNY"}, WR))
            self.step(Call("SUPPLIER-02", "apply", {
                "receipt_id": self.receipts[-1], "financier": "BANK-B",
                "principal": (40 + choice) * 175_000, "tenor_days": 10, **TERMS}, PL))
            deal_id = self.deals[-1]
        if path == "release":
            picks = [4, 0, 0, 0]                  # repay a share, request, approve, confirm
        elif path == "margin":
            picks = [2, 23]                       # re-appraise at 50 %, wait, default
        else:
            picks = [31]                          # wait past due + grace, default
        for pick in [*picks, 0]:                  # ... and take title after a default
            deal = pledge.get_deal(self.chain.state, deal_id)
            assert deal is not None
            call = self.next_step(deal, pick)
            if call is None:
                return
            self.step(call, days=self.days_before(deal, call, pick))

    @rule(choice=index, choices=st.lists(st.integers(0, 31), min_size=1, max_size=6))
    def prepay_drive(self, choice: int, choices: list[int]) -> None:
        """The next steps of a prepayment, by the right signers (waiting past the delivery
        deadline or the grace days when the step needs it)."""
        for pick in choices:
            deal = self.prepaid(choice)
            if deal is None:
                return
            d: dict[str, Any] = {"deal_id": deal.deal_id}
            today = self.chain.store.tip().time_ms // DAY_MS
            pending = [r for (c, i, r), (_, _, s) in sorted(self.payments.items())
                       if (c, i, s) == (PP, deal.deal_id, "pending")]
            days, call = 0, None
            if pending:
                record = get_payment(self.chain.state, PP, deal.deal_id, pending[0])
                assert record is not None
                call = Call(record.payee, "acknowledge_payment", {**d, "payment_ref": pending[0]},
                            PP)
            elif deal.status == "applied":
                call = Call(deal.seller, "accept", d, PP)
            elif deal.status == "accepted":
                call = Call(deal.financier, "fund", {**d, "payment_ref": self.ref(False)}, PP)
            elif deal.status == "funded" and pick % 2:
                call = Call(deal.warehouse, "deliver",
                            {**d, "unit_value": (100_000, 80_000, 120_000, 60_000)[pick % 4]}, PP)
            elif deal.status == "funded":
                days = max(0, parse_date(str(deal.delivery_deadline)) + 1 - today)
                call = Call(deal.financier, "call_buyback", d, PP)
            elif deal.status == "buyback_called" and pick % 3 == 0:
                days = max(0, parse_date(str(deal.buyback_date)) + deal.terms.grace_days + 1
                           - today)
                call = Call(deal.financier, "declare_default", d, PP)
            elif deal.status == "buyback_called":
                left = deal.amount - deal.buyback_paid - deal.buyback_pending
                call = Call(deal.seller, "pay_buyback",
                            {**d, "amount": max(1, left if pick % 3 == 1 else left // 2),
                             "payment_ref": self.ref(False)}, PP)
            if call is None:
                return
            self.step(call, days=days)

    # -- invariants ------------------------------------------------------------------

    @invariant()
    def money_is_conserved_and_payments_match_the_model(self) -> None:
        state = self.chain.state
        for key, (kind, amount, status) in sorted(self.payments.items()):
            record = get_payment(state, *key)
            assert record is not None
            assert (record.kind, record.amount, record.status) == (kind, amount, status)
        for deal_id in self.deals:
            deal = pledge.get_deal(state, deal_id)
            assert deal is not None
            receipt = wr.get_receipt(state, deal.receipt_id)
            assert receipt is not None
            check_pledge(deal, receipt, self.records(PL, deal_id))
            assert deal.released == self.deal_out.get(deal_id, 0)
        for deal_id in self.prepayments:
            deal = prepayment.get_deal(state, deal_id)
            assert deal is not None
            loan = None if deal.pledge_deal_id is None else pledge.get_deal(state,
                                                                            deal.pledge_deal_id)
            check_prepayment(deal, self.records(PP, deal_id), loan)

    @invariant()
    def goods_and_liens_are_consistent(self) -> None:
        state = self.chain.state
        deals = [pledge.get_deal(state, d) for d in self.deals]
        exposure: dict[tuple[str, str], int] = {}
        for deal in deals:
            assert deal is not None
            if deal.status == "funded":
                key = (deal.borrower, deal.financier)
                exposure[key] = exposure.get(key, 0) + 1
        for receipt_id in self.receipts:
            receipt = wr.get_receipt(state, receipt_id)
            assert receipt is not None
            assert 0 <= receipt.released == self.goods_out.get(receipt_id, 0) <= receipt.quantity
            assert (receipt.status == "released") == (receipt.remaining == 0)
            lien = active_lien(state, receipt.asset)
            assert (None if lien is None else lien.deal_id) == self.liens.get(receipt.asset)
            live = [d for d in deals if d is not None and d.receipt_id == receipt_id
                    and d.status in LIVE_PLEDGE]
            assert len(live) <= 1, "a receipt under two pledges"
            if live:
                assert lien is not None and (lien.deal_id, lien.holder) == (
                    live[0].deal_id, live[0].financier)
                assert receipt.status == "pledged"
            else:
                assert receipt.status != "pledged"
        for borrower in ("DISTRIBUTOR-01", "SUPPLIER-01", "SUPPLIER-02", "BANK-A", "BANK-B"):
            expected = [[bank, n] for (b, bank), n in sorted(exposure.items()) if b == borrower]
            assert pledge.exposure(state, borrower) == expected
        prepaid: dict[tuple[str, str], int] = {}
        for deal_id in self.prepayments:
            deal = prepayment.get_deal(state, deal_id)
            assert deal is not None
            if deal.status in ("funded", "buyback_called"):
                prepaid[(deal.seller, deal.financier)] = \
                    prepaid.get((deal.seller, deal.financier), 0) + 1
        for seller in ("CORE-01", "CORE-02"):
            expected = [[bank, n] for (s, bank), n in sorted(prepaid.items()) if s == seller]
            assert prepayment.exposure(state, seller) == expected


PledgeMachine.TestCase.settings = settings(
    max_examples=max(10, settings.default.max_examples // 2), stateful_step_count=50,
    deadline=None)
TestPledgeMachine = PledgeMachine.TestCase
