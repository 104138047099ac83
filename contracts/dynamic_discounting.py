"""Dynamic discounting (domain guide §3): the buyer pays early, for a discount.

Theory of operation (docs/products.md § Dynamic discounting):

1. A buyer (core enterprise) signs `publish_offer`: an annual rate, or a
   sliding table of bands `[min_days_early, rate_bps]` (the band with the
   largest minimum not above `d` applies), a basis, a minimum number of days
   early, an expiry date, and optionally one supplier and one currency.
2. The seller of a `confirmed` invoice of that buyer, carrying no lien,
   signs `accept` on the day of its choosing: `d = days(today, due date)`,
   `discount, paid = contracts.terms.dynamic_discount(amount due, rate, d, B)`.
   Acceptance is final: it binds the buyer to pay `paid` now and settles the
   invoice (`invoices.mark_settled` without a deal), so no one can finance
   it any more; the acceptance keeps the amounts.
3. The buyer records its payment of `paid` with the bank's reference
   (`record_payment`), the supplier acknowledges or rejects it
   (contracts/repayment.py); after a rejection the buyer records it again.
4. The buyer may `withdraw_offer`: invoices accepted before stay accepted.

State (namespace c/dynamic_discounting/):
    offer/<offer id>            -> DiscountOffer   ids: "DO-" / "DA-" + creating tx id (hex)
    acceptance/<acceptance id>  -> Acceptance
    pay/<acceptance id>\\0<ref>  -> repayment.Payment
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

from contracts import repayment as rp
from contracts.calendar import days, format_date
from contracts.engine import Contract, MethodSpec
from contracts.invoices import (CURRENCY, DATE, FINGERPRINT, Status, mark_settled,
                                require_invoice, validate_transition)
from contracts.liens import invoice_asset, validate_unencumbered
from contracts.repayment import AMOUNT, MONEY
from contracts.terms import dynamic_discount
from ledger.accounts import MEMBER_ID, Role
from ledger.contract_api import CallContext, contract_prefix
from ledger.errors import Code, LedgerError
from ledger.state import StateReader
from ledger.structure import Field, Int, ListOf, Nested, Optional, Str, Structure
from ledger.types import HASH

DYNAMIC_DISCOUNTING = "dynamic_discounting"
OPEN, WITHDRAWN = "open", "withdrawn"
UNPAID, PENDING, PAID = "unpaid", "pending", "paid"
MAX_BANDS = 16


@dataclass(frozen=True, slots=True)
class Band(Structure):
    """From `min_days_early` days before the due date on, the annual rate `rate_bps`."""

    min_days_early: int
    rate_bps: int

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("min_days_early", Int(1, 36_500)), ("rate_bps", rp.RATE_BPS),
    )


@dataclass(frozen=True, slots=True)
class DiscountOffer(Structure):
    offer_id: str
    buyer: str
    supplier: str | None      # only this supplier may accept
    currency: str | None      # only invoices in this currency
    basis: int
    min_days_early: int
    bands: tuple[Band, ...]   # min_days_early strictly increasing; one band = a single rate
    expiry_date: str          # valid through this UTC day
    status: str               # open | withdrawn
    created_tx: bytes
    created_height: int

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("offer_id", rp.RECORD_ID), ("buyer", MEMBER_ID), ("supplier", Optional(MEMBER_ID)),
        ("currency", Optional(CURRENCY)), ("basis", rp.BASIS), ("min_days_early", Int(1, 36_500)),
        ("bands", ListOf(Nested(Band), MAX_BANDS)), ("expiry_date", DATE),
        ("status", Str(max_bytes=16, pattern=f"{OPEN}|{WITHDRAWN}")), ("created_tx", HASH),
        ("created_height", Int(1)),
    )

    def rate_for(self, days_early: int) -> int | None:
        """The rate for paying `days_early` days early, or None below the offer's minimum."""
        if days_early < self.min_days_early:
            return None
        rate: int | None = None
        for band in self.bands:
            if band.min_days_early <= days_early:
                rate = band.rate_bps
        return rate


