"""Factoring's stored records: offers, deals and their life cycle, and readers.

Split from contracts/factoring.py (the methods) so each module holds one
concept; the node and CLI read deals and offers through these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from contracts import repayment as rp
from contracts.invoices import CURRENCY, DATE, FINGERPRINT
from contracts.repayment import AMOUNT, MONEY
from ledger.accounts import MEMBER_ID
from ledger.contract_api import contract_prefix
from ledger.state import StateReader
from ledger.structure import Bool, Field, Int, Nested, Optional, Str, Structure
from ledger.types import HASH

FACTORING = "factoring"
OPEN, WITHDRAWN = "open", "withdrawn"


class DealStatus(StrEnum):
    ACCEPTED = "accepted"
    CANCELLED = "cancelled"
    LAPSED = "lapsed"
    FUNDED = "funded"
    OVERDUE = "overdue"
    SETTLED = "settled"
    DEFAULTED = "defaulted"


DEAL_NEXT: dict[DealStatus, tuple[DealStatus, ...]] = {
    DealStatus.ACCEPTED: (DealStatus.FUNDED, DealStatus.CANCELLED, DealStatus.LAPSED),
    DealStatus.FUNDED: (DealStatus.OVERDUE, DealStatus.SETTLED),
    DealStatus.OVERDUE: (DealStatus.SETTLED, DealStatus.DEFAULTED),
    DealStatus.CANCELLED: (), DealStatus.LAPSED: (), DealStatus.SETTLED: (),
    DealStatus.DEFAULTED: (),
}
LIVE = (DealStatus.ACCEPTED.value, DealStatus.FUNDED.value, DealStatus.OVERDUE.value)


@dataclass(frozen=True, slots=True)
class Conditions(Structure):
    """The financier's conditions, copied from the offer into each deal."""

    advance_bps: int
    rate_bps: int
    basis: int
    fee: int
    recourse: bool
    grace_days: int
    penalty_rate_bps: int

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("advance_bps", Int(1, 10_000)), ("rate_bps", rp.RATE_BPS), ("basis", rp.BASIS),
        ("fee", MONEY), ("recourse", Bool()), ("grace_days", rp.DAYS),
        ("penalty_rate_bps", rp.RATE_BPS),
    )


@dataclass(frozen=True, slots=True)
class Offer(Structure):
    offer_id: str
    financier: str
    supplier: str | None        # only this supplier may accept
    fingerprint: bytes | None   # only this invoice
    buyer: str | None           # only this buyer's invoices (required when reverse)
    reverse: bool
    currency: str
    conditions: Conditions
    expiry_date: str            # valid through this UTC day
    status: str                 # open | withdrawn
    created_tx: bytes
    created_height: int

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("offer_id", rp.RECORD_ID), ("financier", MEMBER_ID), ("supplier", Optional(MEMBER_ID)),
        ("fingerprint", Optional(FINGERPRINT)), ("buyer", Optional(MEMBER_ID)),
        ("reverse", Bool()), ("currency", CURRENCY), ("conditions", Nested(Conditions)),
        ("expiry_date", DATE), ("status", Str(max_bytes=16, pattern=f"{OPEN}|{WITHDRAWN}")),
        ("created_tx", HASH), ("created_height", Int(1)),
    )


@dataclass(frozen=True, slots=True)
class Deal(Structure):
    """One financing of one invoice; every amount in minor units of `currency`."""

    deal_id: str
    offer_id: str
    fingerprint: bytes
    financier: str
    supplier: str
    buyer: str
    currency: str
    reverse: bool
    conditions: Conditions
    amount: int               # the invoice's amount due at acceptance (confirmed amount)
    due_date: str
    accepted_date: str        # t0: funding must happen this UTC day
    tenor_days: int           # n = days(t0, due date)
    advance: int              # terms.factoring_terms(amount, a, r, n, B, fee)
    discount: int
    paid_out: int
    reserve: int
    status: str
    funding_ref: str | None
    buyer_paid: int           # acknowledged buyer payments
    buyer_pending: int        # recorded, not yet acknowledged or rejected
    reserve_released: int     # acknowledged reserve payments to the supplier
    reserve_pending: int
    default: rp.Default | None  # at default: uncovered = advance - buyer_paid, claim / loss
    accepted_tx: bytes
    accepted_height: int

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("deal_id", rp.RECORD_ID), ("offer_id", rp.RECORD_ID), ("fingerprint", FINGERPRINT),
        ("financier", MEMBER_ID), ("supplier", MEMBER_ID), ("buyer", MEMBER_ID),
        ("currency", CURRENCY), ("reverse", Bool()), ("conditions", Nested(Conditions)),
        ("amount", AMOUNT), ("due_date", DATE), ("accepted_date", DATE),
        ("tenor_days", Int(1)), ("advance", AMOUNT), ("discount", MONEY), ("paid_out", AMOUNT),
        ("reserve", MONEY),
        ("status", Str(max_bytes=16, pattern="|".join(s.value for s in DealStatus))),
        ("funding_ref", Optional(rp.PAYMENT_REF)), ("buyer_paid", MONEY),
        ("buyer_pending", MONEY), ("reserve_released", MONEY), ("reserve_pending", MONEY),
        ("default", Optional(Nested(rp.Default))), ("accepted_tx", HASH),
        ("accepted_height", Int(1)),
    )

    @property
    def collected(self) -> int:
        """What the financier keeps of the buyer's payments: the first `advance`."""
        return min(self.buyer_paid, self.advance)

    @property
    def supplier_share(self) -> int:
        """The reserve part of the buyer's payments: owed to the supplier."""
        return self.buyer_paid - self.collected

    @property
    def releasable(self) -> int:
        return self.supplier_share - self.reserve_released - self.reserve_pending


# -- queries (full state) ----------------------------------------------------------

def offer_key(offer_id: str) -> bytes:
    return contract_prefix(FACTORING) + b"offer/" + offer_id.encode("utf-8")


def deal_key(deal_id: str) -> bytes:
    return contract_prefix(FACTORING) + b"deal/" + deal_id.encode("utf-8")


def get_offer(reader: StateReader, offer_id: str) -> Offer | None:
    data = reader.get(offer_key(offer_id))
    return None if data is None else Offer.decode(data)


def get_deal(reader: StateReader, deal_id: str) -> Deal | None:
    data = reader.get(deal_key(deal_id))
    return None if data is None else Deal.decode(data)


def latest_deal(reader: StateReader, fingerprint: bytes) -> Deal | None:
    """The invoice's most recent deal (any status), or None."""
    data = reader.get(contract_prefix(FACTORING) + b"latest/" + fingerprint)
    return None if data is None else get_deal(reader, data.decode("utf-8"))


def exposure(reader: StateReader, buyer: str) -> list[list[Any]]:
    """[[financier, number of funded or overdue deals], ...] on invoices owed by `buyer`."""
    return rp.exposure(reader, FACTORING, buyer)


# -- methods ---------------------------------------------------------------------------
