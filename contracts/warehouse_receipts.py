"""Electronic warehouse receipts (domain guide §4): goods in custody, as an asset.

Theory of operation (docs/products.md § Warehouse receipts):

1. A warehouse member signs `issue`: it holds `quantity` units of `goods`
   for `owner`, each appraised at `unit_value` minor units of `currency`.
   The receipt is `issued`; its asset id (lien register, event subject) is
   "receipt:<receipt id>".
2. While the receipt is unencumbered, its owner may `transfer` it to another
   member (endorsement: the title to the goods moves) and take goods out:
   `request_delivery` (the owner), then `confirm_delivery` (the warehouse,
   once the goods left) or `cancel_delivery` (either). The warehouse may
   re-`appraise` the unit value.
3. A financing product pledges the receipt through `mark_pledged` (the lien,
   status `pledged`); while it is pledged, only that product changes it:
   releases of goods (`take_out`, with the financier's approval), re-appraisal
   (`set_unit_value`), the end of the pledge (`mark_unpledged`) or the
   financier taking title after a default (`transfer_title`).
4. When every unit has left the warehouse the receipt is `released` (final).

Invariants: `released` only grows and never exceeds `quantity` (every unit
leaves through `take_out`, which refuses more than the receipt holds); a
pledged receipt carries exactly one lien (contracts/liens.py), held by its
financier; goods are appraised only by the receipt's warehouse.

Life cycle (`RECEIPT_NEXT`): issued -> pledged | released; pledged -> issued.

State (namespace c/warehouse_receipts/):
    receipt/<receipt id>  -> Receipt        ids: "WR-" + issuing tx id (hex)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, ClassVar

from contracts import liens
from contracts import repayment as rp
from contracts.engine import Contract, MethodSpec
from contracts.invoices import CURRENCY
from contracts.terms import collateral_value
from ledger.accounts import MEMBER_ID, Role, get_member
from ledger.contract_api import CallContext, contract_prefix
from ledger.errors import Code, LedgerError
from ledger.state import StateReader
from ledger.structure import Field, Int, Str, Structure
from ledger.types import HASH

WAREHOUSE_RECEIPTS = "warehouse_receipts"
QUANTITY = Int(1, rp.MAX_AMOUNT)
GOODS = Str(max_bytes=256, pattern=r"\S(.*\S)?")
RECEIPT_ID = Str(max_bytes=128, pattern=r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


class ReceiptStatus(StrEnum):
    ISSUED = "issued"
    PLEDGED = "pledged"
    RELEASED = "released"


RECEIPT_NEXT: dict[ReceiptStatus, tuple[ReceiptStatus, ...]] = {
    ReceiptStatus.ISSUED: (ReceiptStatus.PLEDGED, ReceiptStatus.RELEASED),
    ReceiptStatus.PLEDGED: (ReceiptStatus.ISSUED,),
    ReceiptStatus.RELEASED: (),
}


@dataclass(frozen=True, slots=True)
class Receipt(Structure):
    """One warehouse receipt; quantities in whole units, values in minor units."""

    receipt_id: str
    warehouse: str
    owner: str
    goods: str
    quantity: int              # units issued
    unit_value: int            # the warehouse's latest appraisal of one unit
    currency: str
    status: str                # issued | pledged | released
    released: int              # units that left the warehouse, in all
    delivery_requested: int    # units the owner asked to take out (unpledged); 0: none
    appraised_height: int
    issued_tx: bytes
    issued_height: int

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("receipt_id", RECEIPT_ID), ("warehouse", MEMBER_ID), ("owner", MEMBER_ID),
        ("goods", GOODS), ("quantity", QUANTITY), ("unit_value", rp.AMOUNT),
        ("currency", CURRENCY),
        ("status", Str(max_bytes=16, pattern="|".join(s.value for s in ReceiptStatus))),
        ("released", Int(0, rp.MAX_AMOUNT)), ("delivery_requested", Int(0, rp.MAX_AMOUNT)),
        ("appraised_height", Int(1)), ("issued_tx", HASH), ("issued_height", Int(1)),
    )

    @property
    def remaining(self) -> int:
        """Units still in the warehouse."""
        return self.quantity - self.released

    @property
    def asset(self) -> str:
        return receipt_asset(self.receipt_id)


# -- readers (full state) -----------------------------------------------------------

def receipt_asset(receipt_id: str) -> str:
    """The asset id (lien register) and event subject of a receipt."""
    return "receipt:" + receipt_id


def receipt_key(receipt_id: str) -> bytes:
    return contract_prefix(WAREHOUSE_RECEIPTS) + b"receipt/" + receipt_id.encode("utf-8")


def get_receipt(reader: StateReader, receipt_id: str) -> Receipt | None:
    data = reader.get(receipt_key(receipt_id))
    return None if data is None else Receipt.decode(data)


def require_receipt(reader: StateReader, receipt_id: str) -> Receipt:
    """The receipt, or RECEIPT_NOT_FOUND."""
    receipt = get_receipt(reader, receipt_id)
    if receipt is None:
        raise LedgerError(Code.RECEIPT_NOT_FOUND, f"no warehouse receipt {receipt_id}")
    return receipt


def validate_pledgeable(reader: StateReader, receipt: Receipt) -> None:
    """The receipt can be pledged now: no lien (ASSET_ENCUMBERED), `issued`
    (INVALID_STATE_TRANSITION), no delivery request open (RELEASE_PENDING)."""
    liens.validate_unencumbered(reader, receipt.asset)
    _check_step(receipt, ReceiptStatus.PLEDGED)
    _require_no_delivery(receipt)


# -- functions for financing products (called inside their transactions) ---------------

def issue_receipt(ctx: CallContext, owner: str, goods: str, quantity: int, unit_value: int,
                  currency: str) -> Receipt:
    """The signer (a warehouse) issues a receipt to `owner`; emits `receipt.issued`."""
    rp.require_role(ctx, ctx.sender.member_id, Role.WAREHOUSE, "warehouse")
    if get_member(ctx.system, owner) is None:
        raise LedgerError(Code.INVALID_ARGUMENT, f"owner: {owner} is not a member")
    if owner == ctx.sender.member_id:
        raise LedgerError(Code.INVALID_ARGUMENT,
                          f"owner: a warehouse cannot issue a receipt to itself ({owner})")
    collateral_value(quantity, unit_value)       # the goods' value must fit 2^63-1
    receipt = Receipt(rp.new_id("WR", ctx), ctx.sender.member_id, owner, goods, quantity,
                      unit_value, currency, ReceiptStatus.ISSUED.value, 0, 0, ctx.height,
                      ctx.tx_id, ctx.height)
    _emit(ctx, "receipt.issued", _save(ctx, receipt), goods=goods, quantity=quantity,
          unit_value=unit_value, currency=currency)
    return receipt


def mark_pledged(ctx: CallContext, receipt_id: str, financier: str, deal_id: str) -> Receipt:
    """Pledges the receipt for `deal_id`: places its lien, held by `financier`."""
    receipt = require_receipt(ctx.scratch, receipt_id)
    validate_pledgeable(ctx.scratch, receipt)
    liens.place_lien(ctx, receipt.asset, financier, deal_id)
    receipt = _move(ctx, receipt, ReceiptStatus.PLEDGED)
    _emit(ctx, "receipt.pledged", receipt, financier=financier, deal_id=deal_id)
    return receipt


def mark_unpledged(ctx: CallContext, receipt_id: str, deal_id: str) -> Receipt:
    """Ends the pledge of `deal_id`: releases its lien; the goods left are free."""
    receipt = require_receipt(ctx.scratch, receipt_id)
    _check_step(receipt, ReceiptStatus.ISSUED)
    lien = liens.release_lien(ctx, receipt.asset, deal_id)
    receipt = _move(ctx, receipt, ReceiptStatus.ISSUED)
    _emit(ctx, "receipt.unpledged", receipt, financier=lien.holder, deal_id=deal_id)
    return receipt


def transfer_title(ctx: CallContext, receipt_id: str, deal_id: str, new_owner: str) -> Receipt:
    """After a default: the pledge of `deal_id` ends and `new_owner` (its financier)
    owns the receipt and the goods left."""
    receipt = require_receipt(ctx.scratch, receipt_id)
    _check_step(receipt, ReceiptStatus.ISSUED)
    liens.release_lien(ctx, receipt.asset, deal_id)
    previous = receipt.owner
    receipt = _move(ctx, receipt, ReceiptStatus.ISSUED, owner=new_owner)
    _emit(ctx, "receipt.title_transferred", receipt, previous_owner=previous, deal_id=deal_id,
          extra_subject="member:" + previous)
    return receipt


def take_out(ctx: CallContext, receipt_id: str, quantity: int, deal_id: str | None) -> Receipt:
    """`quantity` units left the warehouse (confirmed by the warehouse); the only way
    `released` grows. QUANTITY_UNAVAILABLE above what the receipt still holds."""
    return _take_out(ctx, require_receipt(ctx.scratch, receipt_id), quantity, deal_id)


def set_unit_value(ctx: CallContext, receipt_id: str, unit_value: int) -> Receipt:
    """The signer, the receipt's warehouse, re-appraises one unit (FORBIDDEN otherwise)."""
    receipt = require_receipt(ctx.scratch, receipt_id)
    rp.require_signer(ctx, (receipt.warehouse,), f"appraise receipt {receipt_id}")
    rp.require_status(f"receipt {receipt_id}", receipt.status,
                      (ReceiptStatus.ISSUED.value, ReceiptStatus.PLEDGED.value), "it is appraised")
    collateral_value(receipt.remaining, unit_value)   # must fit 2^63-1
    previous = receipt.unit_value
    receipt = _save(ctx, replace(receipt, unit_value=unit_value, appraised_height=ctx.height))
    _emit(ctx, "receipt.appraised", receipt, previous_unit_value=previous, unit_value=unit_value,
          collateral_value=receipt.remaining * unit_value)
    return receipt


