"""The invoice registry: registration, the life cycle, duplicates, near matches.

Theory of operation. An invoice is identified ledger-wide by its fingerprint
(contracts/fingerprint.py); a fingerprint is registered once, ever, by
anyone: a second registration is DUPLICATE_INVOICE pointing at the first.
Its status moves only along the life cycle in `NEXT` (docs/products.md):

    registered -> confirmed | disputed | cancelled
    disputed   -> confirmed | cancelled
    confirmed  -> disputed | assigned | settled | cancelled
    assigned   -> settled | overdue
    overdue    -> settled | defaulted
    settled, defaulted, cancelled: final

Sellers and buyers move it by signed methods of this contract (`register`,
`confirm`, `dispute`, `consent_cancel`, `cancel`); financing products move
it by calling `mark_assigned` / `mark_settled` / `mark_overdue` /
`mark_defaulted` from inside their own transactions. Any other step is
INVALID_STATE_TRANSITION naming both statuses. Every step appends to the
invoice's provenance (contracts/provenance.py) and emits an event whose
`subjects` list the invoice and the members concerned.

Near matches are accepted but flagged with an `invoice.possible_duplicate`
event naming both invoices: same seller, buyer, currency and face amount
with issue dates at most 3 days apart, or the same document hash. A
registration reports the matches with the 16 smallest fingerprints and how
many there are in all, so an index bucket keeps exactly that: a count and
the 16 smallest fingerprints (`MatchBucket`). Reading and updating a bucket
costs the same however many invoices it holds (a list of them all made
registrations sharing a bucket quadratic):

    nearset/<sha256(canonical([seller, buyer, currency, amount, issue_day]))> -> MatchBucket
    docset/<document sha256>                                                    -> MatchBucket
    docnear/<sha256(canonical([document, seller, buyer, currency, amount, issue_day]))> -> int
    inv/<fp>                                                                    -> Invoice

The 16 smallest of a union of buckets are among the 16 smallest of each, so
the reported matches and their reasons are exact. The count in all is the
sum of the counts, less the invoices counted twice: those with the same
document that also match on parties and amount. While the document's bucket
holds at most 16 invoices they are all named in it and checked one by one;
from its 17th invoice on, `docnear` counts them per (document, bucket).
The buckets' records and keys are in contracts/near_match_index.py.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, ClassVar

from contracts.calendar import block_date, parse_date
from contracts import near_match_index as index
from contracts import risk
from contracts.engine import Contract, MethodSpec
from contracts.fingerprint import fingerprint_of_normalized, normalize_invoice_number
from contracts.liens import (
    active_lien,
    invoice_asset,
    place_lien,
    release_lien,
    validate_unencumbered,
)
from contracts.near_match_index import MAX_DUPLICATE_WARNINGS, NEAR_MATCH_DAYS
from contracts.provenance import append_entry, start_provenance
from ledger import codec
from ledger.accounts import MEMBER_ID, Role, get_member
from ledger.contract_api import CallContext, contract_prefix
from ledger.errors import Code, LedgerError
from ledger.state import StateReader
from ledger.structure import Bool, Bytes, Field, Int, Optional, Str, Structure
from ledger.types import HASH

INVOICES = "invoices"
MAX_AMOUNT = 2**63 - 1
ISSUE_DATE_SLACK_DAYS = 1     # an issue date may be 1 day after the UTC block date

FINGERPRINT = Bytes(size=32)
TAX_ID = Str(max_bytes=64, pattern=r"[!-~]([ -~]{0,62}[!-~])?")
INVOICE_NUMBER = Str(max_bytes=128, pattern=r"[^\x00-\x1f\x7f]{1,128}")
DATE = Str(max_bytes=10, pattern=r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
CURRENCY = Str(max_bytes=3, pattern=r"[A-Z]{3}")
AMOUNT = Int(1, MAX_AMOUNT)
REASON = Str(max_bytes=256)


class Status(StrEnum):
    REGISTERED = "registered"
    DISPUTED = "disputed"
    CONFIRMED = "confirmed"
    ASSIGNED = "assigned"
    SETTLED = "settled"
    OVERDUE = "overdue"
    DEFAULTED = "defaulted"
    CANCELLED = "cancelled"


#: The life cycle as data: a status and the statuses it may move to.
NEXT: dict[Status, tuple[Status, ...]] = {
    Status.REGISTERED: (Status.CONFIRMED, Status.DISPUTED, Status.CANCELLED),
    Status.DISPUTED: (Status.CONFIRMED, Status.CANCELLED),
    Status.CONFIRMED: (Status.DISPUTED, Status.ASSIGNED, Status.SETTLED, Status.CANCELLED),
    Status.ASSIGNED: (Status.SETTLED, Status.OVERDUE),
    Status.OVERDUE: (Status.SETTLED, Status.DEFAULTED),
    Status.SETTLED: (),
    Status.DEFAULTED: (),
    Status.CANCELLED: (),
}


@dataclass(frozen=True, slots=True)
class Invoice(Structure):
    """An invoice as the ledger keeps it (the document itself stays off-ledger)."""

    fingerprint: bytes
    invoice_number: str
    seller: str                    # member ids
    buyer: str
    seller_tax_id: str             # as declared, part of the fingerprint
    buyer_tax_id: str
    issue_date: str                # "YYYY-MM-DD"
    due_date: str
    currency: str                  # ISO 4217
    face_amount: int               # minor units
    document_sha256: bytes
    status: str
    confirmed_amount: int | None   # set by the buyer's confirmation (<= face)
    cancel_consent: bool           # the buyer consented to cancel this confirmation
    registered_tx: bytes
    registered_height: int

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("fingerprint", FINGERPRINT),
        ("invoice_number", INVOICE_NUMBER),
        ("seller", MEMBER_ID),
        ("buyer", MEMBER_ID),
        ("seller_tax_id", TAX_ID),
        ("buyer_tax_id", TAX_ID),
        ("issue_date", DATE),
        ("due_date", DATE),
        ("currency", CURRENCY),
        ("face_amount", AMOUNT),
        ("document_sha256", HASH),
        ("status", Str(max_bytes=32, pattern="|".join(s.value for s in Status))),
        ("confirmed_amount", Optional(AMOUNT)),
        ("cancel_consent", Bool()),
        ("registered_tx", HASH),
        ("registered_height", Int(1)),
    )

    @property
    def amount_due(self) -> int:
        """What the buyer owes: the confirmed amount, else the face amount."""
        return self.face_amount if self.confirmed_amount is None else self.confirmed_amount

    @property
    def due_day(self) -> int:
        """The due date as a day number (contracts.calendar)."""
        return parse_date(self.due_date, "due_date")

    @property
    def asset(self) -> str:
        """The lien asset id and event subject: "invoice:<fp hex>"."""
        return invoice_asset(self.fingerprint)


# -- queries (full state: a chain's state, a proof view, or ctx.scratch) ------

def invoice_key(fingerprint: bytes) -> bytes:
    """The full state key of an invoice record (for reads and proofs)."""
    return contract_prefix(INVOICES) + _invoice_local(fingerprint)


def get_invoice(reader: StateReader, fingerprint: bytes) -> Invoice | None:
    data = reader.get(invoice_key(fingerprint))
    return None if data is None else Invoice.decode(data)


def require_invoice(reader: StateReader, fingerprint: bytes) -> Invoice:
    invoice = get_invoice(reader, fingerprint)
    if invoice is None:
        raise LedgerError(Code.INVOICE_NOT_FOUND, f"no invoice {fingerprint.hex()}")
    return invoice


# -- status changes for financing products (call from inside a transaction) ---

def mark_assigned(ctx: CallContext, fingerprint: bytes, financier: str, deal_id: str,
                  action: str = "assign", detail: str = "") -> Invoice:
    """confirmed -> assigned: places the invoice's lien (ASSET_ENCUMBERED if any).

    `action` and `detail` name the step in the provenance (e.g. "factoring.fund").
    """
    invoice = require_invoice(ctx.scratch, fingerprint)
    validate_transition(invoice, Status.ASSIGNED)
    holder = get_member(ctx.system, financier)
    if holder is None or not holder.has_role(Role.FINANCIER):
        raise LedgerError(Code.INVALID_ARGUMENT, f"financier: {financier} is not a financier")
    place_lien(ctx, invoice.asset, financier, deal_id, assignment=True)
    return _transition(ctx, invoice, Status.ASSIGNED, action,
                       detail or f"deal {deal_id} to {financier}",
                       {"financier": financier, "deal_id": deal_id}, (financier,))


def mark_settled(ctx: CallContext, fingerprint: bytes, deal_id: str | None = None,
                 action: str = "settle", detail: str = "") -> Invoice:
    """confirmed | assigned | overdue -> settled; releases the lien of `deal_id`.

    Without a deal the invoice must carry no lien (dynamic discounting, payment
    of an unfinanced invoice); with one, that deal's lien must be active.
    """
    invoice = require_invoice(ctx.scratch, fingerprint)
    validate_transition(invoice, Status.SETTLED)
    if deal_id is None:
        validate_unencumbered(ctx.scratch, invoice.asset)
        return _transition(ctx, invoice, Status.SETTLED, action, detail, {"deal_id": None}, ())
    released = release_lien(ctx, invoice.asset, deal_id, settlement=True)
    return _transition(ctx, invoice, Status.SETTLED, action, detail or f"deal {deal_id}",
                       {"deal_id": deal_id}, (released.holder,))


def mark_overdue(ctx: CallContext, fingerprint: bytes, action: str = "overdue",
                 detail: str = "") -> Invoice:
    """assigned -> overdue (the product decides when: due date plus its grace)."""
    invoice = require_invoice(ctx.scratch, fingerprint)
    return _transition(ctx, invoice, Status.OVERDUE, action, detail, {}, ())


def mark_defaulted(ctx: CallContext, fingerprint: bytes, action: str = "default",
                   detail: str = "") -> Invoice:
    """overdue -> defaulted; the lien stays with its holder."""
    invoice = require_invoice(ctx.scratch, fingerprint)
    return _transition(ctx, invoice, Status.DEFAULTED, action, detail, {}, ())


def validate_transition(invoice: Invoice, to: Status) -> None:
    """Raises INVALID_STATE_TRANSITION unless `to` follows the invoice's status."""
    if to not in NEXT[Status(invoice.status)]:
        raise LedgerError(Code.INVALID_STATE_TRANSITION,
                          f"invoice {invoice.fingerprint.hex()}: {invoice.status} -> {to.value} "
                          f"is not a step of the life cycle")


