"""The consortium state machine's world: members, trades, offers, and the bookkeeping
that follows a run's events (tests/contracts/test_consortium_machine.py holds the
rules and the invariants)."""


from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import event as note_event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize

from contracts import risk
from contracts.calendar import block_date
from contracts.repayment import Payment, get_payment
from ledger import codec
from ledger.contract_api import contract_prefix
from ledger.state import StateReader
from ledger.types import Receipt
from tests.contracts.support import DAY_MS, Call
from tests.contracts.test_factoring_support import DD, F, offer_args
from tests.contracts.test_payables_support import assert_rejected_changed_nothing
from tests.contracts.test_pledge_support import GOODS, WR
from tests.contracts.test_risk_products import GENESIS, ConsortiumChain

# (seller, buyer, due date, face): the invoices the consortium trades
TRADES = [("SUPPLIER-01", "CORE-01", "2027-01-20", 100_000_000),
          ("SUPPLIER-02", "CORE-01", "2026-12-31", 37_000_001),
          ("SUPPLIER-01", "CORE-02", "2027-02-21", 99_999_999),
          ("TRADER-A", "TRADER-B", "2027-01-05", 5_000_000),
          ("TRADER-B", "TRADER-A", "2027-01-05", 4_000_000)]
FACTORING_OFFERS = [("BANK-A", {"fee": 10_000}),
                    ("BANK-B", {"supplier": None, "reverse": True, "buyer": "CORE-02",
                                "advance_bps": 9000, "recourse": False, "grace_days": 0}),
                    ("BANK-B", {"supplier": "SUPPLIER-02", "rate_bps": 999, "basis": 360})]
BANKS = ["BANK-A", "BANK-B"]
MEMBERS = [member.member_id for member in GENESIS.members]
OBLIGORS = ["CORE-01", "CORE-02", "DISTRIBUTOR-01", "SUPPLIER-01", "SUPPLIER-02"]
FREEZABLE = ["CORE-02", "SUPPLIER-02", "DISTRIBUTOR-01"]
OTHER = {"SUPPLIER-01": "SUPPLIER-02", "SUPPLIER-02": "SUPPLIER-01", "CORE-01": "CORE-02",
         "CORE-02": "CORE-01", "BANK-A": "BANK-B", "BANK-B": "BANK-A",
         "DISTRIBUTOR-01": "SUPPLIER-01", "WAREHOUSE-01": "WAREHOUSE-02",
         "WAREHOUSE-02": "WAREHOUSE-01", "TRADER-A": "TRADER-B", "TRADER-B": "TRADER-A",
         "TRADER-C": "TRADER-A"}
# funding event -> (risk product, the attribute naming the deal booked)
FUNDINGS = {"factoring.funded": ("factoring", "deal_id"), "pledge.funded": ("pledge", "deal_id"),
            "prepayment.funded": ("prepayment", "deal_id"),
            "payables.discounted": ("payables", "new_part_id")}
ID_ATTRIBUTES = ("deal_id", "acceptance_id", "discount_id", "part_id")

#: what the run reached, over every example: "<contract>.<method> <code>" for every
#: transaction sent, and "event <kind>" for every event of an accepted one
TALLY: Counter[str] = Counter()

index = st.integers(0, 15)
right = st.sampled_from([True, True, True, True, False])


