"""What an auditor's replay counts: transactions by type and outcome, product totals.

Fed block by block with the blocks and receipts a replay has verified, in
chain order, `AuditTally` keeps counts and sums; `report()` returns them as
an `AuditReport`. Everything comes from the blocks and the receipts' events,
never from state: the totals say what the chain recorded happening.

* `by_type`: "contract.method" -> receipt code ("OK" or the failure code) -> count.
* `by_code`: receipt code -> count.
* `events`: event kind -> count, over successful transactions (a failed
  transaction leaves no event).
* `products`: product -> currency -> total name -> integer, from the events:

  invoices (the currency and face amount of the invoice's `invoice.registered`):
    registered, registered_face          invoices registered, their face amounts
    <status>, <status>_face              transitions into confirmed, disputed,
                                         cancelled, assigned, settled, overdue,
                                         defaulted (an invoice confirmed again after
                                         a dispute counts twice)
    confirmed_amount                     the amounts the buyers confirmed
    possible_duplicates                  near-match warnings
  factoring (the currency of the deal's invoice; offers: the offer's):
    offers
    accepted, accepted_amount            acceptances, the amounts due they finance
    funded, funded_amount, advanced, discount, fees, paid_out, reserve
                                         deals funded and their terms
    repayments, repaid                   the buyers' acknowledged payments
    reserve_released                     acknowledged reserve releases to suppliers
    payments_rejected
    settled, settled_amount              deals settled, what their buyers paid
    overdue, overdue_uncovered
    defaulted, default_uncovered, penalties, recourse_claims, financier_losses
    cancelled, lapsed
  dynamic_discounting (the currency of the accepted invoice):
    accepted, accepted_amount, discounts, early_paid
                                         acceptances: amounts due, discounts, the
                                         early payment owed (amount - discount)
    payments_acknowledged, paid, payments_rejected

Amounts are integer minor units of their currency; `AMOUNT_TOTALS` names the
totals that are amounts (the others are counts).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ledger.types import STATUS_OK, Block, Receipt

INVOICES, FACTORING, DYNAMIC_DISCOUNTING = "invoices", "factoring", "dynamic_discounting"
UNKNOWN_CURRENCY = "???"
INVOICE_STATUSES = ("confirmed", "disputed", "cancelled", "assigned", "settled", "overdue",
                    "defaulted")
AMOUNT_TOTALS = frozenset({
    "registered_face", "confirmed_amount", *(f"{status}_face" for status in INVOICE_STATUSES),
    "accepted_amount", "funded_amount", "advanced", "discount", "fees", "paid_out", "reserve",
    "repaid", "reserve_released", "settled_amount", "overdue_uncovered", "default_uncovered",
    "penalties", "recourse_claims", "financier_losses", "discounts", "early_paid", "paid",
})

#: event kind -> (total to count, ((total to add to, attribute), ...)) for deal events.
_FACTORING: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "factoring.accepted": ("accepted", (("accepted_amount", "amount"),)),
    "factoring.funded": ("funded", (("funded_amount", "amount"), ("advanced", "advance"),
                                    ("discount", "discount"), ("fees", "fee"),
                                    ("paid_out", "paid_out"), ("reserve", "reserve"))),
    "factoring.payment_rejected": ("payments_rejected", ()),
    "factoring.settled": ("settled", (("settled_amount", "buyer_paid"),)),
    "factoring.overdue": ("overdue", (("overdue_uncovered", "uncovered"),)),
    "factoring.defaulted": ("defaulted", (("default_uncovered", "uncovered"),
                                          ("penalties", "penalty"),
                                          ("recourse_claims", "recourse_claim"),
                                          ("financier_losses", "financier_loss"))),
    "factoring.cancelled": ("cancelled", ()),
    "factoring.lapsed": ("lapsed", ()),
}
_DISCOUNTING: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "dynamic_discounting.accepted": ("accepted", (("accepted_amount", "amount"),
                                                  ("discounts", "discount"),
                                                  ("early_paid", "paid"))),
    "dynamic_discounting.payment_acknowledged": ("payments_acknowledged", (("paid", "amount"),)),
    "dynamic_discounting.payment_rejected": ("payments_rejected", ()),
}

Totals = dict[str, dict[str, dict[str, int]]]


@dataclass(frozen=True, slots=True)
class AuditReport:
    blocks: int
    transactions: int
    by_type: dict[str, dict[str, int]]
    by_code: dict[str, int]
    events: dict[str, int]
    products: Totals

    @property
    def failed(self) -> int:
        return self.transactions - self.by_code.get(STATUS_OK, 0)

    def to_json(self) -> dict[str, Any]:
        return {"blocks": self.blocks, "transactions": self.transactions,
                "by_type": self.by_type, "by_code": self.by_code, "events": self.events,
                "products": self.products}


class AuditTally:
    """Counts and sums over verified blocks, added in chain order."""

    def __init__(self) -> None:
        self.blocks = 0
        self.transactions = 0
        self._by_type: dict[str, Counter[str]] = defaultdict(Counter)
        self._by_code: Counter[str] = Counter()
        self._events: Counter[str] = Counter()
        self._products: dict[str, dict[str, Counter[str]]] = defaultdict(
            lambda: defaultdict(Counter))
        self._invoices: dict[str, tuple[str, int]] = {}  # fingerprint hex -> currency, face

    def add_entry(self, block_bytes: bytes, receipt_bytes: Sequence[bytes]) -> None:
        """A replayed block as stored: its bytes and its receipts' bytes."""
        self.add_block(Block.decode(block_bytes), [Receipt.decode(r) for r in receipt_bytes])

    def add_block(self, block: Block, receipts: Sequence[Receipt]) -> None:
        self.blocks += 1
        for tx, receipt in zip(block.txs, receipts, strict=True):
            self.transactions += 1
            self._by_type[f"{tx.tx.contract}.{tx.tx.method}"][receipt.code] += 1
            self._by_code[receipt.code] += 1
            if receipt.succeeded:
                for event in receipt.events:
                    self._events[event.kind] += 1
                    self._add_event(event.kind, event.attributes)

    def report(self) -> AuditReport:
        return AuditReport(
            self.blocks, self.transactions,
            {kind: _sorted(codes) for kind, codes in sorted(self._by_type.items())},
            _sorted(self._by_code), _sorted(self._events),
            {product: {currency: _sorted(totals) for currency, totals in sorted(by.items())}
             for product, by in sorted(self._products.items())})

    # -- events ------------------------------------------------------------------

    def _add_event(self, kind: str, attributes: dict[str, Any]) -> None:
        product, _, what = kind.partition(".")
        if product == "invoice":
            self._add_invoice_event(what, attributes)
        elif kind == "factoring.offered":
            self._products[FACTORING][str(attributes.get("currency"))]["offers"] += 1
        elif kind == "factoring.payment_acknowledged":
            self._add_payment(FACTORING, attributes)
        elif kind in _FACTORING:
            self._add_deal_event(FACTORING, _FACTORING[kind], attributes)
        elif kind in _DISCOUNTING:
            self._add_deal_event(DYNAMIC_DISCOUNTING, _DISCOUNTING[kind], attributes)

    def _add_invoice_event(self, what: str, attributes: dict[str, Any]) -> None:
        fingerprint = str(attributes.get("fingerprint"))
        if what == "registered":
            currency, face = str(attributes["currency"]), _amount(attributes, "face_amount")
            self._invoices[fingerprint] = currency, face
            totals = self._products[INVOICES][currency]
            totals["registered"] += 1
            totals["registered_face"] += face
            return
        currency, face = self._invoices.get(fingerprint, (UNKNOWN_CURRENCY, 0))
        totals = self._products[INVOICES][currency]
        if what in INVOICE_STATUSES:
            totals[what] += 1
            totals[f"{what}_face"] += face
            if what == "confirmed":
                totals["confirmed_amount"] += _amount(attributes, "amount")
        elif what == "possible_duplicate":
            totals["possible_duplicates"] += 1

    def _add_payment(self, product: str, attributes: dict[str, Any]) -> None:
        totals = self._product_totals(product, attributes)
        kind = attributes.get("kind")
        if kind == "buyer":
            totals["repayments"] += 1
            totals["repaid"] += _amount(attributes, "amount")
        elif kind == "reserve":
            totals["reserve_released"] += _amount(attributes, "amount")

    def _add_deal_event(self, product: str, rule: tuple[str, tuple[tuple[str, str], ...]],
                        attributes: dict[str, Any]) -> None:
        count, sums = rule
        totals = self._product_totals(product, attributes)
        totals[count] += 1
        for total, attribute in sums:
            totals[total] += _amount(attributes, attribute)

    def _product_totals(self, product: str, attributes: dict[str, Any]) -> Counter[str]:
        """A deal's totals, in the currency of the invoice it finances."""
        currency, _ = self._invoices.get(str(attributes.get("fingerprint")),
                                         (UNKNOWN_CURRENCY, 0))
        return self._products[product][currency]


def _amount(attributes: dict[str, Any], name: str) -> int:
    value = attributes.get(name)
    return value if type(value) is int else 0


def _sorted(counter: Counter[str]) -> dict[str, int]:
    return {key: counter[key] for key in sorted(counter)}