@dataclass(frozen=True, slots=True)
class Acceptance(Structure):
    """An accepted early payment: the buyer owes `paid` now; the invoice is settled."""

    acceptance_id: str
    offer_id: str
    fingerprint: bytes
    buyer: str
    supplier: str
    currency: str
    amount: int               # the invoice's amount due (confirmed amount)
    due_date: str
    accepted_date: str
    days_early: int           # d = days(accepted_date, due_date)
    rate_bps: int
    basis: int
    discount: int             # terms.dynamic_discount(amount, rate, d, B): kept by the buyer
    paid: int                 # amount - discount: paid by the buyer to the supplier now
    payment_status: str       # unpaid | pending | paid (acknowledged by the supplier)
    payment_ref: str | None   # the recorded payment (pending or acknowledged)
    accepted_tx: bytes
    accepted_height: int

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("acceptance_id", rp.RECORD_ID), ("offer_id", rp.RECORD_ID),
        ("fingerprint", FINGERPRINT), ("buyer", MEMBER_ID), ("supplier", MEMBER_ID),
        ("currency", CURRENCY), ("amount", AMOUNT), ("due_date", DATE),
        ("accepted_date", DATE), ("days_early", Int(1)), ("rate_bps", rp.RATE_BPS),
        ("basis", rp.BASIS), ("discount", MONEY), ("paid", AMOUNT),
        ("payment_status", Str(max_bytes=16, pattern=f"{UNPAID}|{PENDING}|{PAID}")),
        ("payment_ref", Optional(rp.PAYMENT_REF)), ("accepted_tx", HASH),
        ("accepted_height", Int(1)),
    )


# -- queries (full state) ----------------------------------------------------------

def get_offer(reader: StateReader, offer_id: str) -> DiscountOffer | None:
    data = reader.get(contract_prefix(DYNAMIC_DISCOUNTING) + b"offer/" + offer_id.encode())
    return None if data is None else DiscountOffer.decode(data)


def get_acceptance(reader: StateReader, acceptance_id: str) -> Acceptance | None:
    data = reader.get(contract_prefix(DYNAMIC_DISCOUNTING) + b"acceptance/"
                      + acceptance_id.encode())
    return None if data is None else Acceptance.decode(data)


# -- methods ---------------------------------------------------------------------------

def _publish_offer(ctx: CallContext, args: dict[str, Any]) -> None:
    if ("rate_bps" in args) == ("table" in args):
        raise LedgerError(Code.INVALID_ARGUMENT, "rate_bps: give either rate_bps or table")
    minimum = args.get("min_days_early", 1)
    bands = (Band(minimum, args["rate_bps"]),) if "rate_bps" in args \
        else _bands(args["table"])
    if args.get("supplier") is not None:
        rp.require_role(ctx, args["supplier"], Role.SUPPLIER, "supplier")
    rp.check_expiry_date(ctx, args["expiry_date"])
    offer = DiscountOffer(rp.new_id("DO", ctx), ctx.sender.member_id, args.get("supplier"),
                          args.get("currency"), args.get("basis", 365), minimum, bands,
                          args["expiry_date"], OPEN, ctx.tx_id, ctx.height)
    _put(ctx, b"offer/", offer.offer_id, offer)
    ctx.emit("dynamic_discounting.offer_published", {
        "offer_id": offer.offer_id, "buyer": offer.buyer, "supplier": offer.supplier,
        "currency": offer.currency, "basis": offer.basis,
        "min_days_early": offer.min_days_early, "expiry_date": offer.expiry_date,
        "table": [[band.min_days_early, band.rate_bps] for band in bands],
        "subjects": _offer_subjects(offer)})


def _withdraw_offer(ctx: CallContext, args: dict[str, Any]) -> None:
    offer = _require_offer(ctx, args["offer_id"])
    rp.require_signer(ctx, (offer.buyer,), f"withdraw offer {offer.offer_id}")
    if offer.status != OPEN:
        raise LedgerError(Code.OFFER_WITHDRAWN, f"offer {offer.offer_id} was already withdrawn")
    offer = replace(offer, status=WITHDRAWN)
    _put(ctx, b"offer/", offer.offer_id, offer)
    ctx.emit("dynamic_discounting.offer_withdrawn", {"offer_id": offer.offer_id,
                                                     "subjects": _offer_subjects(offer)})


