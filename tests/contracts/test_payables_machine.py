"""A hypothesis state machine over payable certificates, with factoring competing.

Random sequences, every step a real block, of: issues (full, partial, above
the amount due), splits (with amounts that add up or not), transfers,
discount requests, withdrawals and fundings, the issuer's payments,
acknowledgements and rejections, overdue and default; factoring of the
same invoices; other products' liens on invoices, certificates and parts;
and time passing past maturity — each by the right signer most of the time,
on parts that may already be spent. After every step:

* a rejected transaction left the state root exactly as its nonce alone
  would, and emitted nothing;
* the live parts (the leaves) of every certificate sum to its amount, the
  tree is linked both ways, every part's lineage reaches its invoice, and
  the counters, discounts and payments conserve money
  (test_payables_support.check_certificate);
* a part is spent once: no two successful transactions spend the same part,
  and the spent parts are exactly those the model saw spent;
* no asset is ever under two liens (lien events replay onto a model that
  refuses a second one), and the state's liens are the model's;
* an invoice is financed once: never both backing a certificate and
  factored; exposure counts the financiers' unpaid discounted parts.
"""

from __future__ import annotations

from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from contracts import factoring
from contracts.calendar import parse_date
from contracts.invoices import NEXT, Status, get_invoice
from contracts.liens import active_lien, invoice_asset
from contracts.payables_records import (
    PART_NEXT,
    PartStatus,
    certificate_of_invoice,
    certificate_parts,
    exposure,
    get_certificate,
    get_discount,
    get_part,
)
from contracts.repayment import get_payment
from ledger.state import StateReader
from ledger.types import Receipt
from tests.contracts.support import DAY_MS, Call
from tests.contracts.test_factoring_support import F, created, offer_args, register_confirmed
from tests.contracts.test_payables_support import (
    P,
    PayablesChain,
    assert_rejected_changed_nothing,
    check_certificate,
)

# (number, seller, buyer, due date, face, confirmed amount)
# C-1 gets its certificate at setup; C-2 and C-3 are competed for by factoring.
POOL = [("C-1", "SUPPLIER-01", "CORE-01", "2027-01-20", 100_000_000, None),
        ("C-2", "SUPPLIER-02", "CORE-01", "2027-01-31", 37_000_001, None),
        ("C-3", "SUPPLIER-01", "CORE-02", "2026-12-31", 99_999_999, 88_888_888)]
MEMBERS = ["SUPPLIER-01", "SUPPLIER-02", "CORE-01", "CORE-02", "BANK-A", "BANK-B"]
OTHER = {"SUPPLIER-01": "SUPPLIER-02", "SUPPLIER-02": "SUPPLIER-01", "CORE-01": "CORE-02",
         "CORE-02": "CORE-01", "BANK-A": "BANK-B", "BANK-B": "BANK-A"}
SPENDING = ("payables.split", "payables.transferred", "payables.discounted")

index = st.integers(0, 15)
right = st.sampled_from([True, True, True, False])


class PayablesMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.chain = PayablesChain()
        self.fps: list[bytes] = []
        self.offers: list[str] = []
        self.certificates: list[str] = []
        self.parts: list[str] = []                 # every part ever created, in order
        self.spent: set[str] = set()
        self.discounts: list[str] = []
        self.refs: dict[str, list[str]] = {}       # part or discount id -> payment refs
        self.liens: dict[str, str] = {}            # asset -> deal, from lien events
        self.factored: set[bytes] = set()
        self.counter = 0

    @initialize()
    def setup(self) -> None:
        for number, seller, buyer, due, face, confirm in POOL:
            self.fps.append(register_confirmed(self.chain, number, due_date=due, amount=face,
                                               confirm=confirm, seller=seller, buyer=buyer))
        for bank, changes in (("BANK-A", {}), ("BANK-B", {"supplier": None, "reverse": True,
                                                          "buyer": "CORE-01"})):
            receipt = self.chain.do(bank, F, "offer", **offer_args(**changes))
            self.offers.append(created(receipt, "factoring.offered", "offer_id"))
        self.step(Call("CORE-01", "issue", {"fingerprint": self.fps[0], "grace_days": 2,
                                            "penalty_rate_bps": 1800}, P))
        assert self.certificates

    # -- the step and its checks ---------------------------------------------------

    def step(self, call: Call, *, days: int = 0) -> Receipt:
        before = [get_invoice(self.chain.state, fp) for fp in self.fps]
        parts_before = {p: get_part(self.chain.state, p) for p in self.parts}
        receipt = self.chain.run([call], step_ms=1000 + days * DAY_MS)[0]
        if not receipt.succeeded:
            assert_rejected_changed_nothing(self.chain, receipt, call.member)
            return receipt
        for old, fp in zip(before, self.fps):
            new = get_invoice(self.chain.state, fp)
            assert old is not None and new is not None
            if old.status != new.status:
                assert Status(new.status) in NEXT[Status(old.status)]
        for part_id, old_part in sorted(parts_before.items()):
            new_part = get_part(self.chain.state, part_id)
            assert old_part is not None and new_part is not None
            if old_part.status != new_part.status:
                assert PartStatus(new_part.status) in PART_NEXT[PartStatus(old_part.status)]
        for event in receipt.events:
            self.observe(event.kind, event.attributes)
        return receipt

    def observe(self, kind: str, attributes: dict[str, Any]) -> None:
        if kind == "lien.placed":
            assert attributes["asset"] not in self.liens, "an asset under two liens"
            self.liens[attributes["asset"]] = attributes["deal_id"]
        elif kind == "lien.released":
            assert self.liens.pop(attributes["asset"]) == attributes["deal_id"]
        elif kind == "payables.issued":
            self.certificates.append(attributes["certificate_id"])
            self.parts.append(attributes["part_id"])
        elif kind in SPENDING:
            assert attributes["part_id"] not in self.spent, "a part spent twice"
            self.spent.add(attributes["part_id"])
            self.parts += attributes.get("parts") or [attributes["new_part_id"]]
            if kind == "payables.discounted":
                self.refs.setdefault(attributes["discount_id"], []).append(
                    attributes["payment_ref"])
        elif kind == "payables.discount_requested":
            self.discounts.append(attributes["discount_id"])
        elif kind == "payables.payment_recorded":
            self.refs.setdefault(attributes["part_id"], []).append(attributes["payment_ref"])
        elif kind == "factoring.funded":
            self.factored.add(bytes.fromhex(attributes["fingerprint"]))

    def ref(self, reuse: bool) -> str:
        self.counter += not reuse
        return f"REF-{self.counter}"

    def part(self, choice: int, live: bool) -> str:
        """A part: among the unspent ones when `live`, else any (spent ones included)."""
        pool = [p for p in self.parts if p not in self.spent] if live else self.parts
        return pool[choice % len(pool)] if pool else "PP-" + "0" * 64 + "-0"

    def record(self, part_id: str) -> Any:
        return get_part(self.chain.state, part_id)

    # -- issue and factoring -----------------------------------------------------------

    @rule(invoice=index, ok=right, amount=st.sampled_from([None, None, 1, 2, 3]))
    def issue(self, invoice: int, ok: bool, amount: int | None) -> None:
        i = invoice % len(self.fps)
        buyer = POOL[i][2] if ok else OTHER[POOL[i][2]]
        face = POOL[i][5] or POOL[i][4]
        args: dict[str, Any] = {"fingerprint": self.fps[i], "grace_days": i,
                                "penalty_rate_bps": 1000 * i, "basis": (365, 360)[i % 2]}
        if amount is not None:
            args["amount"] = {1: face // 3, 2: face, 3: face + 1}[amount]
        self.step(Call(buyer, "issue", args, P))

    @rule(invoice=index, offer=st.integers(0, 1))
    def factor(self, invoice: int, offer: int) -> None:
        i = invoice % len(self.fps)
        receipt = self.step(Call(POOL[i][1], "accept", {"offer_id": self.offers[offer],
                                                        "fingerprint": self.fps[i]}, F))
        if receipt.succeeded:
            deal = created(receipt, "factoring.accepted", "deal_id")
            bank = ("BANK-A", "BANK-B")[offer]
            self.step(Call(bank, "fund", {"deal_id": deal, "payment_ref": self.ref(False)}, F))

    # -- spending parts ----------------------------------------------------------------

    @rule(part=index, weights=st.lists(st.integers(1, 4), min_size=2, max_size=4),
          mismatch=st.sampled_from([0, 0, 0, 1, -1]), ok=right)
    def split(self, part: int, weights: list[int], mismatch: int, ok: bool) -> None:
        part_id = self.part(part, live=ok)
        found = self.record(part_id)
        amount = found.amount if found else 10
        amounts = [amount * w // sum(weights) for w in weights]
        amounts[-1] += amount - sum(amounts) + mismatch
        holder = found.holder if found and ok else "SUPPLIER-02"
        self.step(Call(holder, "split", {"part_id": part_id,
                                         "amounts": [max(a, 0) for a in amounts]}, P))

    @rule(part=index, to=st.sampled_from(MEMBERS), ok=right)
    def transfer(self, part: int, to: str, ok: bool) -> None:
        part_id = self.part(part, live=ok)
        found = self.record(part_id)
        holder = found.holder if found and ok else "SUPPLIER-01"
        if ok and found and to == holder:
            to = OTHER[to]
        self.step(Call(holder, "transfer", {"part_id": part_id, "to": to}, P))

    @rule(part=index, bank=st.sampled_from(["BANK-A", "BANK-B", "SUPPLIER-02"]),
          rate=st.sampled_from([0, 350, 600, 10_000]), fee=st.sampled_from([0, 0, 1, 10**8]),
          ok=right)
    def request_discount(self, part: int, bank: str, rate: int, fee: int, ok: bool) -> None:
        part_id = self.part(part, live=ok)
        found = self.record(part_id)
        holder = found.holder if found and ok else "SUPPLIER-02"
        self.step(Call(holder, "request_discount", {
            "part_id": part_id, "financier": bank, "rate_bps": rate, "fee": fee,
            "basis": 360 if rate == 350 else 365}, P))

    @rule(discount=index, ok=right, reuse=st.booleans(), withdraw=st.booleans())
    def fund_or_withdraw(self, discount: int, ok: bool, reuse: bool, withdraw: bool) -> None:
        discount_id = self.discounts[discount % len(self.discounts)] if self.discounts \
            else "PD-" + "0" * 64
        found = get_discount(self.chain.state, discount_id)
        if withdraw:
            member = found.seller if found and ok else "SUPPLIER-01"
            self.step(Call(member, "withdraw_discount", {"discount_id": discount_id}, P))
            return
        bank = found.financier if found and ok else "BANK-B"
        self.step(Call(bank, "fund_discount", {"discount_id": discount_id,
                                               "payment_ref": self.ref(reuse)}, P))

    # -- maturity ----------------------------------------------------------------------

    @rule(part=index, ok=right, reuse=st.booleans())
    def pay(self, part: int, ok: bool, reuse: bool) -> None:
        part_id = self.part(part, live=ok)
        found = self.record(part_id)
        issuer = "CORE-02" if found is None else _issuer(self.chain.state, found.certificate_id)
        self.step(Call(issuer if ok else OTHER[issuer], "pay",
                       {"part_id": part_id, "payment_ref": self.ref(reuse)}, P))

    @rule(choice=index, acknowledge=st.sampled_from([True, True, False]), ok=right)
    def close(self, choice: int, acknowledge: bool, ok: bool) -> None:
        keys = [(deal, ref) for deal in sorted(self.refs) for ref in self.refs[deal]]
        if not keys:
            return
        deal, ref = keys[choice % len(keys)]
        payment = get_payment(self.chain.state, P, deal, ref)
        assert payment is not None
        member = payment.payee if ok else payment.payer
        method = "acknowledge_payment" if acknowledge else "reject_payment"
        self.step(Call(member, method, {"deal_id": deal, "payment_ref": ref}, P))

    @rule(part=index, default=st.booleans(), ok=right)
    def arrears(self, part: int, default: bool, ok: bool) -> None:
        part_id = self.part(part, live=True)
        found = self.record(part_id)
        member = found.holder if found and ok else "BANK-B"
        self.step(Call(member, "declare_default" if default else "mark_overdue",
                       {"part_id": part_id}, P))

    # -- other products' liens, time ---------------------------------------------------

    @rule(choice=index, place=st.booleans(), what=st.sampled_from(["invoice", "cert", "part"]))
    def other_lien(self, choice: int, place: bool, what: str) -> None:
        if what == "invoice":
            asset = invoice_asset(self.fps[choice % len(self.fps)])
        elif what == "cert" and self.certificates:
            asset = "certificate:" + self.certificates[choice % len(self.certificates)]
        else:
            asset = "certificate:" + self.part(choice, live=True)
        self.step(Call("BANK-B", "place_lien" if place else "release_lien",
                       {"asset": asset, "deal_id": "PLEDGE-1"}, "testfin"))

    @rule(days=st.sampled_from([1, 2, 5, 20]))
    def wait(self, days: int) -> None:
        self.chain.run([], step_ms=days * DAY_MS)

    @rule(part=index, choice=index)
    def drive(self, part: int, choice: int) -> None:
        """The next sensible step for an unpaid part, by the right signers."""
        found = self.record(self.part(part, live=True))
        if found is None or found.status not in ("live", "discounted", "overdue"):
            return
        certificate = get_certificate(self.chain.state, found.certificate_id)
        assert certificate is not None
        mature = parse_date(self.chain.today) >= parse_date(certificate.maturity_date)
        if not mature and found.status == "live" and choice % 4 < 3:
            self.spend(found, choice)
        elif not mature:
            self.chain.run([], step_ms=self.chain.on(certificate.maturity_date))
        elif found.pending_ref is not None:
            method = "reject_payment" if choice % 5 == 0 else "acknowledge_payment"
            self.step(Call(found.holder, method, {"deal_id": found.part_id,
                                                  "payment_ref": found.pending_ref}, P))
        elif found.status == "overdue" and found.origin == "discount" and choice % 2:
            self.step(Call(found.holder, "declare_default", {"part_id": found.part_id}, P))
        elif found.status != "overdue" and choice % 3 == 0:
            days = max(0, parse_date(certificate.maturity_date) + certificate.grace_days + 1
                       - parse_date(self.chain.today))
            self.step(Call(found.holder, "mark_overdue", {"part_id": found.part_id}, P),
                      days=days)
        else:
            self.step(Call(certificate.issuer, "pay", {"part_id": found.part_id,
                                                       "payment_ref": self.ref(False)}, P))

    def spend(self, found: Any, choice: int) -> None:
        if choice % 4 == 0 and found.amount >= 2:
            self.step(Call(found.holder, "split", {"part_id": found.part_id, "amounts": [
                found.amount // 2, found.amount - found.amount // 2]}, P))
        elif choice % 4 == 1:
            self.step(Call(found.holder, "transfer", {"part_id": found.part_id,
                                                      "to": OTHER[found.holder]}, P))
        else:
            bank = ("BANK-A", "BANK-B")[choice % 2]
            receipt = self.step(Call(found.holder, "request_discount", {
                "part_id": found.part_id, "financier": bank, "rate_bps": 450 + choice,
                "fee": choice}, P))
            if receipt.succeeded:
                discount_id = created(receipt, "payables.discount_requested", "discount_id")
                self.step(Call(bank, "fund_discount", {"discount_id": discount_id,
                                                       "payment_ref": self.ref(False)}, P))

    @rule(part=index, choices=st.lists(index, min_size=1, max_size=6))
    def drive_more(self, part: int, choices: list[int]) -> None:
        for choice in choices:
            self.drive(part + choice, choice)

    # -- invariants ------------------------------------------------------------------

    @invariant()
    def certificates_hold_their_invariants(self) -> None:
        state = self.chain.state
        seen: list[str] = []
        for certificate_id in self.certificates:
            check_certificate(state, certificate_id, self.refs)
            seen += [p.part_id for p in certificate_parts(state, certificate_id)]
        assert sorted(seen) == sorted(self.parts), "a part outside every certificate tree"
        spent = {p.part_id for c in self.certificates for p in certificate_parts(state, c)
                 if p.status == "spent"}
        assert spent == self.spent

    @invariant()
    def liens_and_single_financing(self) -> None:
        state = self.chain.state
        assets = [invoice_asset(fp) for fp in self.fps]
        assets += ["certificate:" + c for c in self.certificates]
        assets += ["certificate:" + p for p in self.parts]
        for asset in assets:
            lien = active_lien(state, asset)
            assert (None if lien is None else lien.deal_id) == self.liens.get(asset)
        for fp in self.fps:
            certified = certificate_of_invoice(state, fp) is not None
            assert not (certified and fp in self.factored), "an invoice financed twice"
            deal = factoring.latest_deal(state, fp)
            if certified and deal is not None:
                assert deal.status not in ("funded", "overdue", "settled", "defaulted")
        held: dict[tuple[str, str], int] = {}
        for part_id in self.parts:
            part = get_part(state, part_id)
            assert part is not None
            if part.origin == "discount" and part.status in ("discounted", "overdue"):
                key = (_issuer(state, part.certificate_id), part.holder)
                held[key] = held.get(key, 0) + 1
        for issuer in ("CORE-01", "CORE-02"):
            expected = [[bank, n] for (who, bank), n in sorted(held.items()) if who == issuer]
            assert exposure(state, issuer) == expected


def _issuer(state: StateReader, certificate_id: str) -> str:
    certificate = get_certificate(state, certificate_id)
    assert certificate is not None
    return certificate.issuer


PayablesMachine.TestCase.settings = settings(
    max_examples=max(10, settings.default.max_examples * 3 // 10), stateful_step_count=40,
    deadline=None)
TestPayablesMachine = PayablesMachine.TestCase
