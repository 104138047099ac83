"""Pledge (warehouse receipt) financing (domain guide §4, §7): a loan against goods.

Theory of operation (docs/products.md § Pledge financing):

1. The owner of an `issued` receipt signs `apply`: a financier, a principal,
   a tenor and the terms (`PledgeTerms`). The principal may be at most
   `terms.pledge_max_loan(units in the warehouse, unit value, ltv)`. The
   receipt is pledged at once (its lien, held by the financier: one pledge
   per receipt); the deal is `applied` until the financier funds it, or
   either side `cancel`s it (the lien ends).
2. The financier signs `fund` with its payment reference: the limit is
   checked again at the latest appraisal, the funding payment of the
   principal is recorded, the due date is today plus the tenor.
3. The borrower `repay`s (each payment with its reference), the financier
   acknowledges or rejects (contracts/repayment.py). An acknowledged payment
   first posts interest on the outstanding principal since the last posting
   (`terms.loan_interest`, half up), pays the interest due, then principal.
   The payment that repays the principal settles the deal: `repaid`, the
   lien ends, every unit left is free.
4. Release: the borrower `request_release`s units, the financier
   `approve_release`s, the warehouse `confirm_release`s that they left; only
   then they count. At most `terms.pledge_releasable` units: the repaid share
   (`releasable_total(q0, L0, repaid) - released`), and never so many that
   the rest breaks the maintenance ratio. Any of the three may cancel.
5. The warehouse `reappraise`s the unit value; when the outstanding
   principal over the collateral value goes above the maintenance ratio,
   `pledge.margin_call` with a cure deadline (today + cure days); a
   repayment or a higher appraisal that brings it back cures it.
6. After the due date plus the grace days, or after an uncured margin
   call's deadline, the financier may `declare_default` (penalty interest
   from that date on all owed, exposure events to every financier exposed to
   the borrower), then `take_title`: the financier owns the receipt.

Deal life cycle (`DEAL_NEXT`): applied -> funded | cancelled;
funded -> repaid | defaulted; defaulted -> title_transferred.

State (namespace c/pledge/):
    deal/<deal id>            -> PledgeDeal     ids: "PL-" + creating tx id (hex)
    exposure/<borrower id>    -> [[financier, funded deals], ...] sorted by financier
    pay/<deal id>\\0<ref>      -> repayment.Payment (kinds funding, repayment)
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from contracts import repayment as rp
from contracts import risk
from contracts.calendar import format_date, parse_date
from contracts.engine import Contract, MethodSpec
from contracts.pledge_records import (  # noqa: F401 (readers re-exported)
    DEAL_NEXT,
    PLEDGE,
    TENOR,
    TERMS_ARGS,
    TERMS_OPTIONAL,
    DealStatus,
    PledgeDeal,
    PledgeTerms,
    breach_date,
    check_loan_limit,
    deal_key,
    exposure,
    get_deal,
    new_deal,
    terms_from_args,
)
from contracts.repayment import AMOUNT, exposed_financiers
from contracts.terms import collateral_value, loan_to_value_bps
from contracts.warehouse_receipts import (
    QUANTITY, RECEIPT_ID, Receipt, mark_pledged, mark_unpledged, receipt_asset,
    require_receipt, set_unit_value, take_out, transfer_title, validate_pledgeable)
from ledger.accounts import MEMBER_ID, Role
from ledger.contract_api import CallContext
from ledger.errors import Code, LedgerError


def _apply(ctx: CallContext, args: dict[str, Any]) -> None:
    receipt = require_receipt(ctx.scratch, args["receipt_id"])
    rp.require_signer(ctx, (receipt.owner,), f"pledge receipt {receipt.receipt_id}")
    validate_pledgeable(ctx.scratch, receipt)
    financier = args["financier"]
    rp.require_role(ctx, financier, Role.FINANCIER, "financier")
    if financier in (receipt.owner, receipt.warehouse):
        raise LedgerError(Code.INVALID_ARGUMENT, f"financier: {financier} is the receipt's "
                                                 "owner or warehouse")
    terms = terms_from_args(args)
    check_loan_limit(args["principal"], receipt.remaining, receipt.unit_value, terms.ltv_bps)
    deal = new_deal(rp.new_id("PL", ctx), receipt, financier, terms, args["principal"],
                    args["tenor_days"], ctx.tx_id, ctx.height)
    mark_pledged(ctx, receipt.receipt_id, financier, deal.deal_id)
    _emit(ctx, "pledge.applied", _save(ctx, deal), principal=deal.principal,
          tenor_days=deal.tenor_days, quantity=deal.quantity, unit_value=receipt.unit_value,
          terms=rp.fields_of(terms))


def _cancel(ctx: CallContext, args: dict[str, Any]) -> None:
    deal = _require_deal(ctx, args["deal_id"])
    rp.require_signer(ctx, (deal.borrower, deal.financier), f"cancel deal {deal.deal_id}")
    _check_step(deal, DealStatus.CANCELLED)
    mark_unpledged(ctx, deal.receipt_id, deal.deal_id)
    _emit(ctx, "pledge.cancelled", _move(ctx, deal, DealStatus.CANCELLED),
          reason=args.get("reason", ""))


def _fund(ctx: CallContext, args: dict[str, Any]) -> None:
    deal = _require_deal(ctx, args["deal_id"])
    rp.require_signer(ctx, (deal.financier,), f"fund deal {deal.deal_id}")
    _check_step(deal, DealStatus.FUNDED)
    receipt = require_receipt(ctx.scratch, deal.receipt_id)
    check_loan_limit(deal.principal, deal.remaining, receipt.unit_value, deal.terms.ltv_bps)
    risk.on_funded(ctx, PLEDGE, deal.deal_id, financier=deal.financier, obligor=deal.borrower,
                   supplier=None, currency=deal.currency, amount=deal.principal)
    payment = rp.record_payment(ctx, deal.deal_id, "funding", deal.borrower, deal.principal,
                                args["payment_ref"])
    today = rp.today(ctx)
    deal = _move(ctx, deal, DealStatus.FUNDED, funding_ref=payment.payment_ref,
                 funded_date=format_date(today), due_date=format_date(today + deal.tenor_days),
                 accrued_through=format_date(today))
    rp.add_exposure(ctx, PLEDGE, deal.borrower, deal.financier, 1)
    _emit(ctx, "pledge.funded", deal, principal=deal.principal, due_date=deal.due_date,
          payment_ref=payment.payment_ref, origin=None)


def _repay(ctx: CallContext, args: dict[str, Any]) -> None:
    deal = _require_deal(ctx, args["deal_id"])
    rp.require_signer(ctx, (deal.borrower,), f"repay deal {deal.deal_id}")
    _require_status(deal, (DealStatus.FUNDED,), "the borrower repays")
    owed = deal.owed(rp.today(ctx))
    if args["amount"] + deal.repay_pending > owed:
        raise LedgerError(Code.OVERPAYMENT,
                          f"deal {deal.deal_id}: {args['amount']} with {deal.repay_pending} "
                          f"pending is more than the {owed} owed today (principal "
                          f"{deal.outstanding} + interest {owed - deal.outstanding})")
    payment = rp.record_payment(ctx, deal.deal_id, "repayment", deal.financier, args["amount"],
                                args["payment_ref"])
    deal = _save(ctx, replace(deal, repay_pending=deal.repay_pending + payment.amount))
    _emit(ctx, "pledge.payment_recorded", deal, **rp.payment_attributes(payment))


def _acknowledge_payment(ctx: CallContext, args: dict[str, Any]) -> None:
    _close_payment(ctx, args, acknowledged=True)


def _reject_payment(ctx: CallContext, args: dict[str, Any]) -> None:
    _close_payment(ctx, args, acknowledged=False)


def _close_payment(ctx: CallContext, args: dict[str, Any], acknowledged: bool) -> None:
    deal = _require_deal(ctx, args["deal_id"])
    payment = rp.close_payment(ctx, deal.deal_id, args["payment_ref"], acknowledged,
                               args.get("reason", ""))
    split: dict[str, int] = {}
    if payment.kind == "repayment":
        deal = replace(deal, repay_pending=deal.repay_pending - payment.amount)
        if acknowledged:
            deal = deal.accrued(rp.today(ctx))
            to_interest = min(payment.amount, deal.interest_accrued - deal.interest_paid)
            split = {"to_interest": to_interest, "to_principal": payment.amount - to_interest}
            deal = replace(deal, interest_paid=deal.interest_paid + to_interest,
                           principal_repaid=deal.principal_repaid + split["to_principal"])
    _emit(ctx, "pledge.payment_" + payment.status, _save(ctx, deal),
          **rp.payment_attributes(payment), **split)
    if split and deal.outstanding == 0:
        _settle(ctx, deal)
    elif split:
        _save(ctx, _margin(ctx, deal, require_receipt(ctx.scratch, deal.receipt_id)))


def _request_release(ctx: CallContext, args: dict[str, Any]) -> None:
    deal = _require_deal(ctx, args["deal_id"])
    rp.require_signer(ctx, (deal.borrower,), f"release goods of deal {deal.deal_id}")
    _require_status(deal, (DealStatus.FUNDED,), "goods are released")
    if deal.release_requested:
        raise LedgerError(Code.RELEASE_PENDING,
                          f"deal {deal.deal_id} has a release of {deal.release_requested} units "
                          "open: confirm or cancel it first")
    _check_releasable(ctx, deal, args["quantity"])
    deal = _save(ctx, replace(deal, release_requested=args["quantity"], release_approved=False))
    _emit(ctx, "pledge.release_requested", deal, quantity=deal.release_requested)


def _approve_release(ctx: CallContext, args: dict[str, Any]) -> None:
    deal = _require_release(ctx, args["deal_id"], "financier")
    if deal.release_approved:
        raise LedgerError(Code.INVALID_STATE_TRANSITION,
                          f"deal {deal.deal_id}: the release of {deal.release_requested} units "
                          "is already approved")
    deal = _save(ctx, replace(deal, release_approved=True))
    _emit(ctx, "pledge.release_approved", deal, quantity=deal.release_requested)


def _confirm_release(ctx: CallContext, args: dict[str, Any]) -> None:
    deal = _require_release(ctx, args["deal_id"], "warehouse")
    if not deal.release_approved:
        raise LedgerError(Code.RELEASE_NOT_APPROVED,
                          f"deal {deal.deal_id}: {deal.financier} has not approved the release "
                          f"of {deal.release_requested} units")
    quantity = deal.release_requested
    _check_releasable(ctx, deal, quantity)
    take_out(ctx, deal.receipt_id, quantity, deal.deal_id)
    deal = _save(ctx, replace(deal, released=deal.released + quantity, release_requested=0,
                              release_approved=False))
    _emit(ctx, "pledge.released", deal, quantity=quantity, released=deal.released,
          remaining=deal.remaining)


def _cancel_release(ctx: CallContext, args: dict[str, Any]) -> None:
    deal = _require_release(ctx, args["deal_id"], "any")
    _cancel_open_release(ctx, deal, args.get("reason", ""))


def _reappraise(ctx: CallContext, args: dict[str, Any]) -> None:
    deal = _require_deal(ctx, args["deal_id"])
    rp.require_signer(ctx, (deal.warehouse,), f"re-appraise the goods of deal {deal.deal_id}")
    _require_status(deal, (DealStatus.APPLIED, DealStatus.FUNDED, DealStatus.DEFAULTED),
                    "its goods are re-appraised")
    receipt = set_unit_value(ctx, deal.receipt_id, args["unit_value"])
    value = collateral_value(deal.remaining, receipt.unit_value)
    ratio = loan_to_value_bps(deal.outstanding, value)
    if deal.status == DealStatus.FUNDED:
        deal = _save(ctx, _margin(ctx, deal, receipt))
    _emit(ctx, "pledge.reappraised", deal, unit_value=receipt.unit_value,
          collateral_value=value, outstanding=deal.outstanding, ltv_bps=ratio)


def _declare_default(ctx: CallContext, args: dict[str, Any]) -> None:
    deal = _require_deal(ctx, args["deal_id"])
    rp.require_signer(ctx, (deal.financier,), f"declare deal {deal.deal_id} in default")
    _check_step(deal, DealStatus.DEFAULTED)
    if deal.repay_pending:
        raise LedgerError(Code.PAYMENT_PENDING,
                          f"deal {deal.deal_id}: {deal.repay_pending} of repayments await "
                          "acknowledgement or rejection")
    if deal.release_requested:
        raise LedgerError(Code.RELEASE_PENDING,
                          f"deal {deal.deal_id}: a release of {deal.release_requested} units is "
                          "open: cancel it first")
    today = rp.today(ctx)
    breach = breach_date(deal, today)
    deal = deal.accrued(today)
    owed = deal.outstanding + deal.interest_accrued - deal.interest_paid
    terms = deal.terms
    default = rp.settle_default(ctx, breach, owed, True, terms.penalty_rate_bps, terms.basis)
    exposed = exposed_financiers(ctx.scratch, deal.borrower)
    deal = _move(ctx, deal, DealStatus.DEFAULTED, default=default)
    rp.add_exposure(ctx, PLEDGE, deal.borrower, deal.financier, -1)
    risk.on_closed(ctx, PLEDGE, deal.deal_id)
    _emit(ctx, "pledge.defaulted", deal, breach_date=breach, **rp.fields_of(default))
    ctx.emit("pledge.obligor_default", {
        "obligor": deal.borrower, "deal_id": deal.deal_id, "exposed": exposed,
        "subjects": rp.subjects("member:" + deal.borrower, "deal:" + deal.deal_id,
                                *("member:" + member for member in exposed))})


def _take_title(ctx: CallContext, args: dict[str, Any]) -> None:
    deal = _require_deal(ctx, args["deal_id"])
    rp.require_signer(ctx, (deal.financier,), f"take title under deal {deal.deal_id}")
    _check_step(deal, DealStatus.TITLE_TRANSFERRED)
    receipt = require_receipt(ctx.scratch, deal.receipt_id)
    value = collateral_value(deal.remaining, receipt.unit_value)
    transfer_title(ctx, deal.receipt_id, deal.deal_id, deal.financier)
    deal = _move(ctx, deal, DealStatus.TITLE_TRANSFERRED, title_value=value)
    _emit(ctx, "pledge.title_transferred", deal, quantity=deal.remaining,
          unit_value=receipt.unit_value, title_value=value)


# -- for prepayment financing -----------------------------------------------------------

def open_funded(ctx: CallContext, receipt: Receipt, financier: str, principal: int,
                terms: PledgeTerms, tenor_days: int, origin: str, funding_ref: str,
                funded_date: str) -> PledgeDeal:
    """A funded pledge of a receipt just issued, continuing the loan `origin` (a
    prepayment funded on `funded_date`): interest runs from that day, the due date is
    that day plus the tenor. A margin call is raised at once if the goods do not cover
    the principal at the maintenance ratio."""
    deal = replace(new_deal(rp.new_id("PL", ctx), receipt, financier, terms, principal,
                            tenor_days, ctx.tx_id, ctx.height),
                   status=DealStatus.FUNDED.value, origin=origin, funding_ref=funding_ref,
                   funded_date=funded_date, accrued_through=funded_date,
                   due_date=format_date(parse_date(funded_date) + tenor_days))
    risk.on_funded(ctx, PLEDGE, deal.deal_id, financier=financier, obligor=deal.borrower,
                   supplier=None, currency=deal.currency, amount=principal)
    mark_pledged(ctx, receipt.receipt_id, financier, deal.deal_id)
    rp.add_exposure(ctx, PLEDGE, deal.borrower, financier, 1)
    _emit(ctx, "pledge.funded", _save(ctx, deal), principal=principal, due_date=deal.due_date,
          payment_ref=funding_ref, origin=origin)
    return _save(ctx, _margin(ctx, deal, receipt))


# -- helpers -------------------------------------------------------------------------

def _settle(ctx: CallContext, deal: PledgeDeal) -> None:
    """The principal is repaid: the pledge ends, every unit left is free."""
    if deal.release_requested:
        deal = _cancel_open_release(ctx, deal, "the loan is repaid: every unit is free")
    mark_unpledged(ctx, deal.receipt_id, deal.deal_id)
    deal = _move(ctx, deal, DealStatus.REPAID, margin_call_date=None, cure_deadline=None)
    rp.add_exposure(ctx, PLEDGE, deal.borrower, deal.financier, -1)
    risk.on_closed(ctx, PLEDGE, deal.deal_id)
    _emit(ctx, "pledge.repaid", deal, principal=deal.principal,
          interest_paid=deal.interest_paid, released=deal.released, freed=deal.remaining)


def _margin(ctx: CallContext, deal: PledgeDeal, receipt: Receipt) -> PledgeDeal:
    """Opens a margin call when the outstanding principal over the collateral value is
    above the maintenance ratio, or cures the open one when it no longer is."""
    value = collateral_value(deal.remaining, receipt.unit_value)
    ratio = loan_to_value_bps(deal.outstanding, value)
    called = ratio > deal.terms.maintenance_bps
    today = rp.today(ctx)
    if called and deal.cure_deadline is None:
        deal = replace(deal, margin_call_date=format_date(today),
                       cure_deadline=format_date(today + deal.terms.cure_days))
        _emit(ctx, "pledge.margin_call", deal, ltv_bps=ratio,
              maintenance_bps=deal.terms.maintenance_bps, outstanding=deal.outstanding,
              collateral_value=value, cure_deadline=deal.cure_deadline)
    elif not called and deal.cure_deadline is not None:
        deal = replace(deal, margin_call_date=None, cure_deadline=None)
        _emit(ctx, "pledge.margin_cured", deal, ltv_bps=ratio,
              maintenance_bps=deal.terms.maintenance_bps, outstanding=deal.outstanding,
              collateral_value=value)
    return deal


def _check_releasable(ctx: CallContext, deal: PledgeDeal, quantity: int) -> None:
    receipt = require_receipt(ctx.scratch, deal.receipt_id)
    allowed = deal.releasable(receipt.unit_value)
    if quantity > allowed:
        raise LedgerError(Code.RELEASE_ABOVE_LIMIT,
                          f"deal {deal.deal_id}: {quantity} units requested, {allowed} may leave "
                          f"now (repaid {deal.principal_repaid} of {deal.principal}, "
                          f"{deal.released} of {deal.quantity} units released, "
                          f"maintenance {deal.terms.maintenance_bps} bp at unit value "
                          f"{receipt.unit_value})")


def _require_release(ctx: CallContext, deal_id: str, who: str) -> PledgeDeal:
    """The deal, signed by its financier, its warehouse or any of them and the borrower,
    with a release request open (RELEASE_NOT_FOUND)."""
    deal = _require_deal(ctx, deal_id)
    signers = {"financier": (deal.financier,), "warehouse": (deal.warehouse,),
               "any": (deal.borrower, deal.financier, deal.warehouse)}[who]
    rp.require_signer(ctx, signers, f"the release of deal {deal.deal_id}")
    if not deal.release_requested:
        raise LedgerError(Code.RELEASE_NOT_FOUND, f"deal {deal.deal_id} has no release open")
    return deal


def _cancel_open_release(ctx: CallContext, deal: PledgeDeal, reason: str) -> PledgeDeal:
    quantity = deal.release_requested
    deal = _save(ctx, replace(deal, release_requested=0, release_approved=False))
    _emit(ctx, "pledge.release_cancelled", deal, quantity=quantity, reason=reason)
    return deal


def _require_deal(ctx: CallContext, deal_id: str) -> PledgeDeal:
    deal = get_deal(ctx.scratch, deal_id)
    if deal is None:
        raise LedgerError(Code.DEAL_NOT_FOUND, f"no pledge deal {deal_id}")
    return deal


def _check_step(deal: PledgeDeal, to: DealStatus) -> None:
    rp.check_step(DEAL_NEXT, DealStatus(deal.status), to, f"deal {deal.deal_id}")


def _require_status(deal: PledgeDeal, allowed: tuple[DealStatus, ...], what: str) -> None:
    rp.require_status(f"deal {deal.deal_id}", deal.status, tuple(allowed), what)


def _move(ctx: CallContext, deal: PledgeDeal, to: DealStatus, **changes: Any) -> PledgeDeal:
    _check_step(deal, to)
    return _save(ctx, replace(deal, status=to.value, **changes))


def _save(ctx: CallContext, deal: PledgeDeal) -> PledgeDeal:
    ctx.namespace(PLEDGE).put(b"deal/" + deal.deal_id.encode("utf-8"), deal.encode())
    return deal


def _emit(ctx: CallContext, kind: str, deal: PledgeDeal, /, **attributes: Any) -> None:
    ctx.emit(kind, {
        **attributes, "deal_id": deal.deal_id, "status": deal.status,
        "receipt_id": deal.receipt_id,
        "subjects": rp.subjects("deal:" + deal.deal_id, receipt_asset(deal.receipt_id),
                                "member:" + deal.borrower, "member:" + deal.financier,
                                "member:" + deal.warehouse, "member:" + ctx.sender.member_id)})


_DEAL = ("deal_id", rp.RECORD_ID)
_REF = ("payment_ref", rp.PAYMENT_REF)
_REASON = ("reason", rp.REASON)
_FINANCIER = frozenset({Role.FINANCIER})
_WAREHOUSE = frozenset({Role.WAREHOUSE})

CONTRACT = Contract(PLEDGE, 1, (
    MethodSpec("apply", _apply, args=(
        ("receipt_id", RECEIPT_ID), ("financier", MEMBER_ID), ("principal", AMOUNT),
        ("tenor_days", TENOR), *TERMS_ARGS,
    ), optional=TERMS_OPTIONAL),
    MethodSpec("cancel", _cancel, args=(_DEAL, _REASON), optional=frozenset({"reason"})),
    MethodSpec("fund", _fund, args=(_DEAL, _REF), roles=_FINANCIER),
    MethodSpec("repay", _repay, args=(_DEAL, ("amount", AMOUNT), _REF)),
    MethodSpec("acknowledge_payment", _acknowledge_payment, args=(_DEAL, _REF)),
    MethodSpec("reject_payment", _reject_payment, args=(_DEAL, _REF, _REASON),
               optional=frozenset({"reason"})),
    MethodSpec("request_release", _request_release, args=(_DEAL, ("quantity", QUANTITY))),
    MethodSpec("approve_release", _approve_release, args=(_DEAL,), roles=_FINANCIER),
    MethodSpec("confirm_release", _confirm_release, args=(_DEAL,), roles=_WAREHOUSE),
    MethodSpec("cancel_release", _cancel_release, args=(_DEAL, _REASON),
               optional=frozenset({"reason"})),
    MethodSpec("reappraise", _reappraise, args=(_DEAL, ("unit_value", AMOUNT)),
               roles=_WAREHOUSE),
    MethodSpec("declare_default", _declare_default, args=(_DEAL,), roles=_FINANCIER),
    MethodSpec("take_title", _take_title, args=(_DEAL,), roles=_FINANCIER),
))