# -- methods ---------------------------------------------------------------

def _register(ctx: CallContext, args: dict[str, Any]) -> None:
    seller = ctx.sender.member_id
    buyer = args["buyer"]
    if buyer == seller:
        raise LedgerError(Code.INVALID_ARGUMENT, "buyer: a seller cannot invoice itself")
    buyer_member = get_member(ctx.system, buyer)
    if buyer_member is None:
        raise LedgerError(Code.INVALID_ARGUMENT, f"buyer: no member {buyer}")
    if not buyer_member.has_role(Role.CORE_ENTERPRISE):
        raise LedgerError(Code.INVALID_ARGUMENT, f"buyer: {buyer} is not a core enterprise")
    number = normalize_invoice_number(args["invoice_number"])
    if not number:
        raise LedgerError(Code.INVALID_ARGUMENT, "invoice_number: empty once normalized")
    issue_day = parse_date(args["issue_date"], "issue_date")
    due_day = parse_date(args["due_date"], "due_date")
    if due_day < issue_day:
        raise LedgerError(Code.INVALID_ARGUMENT,
                          f"due_date: {args['due_date']} is before issue_date {args['issue_date']}")
    if issue_day > block_date(ctx.time_ms) + ISSUE_DATE_SLACK_DAYS:
        raise LedgerError(Code.INVALID_ARGUMENT,
                          f"issue_date: {args['issue_date']} is in the future")
    fingerprint = fingerprint_of_normalized(args["seller_tax_id"], args["buyer_tax_id"], number,
                                            args["issue_date"], args["currency"],
                                            args["face_amount"])
    first = get_invoice(ctx.scratch, fingerprint)
    if first is not None:
        raise LedgerError(Code.DUPLICATE_INVOICE,
                          f"invoice {fingerprint.hex()} was first registered by {first.seller} "
                          f"in tx {first.registered_tx.hex()} at height {first.registered_height}")
    invoice = Invoice(fingerprint, args["invoice_number"], seller, buyer, args["seller_tax_id"],
                      args["buyer_tax_id"], args["issue_date"], args["due_date"],
                      args["currency"], args["face_amount"], args["document_sha256"],
                      Status.REGISTERED.value, None, False, ctx.tx_id, ctx.height)
    ctx.namespace(INVOICES).put(_invoice_local(fingerprint), invoice.encode())
    start_provenance(ctx, fingerprint, "register", invoice.status,
                     f"{invoice.currency} {invoice.face_amount}")
    ctx.emit("invoice.registered", {
        "fingerprint": fingerprint.hex(), "invoice_number": invoice.invoice_number,
        "seller": seller, "buyer": buyer, "currency": invoice.currency,
        "face_amount": invoice.face_amount, "issue_date": invoice.issue_date,
        "due_date": invoice.due_date, "subjects": _subjects(ctx, invoice, ()),
    })
    _flag_near_matches(ctx, invoice, issue_day)


