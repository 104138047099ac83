"""A hypothesis state machine over invoices and liens, every step a real block.

Random sequences of register / confirm / dispute / consent_cancel / cancel,
and of the product-side steps (assign, settle, overdue, default, place and
release liens) by right and wrong signers, on a small pool of invoices that
are near matches of one another. After every step:

* a fingerprint is registered at most once (a repeat is DUPLICATE_INVOICE);
* an invoice's status only moves along the life cycle (`NEXT`), and a
  successful step lands exactly on the status its method targets;
* a lien is placed only on an unencumbered asset and released only by its
  deal, so no asset is ever under two liens; the register matches the model;
* a failed transaction changes nothing: the block's only writes are nonces,
  and the snapshot of invoices, liens and provenance is unchanged;
* each invoice's provenance has one entry per successful step on it.
"""

from __future__ import annotations

from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from contracts.invoices import NEXT, Status, get_invoice
from contracts.liens import active_lien, invoice_asset
from contracts.provenance import provenance_count
from ledger.types import Receipt
from tests.contracts.support import (
    Call,
    ContractChain,
    contract_changes,
    fingerprint_of,
    invoice_args,
)

POOL = [
    invoice_args("SM-1", issue_date="2026-11-20"),
    invoice_args("SM-2", issue_date="2026-11-21"),          # near match of SM-1
    invoice_args("SM-3", buyer="CORE-02", document=invoice_args("SM-1")["document_sha256"]),
]
FPS = [fingerprint_of(args) for args in POOL]
ASSETS = [invoice_asset(fp) for fp in FPS] + ["certificate:C-1", "receipt:R-1"]
LIEN_ASSETS = ASSETS[len(FPS) - 1:]   # one invoice, a certificate, a receipt
TARGET = {"confirm": Status.CONFIRMED, "dispute": Status.DISPUTED, "cancel": Status.CANCELLED,
          "assign": Status.ASSIGNED, "settle": Status.SETTLED, "overdue": Status.OVERDUE,
          "default": Status.DEFAULTED}

invoice = st.integers(0, len(POOL) - 1)
suppliers = st.sampled_from(["SUPPLIER-01", "SUPPLIER-02", "CORE-01"])
banks = st.sampled_from(["BANK-A", "BANK-B", "SUPPLIER-01"])
# weighted towards the steps that lead deeper into the life cycle
methods = st.sampled_from(["confirm", "confirm", "assign", "assign", "overdue", "overdue",
                           "default", "settle", "dispute", "consent_cancel", "cancel"])
deals = st.sampled_from(["D-1", "D-2"])


class InvoiceMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.chain = ContractChain()
        self.registered: set[bytes] = set()
        self.liens: dict[str, str] = {}          # asset -> deal, from the events
        self.steps: dict[bytes, int] = {fp: 0 for fp in FPS}
        self.sellers: dict[bytes, str] = {}

    @initialize()
    def register_the_first(self) -> None:
        self.register(0, "SUPPLIER-01")

    def snapshot(self) -> tuple[Any, ...]:
        state = self.chain.state
        return (tuple(get_invoice(state, fp) for fp in FPS),
                tuple(active_lien(state, asset) for asset in ASSETS),
                tuple(provenance_count(state, fp) for fp in FPS))

    def step(self, call: Call) -> Receipt:
        before = self.snapshot()
        receipt = self.chain.run([call])[0]
        after = self.snapshot()
        if not receipt.succeeded:
            assert contract_changes(self.chain.last_changes) == [], receipt
            assert after == before and receipt.events == ()
            return receipt
        for old, new in zip(before[0], after[0]):
            if old is not None and new is not None and old.status != new.status:
                assert Status(new.status) in NEXT[Status(old.status)], (old.status, new.status)
        for event in receipt.events:
            asset = event.attributes.get("asset")
            if event.kind == "lien.placed":
                assert asset not in self.liens, f"{asset} would be under two liens"
                self.liens[asset] = event.attributes["deal_id"]
            elif event.kind == "lien.released":
                assert self.liens.pop(asset) == event.attributes["deal_id"]
        return receipt

    def transition(self, index: int, call: Call, method: str) -> None:
        receipt = self.step(call)
        if receipt.succeeded:
            self.steps[FPS[index]] += 1
            if method in TARGET:
                found = get_invoice(self.chain.state, FPS[index])
                assert found is not None and found.status == TARGET[method]

    @rule(index=invoice, member=suppliers)
    def register(self, index: int, member: str) -> None:
        receipt = self.step(Call(member, "register", POOL[index]))
        if member == "CORE-01":
            assert receipt.code == "FORBIDDEN"
        elif FPS[index] in self.registered:
            assert receipt.code == "DUPLICATE_INVOICE"
        else:
            assert receipt.code == "OK", receipt.message
            self.registered.add(FPS[index])
            self.sellers[FPS[index]] = member
            self.steps[FPS[index]] += 1

    @rule(index=invoice, method=methods, right=st.sampled_from([True, True, True, False]),
          variant=st.integers(0, 3))
    def act(self, index: int, method: str, right: bool, variant: int) -> None:
        """One life-cycle step, by the right signer three times in four."""
        fp = FPS[index]
        args: dict[str, Any] = {"fingerprint": fp}
        contract = "testfin" if method in ("assign", "settle", "overdue", "default") else "invoices"
        if method in ("confirm", "dispute", "consent_cancel"):
            member = POOL[index]["buyer"] if right else ("CORE-02", "BANK-A")[variant % 2]
            if method == "confirm" and variant >= 2:
                args["amount"] = (99_999_999, 100_000_001)[variant - 2]
        elif method == "cancel":
            wrong = ("SUPPLIER-02", "CORE-01")[variant % 2]
            member = self.sellers.get(fp, "SUPPLIER-01") if right else wrong
        else:
            member = ("BANK-A", "BANK-B")[variant // 2] if right else "SUPPLIER-01"
            if method == "assign":
                args["deal_id"] = ("D-1", "D-2")[variant % 2]
            elif method == "settle" and variant % 3:
                args["deal_id"] = ("D-1", "D-2")[variant % 3 - 1]
        self.transition(index, Call(member, method, args, contract), method)

    @rule(index=invoice, settle=st.booleans())
    def drive(self, index: int, settle: bool) -> None:
        """The next step along the financing path, by the right signer."""
        found = get_invoice(self.chain.state, FPS[index])
        status = "unregistered" if found is None else found.status
        fp = {"fingerprint": FPS[index]}
        call = {
            "unregistered": Call("SUPPLIER-01", "register", POOL[index]),
            "registered": Call(POOL[index]["buyer"], "confirm", fp),
            "disputed": Call(POOL[index]["buyer"], "confirm", fp),
            "confirmed": Call("BANK-A", "assign", {**fp, "deal_id": "D-1"}, "testfin"),
            "assigned": Call("BANK-A", "overdue", fp, "testfin"),
            "overdue": Call("BANK-A", "settle", {**fp, "deal_id": "D-1"}, "testfin") if settle
            else Call("BANK-A", "default", fp, "testfin"),
        }.get(status)
        if call is None:
            return
        if call.method == "register":
            self.register(index, "SUPPLIER-01")
        else:
            self.transition(index, call, call.method)

    @rule(asset=st.sampled_from(LIEN_ASSETS), member=banks, deal=deals,
          method=st.sampled_from(["place_lien", "release_lien"]))
    def lien(self, asset: str, member: str, deal: str, method: str) -> None:
        self.step(Call(member, method, {"asset": asset, "deal_id": deal}, "testfin"))

    @invariant()
    def liens_match_the_model(self) -> None:
        state = self.chain.state
        for asset in ASSETS:
            lien = active_lien(state, asset)
            assert (None if lien is None else lien.deal_id) == self.liens.get(asset)

    @invariant()
    def financed_invoices_carry_a_lien_and_history_is_complete(self) -> None:
        state = self.chain.state
        for fp in FPS:
            found = get_invoice(state, fp)
            assert (found is not None) == (fp in self.registered)
            if found is not None and found.status in ("assigned", "overdue", "defaulted"):
                assert active_lien(state, invoice_asset(fp)) is not None
            assert provenance_count(state, fp) == self.steps[fp]


InvoiceMachine.TestCase.settings = settings(
    max_examples=max(10, settings.default.max_examples // 2), stateful_step_count=40,
    deadline=None)
TestInvoiceMachine = InvoiceMachine.TestCase