class ConsortiumBase(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.chain = ConsortiumChain()
        self.fps: list[bytes] = []
        self.offers: list[str] = []
        self.dd_offer = ""
        self.deals: list[str] = []               # factoring
        self.acceptances: list[str] = []
        self.certificates: list[str] = []
        self.parts: list[str] = []
        self.discounts: list[str] = []
        self.receipts: list[str] = []
        self.pledges: list[str] = []
        self.prepayments: list[str] = []
        self.refs: dict[tuple[str, str], list[str]] = {}   # (contract, record id) -> refs
        self.liens: dict[str, str] = {}                     # asset -> deal, from events
        self.counter = 0

    @initialize()
    def setup(self) -> None:
        for bank, changes in FACTORING_OFFERS:
            self.step(Call(bank, "offer", offer_args(**changes), F))
        self.step(Call("CORE-01", "publish_offer", {"table": [[5, 500], [30, 900]],
                                                    "basis": 360, "expiry_date": "2027-03-31"},
                       DD))
        for owner, warehouse in (("DISTRIBUTOR-01", "WAREHOUSE-01"),
                                 ("SUPPLIER-01", "WAREHOUSE-02")):
            self.step(Call(warehouse, "issue", {"owner": owner, "goods": GOODS, "quantity": 100,
                                                "unit_value": 400_000, "currency": "CNY"}, WR))
        for n in range(3):
            self.trade(n, True)

    # -- the step and the event model --------------------------------------------------

    def step(self, call: Call, *, days: int = 0) -> Receipt:
        before = risk_books(self.chain.state)
        receipt = self.chain.run([call], step_ms=1000 + days * DAY_MS)[0]
        outcome = f"{call.contract}.{call.method} {receipt.code}"
        TALLY[outcome] += 1
        note_event(outcome)
        for found in receipt.events:
            TALLY["event " + found.kind] += 1
        if not receipt.succeeded:
            assert_rejected_changed_nothing(self.chain, receipt,  # type: ignore[arg-type]
                                            call.member)
            return receipt
        for event in receipt.events:
            self.observe(event.kind, event.attributes)
        self.check_limits(before)
        return receipt

    def observe(self, kind: str, attributes: dict[str, Any]) -> None:
        """Replays one event of a successful transaction onto the model."""
        found = {"factoring.offered": self.offers, "factoring.accepted": self.deals,
                 "dynamic_discounting.accepted": self.acceptances,
                 "payables.issued": self.certificates,
                 "payables.discount_requested": self.discounts,
                 "receipt.issued": self.receipts, "pledge.applied": self.pledges,
                 "prepayment.applied": self.prepayments}
        attribute = {"factoring.offered": "offer_id", "dynamic_discounting.accepted":
                     "acceptance_id", "payables.issued": "certificate_id",
                     "payables.discount_requested": "discount_id",
                     "receipt.issued": "receipt_id"}.get(kind, "deal_id")
        if kind in found:
            found[kind].append(attributes[attribute])
        if kind == "dynamic_discounting.offer_published":
            self.dd_offer = attributes["offer_id"]
        if kind == "pledge.funded" and attributes["origin"] is not None:
            self.pledges.append(attributes["deal_id"])        # a delivered prepayment
        if kind.startswith("payables."):
            for attr in ("part_id", "new_part_id"):
                if isinstance(attributes.get(attr), str) and attributes[attr] not in self.parts:
                    self.parts.append(attributes[attr])
            for part in attributes.get("parts", []) if kind == "payables.split" else []:
                self.parts.append(part)
        if kind == "lien.placed":
            assert attributes["asset"] not in self.liens, "an asset under two liens"
            self.liens[attributes["asset"]] = attributes["deal_id"]
        elif kind == "lien.released":
            assert self.liens.pop(attributes["asset"]) == attributes["deal_id"]
        if "payment_ref" in attributes:
            self.note_payment(kind.split(".")[0], attributes)
        if kind in FUNDINGS:
            product, attr = FUNDINGS[kind]
            self.check_booked(product, attributes[attr])

    def note_payment(self, contract: str, attributes: dict[str, Any]) -> None:
        ref = attributes["payment_ref"]
        for attr in ID_ATTRIBUTES:
            record_id = attributes.get(attr)
            if isinstance(record_id, str) and get_payment(self.chain.state, contract, record_id,
                                                          ref) is not None:
                refs = self.refs.setdefault((contract, record_id), [])
                if ref not in refs:
                    refs.append(ref)

    def check_booked(self, product: str, deal_id: str) -> None:
        """The financing just accepted is booked by risk."""
        data = self.chain.state.get(contract_prefix("risk") + b"deal/" + risk.key(product, deal_id))
        assert data is not None, f"{product} {deal_id} funded but not booked by risk"
        assert codec.decode(data)[4] > 0  # type: ignore[index]

    def check_limits(self, before: dict[tuple[str, ...], int]) -> None:
        """No limit is exceeded after an accepted transaction: every outstanding it raised
        is within its credit limit and concentration limit, every supplier's financed
        outstanding it raised within the supplier cap, as the limits stand now. (An
        outstanding that did not rise is not re-checked: a repayment elsewhere or a
        tighter parameter may leave a position above a ratio, docs/risk-controls.md.)"""
        state = self.chain.state
        after = risk_books(state)
        today = block_date(self.chain.store.tip().time_ms)
        bps = risk.param(state, "concentration_bps")
        floor = risk.param(state, "concentration_floor")
        for book, value in sorted(after.items()):
            if value <= before.get(book, 0):
                continue
            if book[0] == "out":
                _, financier, obligor = book
                limit = risk.credit_limit(state, financier, obligor, "CNY")
                assert limit is None or value <= limit, (book, value, limit)
                total = risk.financier_total(state, financier, "CNY")
                assert not bps or total <= floor or value * 10_000 <= bps * total, (book, total)
            else:
                cap = risk.supplier_cap(state, book[1], "CNY", today)
                assert cap is None or value <= cap, (book, value, cap)

    def settle(self, receipt: Receipt, contract: str, record_id: str) -> None:
        """Right after a payment was recorded: its payee acknowledges it."""
        if not receipt.succeeded:
            return
        ref = next(e.attributes["payment_ref"] for e in receipt.events
                   if "payment_ref" in e.attributes)
        payment = get_payment(self.chain.state, contract, record_id, ref)
        assert payment is not None
        id_arg = "acceptance_id" if contract == DD else "deal_id"
        self.step(Call(payment.payee, "acknowledge_payment",
                       {id_arg: record_id, "payment_ref": ref}, contract))

    def check_all(self) -> None:
        """Every invariant of the machine (the machine defines them; guided rules
        call this between the transactions they send)."""

    def ref(self) -> str:
        self.counter += 1
        return f"REF-{self.counter}"

    def signer(self, member: str, ok: bool) -> str:
        return member if ok else OTHER.get(member, "AUDITOR-01")

    @staticmethod
    def pick(items: list[str], choice: int) -> str | None:
        return items[choice % len(items)] if items else None

    # -- trade ---------------------------------------------------------------------------

    # -- invariants ----------------------------------------------------------------------

    def payments(self, contract: str, record_id: str) -> list[Payment]:
        found = [get_payment(self.chain.state, contract, record_id, ref)
                 for ref in self.refs.get((contract, record_id), [])]
        assert all(p is not None for p in found)
        return [p for p in found if p is not None]


def risk_books(state: StateReader) -> dict[tuple[str, ...], int]:
    """Every non-zero outstanding in CNY: ("out", financier, obligor) and
    ("supplier", supplier)."""
    books: dict[tuple[str, ...], int] = {}
    for member in MEMBERS:
        for bank in BANKS:
            if value := risk.outstanding(state, bank, member, "CNY"):
                books[("out", bank, member)] = value
        if value := risk.supplier_outstanding(state, member, "CNY"):
            books[("supplier", member)] = value
    return books
