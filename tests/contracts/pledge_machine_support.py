"""The pledge state machine's world and bookkeeping (tests/contracts/test_pledge_machine.py
holds its rules and invariants)."""


from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize

from contracts import pledge, prepayment
from contracts import warehouse_receipts as wr
from contracts.liens import active_lien
from contracts.pledge_records import DEAL_NEXT as PLEDGE_NEXT
from contracts.pledge_records import DealStatus as PledgeStatus
from contracts.prepayment import DEAL_NEXT as PREPAYMENT_NEXT
from contracts.prepayment import DealStatus as PrepaymentStatus
from contracts.repayment import Payment, get_payment
from contracts.warehouse_receipts import RECEIPT_NEXT, ReceiptStatus
from ledger.types import Receipt
from tests.contracts.support import DAY_MS, Call, contract_changes
from tests.contracts.test_pledge_support import GOODS, PL, PP, WR, PledgeChain

# (owner, quantity, unit value, warehouse)
RECEIPTS = [("DISTRIBUTOR-01", 1000, 400_000, "WAREHOUSE-01"),
            ("SUPPLIER-01", 50, 3_000_001, "WAREHOUSE-02"),
            ("DISTRIBUTOR-01", 7, 999_999, "WAREHOUSE-02")]
TERMS = {"ltv_bps": 7000, "rate_bps": 900, "basis": 360, "maintenance_bps": 8500,
         "cure_days": 2, "grace_days": 3, "penalty_rate_bps": 2400}
LIVE_PLEDGE = ("applied", "funded", "defaulted")
OTHER = {"BANK-A": "BANK-B", "BANK-B": "BANK-A", "WAREHOUSE-01": "WAREHOUSE-02",
         "WAREHOUSE-02": "WAREHOUSE-01", "DISTRIBUTOR-01": "SUPPLIER-01",
         "SUPPLIER-01": "DISTRIBUTOR-01", "SUPPLIER-02": "DISTRIBUTOR-01",
         "CORE-01": "CORE-02", "CORE-02": "CORE-01"}

index = st.integers(0, 7)
right = st.sampled_from([True, True, True, False])


