"""A hypothesis state machine over factoring and dynamic discounting together.

Random sequences, every step a real block, of: factoring acceptances,
fundings, cancellations, buyer payments (partial, excessive, duplicate
references), acknowledgements and rejections, reserve releases, overdue and
default; dynamic discounting acceptances and payments; offer withdrawals;
disputes, re-confirmations and other products' liens; and time passing —
each by the right signer most of the time and by a wrong one otherwise, on
a pool of invoices that both products compete for. After every step:

* a failed transaction changes nothing: the block writes only nonces, emits
  no event, and every invoice, lien, offer, deal, acceptance, payment and
  exposure record reads as before;
* invoice and deal statuses only move along their life cycles;
* money is conserved for every deal and every acceptance
  (test_factoring_support.check_deal / check_acceptance: the terms are
  contracts.terms', the counters are the acknowledged payments, the
  waterfall, settlement and default equations hold);
* the payment records match a model kept from the successful steps alone;
* no asset is ever under two liens (the lien events replay onto a model that
  refuses a second lien), a funded invoice carries its deal's lien;
* an invoice is financed at most once: at most one deal per invoice ever
  funded, at most one open acceptance of the day, never both factored and
  dynamically discounted; exposure counts the live funded deals.
"""

from __future__ import annotations

from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from contracts import dynamic_discounting as dd
from contracts import factoring
from contracts.calendar import parse_date
from contracts.factoring import DEAL_NEXT, DealStatus, get_deal
from contracts.invoices import NEXT, Status, get_invoice
from contracts.liens import active_lien, invoice_asset
from contracts.repayment import Payment, get_payment
from ledger.types import Receipt
from tests.contracts.support import DAY_MS, Call, contract_changes
from tests.contracts.test_factoring_support import (
    DD,
    F,
    FinanceChain,
    check_acceptance,
    check_deal,
    created,
    offer_args,
    register_confirmed,
)

# (number, seller, buyer, due date, face, confirmed amount)
POOL = [("M-1", "SUPPLIER-01", "CORE-01", "2027-02-21", 100_000_000, None),
        ("M-2", "SUPPLIER-02", "CORE-01", "2027-01-15", 37_000_001, None),
        ("M-3", "SUPPLIER-01", "CORE-02", "2026-12-05", 99_999_999, 88_888_888)]
FACTORING_OFFERS = [
    ("BANK-A", {"fee": 10_000, "grace_days": 3, "penalty_rate_bps": 2400}),
    ("BANK-B", {"supplier": None, "reverse": True, "buyer": "CORE-01", "advance_bps": 10_000,
                "recourse": False, "basis": 360, "rate_bps": 350}),
    ("BANK-A", {"supplier": None, "buyer": "CORE-02", "fingerprint": 2, "advance_bps": 9000,
                "grace_days": 0}),
    ("BANK-B", {"supplier": "SUPPLIER-02", "expiry_date": "2026-12-15", "advance_bps": 7777,
                "rate_bps": 999, "fee": 1}),
]
def _applies(state: Any, offer_id: str, invoice: Any) -> bool:
    offer = factoring.get_offer(state, offer_id)
    return offer is not None and offer.status == "open" and all(
        want is None or want == have for want, have in (
            (offer.supplier, invoice.seller), (offer.buyer, invoice.buyer),
            (offer.fingerprint, invoice.fingerprint)))


DD_OFFERS = [("CORE-01", {"table": [[5, 500], [30, 900]], "basis": 360}),
             ("CORE-02", {"rate_bps": 1500, "min_days_early": 5})]

index = st.integers(0, 7)
right = st.sampled_from([True, True, True, False])


class FinancingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.chain = FinanceChain()
        self.fps: list[bytes] = []
        self.sellers: list[str] = []
        self.offers: list[str] = []             # factoring offer ids
        self.dd_offers: list[str] = []
        self.deals: list[str] = []
        self.acceptances: list[str] = []
        # (contract, deal or acceptance id, ref) -> [kind, amount, status], successes only
        self.payments: dict[tuple[str, str, str], list[Any]] = {}
        self.liens: dict[str, str] = {}         # asset -> deal, replayed from lien events
        self.ever_funded: dict[bytes, set[str]] = {}
        self.refs = 0

    @initialize()
    def setup(self) -> None:
        for number, seller, buyer, due, face, confirm in POOL:
            self.fps.append(register_confirmed(self.chain, number, due_date=due, amount=face,
                                               confirm=confirm, seller=seller, buyer=buyer))
            self.sellers.append(seller)
        for bank, changes in FACTORING_OFFERS:
            if "fingerprint" in changes:
                changes = {**changes, "fingerprint": self.fps[changes["fingerprint"]]}
            receipt = self.chain.do(bank, F, "offer", **offer_args(**changes))
            self.offers.append(created(receipt, "factoring.offered", "offer_id"))
        for buyer, args in DD_OFFERS:
            receipt = self.chain.do(buyer, DD, "publish_offer", expiry_date="2027-03-31", **args)
            self.dd_offers.append(created(receipt, "dynamic_discounting.offer_published",
                                          "offer_id"))

    # -- the step and its checks ---------------------------------------------------

    def snapshot(self) -> tuple[Any, ...]:
        state = self.chain.state
        return (tuple(get_invoice(state, fp) for fp in self.fps),
                tuple(active_lien(state, invoice_asset(fp)) for fp in self.fps),
                tuple(get_deal(state, deal) for deal in self.deals),
                tuple(dd.get_acceptance(state, a) for a in self.acceptances),
                tuple(factoring.get_offer(state, o) for o in self.offers),
                tuple(dd.get_offer(state, o) for o in self.dd_offers),
                tuple(get_payment(state, *key) for key in sorted(self.payments)),
                tuple(factoring.exposure(state, b) for b in ("CORE-01", "CORE-02")))

    def step(self, call: Call, *, days: int = 0) -> Receipt:
        before = self.snapshot()
        receipt = self.chain.run([call], step_ms=1000 + days * DAY_MS)[0]
        after = self.snapshot()
        if not receipt.succeeded:
            assert receipt.code != "CONTRACT_BUG", receipt
            assert contract_changes(self.chain.last_changes) == [], receipt
            assert after == before and receipt.events == ()
            return receipt
        for old, new in zip(before[0], after[0]):
            if old.status != new.status:
                assert Status(new.status) in NEXT[Status(old.status)], (old.status, new.status)
        for old_deal, new_deal in zip(before[2], after[2]):
            if old_deal.status != new_deal.status:
                assert DealStatus(new_deal.status) in DEAL_NEXT[DealStatus(old_deal.status)]
        for event in receipt.events:
            attributes = event.attributes
            if event.kind == "lien.placed":
                assert attributes["asset"] not in self.liens, "an asset under two liens"
                self.liens[attributes["asset"]] = attributes["deal_id"]
            elif event.kind == "lien.released":
                assert self.liens.pop(attributes["asset"]) == attributes["deal_id"]
            elif event.kind == "factoring.accepted":
                self.deals.append(attributes["deal_id"])
            elif event.kind == "dynamic_discounting.accepted":
                self.acceptances.append(attributes["acceptance_id"])
            elif event.kind.endswith(".payment_recorded"):
                deal = attributes.get("deal_id") or attributes["acceptance_id"]
                key = (event.kind.split(".")[0], deal, attributes["payment_ref"])
                assert key not in self.payments
                self.payments[key] = [attributes["kind"], attributes["amount"], "pending"]
            elif event.kind.endswith((".payment_acknowledged", ".payment_rejected")):
                deal = attributes.get("deal_id") or attributes["acceptance_id"]
                model = self.payments[(event.kind.split(".")[0], deal, attributes["payment_ref"])]
                assert model[2] == "pending" and model[:2] == [attributes["kind"],
                                                               attributes["amount"]]
                model[2] = attributes["payment_status"]
            elif event.kind == "factoring.overdue":     # only after due date + grace days
                deal = get_deal(self.chain.state, attributes["deal_id"])
                assert deal is not None and deal.buyer_paid < deal.advance
                assert parse_date(self.chain.today) > parse_date(deal.due_date) + \
                    deal.conditions.grace_days
            elif event.kind == "factoring.funded":      # on the day of acceptance
                deal = get_deal(self.chain.state, attributes["deal_id"])
                assert deal is not None and deal.accepted_date == self.chain.today
                fp = bytes.fromhex(attributes["fingerprint"])
                self.ever_funded.setdefault(fp, set()).add(attributes["deal_id"])
                self.payments[(F, attributes["deal_id"], attributes["payment_ref"])] = [
                    "funding", attributes["paid_out"], "pending"]
        return receipt

    def ref(self, reuse: bool) -> str:
        if not reuse:
            self.refs += 1
        return f"REF-{self.refs}"

    def pick(self, items: list[str], choice: int, missing: str) -> str:
        return items[choice % len(items)] if items else missing

    # -- factoring ---------------------------------------------------------------------

    @rule(invoice=index, offer=index, ok=right)
    def accept(self, invoice: int, offer: int, ok: bool) -> None:
        i = invoice % len(self.fps)
        member = self.sellers[i] if ok else ("SUPPLIER-02", "SUPPLIER-01")[i % 2]
        self.step(Call(member, "accept", {"offer_id": self.offers[offer % len(self.offers)],
                                          "fingerprint": self.fps[i]}, F))

    @rule(deal=index, ok=right, reuse=st.booleans())
    def fund(self, deal: int, ok: bool, reuse: bool) -> None:
        deal_id = self.pick(self.deals, deal, "FD-0")
        found = get_deal(self.chain.state, deal_id)
        bank = found.financier if found and ok else "BANK-B" if found is None or \
            found.financier == "BANK-A" else "BANK-A"
        self.step(Call(bank, "fund", {"deal_id": deal_id, "payment_ref": self.ref(reuse)}, F))

    @rule(deal=index, ok=right)
    def cancel(self, deal: int, ok: bool) -> None:
        deal_id = self.pick(self.deals, deal, "FD-0")
        found = get_deal(self.chain.state, deal_id)
        member = (found.supplier if deal % 2 else found.financier) if found and ok else "CORE-01"
        self.step(Call(member, "cancel_acceptance", {"deal_id": deal_id}, F))

    @rule(deal=index, share=st.sampled_from([1, 2, 3, 4, 0]), ok=right, reuse=st.booleans())
    def pay(self, deal: int, share: int, ok: bool, reuse: bool) -> None:
        deal_id = self.pick(self.deals, deal, "FD-0")
        found = get_deal(self.chain.state, deal_id)
        left = 1 if found is None else found.amount - found.buyer_paid - found.buyer_pending
        # 1: all that is left, 2: half, 3: one unit, 4: one too many, 0: the whole amount
        amount = {1: left, 2: left // 2, 3: 1, 4: left + 1}.get(
            share, found.amount if found else 1)
        payer = found.buyer if found and ok else "CORE-02"
        self.step(Call(payer, "pay", {"deal_id": deal_id, "amount": max(amount, 1),
                                      "payment_ref": self.ref(reuse)}, F))

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
        id_name = "deal_id" if contract == F else "acceptance_id"
        self.step(Call(member, method, {id_name: deal_id, "payment_ref": ref}, contract))

    @rule(deal=index, ok=right)
    def release(self, deal: int, ok: bool) -> None:
        deal_id = self.pick(self.deals, deal, "FD-0")
        found = get_deal(self.chain.state, deal_id)
        bank = found.financier if found and ok else "BANK-B"
        self.step(Call(bank, "release_reserve", {"deal_id": deal_id,
                                                 "payment_ref": self.ref(False)}, F))

    @rule(deal=index, default=st.booleans(), ok=right)
    def arrears(self, deal: int, default: bool, ok: bool) -> None:
        deal_id = self.pick(self.deals, deal, "FD-0")
        found = get_deal(self.chain.state, deal_id)
        bank = found.financier if found and ok else "SUPPLIER-01"
        self.step(Call(bank, "declare_default" if default else "mark_overdue",
                       {"deal_id": deal_id}, F))

    # -- dynamic discounting, offers, invoices, time -----------------------------------

    @rule(invoice=index, offer=st.integers(0, 1), ok=right)
    def dd_accept(self, invoice: int, offer: int, ok: bool) -> None:
        i = invoice % len(self.fps)
        member = self.sellers[i] if ok else ("SUPPLIER-02", "SUPPLIER-01")[i % 2]
        self.step(Call(member, "accept", {"offer_id": self.dd_offers[offer],
                                          "fingerprint": self.fps[i]}, DD))

    @rule(acceptance=index, ok=right, reuse=st.booleans())
    def dd_pay(self, acceptance: int, ok: bool, reuse: bool) -> None:
        acceptance_id = self.pick(self.acceptances, acceptance, "DA-0")
        found = dd.get_acceptance(self.chain.state, acceptance_id)
        buyer = found.buyer if found and ok else "CORE-02" if found is None or \
            found.buyer == "CORE-01" else "CORE-01"
        self.step(Call(buyer, "record_payment", {"acceptance_id": acceptance_id,
                                                 "payment_ref": self.ref(reuse)}, DD))

    @rule(offer=index, dynamic=st.booleans(), ok=st.sampled_from([True, False, False, False]))
    def withdraw(self, offer: int, dynamic: bool, ok: bool) -> None:
        if dynamic:
            offer_id = self.dd_offers[offer % 2]
            member = DD_OFFERS[offer % 2][0] if ok else DD_OFFERS[(offer + 1) % 2][0]
        else:
            offer_id = self.offers[offer % len(self.offers)]
            bank = FACTORING_OFFERS[offer % len(self.offers)][0]
            member = bank if ok else ("BANK-B" if bank == "BANK-A" else "BANK-A")
        self.step(Call(member, "withdraw_offer", {"offer_id": offer_id}, DD if dynamic else F))

    @rule(invoice=index, action=st.sampled_from(["dispute", "confirm", "place", "release",
                                                 "release", "confirm"]))
    def invoice_side(self, invoice: int, action: str) -> None:
        i = invoice % len(self.fps)
        fp, buyer = self.fps[i], POOL[i][2]
        lien = {"asset": invoice_asset(fp), "deal_id": "PLEDGE-1"}
        call = {"dispute": Call(buyer, "dispute", {"fingerprint": fp}),
                "confirm": Call(buyer, "confirm", {"fingerprint": fp}),
                "place": Call("BANK-B", "place_lien", lien, "testfin"),
                "release": Call("BANK-B", "release_lien", lien, "testfin")}[action]
        self.step(call)

    @rule(days=st.sampled_from([1, 3, 10, 30, 45]))
    def wait(self, days: int) -> None:
        self.chain.run([], step_ms=days * DAY_MS)

    @rule(invoice=index, choices=st.lists(index, min_size=1, max_size=4))
    def drive(self, invoice: int, choices: list[int]) -> None:
        """The next steps of the invoice's financing, by the right signers."""
        for choice in choices:
            call = self.next_step(invoice % len(self.fps), choice)
            if call is not None:
                days = 0
                if call.method == "mark_overdue" and choice == 7:   # let the grace run out
                    deal = get_deal(self.chain.state, call.args["deal_id"])
                    assert deal is not None
                    days = max(0, parse_date(deal.due_date) + deal.conditions.grace_days + 1
                               - parse_date(self.chain.today))
                self.step(call, days=days)

    @rule(invoice=index, choices=st.lists(index, min_size=1, max_size=4))
    def drive_again(self, invoice: int, choices: list[int]) -> None:
        self.drive(invoice, choices)

    def next_step(self, i: int, choice: int) -> Call | None:
        state, fp = self.chain.state, self.fps[i]
        invoice = get_invoice(state, fp)
        assert invoice is not None
        if invoice.status in ("registered", "disputed"):
            return Call(invoice.buyer, "confirm", {"fingerprint": fp})
        pending = [(c, d, r) for (c, d, r), (_, _, status) in sorted(self.payments.items())
                   if status == "pending"]
        deals = [d for d in (get_deal(state, x) for x in self.deals)
                 if d is not None and d.fingerprint == fp]
        live = [d for d in deals if d.status in ("accepted", "funded", "overdue", "settled")]
        deal = live[-1] if live else None
        if invoice.status == "confirmed" and (deal is None or deal.status != "accepted"
                                              or deal.accepted_date != self.chain.today):
            if choice % 4 == 3:
                return Call(invoice.seller, "accept", {
                    "offer_id": self.dd_offers[0 if invoice.buyer == "CORE-01" else 1],
                    "fingerprint": fp}, DD)
            offers = [o for o in self.offers if _applies(state, o, invoice)]
            if not offers:
                return None
            return Call(invoice.seller, "accept", {"offer_id": offers[choice % len(offers)],
                                                   "fingerprint": fp}, F)
        if deal is not None and deal.status == "accepted":
            return Call(deal.financier, "fund", {"deal_id": deal.deal_id,
                                                 "payment_ref": self.ref(False)}, F)
        ids = {deal.deal_id} if deal is not None else set(self.acceptances)
        mine = [(c, d, r) for c, d, r in pending if d in ids]
        if mine:
            contract, deal_id, ref = mine[choice % len(mine)]
            record = get_payment(state, contract, deal_id, ref)
            assert record is not None
            id_name = "deal_id" if contract == F else "acceptance_id"
            return Call(record.payee, "acknowledge_payment",
                        {id_name: deal_id, "payment_ref": ref}, contract)
        if deal is None:
            acceptances = [a for a in (dd.get_acceptance(state, x) for x in self.acceptances)
                           if a is not None and a.fingerprint == fp and a.payment_status ==
                           "unpaid"]
            if not acceptances:
                return None
            return Call(invoice.buyer, "record_payment", {
                "acceptance_id": acceptances[0].acceptance_id, "payment_ref": self.ref(False)},
                DD)
        if deal.releasable > 0 and choice % 2:
            return Call(deal.financier, "release_reserve", {"deal_id": deal.deal_id,
                                                            "payment_ref": self.ref(False)}, F)
        if (deal.status == "funded" and choice >= 6) or (deal.status == "overdue"
                                                         and choice >= 4):
            method = "mark_overdue" if deal.status == "funded" else "declare_default"
            return Call(deal.financier, method, {"deal_id": deal.deal_id}, F)
        left = deal.amount - deal.buyer_paid - deal.buyer_pending
        if deal.status == "settled" or left == 0:
            return None
        amount = (left, left // 2 or 1, deal.advance - deal.buyer_paid - deal.buyer_pending)[
            choice % 3]
        return Call(deal.buyer, "pay", {"deal_id": deal.deal_id, "amount": max(1, amount),
                                        "payment_ref": self.ref(False)}, F)

    # -- invariants ------------------------------------------------------------------

    @invariant()
    def money_is_conserved_and_payments_match_the_model(self) -> None:
        state = self.chain.state
        for (contract, deal_id, ref), (kind, amount, status) in sorted(self.payments.items()):
            record = get_payment(state, contract, deal_id, ref)
            assert record is not None
            assert (record.kind, record.amount, record.status) == (kind, amount, status)
        for deal_id in self.deals:
            deal = get_deal(state, deal_id)
            assert deal is not None
            check_deal(deal, self.records(F, deal_id))
        for acceptance_id in self.acceptances:
            acceptance = dd.get_acceptance(state, acceptance_id)
            assert acceptance is not None
            check_acceptance(acceptance, self.records(DD, acceptance_id))

    def records(self, contract: str, deal_id: str) -> list[Payment]:
        """The payment records of one deal or acceptance, as the model knows them."""
        found = [get_payment(self.chain.state, c, d, r) for c, d, r in sorted(self.payments)
                 if (c, d) == (contract, deal_id)]
        return [payment for payment in found if payment is not None]

    @invariant()
    def financed_once_and_liens_consistent(self) -> None:
        state = self.chain.state
        for asset in [invoice_asset(fp) for fp in self.fps]:
            lien = active_lien(state, asset)
            assert (None if lien is None else lien.deal_id) == self.liens.get(asset)
        deals = [get_deal(state, d) for d in self.deals]
        exposure: dict[tuple[str, str], int] = {}
        for fp in self.fps:
            invoice = get_invoice(state, fp)
            assert invoice is not None
            mine = [d for d in deals if d is not None and d.fingerprint == fp]
            funded = [d for d in mine if d.status not in ("accepted", "cancelled", "lapsed")]
            assert len(self.ever_funded.get(fp, set())) <= 1 and len(funded) <= 1
            today = [d for d in mine if d.status == "accepted" and d.accepted_date ==
                     self.chain.today]
            assert len(today) + len([d for d in funded if d.status in ("funded", "overdue")]) \
                <= 1
            discounted = [a for a in (dd.get_acceptance(state, a) for a in self.acceptances)
                          if a is not None and a.fingerprint == fp]
            assert len(discounted) <= 1 and not (discounted and funded)
            lien = active_lien(state, invoice_asset(fp))
            if funded:
                deal = funded[0]
                expected = {"funded": "assigned", "overdue": "overdue", "settled": "settled",
                            "defaulted": "defaulted"}[deal.status]
                assert invoice.status == expected
                if deal.status != "settled":
                    assert lien is not None and lien.deal_id == deal.deal_id
                    exposure[(deal.buyer, deal.financier)] = \
                        exposure.get((deal.buyer, deal.financier), 0) + \
                        (deal.status != "defaulted")
            elif discounted:
                assert invoice.status == "settled"   # (other products may still place liens)
            if invoice.status in ("assigned", "overdue", "defaulted"):
                assert funded, "an assigned invoice without a funded deal"
        for buyer in ("CORE-01", "CORE-02"):
            expected = [[bank, n] for (b, bank), n in sorted(exposure.items()) if b == buyer and n]
            assert factoring.exposure(state, buyer) == expected


FinancingMachine.TestCase.settings = settings(
    max_examples=max(10, settings.default.max_examples * 3 // 10), stateful_step_count=40,
    deadline=None)
TestFinancingMachine = FinancingMachine.TestCase