def _confirm(ctx: CallContext, args: dict[str, Any]) -> None:
    invoice = _as_buyer(ctx, args["fingerprint"], "confirm")
    amount = args.get("amount", invoice.face_amount)
    if amount > invoice.face_amount:
        raise LedgerError(Code.INVALID_ARGUMENT,
                          f"amount: {amount} is above the face amount {invoice.face_amount}")
    _transition(ctx, invoice, Status.CONFIRMED, "confirm", f"amount {amount}",
                {"amount": amount, "face_amount": invoice.face_amount}, (),
                confirmed_amount=amount, cancel_consent=False)
    risk.on_invoice_confirmed(ctx, seller=invoice.seller, buyer=invoice.buyer,
                              currency=invoice.currency, amount=amount,
                              fingerprint=invoice.fingerprint)


def _dispute(ctx: CallContext, args: dict[str, Any]) -> None:
    invoice = _as_buyer(ctx, args["fingerprint"], "dispute")
    validate_transition(invoice, Status.DISPUTED)
    validate_unencumbered(ctx.scratch, invoice.asset)
    reason = args.get("reason", "")
    _transition(ctx, invoice, Status.DISPUTED, "dispute", reason, {"reason": reason}, (),
                confirmed_amount=None, cancel_consent=False)


def _consent_cancel(ctx: CallContext, args: dict[str, Any]) -> None:
    invoice = _as_buyer(ctx, args["fingerprint"], "consent_cancel")
    if invoice.status != Status.CONFIRMED or invoice.cancel_consent:
        state = "already has the buyer's consent" if invoice.cancel_consent else invoice.status
        raise LedgerError(Code.INVALID_STATE_TRANSITION,
                          f"invoice {invoice.fingerprint.hex()}: consent to cancel is given once, "
                          f"to a confirmed invoice; it is {state}")
    updated = replace(invoice, cancel_consent=True)
    ctx.namespace(INVOICES).put(_invoice_local(invoice.fingerprint), updated.encode())
    append_entry(ctx, invoice.fingerprint, "consent_cancel", updated.status)
    ctx.emit("invoice.cancel_consented", {"fingerprint": invoice.fingerprint.hex(),
                                          "subjects": _subjects(ctx, invoice, ())})