# -- methods ---------------------------------------------------------------------------

def _issue(ctx: CallContext, args: dict[str, Any]) -> None:
    issue_receipt(ctx, args["owner"], args["goods"], args["quantity"], args["unit_value"],
                  args["currency"])


def _transfer(ctx: CallContext, args: dict[str, Any]) -> None:
    receipt = require_receipt(ctx.scratch, args["receipt_id"])
    rp.require_signer(ctx, (receipt.owner,), f"transfer receipt {receipt.receipt_id}")
    liens.validate_unencumbered(ctx.scratch, receipt.asset)
    rp.require_status(f"receipt {receipt.receipt_id}", receipt.status,
                      (ReceiptStatus.ISSUED.value,), "it is transferred")
    _require_no_delivery(receipt)
    new_owner = args["new_owner"]
    if get_member(ctx.system, new_owner) is None:
        raise LedgerError(Code.INVALID_ARGUMENT, f"new_owner: {new_owner} is not a member")
    if new_owner in (receipt.owner, receipt.warehouse):
        raise LedgerError(Code.INVALID_ARGUMENT,
                          f"new_owner: {new_owner} is the receipt's owner or warehouse")
    previous = receipt.owner
    receipt = _save(ctx, replace(receipt, owner=new_owner))
    _emit(ctx, "receipt.transferred", receipt, previous_owner=previous,
          extra_subject="member:" + previous)


