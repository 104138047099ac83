"""Payable certificates (domain guide §6, §2, §7): issue, split, transfer, discount, pay.

Theory of operation (docs/products.md § Payable certificates):

1. The buyer of a `confirmed` invoice (a core enterprise) signs `issue`: a
   certificate for at most the invoice's amount due, maturing on its due
   date. The invoice gets a lien of the certificate (deal = certificate id,
   held in the issuer's name), so no product can finance it a second time,
   and the seller holds the root part (tier 1).
2. Before maturity, the holder of a `live` part may `split` it into 2..16
   parts adding up exactly to it, `transfer` it whole to a supplier (tier
   + 1), or sell it to a financier: `request_discount` fixes the day's terms
   (`contracts.terms.certificate_discount`), and the financier's
   `fund_discount` that same day buys it (the financier becomes the holder
   of a `discounted` part) and records its payment to the seller. Each of
   these spends the part: `spent`, with its children named, never spent
   again (PART_SPENT).
3. From the maturity date the issuer `pay`s the holder of record of each
   unpaid part; the holder acknowledges (the part is `paid`) or rejects.
   The acknowledgement of the last unpaid part settles the certificate and
   the invoice (`invoices.mark_settled`, which releases the invoice's lien).
4. After maturity plus the grace days the holder may `mark_overdue` an
   unpaid part; the financier holding a discounted part may then
   `declare_default`: the issuer owes the amount plus penalty interest since
   maturity (contracts/repayment.py), and every financier exposed to the
   issuer is named.

Every step appends to the invoice's provenance (action "payables.<step>").
Records, state layout and the bank's queries: contracts/payables_records.py.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from contracts import repayment as rp
from contracts import risk
from contracts.calendar import days, format_date, parse_date
from contracts.engine import Contract, MethodSpec
from contracts.invoices import FINGERPRINT, mark_settled, require_invoice
from contracts.liens import invoice_asset, place_lien, validate_unencumbered
from contracts.payables_records import (
    DISCOUNT_ID, FUNDED, MAX_SPLIT, PART_ID, PART_NEXT, PAYABLES, REQUESTED, UNPAID, WITHDRAWN,
    Certificate, CertificateStatus, Discount, Part, PartStatus, link_invoice,
    load_discount, new_part, require_certificate, require_no_pending, require_part,
    require_spendable, require_unspent, save)
from contracts.provenance import append_entry
from contracts.repayment import AMOUNT, MONEY
from contracts.terms import certificate_discount
from ledger.accounts import MEMBER_ID, Role, get_member
from ledger.contract_api import CallContext
from ledger.errors import Code, LedgerError
from ledger.structure import ListOf


def _issue(ctx: CallContext, args: dict[str, Any]) -> None:
    invoice = require_invoice(ctx.scratch, args["fingerprint"])
    where = f"invoice {invoice.fingerprint.hex()}"
    rp.require_signer(ctx, (invoice.buyer,), f"issue a certificate against {where}")
    rp.require_status(where, invoice.status, ("confirmed",), "a certificate is issued against it")
    validate_unencumbered(ctx.scratch, invoice.asset)
    amount = args.get("amount", invoice.amount_due)
    if amount > invoice.amount_due:
        raise LedgerError(Code.INVALID_ARGUMENT, f"amount: {amount} is above the amount due "
                                                 f"{invoice.amount_due} of {where}")
    today = rp.today(ctx)
    if today >= invoice.due_day:
        raise LedgerError(Code.CERTIFICATE_MATURED,
                          f"{where} is due {invoice.due_date}: a certificate is issued before "
                          f"its maturity; today is {format_date(today)}")
    certificate_id = rp.new_id("PC", ctx)
    root = new_part(ctx, 0, certificate_id, invoice.seller, amount, None, 1, "issue")
    certificate = Certificate(
        certificate_id, invoice.fingerprint, invoice.buyer, invoice.seller, invoice.currency,
        amount, format_date(today), invoice.due_date, args.get("grace_days", 0),
        args.get("penalty_rate_bps", 0), args.get("basis", 365), root.part_id,
        CertificateStatus.OUTSTANDING.value, 1, 0, 0, ctx.tx_id, ctx.height)
    place_lien(ctx, invoice.asset, invoice.buyer, certificate_id)
    save(ctx, certificate, root)
    link_invoice(ctx, invoice.fingerprint, certificate_id)
    _record(ctx, certificate, "issue", f"{certificate_id}: {invoice.currency} {amount} due "
                                       f"{invoice.due_date}; part {root.part_id} to {root.holder}")
    _emit(ctx, "payables.issued", certificate, (root,), part_id=root.part_id,
          holder=root.holder, amount=amount, currency=certificate.currency,
          maturity_date=certificate.maturity_date, invoice_amount_due=invoice.amount_due,
          grace_days=certificate.grace_days, penalty_rate_bps=certificate.penalty_rate_bps,
          basis=certificate.basis)


def _split(ctx: CallContext, args: dict[str, Any]) -> None:
    amounts = args["amounts"]
    if len(amounts) < 2:
        raise LedgerError(Code.INVALID_ARGUMENT, f"amounts: a split makes 2 to {MAX_SPLIT} "
                                                 f"parts, got {len(amounts)}")
    part = _require_held(ctx, args["part_id"], "split")
    certificate = require_spendable(ctx, part, "split")
    if sum(amounts) != part.amount:
        raise LedgerError(Code.SPLIT_SUM_MISMATCH,
                          f"amounts: they add up to {sum(amounts)}; part {part.part_id} is "
                          f"{part.amount}")
    children = tuple(new_part(ctx, index, part.certificate_id, part.holder, amount,
                              part.part_id, part.tier, "split")
                     for index, amount in enumerate(amounts))
    _spend(ctx, part, children)
    certificate = replace(certificate,
                          outstanding_parts=certificate.outstanding_parts + len(children) - 1)
    save(ctx, certificate)
    _record(ctx, certificate, "split", f"part {part.part_id} into parts 0..{len(children) - 1} "
                                       f"of this tx: {', '.join(str(a) for a in amounts)}")
    _emit(ctx, "payables.split", certificate, (part, *children), part_id=part.part_id,
          holder=part.holder, parts=[child.part_id for child in children], amounts=list(amounts))


def _transfer(ctx: CallContext, args: dict[str, Any]) -> None:
    part = _require_held(ctx, args["part_id"], "transfer")
    certificate = require_spendable(ctx, part, "transferred")
    _check_counterparty(ctx, certificate, part, args["to"], Role.SUPPLIER, "to")
    child = new_part(ctx, 0, part.certificate_id, args["to"], part.amount, part.part_id,
                     part.tier + 1, "transfer")
    _spend(ctx, part, (child,))
    _record(ctx, certificate, "transfer", f"part {part.part_id} ({part.amount}) from "
                                          f"{part.holder} to {child.holder}, tier {child.tier}: "
                                          f"part {child.part_id}")
    _emit(ctx, "payables.transferred", certificate, (part, child), part_id=part.part_id,
          new_part_id=child.part_id, amount=part.amount, **{"from": part.holder},
          to=child.holder, tier=child.tier)


def _request_discount(ctx: CallContext, args: dict[str, Any]) -> None:
    part = _require_held(ctx, args["part_id"], "discount")
    certificate = require_spendable(ctx, part, "discounted")
    financier = args["financier"]
    _check_counterparty(ctx, certificate, part, financier, Role.FINANCIER, "financier")
    today = rp.today(ctx)
    tenor = days(today, parse_date(certificate.maturity_date))
    rate, basis, fee = args["rate_bps"], args.get("basis", 365), args.get("fee", 0)
    terms = certificate_discount(part.amount, rate, tenor, basis, fee)
    discount = Discount(rp.new_id("PD", ctx), certificate.certificate_id, part.part_id,
                        part.holder, financier, certificate.issuer, certificate.currency,
                        part.amount, certificate.maturity_date, format_date(today), tenor, rate,
                        basis, fee, terms.discount, terms.paid_out, REQUESTED, None, None,
                        ctx.tx_id, ctx.height)
    save(ctx, discount)
    _record(ctx, certificate, "discount_request",
            f"{discount.discount_id}: part {part.part_id} to {financier} at {rate} bp, "
            f"{tenor} days: pays {terms.paid_out}")
    _emit_discount(ctx, "payables.discount_requested", certificate, discount, part)


def _withdraw_discount(ctx: CallContext, args: dict[str, Any]) -> None:
    discount = load_discount(ctx, args["discount_id"])
    rp.require_signer(ctx, (discount.seller,), f"withdraw discount {discount.discount_id}")
    rp.require_status(f"discount {discount.discount_id}", discount.status, (REQUESTED,),
                      "a discount request is withdrawn")
    discount = replace(discount, status=WITHDRAWN)
    save(ctx, discount)
    certificate = require_certificate(ctx.scratch, discount.certificate_id)
    _record(ctx, certificate, "discount_withdraw", discount.discount_id)
    _emit_discount(ctx, "payables.discount_withdrawn", certificate, discount,
                   require_part(ctx.scratch, discount.part_id))


def _fund_discount(ctx: CallContext, args: dict[str, Any]) -> None:
    discount = load_discount(ctx, args["discount_id"])
    rp.require_signer(ctx, (discount.financier,), f"fund discount {discount.discount_id}")
    rp.require_status(f"discount {discount.discount_id}", discount.status, (REQUESTED,),
                      "a discount is funded")
    if rp.today(ctx) != parse_date(discount.request_date):
        raise LedgerError(Code.ACCEPTANCE_LAPSED,
                          f"discount {discount.discount_id} was requested on "
                          f"{discount.request_date}: its terms hold that day only; the holder "
                          "must request it again")
    part = require_part(ctx.scratch, discount.part_id)
    certificate = require_spendable(ctx, part, "discounted")
    _require_not_frozen(ctx, discount.seller, "seller")
    child = new_part(ctx, 0, part.certificate_id, discount.financier, part.amount,
                     part.part_id, part.tier, "discount", discount.discount_id)
    risk.on_funded(ctx, PAYABLES, child.part_id, financier=discount.financier,
                   obligor=certificate.issuer, supplier=discount.seller,
                   currency=certificate.currency, amount=part.amount)
    payment = rp.record_payment(ctx, discount.discount_id, "discount", discount.seller,
                                discount.paid_out, args["payment_ref"])
    _spend(ctx, part, (child,))
    discount = replace(discount, status=FUNDED, funding_ref=payment.payment_ref,
                       new_part=child.part_id)
    save(ctx, discount)
    rp.add_exposure(ctx, PAYABLES, certificate.issuer, discount.financier, 1)
    _record(ctx, certificate, "discount", f"{discount.discount_id}: part {part.part_id} to "
                                          f"{discount.financier} as part {child.part_id}; "
                                          f"paid out {discount.paid_out}")
    _emit_discount(ctx, "payables.discounted", certificate, discount, part, child,
                   **rp.payment_attributes(payment))


def _pay(ctx: CallContext, args: dict[str, Any]) -> None:
    part = require_part(ctx.scratch, args["part_id"])
    certificate = require_certificate(ctx.scratch, part.certificate_id)
    rp.require_signer(ctx, (certificate.issuer,), f"pay part {part.part_id}")
    require_unspent(part)
    rp.require_status(f"part {part.part_id}", part.status, UNPAID, "the issuer pays it")
    if rp.today(ctx) < parse_date(certificate.maturity_date):
        raise LedgerError(Code.CERTIFICATE_NOT_MATURE,
                          f"certificate {certificate.certificate_id} matures on "
                          f"{certificate.maturity_date}; today is {format_date(rp.today(ctx))}")
    require_no_pending(part)
    payment = rp.record_payment(ctx, part.part_id, "maturity", part.holder, part.amount,
                                args["payment_ref"])
    part = replace(part, pending_ref=payment.payment_ref)
    save(ctx, part)
    _record(ctx, certificate, "pay", f"part {part.part_id}: {part.amount} to {part.holder}, "
                                     f"ref {payment.payment_ref}")
    _emit(ctx, "payables.payment_recorded", certificate, (part,), part_id=part.part_id,
          **rp.payment_attributes(payment))


def _acknowledge_payment(ctx: CallContext, args: dict[str, Any]) -> None:
    _close_payment(ctx, args, acknowledged=True)


def _reject_payment(ctx: CallContext, args: dict[str, Any]) -> None:
    _close_payment(ctx, args, acknowledged=False)


def _close_payment(ctx: CallContext, args: dict[str, Any], acknowledged: bool) -> None:
    payment = rp.close_payment(ctx, args["deal_id"], args["payment_ref"], acknowledged,
                               args.get("reason", ""))
    detail = f"{payment.deal_id}: {payment.amount} to {payment.payee}, ref {payment.payment_ref}"
    if payment.kind == "discount":
        discount = load_discount(ctx, payment.deal_id)
        certificate = require_certificate(ctx.scratch, discount.certificate_id)
        _record(ctx, certificate, "discount_payment_" + payment.status, detail)
        _emit_discount(ctx, "payables.payment_" + payment.status, certificate, discount,
                       require_part(ctx.scratch, discount.part_id),
                       **rp.payment_attributes(payment))
        return
    part = require_part(ctx.scratch, payment.deal_id)
    certificate = require_certificate(ctx.scratch, part.certificate_id)
    if acknowledged:
        part = replace(part, status=PartStatus.PAID.value, pending_ref=None)
        certificate = replace(certificate, outstanding_parts=certificate.outstanding_parts - 1,
                              paid_amount=certificate.paid_amount + part.amount)
        if part.origin == "discount":
            rp.add_exposure(ctx, PAYABLES, certificate.issuer, part.holder, -1)
            risk.on_closed(ctx, PAYABLES, part.part_id)
    else:
        part = replace(part, pending_ref=None)
    settled = certificate.outstanding_parts == 0 and certificate.status == "outstanding"
    if settled:
        certificate = replace(certificate, status=CertificateStatus.SETTLED.value)
    save(ctx, certificate, part)
    _record(ctx, certificate, "payment_" + payment.status, detail)
    _emit(ctx, "payables.payment_" + payment.status, certificate, (part,),
          part_id=part.part_id, **rp.payment_attributes(payment))
    if settled:
        mark_settled(ctx, certificate.fingerprint, certificate.certificate_id,
                     action="payables.settle",
                     detail=f"{certificate.certificate_id}: paid {certificate.paid_amount}")
        _emit(ctx, "payables.settled", certificate, (), paid_amount=certificate.paid_amount)


def _mark_overdue(ctx: CallContext, args: dict[str, Any]) -> None:
    part = _require_held(ctx, args["part_id"], "mark overdue")
    rp.check_step(PART_NEXT, PartStatus(part.status), PartStatus.OVERDUE, f"part {part.part_id}")
    certificate = require_certificate(ctx.scratch, part.certificate_id)
    rp.check_arrears(ctx, f"part {part.part_id}", certificate.maturity_date,
                     certificate.grace_days)
    require_no_pending(part)
    part = replace(part, status=PartStatus.OVERDUE.value)
    save(ctx, part)
    risk.on_overdue(ctx, PAYABLES, part.part_id, obligor=certificate.issuer,
                    financier=part.holder, asset=certificate.asset)
    _record(ctx, certificate, "overdue", f"part {part.part_id}: {part.amount} unpaid")
    _emit(ctx, "payables.overdue", certificate, (part,), part_id=part.part_id,
          amount=part.amount, holder=part.holder)


def _declare_default(ctx: CallContext, args: dict[str, Any]) -> None:
    part = _require_held(ctx, args["part_id"], "declare in default")
    if part.origin != "discount":
        raise LedgerError(Code.FORBIDDEN, f"part {part.part_id} was not discounted: only the "
                                          "financier holding a discounted part declares default")
    rp.check_step(PART_NEXT, PartStatus(part.status), PartStatus.DEFAULTED,
                  f"part {part.part_id}")
    require_no_pending(part)
    certificate = require_certificate(ctx.scratch, part.certificate_id)
    default = rp.settle_default(ctx, certificate.maturity_date, part.amount, True,
                                certificate.penalty_rate_bps, certificate.basis)
    exposed = rp.exposed_financiers(ctx.scratch, certificate.issuer)   # every product, §7
    part = replace(part, status=PartStatus.DEFAULTED.value, default=default)
    certificate = replace(certificate, status=CertificateStatus.DEFAULTED.value,
                          outstanding_parts=certificate.outstanding_parts - 1,
                          defaulted_amount=certificate.defaulted_amount + part.amount)
    save(ctx, certificate, part)
    rp.add_exposure(ctx, PAYABLES, certificate.issuer, part.holder, -1)
    risk.on_closed(ctx, PAYABLES, part.part_id)
    _record(ctx, certificate, "default", f"part {part.part_id}: {part.amount} + penalty "
                                         f"{default.penalty} owed by {certificate.issuer}")
    _emit(ctx, "payables.defaulted", certificate, (part,), part_id=part.part_id,
          **rp.fields_of(default))
    ctx.emit("payables.obligor_default", {
        "obligor": certificate.issuer, "certificate_id": certificate.certificate_id,
        "part_id": part.part_id, "exposed": exposed,
        "subjects": rp.subjects("member:" + certificate.issuer, certificate.asset, part.asset,
                                *("member:" + member for member in exposed))})


# -- checks ---------------------------------------------------------------------------

def _require_held(ctx: CallContext, part_id: str, what: str) -> Part:
    """The part, signed for by its holder of record (FORBIDDEN otherwise)."""
    part = require_part(ctx.scratch, part_id)
    rp.require_signer(ctx, (part.holder,), f"{what} part {part.part_id}")
    return part


def _check_counterparty(ctx: CallContext, certificate: Certificate, part: Part, member_id: str,
                        role: Role, field: str) -> None:
    """The new holder: a member with `role`, not frozen, neither the holder nor the issuer."""
    if member_id in (part.holder, certificate.issuer):
        whose = "holder" if member_id == part.holder else "issuer"
        raise LedgerError(Code.INVALID_ARGUMENT, f"{field}: {member_id} is the part's {whose}")
    rp.require_role(ctx, member_id, role, field)
    _require_not_frozen(ctx, member_id, field)


def _require_not_frozen(ctx: CallContext, member_id: str, field: str) -> None:
    """A frozen member (§8) can no longer receive parts nor obtain financing."""
    member = get_member(ctx.system, member_id)
    if member is not None and member.frozen:
        raise LedgerError(Code.MEMBER_FROZEN, f"{field}: member {member_id} is frozen")


# -- writes and events ----------------------------------------------------------------

def _spend(ctx: CallContext, part: Part, children: tuple[Part, ...]) -> None:
    rp.check_step(PART_NEXT, PartStatus(part.status), PartStatus.SPENT, f"part {part.part_id}")
    save(ctx, replace(part, status=PartStatus.SPENT.value,
                       children=tuple(child.part_id for child in children)), *children)


def _record(ctx: CallContext, certificate: Certificate, action: str, detail: str) -> None:
    """Appends this step to the invoice's provenance (status: the invoice's, unchanged)."""
    invoice = require_invoice(ctx.scratch, certificate.fingerprint)
    append_entry(ctx, certificate.fingerprint, "payables." + action, invoice.status, detail)


def _emit(ctx: CallContext, kind: str, certificate: Certificate, parts: tuple[Part, ...],
          members: tuple[str, ...] = (), /, **attributes: Any) -> None:
    ctx.emit(kind, {
        **attributes, "certificate_id": certificate.certificate_id,
        "certificate_status": certificate.status,
        "fingerprint": certificate.fingerprint.hex(),
        "subjects": rp.subjects(certificate.asset, *(part.asset for part in parts),
                                invoice_asset(certificate.fingerprint),
                                "member:" + certificate.issuer,
                                *("member:" + part.holder for part in parts),
                                *("member:" + member for member in members),
                                "member:" + ctx.sender.member_id)})


def _emit_discount(ctx: CallContext, kind: str, certificate: Certificate, discount: Discount,
                   /, *parts: Part, **attributes: Any) -> None:
    _emit(ctx, kind, certificate, parts, (discount.seller, discount.financier),
          discount_id=discount.discount_id, discount_status=discount.status,
          part_id=discount.part_id, seller=discount.seller, financier=discount.financier,
          part_amount=discount.amount, tenor_days=discount.tenor_days,
          rate_bps=discount.rate_bps, basis=discount.basis, fee=discount.fee,
          discount=discount.discount, paid_out=discount.paid_out,
          new_part_id=discount.new_part, **attributes)


_SUPPLIER = frozenset({Role.SUPPLIER})
_FINANCIER = frozenset({Role.FINANCIER})
_PART = ("part_id", PART_ID)
_DISCOUNT = ("discount_id", DISCOUNT_ID)
_REF = ("payment_ref", rp.PAYMENT_REF)

CONTRACT = Contract(PAYABLES, 1, (
    MethodSpec("issue", _issue, args=(
        ("fingerprint", FINGERPRINT), ("amount", AMOUNT), ("grace_days", rp.DAYS),
        ("penalty_rate_bps", rp.RATE_BPS), ("basis", rp.BASIS),
    ), optional=frozenset({"amount", "grace_days", "penalty_rate_bps", "basis"}),
        roles=frozenset({Role.CORE_ENTERPRISE})),
    MethodSpec("split", _split, args=(_PART, ("amounts", ListOf(AMOUNT, MAX_SPLIT))),
               roles=_SUPPLIER),
    MethodSpec("transfer", _transfer, args=(_PART, ("to", MEMBER_ID)), roles=_SUPPLIER),
    MethodSpec("request_discount", _request_discount, args=(
        _PART, ("financier", MEMBER_ID), ("rate_bps", rp.RATE_BPS), ("basis", rp.BASIS),
        ("fee", MONEY),
    ), optional=frozenset({"basis", "fee"}), roles=_SUPPLIER),
    MethodSpec("withdraw_discount", _withdraw_discount, args=(_DISCOUNT,), roles=_SUPPLIER),
    MethodSpec("fund_discount", _fund_discount, args=(_DISCOUNT, _REF), roles=_FINANCIER),
    MethodSpec("pay", _pay, args=(_PART, _REF), roles=frozenset({Role.CORE_ENTERPRISE})),
    MethodSpec("acknowledge_payment", _acknowledge_payment,
               args=(("deal_id", rp.RECORD_ID), _REF)),
    MethodSpec("reject_payment", _reject_payment,
               args=(("deal_id", rp.RECORD_ID), _REF, ("reason", rp.REASON)),
               optional=frozenset({"reason"})),
    MethodSpec("mark_overdue", _mark_overdue, args=(_PART,)),
    MethodSpec("declare_default", _declare_default, args=(_PART,), roles=_FINANCIER),
))
