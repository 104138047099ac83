"""Factoring and reverse factoring (domain guide §2, §7): offer, accept, fund, repay.

Theory of operation (docs/products.md § Factoring):

1. A financier signs `offer`: the conditions (advance rate, annual rate,
   basis, fee, recourse, grace days, penalty rate), a currency, an expiry
   date, and to whom it is addressed: a supplier, one invoice, or — for
   *reverse* factoring — a buyer whose invoices the programme finances.
2. The invoice's seller signs `accept` on a `confirmed` invoice. The terms
   are computed that day by `contracts.terms.factoring_terms` on the
   invoice's amount due with `n = days(today, due date)` and fixed in a deal
   (`accepted`). An invoice has at most one open deal.
3. The financier signs `fund` the same UTC day with its payment reference:
   the invoice is assigned to it (`invoices.mark_assigned`, the lien), the
   funding payment of `paid_out` is recorded, and the `factoring.funded`
   event names the buyer: its notice that it now pays the financier.
4. The buyer signs `pay` (partial payments, each with its reference, in all
   at most the amount due); the payee acknowledges or rejects each payment;
   only acknowledged payments count. Waterfall: the financier keeps the first
   `advance` of the buyer's cumulative payments, the rest is the supplier's
   reserve, passed on by the financier's `release_reserve` (acknowledged by
   the supplier). The acknowledgement that completes the amount due settles
   the invoice and releases its lien (`invoices.mark_settled`).
5. After the due date plus the grace days, with the advance not covered, the
   financier may `mark_overdue`, then `declare_default`: with recourse the
   supplier owes the uncovered advance plus `terms.penalty_interest` for the
   days since the due date; without recourse the financier books the
   uncovered advance as its loss. Every financier still exposed to the same
   buyer is named by a `factoring.obligor_default` event.

Deal life cycle (`DEAL_NEXT`): accepted -> funded | cancelled | lapsed;
funded -> overdue | settled; overdue -> settled | defaulted.

State (namespace c/factoring/):
    offer/<offer id>      -> Offer          ids: "FO-" / "FD-" + creating tx id (hex)
    deal/<deal id>        -> Deal
    latest/<fp>           -> the invoice's latest deal id (utf-8)
    exposure/<buyer id>   -> [[financier, live deals], ...] sorted by financier
    pay/<deal id>\\0<ref>  -> repayment.Payment
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from contracts import repayment as rp
from contracts import risk
from contracts.calendar import days, format_date, parse_date
from contracts.engine import Contract, MethodSpec
from contracts.factoring_records import (  # noqa: F401 (readers re-exported)
    DEAL_NEXT,
    FACTORING,
    LIVE,
    OPEN,
    WITHDRAWN,
    Conditions,
    Deal,
    DealStatus,
    Offer,
    deal_key,
    exposure,
    get_deal,
    get_offer,
    latest_deal,
    offer_key,
)
from contracts.invoices import (
    CURRENCY, DATE, FINGERPRINT, Invoice, Status, mark_assigned, mark_defaulted, mark_overdue,
    mark_settled, require_invoice, validate_transition)
from contracts.liens import invoice_asset, validate_unencumbered
from contracts.repayment import AMOUNT, MONEY
from contracts.terms import factoring_terms
from ledger.accounts import MEMBER_ID, Role
from ledger.contract_api import CallContext
from ledger.errors import Code, LedgerError
from ledger.structure import Bool, Int


def _offer(ctx: CallContext, args: dict[str, Any]) -> None:
    conditions = Conditions(args["advance_bps"], args["rate_bps"], args.get("basis", 365),
                            args.get("fee", 0), args["recourse"], args.get("grace_days", 0),
                            args.get("penalty_rate_bps", 0))
    supplier, fp, buyer = args.get("supplier"), args.get("fingerprint"), args.get("buyer")
    reverse = args.get("reverse", False)
    if reverse and buyer is None:
        raise LedgerError(Code.INVALID_ARGUMENT, "buyer: required for a reverse factoring offer")
    if not reverse and supplier is None and fp is None:
        raise LedgerError(Code.INVALID_ARGUMENT,
                          "supplier: an offer is addressed to a supplier or an invoice")
    if supplier is not None:
        rp.require_role(ctx, supplier, Role.SUPPLIER, "supplier")
    if buyer is not None:
        rp.require_role(ctx, buyer, Role.CORE_ENTERPRISE, "buyer")
    if fp is not None:
        invoice = require_invoice(ctx.scratch, fp)
        for name, want, have in (("supplier", supplier, invoice.seller),
                                 ("buyer", buyer, invoice.buyer),
                                 ("currency", args["currency"], invoice.currency)):
            if want is not None and want != have:
                raise LedgerError(Code.INVALID_ARGUMENT, f"{name}: {want} is not the {name} "
                                                         f"of invoice {fp.hex()} ({have})")
    rp.check_expiry_date(ctx, args["expiry_date"])
    offer = Offer(rp.new_id("FO", ctx), ctx.sender.member_id, supplier, fp, buyer, reverse,
                  args["currency"], conditions, args["expiry_date"], OPEN, ctx.tx_id,
                  ctx.height)
    ctx.state.put(b"offer/" + offer.offer_id.encode("utf-8"), offer.encode())
    ctx.emit("factoring.offered", {
        "offer_id": offer.offer_id, "financier": offer.financier, "supplier": supplier,
        "fingerprint": None if fp is None else fp.hex(), "buyer": buyer, "reverse": reverse,
        "currency": offer.currency, "expiry_date": offer.expiry_date,
        "conditions": rp.fields_of(conditions), "subjects": _offer_subjects(offer)})


def _withdraw_offer(ctx: CallContext, args: dict[str, Any]) -> None:
    offer = _require_offer(ctx, args["offer_id"])
    rp.require_signer(ctx, (offer.financier,), f"withdraw offer {offer.offer_id}")
    if offer.status != OPEN:
        raise LedgerError(Code.OFFER_WITHDRAWN, f"offer {offer.offer_id} was already withdrawn")
    offer = replace(offer, status=WITHDRAWN)
    ctx.state.put(b"offer/" + offer.offer_id.encode("utf-8"), offer.encode())
    ctx.emit("factoring.offer_withdrawn", {"offer_id": offer.offer_id,
                                           "subjects": _offer_subjects(offer)})


def _accept(ctx: CallContext, args: dict[str, Any]) -> None:
    offer = _require_offer(ctx, args["offer_id"])
    rp.check_offer_open(ctx, offer.offer_id, offer.status != OPEN, offer.expiry_date)
    invoice = require_invoice(ctx.scratch, args["fingerprint"])
    rp.check_applies(ctx, offer.offer_id, invoice, supplier=offer.supplier,
                     fingerprint=offer.fingerprint, buyer=offer.buyer, currency=offer.currency)
    validate_transition(invoice, Status.ASSIGNED)
    validate_unencumbered(ctx.scratch, invoice.asset)
    today = rp.today(ctx)
    _lapse_previous(ctx, invoice, today)
    cond = offer.conditions
    tenor = days(today, invoice.due_day)
    advance, discount, paid_out, reserve = factoring_terms(
        invoice.amount_due, cond.advance_bps, cond.rate_bps, tenor, cond.basis, cond.fee)
    deal = Deal(rp.new_id("FD", ctx), offer.offer_id, invoice.fingerprint, offer.financier,
                ctx.sender.member_id, invoice.buyer, invoice.currency, offer.reverse, cond,
                invoice.amount_due, invoice.due_date, format_date(today), tenor, advance,
                discount, paid_out, reserve, DealStatus.ACCEPTED.value, None, 0, 0, 0, 0, None,
                ctx.tx_id, ctx.height)
    _save(ctx, deal)
    ctx.state.put(b"latest/" + invoice.fingerprint, deal.deal_id.encode("utf-8"))
    _emit(ctx, "factoring.accepted", deal, offer_id=offer.offer_id, amount=deal.amount,
          tenor_days=tenor, advance=advance, discount=discount, fee=cond.fee,
          paid_out=paid_out, reserve=reserve)


def _cancel_acceptance(ctx: CallContext, args: dict[str, Any]) -> None:
    deal = _require_deal(ctx, args["deal_id"])
    rp.require_signer(ctx, (deal.supplier, deal.financier), f"cancel deal {deal.deal_id}")
    deal = _move(ctx, deal, DealStatus.CANCELLED)
    _emit(ctx, "factoring.cancelled", deal, reason=args.get("reason", ""))


def _fund(ctx: CallContext, args: dict[str, Any]) -> None:
    deal = _require_deal(ctx, args["deal_id"])
    rp.require_signer(ctx, (deal.financier,), f"fund deal {deal.deal_id}")
    _check_step(deal, DealStatus.FUNDED)
    if rp.today(ctx) != parse_date(deal.accepted_date):
        raise LedgerError(Code.ACCEPTANCE_LAPSED,
                          f"deal {deal.deal_id} was accepted on {deal.accepted_date}: its terms "
                          "hold that day only; the supplier must accept again")
    invoice = require_invoice(ctx.scratch, deal.fingerprint)
    if invoice.amount_due != deal.amount:
        raise LedgerError(Code.INVOICE_NOT_FINANCEABLE,
                          f"invoice {invoice.fingerprint.hex()} is now due for "
                          f"{invoice.amount_due}, not {deal.amount}: accept again")
    risk.on_funded(ctx, FACTORING, deal.deal_id, financier=deal.financier, obligor=deal.buyer,
                   supplier=deal.supplier, currency=invoice.currency, amount=deal.advance)
    mark_assigned(ctx, deal.fingerprint, deal.financier, deal.deal_id, action="factoring.fund",
                  detail=f"deal {deal.deal_id}: advance {deal.advance}, paid out {deal.paid_out}")
    payment = rp.record_payment(ctx, deal.deal_id, "funding", deal.supplier, deal.paid_out,
                                args["payment_ref"])
    deal = _move(ctx, deal, DealStatus.FUNDED, funding_ref=payment.payment_ref)
    rp.add_exposure(ctx, FACTORING, deal.buyer, deal.financier, 1)
    # The buyer's notice of assignment: from now on it pays the financier.
    _emit(ctx, "factoring.funded", deal, pay_to=deal.financier, amount=deal.amount,
          due_date=deal.due_date, advance=deal.advance, discount=deal.discount,
          fee=deal.conditions.fee, paid_out=deal.paid_out, reserve=deal.reserve,
          payment_ref=payment.payment_ref)


def _pay(ctx: CallContext, args: dict[str, Any]) -> None:
    deal = _require_deal(ctx, args["deal_id"])
    rp.require_signer(ctx, (deal.buyer,), f"pay deal {deal.deal_id}")
    _require_status(deal, (DealStatus.FUNDED, DealStatus.OVERDUE), "the buyer pays")
    owed = deal.amount - deal.buyer_paid - deal.buyer_pending
    if args["amount"] > owed:
        raise LedgerError(Code.OVERPAYMENT,
                          f"deal {deal.deal_id}: {args['amount']} is more than the {owed} "
                          f"left of {deal.amount} (paid {deal.buyer_paid}, pending "
                          f"{deal.buyer_pending})")
    payment = rp.record_payment(ctx, deal.deal_id, "buyer", deal.financier, args["amount"],
                                args["payment_ref"])
    deal = _save(ctx, replace(deal, buyer_pending=deal.buyer_pending + payment.amount))
    _emit(ctx, "factoring.payment_recorded", deal, **rp.payment_attributes(payment))


def _acknowledge_payment(ctx: CallContext, args: dict[str, Any]) -> None:
    _close_payment(ctx, args, acknowledged=True)


def _reject_payment(ctx: CallContext, args: dict[str, Any]) -> None:
    _close_payment(ctx, args, acknowledged=False)


def _release_reserve(ctx: CallContext, args: dict[str, Any]) -> None:
    deal = _require_deal(ctx, args["deal_id"])
    rp.require_signer(ctx, (deal.financier,), f"release the reserve of deal {deal.deal_id}")
    _require_status(deal, (DealStatus.FUNDED, DealStatus.OVERDUE, DealStatus.SETTLED),
                    "a reserve is released")
    if deal.releasable <= 0:
        raise LedgerError(Code.NOTHING_TO_RELEASE,
                          f"deal {deal.deal_id}: the buyer's payments ({deal.buyer_paid}) cover "
                          f"the advance {deal.advance} by {deal.supplier_share}, of which "
                          f"{deal.reserve_released + deal.reserve_pending} is already released")
    payment = rp.record_payment(ctx, deal.deal_id, "reserve", deal.supplier, deal.releasable,
                                args["payment_ref"])
    deal = _save(ctx, replace(deal, reserve_pending=deal.reserve_pending + payment.amount))
    _emit(ctx, "factoring.payment_recorded", deal, **rp.payment_attributes(payment))


def _mark_overdue(ctx: CallContext, args: dict[str, Any]) -> None:
    deal = _require_deal(ctx, args["deal_id"])
    rp.require_signer(ctx, (deal.financier,), f"mark deal {deal.deal_id} overdue")
    _check_step(deal, DealStatus.OVERDUE)
    rp.check_arrears(ctx, f"deal {deal.deal_id}", deal.due_date, deal.conditions.grace_days)
    _require_uncovered(deal)
    mark_overdue(ctx, deal.fingerprint, action="factoring.overdue", detail=f"deal {deal.deal_id}")
    deal = _move(ctx, deal, DealStatus.OVERDUE)
    risk.on_overdue(ctx, FACTORING, deal.deal_id, obligor=deal.buyer, financier=deal.financier,
                    asset="invoice:" + deal.fingerprint.hex())
    _emit(ctx, "factoring.overdue", deal, uncovered=deal.advance - deal.collected)


def _declare_default(ctx: CallContext, args: dict[str, Any]) -> None:
    deal = _require_deal(ctx, args["deal_id"])
    rp.require_signer(ctx, (deal.financier,), f"declare deal {deal.deal_id} in default")
    _check_step(deal, DealStatus.DEFAULTED)
    if deal.buyer_pending:
        raise LedgerError(Code.PAYMENT_PENDING,
                          f"deal {deal.deal_id}: {deal.buyer_pending} of buyer payments await "
                          "acknowledgement or rejection")
    cond = deal.conditions
    default = rp.settle_default(ctx, deal.due_date, _require_uncovered(deal), cond.recourse,
                                cond.penalty_rate_bps, cond.basis)
    mark_defaulted(ctx, deal.fingerprint, action="factoring.default",
                   detail=f"deal {deal.deal_id}: uncovered {default.uncovered}")
    exposed = rp.exposed_financiers(ctx.scratch, deal.buyer)     # every product, §7
    deal = _move(ctx, deal, DealStatus.DEFAULTED, default=default)
    rp.add_exposure(ctx, FACTORING, deal.buyer, deal.financier, -1)
    risk.on_closed(ctx, FACTORING, deal.deal_id)
    _emit(ctx, "factoring.defaulted", deal, recourse=cond.recourse, **rp.fields_of(default),
          reserve_forfeited=deal.reserve - deal.supplier_share)
    ctx.emit("factoring.obligor_default", {
        "obligor": deal.buyer, "deal_id": deal.deal_id, "exposed": exposed,
        "subjects": rp.subjects("member:" + deal.buyer, "deal:" + deal.deal_id,
                                *("member:" + member for member in exposed))})


# -- helpers -------------------------------------------------------------------------

def _close_payment(ctx: CallContext, args: dict[str, Any], acknowledged: bool) -> None:
    deal = _require_deal(ctx, args["deal_id"])
    payment = rp.close_payment(ctx, deal.deal_id, args["payment_ref"], acknowledged,
                               args.get("reason", ""))
    amount = payment.amount if acknowledged else 0
    if payment.kind == "buyer":
        deal = replace(deal, buyer_pending=deal.buyer_pending - payment.amount,
                       buyer_paid=deal.buyer_paid + amount)
    elif payment.kind == "reserve":
        deal = replace(deal, reserve_pending=deal.reserve_pending - payment.amount,
                       reserve_released=deal.reserve_released + amount)
    _save(ctx, deal)
    _emit(ctx, "factoring.payment_" + payment.status, deal, **rp.payment_attributes(payment))
    if payment.kind == "buyer" and deal.buyer_paid == deal.amount:
        mark_settled(ctx, deal.fingerprint, deal.deal_id, action="factoring.settle",
                     detail=f"deal {deal.deal_id}: paid {deal.buyer_paid}")
        deal = _move(ctx, deal, DealStatus.SETTLED)
        rp.add_exposure(ctx, FACTORING, deal.buyer, deal.financier, -1)
        risk.on_closed(ctx, FACTORING, deal.deal_id)
        _emit(ctx, "factoring.settled", deal, buyer_paid=deal.buyer_paid,
              financier_collected=deal.collected, supplier_share=deal.supplier_share)


def _lapse_previous(ctx: CallContext, invoice: Invoice, today: int) -> None:
    """An accepted, unfunded deal of an earlier day lapses; one of today blocks."""
    previous = latest_deal(ctx.scratch, invoice.fingerprint)
    if previous is None or previous.status not in LIVE:
        return
    if previous.status != DealStatus.ACCEPTED or parse_date(previous.accepted_date) == today:
        raise LedgerError(Code.DEAL_ALREADY_OPEN,
                          f"invoice {invoice.fingerprint.hex()} has the open deal "
                          f"{previous.deal_id} ({previous.status}) with {previous.financier}")
    _emit(ctx, "factoring.lapsed", _move(ctx, previous, DealStatus.LAPSED))


def _require_uncovered(deal: Deal) -> int:
    uncovered = deal.advance - deal.collected
    if uncovered <= 0:
        raise LedgerError(Code.NOT_IN_ARREARS, f"deal {deal.deal_id}: the buyer's payments "
                                               f"({deal.buyer_paid}) cover the advance")
    return uncovered


def _require_offer(ctx: CallContext, offer_id: str) -> Offer:
    return rp.load(ctx, b"offer/", offer_id, Offer, Code.OFFER_NOT_FOUND, "factoring offer")


def _require_deal(ctx: CallContext, deal_id: str) -> Deal:
    return rp.load(ctx, b"deal/", deal_id, Deal, Code.DEAL_NOT_FOUND, "factoring deal")


def _check_step(deal: Deal, to: DealStatus) -> None:
    rp.check_step(DEAL_NEXT, DealStatus(deal.status), to, f"deal {deal.deal_id}")


def _require_status(deal: Deal, allowed: tuple[DealStatus, ...], what: str) -> None:
    rp.require_status(f"deal {deal.deal_id}", deal.status, tuple(allowed), what)


def _move(ctx: CallContext, deal: Deal, to: DealStatus, **changes: Any) -> Deal:
    _check_step(deal, to)
    return _save(ctx, replace(deal, status=to.value, **changes))


def _save(ctx: CallContext, deal: Deal) -> Deal:
    ctx.state.put(b"deal/" + deal.deal_id.encode("utf-8"), deal.encode())
    return deal


def _emit(ctx: CallContext, kind: str, deal: Deal, /, **attributes: Any) -> None:
    ctx.emit(kind, {
        **attributes, "deal_id": deal.deal_id, "status": deal.status,
        "fingerprint": deal.fingerprint.hex(),
        "subjects": rp.subjects("deal:" + deal.deal_id, invoice_asset(deal.fingerprint),
                                "member:" + deal.supplier, "member:" + deal.buyer,
                                "member:" + deal.financier, "member:" + ctx.sender.member_id)})


def _offer_subjects(offer: Offer) -> list[str]:
    return rp.subjects("offer:" + offer.offer_id, "member:" + offer.financier,
                       "" if offer.supplier is None else "member:" + offer.supplier,
                       "" if offer.buyer is None else "member:" + offer.buyer,
                       "" if offer.fingerprint is None else invoice_asset(offer.fingerprint))


_FINANCIER = frozenset({Role.FINANCIER})
_SUPPLIER = frozenset({Role.SUPPLIER})
_DEAL = ("deal_id", rp.RECORD_ID)
_REF = ("payment_ref", rp.PAYMENT_REF)
_REASON = ("reason", rp.REASON)

CONTRACT = Contract(FACTORING, 1, (
    MethodSpec("offer", _offer, args=(
        ("currency", CURRENCY), ("advance_bps", Int(1, 10_000)), ("rate_bps", rp.RATE_BPS),
        ("basis", rp.BASIS), ("fee", MONEY), ("recourse", Bool()), ("grace_days", rp.DAYS),
        ("penalty_rate_bps", rp.RATE_BPS), ("expiry_date", DATE), ("supplier", MEMBER_ID),
        ("fingerprint", FINGERPRINT), ("buyer", MEMBER_ID), ("reverse", Bool()),
    ), optional=frozenset({"basis", "fee", "grace_days", "penalty_rate_bps", "supplier",
                           "fingerprint", "buyer", "reverse"}), roles=_FINANCIER),
    MethodSpec("withdraw_offer", _withdraw_offer, args=(("offer_id", rp.RECORD_ID),),
               roles=_FINANCIER),
    MethodSpec("accept", _accept, args=(("offer_id", rp.RECORD_ID), ("fingerprint", FINGERPRINT)),
               roles=_SUPPLIER),
    MethodSpec("cancel_acceptance", _cancel_acceptance, args=(_DEAL, _REASON),
               optional=frozenset({"reason"}), roles=_SUPPLIER | _FINANCIER),
    MethodSpec("fund", _fund, args=(_DEAL, _REF), roles=_FINANCIER),
    MethodSpec("pay", _pay, args=(_DEAL, ("amount", AMOUNT), _REF),
               roles=frozenset({Role.CORE_ENTERPRISE})),
    MethodSpec("acknowledge_payment", _acknowledge_payment, args=(_DEAL, _REF)),
    MethodSpec("reject_payment", _reject_payment, args=(_DEAL, _REF, _REASON),
               optional=frozenset({"reason"})),
    MethodSpec("release_reserve", _release_reserve, args=(_DEAL, _REF), roles=_FINANCIER),
    MethodSpec("mark_overdue", _mark_overdue, args=(_DEAL,), roles=_FINANCIER),
    MethodSpec("declare_default", _declare_default, args=(_DEAL,), roles=_FINANCIER),
))