def _cancel(ctx: CallContext, args: dict[str, Any]) -> None:
    invoice = require_invoice(ctx.scratch, args["fingerprint"])
    if invoice.seller != ctx.sender.member_id:
        raise LedgerError(Code.FORBIDDEN, f"cancel: {ctx.sender.member_id} is not the seller "
                                          f"of invoice {invoice.fingerprint.hex()}")
    validate_transition(invoice, Status.CANCELLED)
    if invoice.status == Status.CONFIRMED and not invoice.cancel_consent:
        raise LedgerError(Code.CANCEL_CONSENT_REQUIRED,
                          f"invoice {invoice.fingerprint.hex()} is confirmed: its buyer "
                          f"{invoice.buyer} must sign invoices.consent_cancel first")
    validate_unencumbered(ctx.scratch, invoice.asset)
    reason = args.get("reason", "")
    _transition(ctx, invoice, Status.CANCELLED, "cancel", reason, {"reason": reason}, ())


# -- helpers -----------------------------------------------------------------

def _as_buyer(ctx: CallContext, fingerprint: bytes, method: str) -> Invoice:
    invoice = require_invoice(ctx.scratch, fingerprint)
    if invoice.buyer != ctx.sender.member_id:
        raise LedgerError(Code.FORBIDDEN, f"{method}: {ctx.sender.member_id} is not the buyer "
                                          f"of invoice {fingerprint.hex()}")
    return invoice