def _appraise(ctx: CallContext, args: dict[str, Any]) -> None:
    receipt = require_receipt(ctx.scratch, args["receipt_id"])
    rp.require_signer(ctx, (receipt.warehouse,), f"appraise receipt {receipt.receipt_id}")
    lien = liens.active_lien(ctx.scratch, receipt.asset)
    if lien is not None:
        raise LedgerError(Code.ASSET_ENCUMBERED,
                          f"{receipt.asset} is under a lien held by {lien.holder} for deal "
                          f"{lien.deal_id}: only that deal re-appraises it (pledge.reappraise)")
    set_unit_value(ctx, receipt.receipt_id, args["unit_value"])


def _request_delivery(ctx: CallContext, args: dict[str, Any]) -> None:
    receipt = require_receipt(ctx.scratch, args["receipt_id"])
    rp.require_signer(ctx, (receipt.owner,), f"take goods out of receipt {receipt.receipt_id}")
    liens.validate_unencumbered(ctx.scratch, receipt.asset)
    rp.require_status(f"receipt {receipt.receipt_id}", receipt.status,
                      (ReceiptStatus.ISSUED.value,), "goods are taken out")
    _require_no_delivery(receipt)
    quantity = args["quantity"]
    if quantity > receipt.remaining:
        raise LedgerError(Code.QUANTITY_UNAVAILABLE,
                          f"receipt {receipt.receipt_id} holds {receipt.remaining} units; "
                          f"{quantity} requested")
    receipt = _save(ctx, replace(receipt, delivery_requested=quantity))
    _emit(ctx, "receipt.delivery_requested", receipt, quantity=quantity)


def _confirm_delivery(ctx: CallContext, args: dict[str, Any]) -> None:
    receipt = _require_delivery(ctx, args["receipt_id"], (0,))
    _take_out(ctx, replace(receipt, delivery_requested=0), receipt.delivery_requested, None)


