"""Prepayment (future goods) financing (domain guide §5, §4, §7).

Theory of operation (docs/products.md § Prepayment financing):

1. A distributor signs `apply`: a financier pays `amount` up front to a core
   enterprise (the seller) for `quantity` units of `goods` at `unit_price`;
   the seller delivers them into a named warehouse within `delivery_days` of
   the funding; the loan runs `tenor_days` from the funding on the pledge
   terms (`PledgeTerms`). `amount` is at most
   `terms.pledge_max_loan(quantity, unit_price, ltv)` (LOAN_ABOVE_LTV).
2. The seller signs `accept`: its promise to deliver by the deadline and to
   buy the goods back, i.e. repay `amount` to the financier, if it does not.
   Before the funding, any of the three may `cancel`.
3. The financier signs `fund` with its payment reference: the funding
   payment of `amount`, financier to seller, is recorded; the delivery
   deadline is today + delivery_days.
4. The warehouse signs `deliver` with its appraisal of one unit: it issues a
   receipt for the whole order to the distributor
   (`warehouse_receipts.issue_receipt`) which is pledged to the financier at
   once (`pledge.open_funded`): from here on it is a pledge loan of `amount`,
   interest running since the funding, due `tenor_days` after it.
5. If nothing was delivered by the deadline, the financier may
   `call_buyback` (from the day after it): the seller owes `amount`, pays it
   with `pay_buyback` (each payment acknowledged by the financier), and after
   `grace_days` from the call the financier may `declare_default` on it
   (penalty interest since the call; every financier exposed to the seller is
   named).

Deal life cycle (`DEAL_NEXT`): applied -> accepted | cancelled;
accepted -> funded | cancelled; funded -> delivered | buyback_called;
buyback_called -> bought_back | defaulted.

State (namespace c/prepayment/):
    deal/<deal id>          -> PrepaymentDeal   ids: "PP-" + creating tx id (hex)
    exposure/<seller id>    -> [[financier, live deals], ...] (funded, buy-back called)
    pay/<deal id>\\0<ref>    -> repayment.Payment (kinds funding, buyback)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, ClassVar

from contracts import pledge
from contracts import repayment as rp
from contracts import risk
from contracts.calendar import format_date, parse_date
from contracts.engine import Contract, MethodSpec
from contracts.invoices import CURRENCY, DATE
from contracts.pledge_records import (TENOR, TERMS_ARGS, TERMS_OPTIONAL, PledgeTerms,
                                      check_loan_limit, terms_from_args)
from contracts.repayment import AMOUNT, MONEY, exposed_financiers
from contracts.terms import collateral_value
from contracts.warehouse_receipts import GOODS, QUANTITY, RECEIPT_ID, issue_receipt
from ledger.accounts import MEMBER_ID, Role
from ledger.contract_api import CallContext, contract_prefix
from ledger.errors import Code, LedgerError
from ledger.state import StateReader
from ledger.structure import Field, Int, Nested, Optional, Str, Structure
from ledger.types import HASH

PREPAYMENT = "prepayment"


class DealStatus(StrEnum):
    APPLIED = "applied"
    ACCEPTED = "accepted"
    CANCELLED = "cancelled"
    FUNDED = "funded"
    DELIVERED = "delivered"
    BUYBACK_CALLED = "buyback_called"
    BOUGHT_BACK = "bought_back"
    DEFAULTED = "defaulted"


DEAL_NEXT: dict[DealStatus, tuple[DealStatus, ...]] = {
    DealStatus.APPLIED: (DealStatus.ACCEPTED, DealStatus.CANCELLED),
    DealStatus.ACCEPTED: (DealStatus.FUNDED, DealStatus.CANCELLED),
    DealStatus.FUNDED: (DealStatus.DELIVERED, DealStatus.BUYBACK_CALLED),
    DealStatus.BUYBACK_CALLED: (DealStatus.BOUGHT_BACK, DealStatus.DEFAULTED),
    DealStatus.CANCELLED: (), DealStatus.DELIVERED: (), DealStatus.BOUGHT_BACK: (),
    DealStatus.DEFAULTED: (),
}


@dataclass(frozen=True, slots=True)
class PrepaymentDeal(Structure):
    """One prepayment; money in minor units of `currency`."""

    deal_id: str
    distributor: str            # the borrower, owner of the receipt at delivery
    seller: str                 # the core enterprise: delivers, or buys back
    financier: str
    warehouse: str
    currency: str
    goods: str
    quantity: int
    unit_price: int             # the purchase price of one unit
    amount: int                 # prepaid by the financier to the seller
    terms: PledgeTerms          # of the pledge loan after delivery
    delivery_days: int          # deadline = funding date + delivery_days
    tenor_days: int             # the loan's due date = funding date + tenor_days
    status: str
    funding_ref: str | None
    funded_date: str | None
    delivery_deadline: str | None
    receipt_id: str | None      # issued at delivery
    pledge_deal_id: str | None  # the pledge deal the loan continues as
    buyback_date: str | None    # the day the financier called the buy-back
    buyback_paid: int           # acknowledged buy-back payments
    buyback_pending: int
    default: rp.Default | None  # uncovered = amount - buyback_paid
    created_tx: bytes
    created_height: int

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("deal_id", rp.RECORD_ID), ("distributor", MEMBER_ID), ("seller", MEMBER_ID),
        ("financier", MEMBER_ID), ("warehouse", MEMBER_ID), ("currency", CURRENCY),
        ("goods", GOODS), ("quantity", QUANTITY), ("unit_price", AMOUNT), ("amount", AMOUNT),
        ("terms", Nested(PledgeTerms)), ("delivery_days", TENOR), ("tenor_days", TENOR),
        ("status", Str(max_bytes=16, pattern="|".join(s.value for s in DealStatus))),
        ("funding_ref", Optional(rp.PAYMENT_REF)), ("funded_date", Optional(DATE)),
        ("delivery_deadline", Optional(DATE)), ("receipt_id", Optional(RECEIPT_ID)),
        ("pledge_deal_id", Optional(rp.RECORD_ID)), ("buyback_date", Optional(DATE)),
        ("buyback_paid", MONEY), ("buyback_pending", MONEY),
        ("default", Optional(Nested(rp.Default))), ("created_tx", HASH),
        ("created_height", Int(1)),
    )


def deal_key(deal_id: str) -> bytes:
    return contract_prefix(PREPAYMENT) + b"deal/" + deal_id.encode("utf-8")


def get_deal(reader: StateReader, deal_id: str) -> PrepaymentDeal | None:
    data = reader.get(deal_key(deal_id))
    return None if data is None else PrepaymentDeal.decode(data)


def exposure(reader: StateReader, seller: str) -> list[list[Any]]:
    """[[financier, funded or bought-back-called prepayments], ...] on `seller`."""
    return rp.exposure(reader, PREPAYMENT, seller)


# -- methods ---------------------------------------------------------------------------

def _apply(ctx: CallContext, args: dict[str, Any]) -> None:
    parties = (ctx.sender.member_id, args["seller"], args["financier"], args["warehouse"])
    for member_id, role, name in ((args["seller"], Role.CORE_ENTERPRISE, "seller"),
                                  (args["financier"], Role.FINANCIER, "financier"),
                                  (args["warehouse"], Role.WAREHOUSE, "warehouse")):
        rp.require_role(ctx, member_id, role, name)
    if len(set(parties)) != len(parties):
        raise LedgerError(Code.INVALID_ARGUMENT, "distributor, seller, financier and warehouse "
                                                 "must be four different members")
    if args["delivery_days"] >= args["tenor_days"]:
        raise LedgerError(Code.INVALID_ARGUMENT,
                          f"delivery_days: {args['delivery_days']} is not before the loan's "
                          f"tenor of {args['tenor_days']} days")
    terms = terms_from_args(args)
    check_loan_limit(args["amount"], args["quantity"], args["unit_price"], terms.ltv_bps)
    deal = PrepaymentDeal(
        rp.new_id("PP", ctx), ctx.sender.member_id, args["seller"], args["financier"],
        args["warehouse"], args["currency"], args["goods"], args["quantity"], args["unit_price"],
        args["amount"], terms, args["delivery_days"], args["tenor_days"],
        DealStatus.APPLIED.value, None, None, None, None, None, None, 0, 0, None, ctx.tx_id,
        ctx.height)
    _emit(ctx, "prepayment.applied", _save(ctx, deal), amount=deal.amount, goods=deal.goods,
          quantity=deal.quantity, unit_price=deal.unit_price, currency=deal.currency,
          delivery_days=deal.delivery_days, tenor_days=deal.tenor_days,
          terms=rp.fields_of(terms))


def _accept(ctx: CallContext, args: dict[str, Any]) -> None:
    deal = _require_deal(ctx, args["deal_id"])
    rp.require_signer(ctx, (deal.seller,), f"accept prepayment {deal.deal_id}")
    # The seller's promise: deliver within delivery_days of the funding, else buy back.
    _emit(ctx, "prepayment.accepted", _move(ctx, deal, DealStatus.ACCEPTED),
          amount=deal.amount, delivery_days=deal.delivery_days)


def _cancel(ctx: CallContext, args: dict[str, Any]) -> None:
    deal = _require_deal(ctx, args["deal_id"])
    rp.require_signer(ctx, (deal.distributor, deal.seller, deal.financier),
                      f"cancel prepayment {deal.deal_id}")
    _emit(ctx, "prepayment.cancelled", _move(ctx, deal, DealStatus.CANCELLED),
          reason=args.get("reason", ""))


def _fund(ctx: CallContext, args: dict[str, Any]) -> None:
    deal = _require_deal(ctx, args["deal_id"])
    rp.require_signer(ctx, (deal.financier,), f"fund prepayment {deal.deal_id}")
    _check_step(deal, DealStatus.FUNDED)
    risk.on_funded(ctx, PREPAYMENT, deal.deal_id, financier=deal.financier, obligor=deal.seller,
                   supplier=None, currency=deal.currency, amount=deal.amount)
    payment = rp.record_payment(ctx, deal.deal_id, "funding", deal.seller, deal.amount,
                                args["payment_ref"])
    today = rp.today(ctx)
    deal = _move(ctx, deal, DealStatus.FUNDED, funding_ref=payment.payment_ref,
                 funded_date=format_date(today),
                 delivery_deadline=format_date(today + deal.delivery_days))
    rp.add_exposure(ctx, PREPAYMENT, deal.seller, deal.financier, 1)
    _emit(ctx, "prepayment.funded", deal, amount=deal.amount, payment_ref=payment.payment_ref,
          delivery_deadline=deal.delivery_deadline)


def _deliver(ctx: CallContext, args: dict[str, Any]) -> None:
    deal = _require_deal(ctx, args["deal_id"])
    rp.require_signer(ctx, (deal.warehouse,), f"deliver the goods of prepayment {deal.deal_id}")
    _check_step(deal, DealStatus.DELIVERED)
    collateral_value(deal.quantity, args["unit_value"])      # must fit 2^63-1
    receipt = issue_receipt(ctx, deal.distributor, deal.goods, deal.quantity,
                            args["unit_value"], deal.currency)
    risk.on_closed(ctx, PREPAYMENT, deal.deal_id)     # continues as the pledge loan below
    loan = pledge.open_funded(ctx, receipt, deal.financier, deal.amount, deal.terms,
                              deal.tenor_days, deal.deal_id, str(deal.funding_ref),
                              str(deal.funded_date))
    deal = _move(ctx, deal, DealStatus.DELIVERED, receipt_id=receipt.receipt_id,
                 pledge_deal_id=loan.deal_id)
    rp.add_exposure(ctx, PREPAYMENT, deal.seller, deal.financier, -1)
    _emit(ctx, "prepayment.delivered", deal, receipt_id=receipt.receipt_id,
          pledge_deal_id=loan.deal_id, quantity=deal.quantity, unit_value=receipt.unit_value,
          extra_subject="receipt:" + receipt.receipt_id)


def _call_buyback(ctx: CallContext, args: dict[str, Any]) -> None:
    deal = _require_deal(ctx, args["deal_id"])
    rp.require_signer(ctx, (deal.financier,), f"call the buy-back of prepayment {deal.deal_id}")
    _check_step(deal, DealStatus.BUYBACK_CALLED)
    today = rp.today(ctx)
    if today <= parse_date(str(deal.delivery_deadline)):
        raise LedgerError(Code.DELIVERY_NOT_DUE,
                          f"prepayment {deal.deal_id}: {deal.seller} may deliver through "
                          f"{deal.delivery_deadline}")
    deal = _move(ctx, deal, DealStatus.BUYBACK_CALLED, buyback_date=format_date(today))
    _emit(ctx, "prepayment.buyback_called", deal, owed=deal.amount, pay_to=deal.financier,
          delivery_deadline=deal.delivery_deadline)


def _pay_buyback(ctx: CallContext, args: dict[str, Any]) -> None:
    deal = _require_deal(ctx, args["deal_id"])
    rp.require_signer(ctx, (deal.seller,), f"buy back prepayment {deal.deal_id}")
    rp.require_status(f"prepayment {deal.deal_id}", deal.status,
                      (DealStatus.BUYBACK_CALLED.value,), "the seller buys back")
    left = deal.amount - deal.buyback_paid - deal.buyback_pending
    if args["amount"] > left:
        raise LedgerError(Code.OVERPAYMENT,
                          f"prepayment {deal.deal_id}: {args['amount']} is more than the {left} "
                          f"left of {deal.amount} (paid {deal.buyback_paid}, pending "
                          f"{deal.buyback_pending})")
    payment = rp.record_payment(ctx, deal.deal_id, "buyback", deal.financier, args["amount"],
                                args["payment_ref"])
    deal = _save(ctx, replace(deal, buyback_pending=deal.buyback_pending + payment.amount))
    _emit(ctx, "prepayment.payment_recorded", deal, **rp.payment_attributes(payment))


def _acknowledge_payment(ctx: CallContext, args: dict[str, Any]) -> None:
    _close_payment(ctx, args, acknowledged=True)


def _reject_payment(ctx: CallContext, args: dict[str, Any]) -> None:
    _close_payment(ctx, args, acknowledged=False)


def _close_payment(ctx: CallContext, args: dict[str, Any], acknowledged: bool) -> None:
    deal = _require_deal(ctx, args["deal_id"])
    payment = rp.close_payment(ctx, deal.deal_id, args["payment_ref"], acknowledged,
                               args.get("reason", ""))
    if payment.kind == "buyback":
        deal = replace(deal, buyback_pending=deal.buyback_pending - payment.amount,
                       buyback_paid=deal.buyback_paid + (payment.amount if acknowledged else 0))
    _emit(ctx, "prepayment.payment_" + payment.status, _save(ctx, deal),
          **rp.payment_attributes(payment))
    if payment.kind == "buyback" and deal.buyback_paid == deal.amount:
        deal = _move(ctx, deal, DealStatus.BOUGHT_BACK)
        rp.add_exposure(ctx, PREPAYMENT, deal.seller, deal.financier, -1)
        risk.on_closed(ctx, PREPAYMENT, deal.deal_id)
        _emit(ctx, "prepayment.bought_back", deal, buyback_paid=deal.buyback_paid)


def _declare_default(ctx: CallContext, args: dict[str, Any]) -> None:
    deal = _require_deal(ctx, args["deal_id"])
    rp.require_signer(ctx, (deal.financier,), f"declare prepayment {deal.deal_id} in default")
    _check_step(deal, DealStatus.DEFAULTED)
    if deal.buyback_pending:
        raise LedgerError(Code.PAYMENT_PENDING,
                          f"prepayment {deal.deal_id}: {deal.buyback_pending} of buy-back "
                          "payments await acknowledgement or rejection")
    buyback_date = str(deal.buyback_date)
    rp.check_arrears(ctx, f"prepayment {deal.deal_id}", buyback_date, deal.terms.grace_days)
    default = rp.settle_default(ctx, buyback_date, deal.amount - deal.buyback_paid, True,
                                deal.terms.penalty_rate_bps, deal.terms.basis)
    exposed = exposed_financiers(ctx.scratch, deal.seller)
    deal = _move(ctx, deal, DealStatus.DEFAULTED, default=default)
    rp.add_exposure(ctx, PREPAYMENT, deal.seller, deal.financier, -1)
    risk.on_closed(ctx, PREPAYMENT, deal.deal_id)
    _emit(ctx, "prepayment.defaulted", deal, **rp.fields_of(default))
    ctx.emit("prepayment.obligor_default", {
        "obligor": deal.seller, "deal_id": deal.deal_id, "exposed": exposed,
        "subjects": rp.subjects("member:" + deal.seller, "deal:" + deal.deal_id,
                                *("member:" + member for member in exposed))})


# -- helpers -------------------------------------------------------------------------

def _require_deal(ctx: CallContext, deal_id: str) -> PrepaymentDeal:
    return rp.load(ctx, b"deal/", deal_id, PrepaymentDeal, Code.DEAL_NOT_FOUND,
                   "prepayment deal")


def _check_step(deal: PrepaymentDeal, to: DealStatus) -> None:
    rp.check_step(DEAL_NEXT, DealStatus(deal.status), to, f"prepayment {deal.deal_id}")


def _move(ctx: CallContext, deal: PrepaymentDeal, to: DealStatus,
          **changes: Any) -> PrepaymentDeal:
    _check_step(deal, to)
    return _save(ctx, replace(deal, status=to.value, **changes))


def _save(ctx: CallContext, deal: PrepaymentDeal) -> PrepaymentDeal:
    ctx.state.put(b"deal/" + deal.deal_id.encode("utf-8"), deal.encode())
    return deal


def _emit(ctx: CallContext, kind: str, deal: PrepaymentDeal, /, extra_subject: str = "",
          **attributes: Any) -> None:
    ctx.emit(kind, {
        **attributes, "deal_id": deal.deal_id, "status": deal.status,
        "subjects": rp.subjects("deal:" + deal.deal_id, extra_subject,
                                "member:" + deal.distributor, "member:" + deal.seller,
                                "member:" + deal.financier, "member:" + deal.warehouse,
                                "member:" + ctx.sender.member_id)})


_DEAL = ("deal_id", rp.RECORD_ID)
_REF = ("payment_ref", rp.PAYMENT_REF)
_REASON = ("reason", rp.REASON)
_FINANCIER = frozenset({Role.FINANCIER})
_SELLER = frozenset({Role.CORE_ENTERPRISE})

CONTRACT = Contract(PREPAYMENT, 1, (
    MethodSpec("apply", _apply, args=(
        ("financier", MEMBER_ID), ("seller", MEMBER_ID), ("warehouse", MEMBER_ID),
        ("currency", CURRENCY), ("amount", AMOUNT), ("goods", GOODS), ("quantity", QUANTITY),
        ("unit_price", AMOUNT), ("delivery_days", TENOR), ("tenor_days", TENOR), *TERMS_ARGS,
    ), optional=TERMS_OPTIONAL, roles=frozenset({Role.DISTRIBUTOR})),
    MethodSpec("accept", _accept, args=(_DEAL,), roles=_SELLER),
    MethodSpec("cancel", _cancel, args=(_DEAL, _REASON), optional=frozenset({"reason"})),
    MethodSpec("fund", _fund, args=(_DEAL, _REF), roles=_FINANCIER),
    MethodSpec("deliver", _deliver, args=(_DEAL, ("unit_value", AMOUNT)),
               roles=frozenset({Role.WAREHOUSE})),
    MethodSpec("call_buyback", _call_buyback, args=(_DEAL,), roles=_FINANCIER),
    MethodSpec("pay_buyback", _pay_buyback, args=(_DEAL, ("amount", AMOUNT), _REF),
               roles=_SELLER),
    MethodSpec("acknowledge_payment", _acknowledge_payment, args=(_DEAL, _REF)),
    MethodSpec("reject_payment", _reject_payment, args=(_DEAL, _REF, _REASON),
               optional=frozenset({"reason"})),
    MethodSpec("declare_default", _declare_default, args=(_DEAL,), roles=_FINANCIER),
))