def _accept(ctx: CallContext, args: dict[str, Any]) -> None:
    offer = _require_offer(ctx, args["offer_id"])
    rp.check_offer_open(ctx, offer.offer_id, offer.status != OPEN, offer.expiry_date)
    invoice = require_invoice(ctx.scratch, args["fingerprint"])
    rp.check_applies(ctx, offer.offer_id, invoice, supplier=offer.supplier, fingerprint=None,
                     buyer=offer.buyer, currency=offer.currency)
    validate_unencumbered(ctx.scratch, invoice.asset)
    validate_transition(invoice, Status.SETTLED)
    rp.require_status(f"invoice {invoice.fingerprint.hex()}", invoice.status,
                      (Status.CONFIRMED.value,), "dynamic discounting applies")
    today = rp.today(ctx)
    early = days(today, invoice.due_day)
    rate = offer.rate_for(early)
    if rate is None:
        first = max(offer.min_days_early, offer.bands[0].min_days_early)
        raise LedgerError(Code.TOO_FEW_DAYS_EARLY,
                          f"offer {offer.offer_id} needs at least {first} days before the due "
                          f"date {invoice.due_date}; today is {early} days before")
    discount, paid = dynamic_discount(invoice.amount_due, rate, early, offer.basis)
    acceptance = Acceptance(rp.new_id("DA", ctx), offer.offer_id, invoice.fingerprint,
                            invoice.buyer, invoice.seller, invoice.currency, invoice.amount_due,
                            invoice.due_date, format_date(today), early, rate, offer.basis,
                            discount, paid, UNPAID, None, ctx.tx_id, ctx.height)
    mark_settled(ctx, invoice.fingerprint, None, action="dynamic_discounting.accept",
                 detail=f"{acceptance.acceptance_id}: {early} days early at {rate} bp, "
                        f"discount {discount}, paid {paid}")
    _put(ctx, b"acceptance/", acceptance.acceptance_id, acceptance)
    _emit(ctx, "dynamic_discounting.accepted", acceptance, offer_id=offer.offer_id,
          amount=acceptance.amount, days_early=early, rate_bps=rate, basis=offer.basis,
          discount=discount, paid=paid)


def _record_payment(ctx: CallContext, args: dict[str, Any]) -> None:
    acceptance = _require_acceptance(ctx, args["acceptance_id"])
    rp.require_signer(ctx, (acceptance.buyer,), f"pay {acceptance.acceptance_id}")
    if acceptance.payment_status == PENDING:
        raise LedgerError(Code.PAYMENT_PENDING,
                          f"{acceptance.acceptance_id}: payment {acceptance.payment_ref} awaits "
                          f"the supplier's acknowledgement")
    rp.require_status(acceptance.acceptance_id, acceptance.payment_status, (UNPAID,),
                      "a payment is recorded")
    payment = rp.record_payment(ctx, acceptance.acceptance_id, "early_payment",
                                acceptance.supplier, acceptance.paid, args["payment_ref"])
    acceptance = replace(acceptance, payment_status=PENDING, payment_ref=payment.payment_ref)
    _put(ctx, b"acceptance/", acceptance.acceptance_id, acceptance)
    _emit(ctx, "dynamic_discounting.payment_recorded", acceptance,
          **rp.payment_attributes(payment))


def _acknowledge_payment(ctx: CallContext, args: dict[str, Any]) -> None:
    _close_payment(ctx, args, acknowledged=True)


def _reject_payment(ctx: CallContext, args: dict[str, Any]) -> None:
    _close_payment(ctx, args, acknowledged=False)


# -- helpers -------------------------------------------------------------------------

def _close_payment(ctx: CallContext, args: dict[str, Any], acknowledged: bool) -> None:
    acceptance = _require_acceptance(ctx, args["acceptance_id"])
    payment = rp.close_payment(ctx, acceptance.acceptance_id, args["payment_ref"],
                               acknowledged, args.get("reason", ""))
    acceptance = replace(acceptance, payment_status=PAID if acknowledged else UNPAID,
                         payment_ref=payment.payment_ref if acknowledged else None)
    _put(ctx, b"acceptance/", acceptance.acceptance_id, acceptance)
    _emit(ctx, "dynamic_discounting.payment_" + payment.status, acceptance,
          **rp.payment_attributes(payment))