class PledgeMachineBase(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.chain = PledgeChain()
        self.receipts: list[str] = []
        self.deals: list[str] = []                  # pledge deals
        self.prepayments: list[str] = []
        # (contract, deal id, ref) -> [kind, amount, status], from successful steps only
        self.payments: dict[tuple[str, str, str], list[Any]] = {}
        self.liens: dict[str, str] = {}             # asset -> deal, replayed from lien events
        self.goods_out: dict[str, int] = {}         # receipt -> units released, from events
        self.deal_out: dict[str, int] = {}          # pledge deal -> units released
        self.refs = 0

    @initialize()
    def setup(self) -> None:
        for owner, quantity, unit_value, warehouse in RECEIPTS:
            self.step(Call(warehouse, "issue", {"owner": owner, "goods": GOODS,
                                                "quantity": quantity, "unit_value": unit_value,
                                                "currency": "CNY"}, WR))

    # -- the step and its checks ---------------------------------------------------

    def snapshot(self) -> tuple[Any, ...]:
        state = self.chain.state
        return (tuple(wr.get_receipt(state, r) for r in self.receipts),
                tuple(active_lien(state, wr.receipt_asset(r)) for r in self.receipts),
                tuple(pledge.get_deal(state, d) for d in self.deals),
                tuple(prepayment.get_deal(state, d) for d in self.prepayments),
                tuple(get_payment(state, *key) for key in sorted(self.payments)),
                tuple(pledge.exposure(state, m) for m in ("DISTRIBUTOR-01", "SUPPLIER-01",
                                                          "SUPPLIER-02", "BANK-A", "BANK-B")),
                tuple(prepayment.exposure(state, m) for m in ("CORE-01", "CORE-02")))

    def step(self, call: Call, *, days: int = 0) -> Receipt:
        before = self.snapshot()
        receipt = self.chain.run([call], step_ms=1000 + days * DAY_MS)[0]
        after = self.snapshot()
        if not receipt.succeeded:
            assert receipt.code != "CONTRACT_BUG", receipt
            assert contract_changes(self.chain.last_changes) == [], receipt
            assert after == before and receipt.events == ()
            return receipt
        for old, new, table, kind in (
                *((o, n, RECEIPT_NEXT, ReceiptStatus) for o, n in zip(before[0], after[0])),
                *((o, n, PLEDGE_NEXT, PledgeStatus) for o, n in zip(before[2], after[2])),
                *((o, n, PREPAYMENT_NEXT, PrepaymentStatus) for o, n in
                  zip(before[3], after[3]))):
            if old.status != new.status:
                assert kind(new.status) in table[kind(old.status)], (old.status, new.status)
        for event in receipt.events:
            self.record(event.kind, event.attributes)
        return receipt

    def record(self, kind: str, attributes: dict[str, Any]) -> None:
        """Replays one event of a successful transaction onto the model."""
        if kind == "lien.placed":
            assert attributes["asset"] not in self.liens, "an asset under two liens"
            self.liens[attributes["asset"]] = attributes["deal_id"]
        elif kind == "lien.released":
            assert self.liens.pop(attributes["asset"]) == attributes["deal_id"]
        elif kind == "receipt.issued":
            self.receipts.append(attributes["receipt_id"])
        elif kind == "receipt.goods_released":
            receipt_id = attributes["receipt_id"]
            self.goods_out[receipt_id] = self.goods_out.get(receipt_id, 0) + \
                attributes["quantity"]
        elif kind == "pledge.applied":
            self.deals.append(attributes["deal_id"])
        elif kind == "pledge.funded" and attributes["origin"] is None:
            self.payments[(PL, attributes["deal_id"], attributes["payment_ref"])] = [
                "funding", attributes["principal"], "pending"]
        elif kind == "pledge.funded":
            self.deals.append(attributes["deal_id"])
        elif kind == "pledge.released":
            self.deal_out[attributes["deal_id"]] = self.deal_out.get(attributes["deal_id"], 0) \
                + attributes["quantity"]
        elif kind == "prepayment.applied":
            self.prepayments.append(attributes["deal_id"])
        elif kind == "prepayment.funded":
            self.payments[(PP, attributes["deal_id"], attributes["payment_ref"])] = [
                "funding", attributes["amount"], "pending"]
        elif kind.endswith(".payment_recorded"):
            key = (kind.split(".")[0], attributes["deal_id"], attributes["payment_ref"])
            assert key not in self.payments
            self.payments[key] = [attributes["kind"], attributes["amount"], "pending"]
        elif kind.endswith((".payment_acknowledged", ".payment_rejected")):
            key = (kind.split(".")[0], attributes["deal_id"], attributes["payment_ref"])
            model = self.payments[key]
            assert model[2] == "pending" and model[:2] == [attributes["kind"],
                                                           attributes["amount"]]
            model[2] = attributes["payment_status"]

    def ref(self, reuse: bool) -> str:
        if not reuse:
            self.refs += 1
        return f"REF-{self.refs}"

    def deal(self, choice: int) -> pledge.PledgeDeal | None:
        return pledge.get_deal(self.chain.state, self.deals[choice % len(self.deals)]) \
            if self.deals else None

    def prepaid(self, choice: int) -> prepayment.PrepaymentDeal | None:
        return prepayment.get_deal(self.chain.state,
                                   self.prepayments[choice % len(self.prepayments)]) \
            if self.prepayments else None

    def status(self, deal_id: str) -> str:
        deal = pledge.get_deal(self.chain.state, deal_id)
        assert deal is not None
        return deal.status

    def unit_value(self, deal: pledge.PledgeDeal) -> int:
        return self.receipt_of(deal.receipt_id).unit_value

    def receipt_of(self, receipt_id: str) -> wr.Receipt:
        found = wr.get_receipt(self.chain.state, receipt_id)
        assert found is not None
        return found

    def receipt(self, choice: int) -> wr.Receipt:
        found = wr.get_receipt(self.chain.state, self.receipts[choice % len(self.receipts)])
        assert found is not None
        return found

    # -- pledge ------------------------------------------------------------------------

    def records(self, contract: str, deal_id: str) -> list[Payment]:
        found = [get_payment(self.chain.state, c, d, r) for c, d, r in sorted(self.payments)
                 if (c, d) == (contract, deal_id)]
        return [payment for payment in found if payment is not None]