def _transition(ctx: CallContext, invoice: Invoice, to: Status, action: str, detail: str,
                attributes: dict[str, Any], members: tuple[str, ...],
                **changes: Any) -> Invoice:
    validate_transition(invoice, to)
    lien = active_lien(ctx.scratch, invoice.asset)
    members += () if lien is None else (lien.holder,)
    updated = replace(invoice, status=to.value, **changes)
    if to is not Status.CONFIRMED:
        updated = replace(updated, cancel_consent=False)
    ctx.namespace(INVOICES).put(_invoice_local(invoice.fingerprint), updated.encode())
    append_entry(ctx, invoice.fingerprint, action, to.value, detail)
    ctx.emit("invoice." + to.value, {
        **attributes, "fingerprint": invoice.fingerprint.hex(), "from": invoice.status,
        "to": to.value, "action": action, "subjects": _subjects(ctx, invoice, members),
    })
    return updated


def _subjects(ctx: CallContext, invoice: Invoice, members: tuple[str, ...],
              others: tuple[str, ...] = ()) -> list[str]:
    """Event subjects: the invoice(s), its parties, the signer, others concerned."""
    found: list[str] = [invoice.asset, *others, "member:" + invoice.seller,
                        "member:" + invoice.buyer, "member:" + ctx.sender.member_id]
    found += ["member:" + member for member in members]
    return list(dict.fromkeys(found))  # each once, in order of first mention


def _flag_near_matches(ctx: CallContext, invoice: Invoice, issue_day: int) -> None:
    """Emits invoice.possible_duplicate per earlier near match (the 16 with
    the smallest fingerprints); indexes this invoice."""
    namespace = ctx.namespace(INVOICES)
    days = range(issue_day - NEAR_MATCH_DAYS, issue_day + NEAR_MATCH_DAYS + 1)
    near_keys = index.near_keys(invoice.seller, invoice.buyer, invoice.currency,
                                invoice.face_amount, days)
    near = [index.read_bucket(namespace.get(key)) for key in near_keys]
    doc_key = index.document_key(invoice.document_sha256)
    doc = index.read_bucket(namespace.get(doc_key))
    reasons: dict[bytes, list[str]] = {}
    for bucket in near:
        for other in bucket.smallest:
            reasons.setdefault(other, []).append("same_parties_and_amount")
    for other in doc.smallest:
        reasons.setdefault(other, []).append("same_document")
    near_count = sum(bucket.count for bucket in near)
    overlap = _doc_overlap(ctx, invoice, doc, days) if near_count and doc.count else 0
    matches = near_count + doc.count - overlap
    for other_fp in sorted(reasons)[:MAX_DUPLICATE_WARNINGS]:
        other = require_invoice(ctx.scratch, other_fp)
        ctx.emit("invoice.possible_duplicate", {
            "fingerprint": invoice.fingerprint.hex(), "other": other_fp.hex(),
            "other_seller": other.seller, "other_buyer": other.buyer,
            "reasons": reasons[other_fp], "matches": matches,
            "subjects": _subjects(ctx, invoice, (other.seller, other.buyer),
                                  (other.asset,)),
        })
    own = NEAR_MATCH_DAYS  # the index of issue_day in `days`
    namespace.put(near_keys[own], near[own].with_invoice(invoice.fingerprint).encode())
    namespace.put(doc_key, doc.with_invoice(invoice.fingerprint).encode())
    if doc.count >= MAX_DUPLICATE_WARNINGS:
        # the document's bucket stops naming all its invoices: count per bucket
        counted = [invoice] if doc.count > MAX_DUPLICATE_WARNINGS else [
            invoice, *(require_invoice(ctx.scratch, fp) for fp in doc.smallest)]
        for member in counted:
            key = _document_day_key(member, parse_date(member.issue_date, "issue_date"))
            namespace.put(key, codec.encode(index.read_count(namespace.get(key)) + 1))