def _bands(table: tuple[tuple[int, ...], ...]) -> tuple[Band, ...]:
    """The sliding table as bands: [min_days_early >= 1, rate_bps], minima increasing."""
    if not table:
        raise LedgerError(Code.INVALID_ARGUMENT, "table: at least one band")
    bands: list[Band] = []
    for index, entry in enumerate(table):
        where = f"table[{index}]"
        if len(entry) != 2 or not 1 <= entry[0] <= 36_500 or not 0 <= entry[1] <= 10_000:
            raise LedgerError(Code.INVALID_ARGUMENT, f"{where}: expected [min_days_early in "
                                                     "1..36500, rate_bps in 0..10000]")
        if bands and entry[0] <= bands[-1].min_days_early:
            raise LedgerError(Code.INVALID_ARGUMENT,
                              f"{where}: min_days_early must increase from band to band")
        bands.append(Band(entry[0], entry[1]))
    return tuple(bands)


def _require_offer(ctx: CallContext, offer_id: str) -> DiscountOffer:
    return rp.load(ctx, b"offer/", offer_id, DiscountOffer, Code.OFFER_NOT_FOUND,
                   "dynamic discounting offer")


def _require_acceptance(ctx: CallContext, acceptance_id: str) -> Acceptance:
    return rp.load(ctx, b"acceptance/", acceptance_id, Acceptance, Code.DEAL_NOT_FOUND,
                   "dynamic discounting acceptance")


def _put(ctx: CallContext, prefix: bytes, record_id: str, record: Structure) -> None:
    ctx.state.put(prefix + record_id.encode("utf-8"), record.encode())


def _emit(ctx: CallContext, kind: str, acceptance: Acceptance, /,
          **attributes: Any) -> None:
    ctx.emit(kind, {
        **attributes, "acceptance_id": acceptance.acceptance_id,
        "fingerprint": acceptance.fingerprint.hex(),
        "subjects": rp.subjects("deal:" + acceptance.acceptance_id,
                                invoice_asset(acceptance.fingerprint),
                                "member:" + acceptance.supplier, "member:" + acceptance.buyer,
                                "member:" + ctx.sender.member_id)})


def _offer_subjects(offer: DiscountOffer) -> list[str]:
    return rp.subjects("offer:" + offer.offer_id, "member:" + offer.buyer,
                       "" if offer.supplier is None else "member:" + offer.supplier)


_BUYER = frozenset({Role.CORE_ENTERPRISE})
_SUPPLIER = frozenset({Role.SUPPLIER})
_ACCEPTANCE = ("acceptance_id", rp.RECORD_ID)
_REF = ("payment_ref", rp.PAYMENT_REF)

CONTRACT = Contract(DYNAMIC_DISCOUNTING, 1, (
    MethodSpec("publish_offer", _publish_offer, args=(
        ("rate_bps", rp.RATE_BPS), ("table", ListOf(ListOf(Int(0, 36_500), 2), MAX_BANDS)),
        ("basis", rp.BASIS), ("min_days_early", Int(1, 36_500)), ("expiry_date", DATE),
        ("supplier", MEMBER_ID), ("currency", CURRENCY),
    ), optional=frozenset({"rate_bps", "table", "basis", "min_days_early", "supplier",
                           "currency"}), roles=_BUYER),
    MethodSpec("withdraw_offer", _withdraw_offer, args=(("offer_id", rp.RECORD_ID),),
               roles=_BUYER),
    MethodSpec("accept", _accept, args=(("offer_id", rp.RECORD_ID), ("fingerprint", FINGERPRINT)),
               roles=_SUPPLIER),
    MethodSpec("record_payment", _record_payment, args=(_ACCEPTANCE, _REF), roles=_BUYER),
    MethodSpec("acknowledge_payment", _acknowledge_payment, args=(_ACCEPTANCE, _REF),
               roles=_SUPPLIER),
    MethodSpec("reject_payment", _reject_payment,
               args=(_ACCEPTANCE, _REF, ("reason", rp.REASON)), optional=frozenset({"reason"}),
               roles=_SUPPLIER),
))