def _cancel_delivery(ctx: CallContext, args: dict[str, Any]) -> None:
    receipt = _require_delivery(ctx, args["receipt_id"], (0, 1))
    quantity = receipt.delivery_requested
    receipt = _save(ctx, replace(receipt, delivery_requested=0))
    _emit(ctx, "receipt.delivery_cancelled", receipt, quantity=quantity,
          reason=args.get("reason", ""))


# -- helpers -------------------------------------------------------------------------

def _take_out(ctx: CallContext, receipt: Receipt, quantity: int,
              deal_id: str | None) -> Receipt:
    if not 1 <= quantity <= receipt.remaining:
        raise LedgerError(Code.QUANTITY_UNAVAILABLE,
                          f"receipt {receipt.receipt_id} holds {receipt.remaining} of "
                          f"{receipt.quantity} units; {quantity} cannot leave")
    receipt = replace(receipt, released=receipt.released + quantity)
    if receipt.remaining == 0 and receipt.status == ReceiptStatus.ISSUED:
        receipt = _move(ctx, receipt, ReceiptStatus.RELEASED)
    _emit(ctx, "receipt.goods_released", _save(ctx, receipt), quantity=quantity,
          released=receipt.released, remaining=receipt.remaining, deal_id=deal_id)
    return receipt


def _require_delivery(ctx: CallContext, receipt_id: str, who: tuple[int, ...]) -> Receipt:
    """The receipt, signed by its warehouse (0) or owner (1) as allowed, with a delivery
    request open (RELEASE_NOT_FOUND)."""
    receipt = require_receipt(ctx.scratch, receipt_id)
    signers = tuple((receipt.warehouse, receipt.owner)[i] for i in who)
    rp.require_signer(ctx, signers, f"delivery from receipt {receipt_id}")
    if receipt.delivery_requested == 0:
        raise LedgerError(Code.RELEASE_NOT_FOUND,
                          f"receipt {receipt_id} has no delivery request open")
    return receipt


def _require_no_delivery(receipt: Receipt) -> None:
    if receipt.delivery_requested:
        raise LedgerError(Code.RELEASE_PENDING,
                          f"receipt {receipt.receipt_id} has a delivery request of "
                          f"{receipt.delivery_requested} units open: confirm or cancel it first")


def _check_step(receipt: Receipt, to: ReceiptStatus) -> None:
    rp.check_step(RECEIPT_NEXT, ReceiptStatus(receipt.status), to,
                  f"receipt {receipt.receipt_id}")


def _move(ctx: CallContext, receipt: Receipt, to: ReceiptStatus, **changes: Any) -> Receipt:
    _check_step(receipt, to)
    return _save(ctx, replace(receipt, status=to.value, **changes))


def _save(ctx: CallContext, receipt: Receipt) -> Receipt:
    ctx.namespace(WAREHOUSE_RECEIPTS).put(b"receipt/" + receipt.receipt_id.encode("utf-8"),
                                          receipt.encode())
    return receipt


def _emit(ctx: CallContext, kind: str, receipt: Receipt, /, extra_subject: str = "",
          **attributes: Any) -> None:
    ctx.emit(kind, {
        **attributes, "receipt_id": receipt.receipt_id, "status": receipt.status,
        "owner": receipt.owner, "warehouse": receipt.warehouse,
        "subjects": rp.subjects(receipt.asset, "member:" + receipt.owner,
                                "member:" + receipt.warehouse, extra_subject,
                                "member:" + ctx.sender.member_id)})


_RECEIPT = ("receipt_id", RECEIPT_ID)

CONTRACT = Contract(WAREHOUSE_RECEIPTS, 1, (
    MethodSpec("issue", _issue, args=(
        ("owner", MEMBER_ID), ("goods", GOODS), ("quantity", QUANTITY),
        ("unit_value", rp.AMOUNT), ("currency", CURRENCY),
    ), roles=frozenset({Role.WAREHOUSE})),
    MethodSpec("transfer", _transfer, args=(_RECEIPT, ("new_owner", MEMBER_ID))),
    MethodSpec("appraise", _appraise, args=(_RECEIPT, ("unit_value", rp.AMOUNT)),
               roles=frozenset({Role.WAREHOUSE})),
    MethodSpec("request_delivery", _request_delivery, args=(_RECEIPT, ("quantity", QUANTITY))),
    MethodSpec("confirm_delivery", _confirm_delivery, args=(_RECEIPT,),
               roles=frozenset({Role.WAREHOUSE})),
    MethodSpec("cancel_delivery", _cancel_delivery, args=(_RECEIPT, ("reason", rp.REASON)),
               optional=frozenset({"reason"})),
))