def _doc_overlap(ctx: CallContext, invoice: Invoice, doc: index.MatchBucket,
                 days: range) -> int:
    """How many invoices of the document's bucket are also near matches on
    parties and amount (they are in two buckets, but one match)."""
    if doc.names_all:
        return sum(1 for fp in doc.smallest
                   if _same_parties_and_amount(require_invoice(ctx.scratch, fp), invoice, days))
    namespace = ctx.namespace(INVOICES)
    return sum(index.read_count(namespace.get(_document_day_key(invoice, day))) for day in days)


def _same_parties_and_amount(other: Invoice, invoice: Invoice, days: range) -> bool:
    return ((other.seller, other.buyer, other.currency, other.face_amount)
            == (invoice.seller, invoice.buyer, invoice.currency, invoice.face_amount)
            and parse_date(other.issue_date, "issue_date") in days)


def _document_day_key(invoice: Invoice, day: int) -> bytes:
    return index.document_day_key(invoice.document_sha256, invoice.seller, invoice.buyer,
                                  invoice.currency, invoice.face_amount, day)


def _invoice_local(fingerprint: bytes) -> bytes:
    if type(fingerprint) is not bytes or len(fingerprint) != 32:
        raise LedgerError(Code.INVALID_ARGUMENT, "fingerprint: expected 32 bytes")
    return b"inv/" + fingerprint


_ROLE_SUPPLIER = frozenset({Role.SUPPLIER})
_ROLE_BUYER = frozenset({Role.CORE_ENTERPRISE})
_FP_ARG = ("fingerprint", FINGERPRINT)

CONTRACT = Contract(INVOICES, 1, (
    MethodSpec("register", _register, args=(
        ("invoice_number", INVOICE_NUMBER), ("seller_tax_id", TAX_ID), ("buyer_tax_id", TAX_ID),
        ("buyer", MEMBER_ID), ("issue_date", DATE), ("due_date", DATE), ("currency", CURRENCY),
        ("face_amount", AMOUNT), ("document_sha256", FINGERPRINT),
    ), roles=_ROLE_SUPPLIER),
    MethodSpec("confirm", _confirm, args=(_FP_ARG, ("amount", AMOUNT)),
               optional=frozenset({"amount"}), roles=_ROLE_BUYER),
    MethodSpec("dispute", _dispute, args=(_FP_ARG, ("reason", REASON)),
               optional=frozenset({"reason"}), roles=_ROLE_BUYER),
    MethodSpec("consent_cancel", _consent_cancel, args=(_FP_ARG,), roles=_ROLE_BUYER),
    MethodSpec("cancel", _cancel, args=(_FP_ARG, ("reason", REASON)),
               optional=frozenset({"reason"}), roles=_ROLE_SUPPLIER),
))
