"""Payable certificates' stored records, their life cycles, the rules for spending a
part, and the bank's queries.

Split from contracts/payables.py (the methods) so each module holds one
concept. A certificate is a tree of parts: the root part is issued to the
invoice's seller; spending a live part (split, transfer, discount) marks it
`spent` and creates its children, so a part is spent once and every part's
`parent` chain leads to the root, the certificate and its invoice
(`part_lineage`). The leaves (parts not spent) always sum to the
certificate's amount.

State (namespace c/payables/):
    cert/<certificate id>       -> Certificate     ids: "PC-" + issuing tx id (hex)
    part/<part id>              -> Part            "PP-" + creating tx id (hex) + "-<index>"
    discount/<discount id>      -> Discount        "PD-" + requesting tx id (hex)
    invoice/<fp 32 bytes>       -> the invoice's certificate id (utf-8)
    exposure/<issuer id>        -> [[financier, discounted parts unpaid], ...]
    pay/<part or discount id>\\0<payment ref>  -> repayment.Payment
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from contracts import repayment as rp
from contracts.calendar import parse_date
from contracts.invoices import CURRENCY, DATE, FINGERPRINT, Invoice, require_invoice
from contracts.liens import validate_unencumbered
from contracts.repayment import AMOUNT, MONEY
from ledger.accounts import MEMBER_ID
from ledger.contract_api import CallContext, contract_prefix
from ledger.errors import Code, LedgerError
from ledger.state import StateReader
from ledger.structure import Field, Int, ListOf, Nested, Optional, Str, Structure
from ledger.types import HASH

PAYABLES = "payables"
MAX_SPLIT = 16                   # children of one split (keeps a provenance detail < 512 bytes)
CERTIFICATE_ID = Str(max_bytes=67, pattern=r"PC-[0-9a-f]{64}")
PART_ID = Str(max_bytes=70, pattern=r"PP-[0-9a-f]{64}-[0-9]{1,2}")
DISCOUNT_ID = Str(max_bytes=67, pattern=r"PD-[0-9a-f]{64}")


class CertificateStatus(StrEnum):
    OUTSTANDING = "outstanding"   # some part is still unpaid, none defaulted
    SETTLED = "settled"           # every part paid; the invoice settled, its lien released
    DEFAULTED = "defaulted"       # a part was declared in default (the others stay payable)


class PartStatus(StrEnum):
    LIVE = "live"                 # held by a supplier tier: may be split, transferred, discounted
    DISCOUNTED = "discounted"     # held by the financier that discounted it, to maturity
    OVERDUE = "overdue"           # unpaid after maturity plus the grace days
    SPENT = "spent"               # replaced by its children
    PAID = "paid"                 # the issuer's payment acknowledged by the holder
    DEFAULTED = "defaulted"       # declared in default by its financier


#: The life cycle of a part as data.
PART_NEXT: dict[PartStatus, tuple[PartStatus, ...]] = {
    PartStatus.LIVE: (PartStatus.SPENT, PartStatus.PAID, PartStatus.OVERDUE),
    PartStatus.DISCOUNTED: (PartStatus.PAID, PartStatus.OVERDUE),
    PartStatus.OVERDUE: (PartStatus.PAID, PartStatus.DEFAULTED),
    PartStatus.SPENT: (), PartStatus.PAID: (), PartStatus.DEFAULTED: (),
}
UNPAID = (PartStatus.LIVE.value, PartStatus.DISCOUNTED.value, PartStatus.OVERDUE.value)
ORIGINS = ("issue", "split", "transfer", "discount")
REQUESTED, WITHDRAWN, FUNDED = "requested", "withdrawn", "funded"


@dataclass(frozen=True, slots=True)
class Certificate(Structure):
    """The issuer's promise to pay `amount` on `maturity_date` to the holders of its parts."""

    certificate_id: str
    fingerprint: bytes           # the confirmed invoice it is issued against
    issuer: str                  # the invoice's buyer (core enterprise): the obligor
    seller: str                  # the invoice's seller: holder of the root part
    currency: str
    amount: int                  # <= the invoice's amount due
    issue_date: str
    maturity_date: str           # the invoice's due date
    grace_days: int
    penalty_rate_bps: int
    basis: int
    root_part: str
    status: str
    outstanding_parts: int       # leaves not yet paid or defaulted
    paid_amount: int             # sum of the paid leaves (acknowledged payments)
    defaulted_amount: int        # sum of the defaulted leaves
    issued_tx: bytes
    issued_height: int

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("certificate_id", CERTIFICATE_ID), ("fingerprint", FINGERPRINT),
        ("issuer", MEMBER_ID), ("seller", MEMBER_ID), ("currency", CURRENCY),
        ("amount", AMOUNT), ("issue_date", DATE), ("maturity_date", DATE),
        ("grace_days", rp.DAYS), ("penalty_rate_bps", rp.RATE_BPS), ("basis", rp.BASIS),
        ("root_part", PART_ID),
        ("status", Str(max_bytes=16, pattern="|".join(s.value for s in CertificateStatus))),
        ("outstanding_parts", Int(0)), ("paid_amount", MONEY), ("defaulted_amount", MONEY),
        ("issued_tx", HASH), ("issued_height", Int(1)),
    )

    @property
    def asset(self) -> str:
        """The lien asset id and event subject: "certificate:<certificate id>"."""
        return "certificate:" + self.certificate_id


@dataclass(frozen=True, slots=True)
class Part(Structure):
    """One node of a certificate's tree; a leaf is a claim on the issuer at maturity."""

    part_id: str
    certificate_id: str
    holder: str                  # the holder of record
    amount: int
    parent: str | None           # None for the root part
    tier: int                    # 1 = the seller; +1 per transfer; kept by split and discount
    origin: str                  # issue | split | transfer | discount
    status: str
    children: tuple[str, ...]    # set when spent
    pending_ref: str | None      # the issuer's payment awaiting the holder's answer
    discount_id: str | None      # origin discount: the discount that created it
    default: rp.Default | None   # status defaulted: what the issuer owes the holder
    created_tx: bytes
    created_height: int

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("part_id", PART_ID), ("certificate_id", CERTIFICATE_ID), ("holder", MEMBER_ID),
        ("amount", AMOUNT), ("parent", Optional(PART_ID)), ("tier", Int(1, 2**32 - 1)),
        ("origin", Str(max_bytes=16, pattern="|".join(ORIGINS))),
        ("status", Str(max_bytes=16, pattern="|".join(s.value for s in PartStatus))),
        ("children", ListOf(PART_ID, MAX_SPLIT)), ("pending_ref", Optional(rp.PAYMENT_REF)),
        ("discount_id", Optional(DISCOUNT_ID)), ("default", Optional(Nested(rp.Default))),
        ("created_tx", HASH), ("created_height", Int(1)),
    )

    @property
    def asset(self) -> str:
        """The part's lien asset id and event subject: "certificate:<part id>"."""
        return "certificate:" + self.part_id


@dataclass(frozen=True, slots=True)
class Discount(Structure):
    """A holder's sale of a live part to a financier at §2 terms with a = 10000."""

    discount_id: str
    certificate_id: str
    part_id: str
    seller: str                  # the part's holder at the request
    financier: str
    issuer: str
    currency: str
    amount: int                  # the part's amount: the financier collects it at maturity
    maturity_date: str
    request_date: str            # the terms hold this UTC day only
    tenor_days: int              # days(request date, maturity)
    rate_bps: int
    basis: int
    fee: int
    discount: int                # terms.certificate_discount(amount, rate, n, basis, fee)
    paid_out: int                # amount - discount - fee: the financier pays the seller
    status: str                  # requested | withdrawn | funded
    funding_ref: str | None
    new_part: str | None         # funded: the part now held by the financier
    requested_tx: bytes
    requested_height: int

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("discount_id", DISCOUNT_ID), ("certificate_id", CERTIFICATE_ID), ("part_id", PART_ID),
        ("seller", MEMBER_ID), ("financier", MEMBER_ID), ("issuer", MEMBER_ID),
        ("currency", CURRENCY), ("amount", AMOUNT), ("maturity_date", DATE),
        ("request_date", DATE), ("tenor_days", Int(1)), ("rate_bps", rp.RATE_BPS),
        ("basis", rp.BASIS), ("fee", MONEY), ("discount", MONEY), ("paid_out", AMOUNT),
        ("status", Str(max_bytes=16, pattern=f"{REQUESTED}|{WITHDRAWN}|{FUNDED}")),
        ("funding_ref", Optional(rp.PAYMENT_REF)), ("new_part", Optional(PART_ID)),
        ("requested_tx", HASH), ("requested_height", Int(1)),
    )


@dataclass(frozen=True, slots=True)
class Lineage:
    """A part's provenance for a bank: the part, its ancestors up to the root part,
    the certificate and the invoice it was issued against."""

    parts: tuple[Part, ...]      # the part first, the root part last
    certificate: Certificate
    invoice: Invoice


# -- keys and readers (full state: a chain's state, a proof view, or ctx.scratch) ------

def certificate_key(certificate_id: str) -> bytes:
    return contract_prefix(PAYABLES) + b"cert/" + certificate_id.encode("utf-8")


def part_key(part_id: str) -> bytes:
    return contract_prefix(PAYABLES) + b"part/" + part_id.encode("utf-8")


def discount_key(discount_id: str) -> bytes:
    return contract_prefix(PAYABLES) + b"discount/" + discount_id.encode("utf-8")


def get_certificate(reader: StateReader, certificate_id: str) -> Certificate | None:
    data = reader.get(certificate_key(certificate_id))
    return None if data is None else Certificate.decode(data)


def get_part(reader: StateReader, part_id: str) -> Part | None:
    data = reader.get(part_key(part_id))
    return None if data is None else Part.decode(data)


def get_discount(reader: StateReader, discount_id: str) -> Discount | None:
    data = reader.get(discount_key(discount_id))
    return None if data is None else Discount.decode(data)


def certificate_of_invoice(reader: StateReader, fingerprint: bytes) -> Certificate | None:
    """The certificate issued against the invoice, if any (an invoice backs at most one)."""
    data = reader.get(contract_prefix(PAYABLES) + b"invoice/" + fingerprint)
    return None if data is None else get_certificate(reader, data.decode("utf-8"))


def require_part(reader: StateReader, part_id: str) -> Part:
    part = get_part(reader, part_id)
    if part is None:
        raise LedgerError(Code.PART_NOT_FOUND, f"no certificate part {part_id}")
    return part


def require_certificate(reader: StateReader, certificate_id: str) -> Certificate:
    certificate = get_certificate(reader, certificate_id)
    if certificate is None:
        raise LedgerError(Code.CERTIFICATE_NOT_FOUND, f"no payable certificate {certificate_id}")
    return certificate


def part_lineage(reader: StateReader, part_id: str) -> Lineage:
    """The part and its ancestors (parent by parent, up to the root part), its
    certificate and its invoice: what a bank checks before discounting a part.
    PART_NOT_FOUND for an unknown part; STATE_NODE_MISSING if a link is missing."""
    parts = [require_part(reader, part_id)]
    while parts[-1].parent is not None:
        parent = get_part(reader, parts[-1].parent)
        if parent is None or parts[-1].part_id not in parent.children:
            raise LedgerError(Code.STATE_NODE_MISSING,
                              f"part {parts[-1].part_id}: parent {parts[-1].parent} is missing "
                              "or does not list it as a child")
        parts.append(parent)
    certificate = get_certificate(reader, parts[-1].certificate_id)
    if certificate is None or certificate.root_part != parts[-1].part_id:
        raise LedgerError(Code.STATE_NODE_MISSING,
                          f"part {part_id}: its root {parts[-1].part_id} is not the root of "
                          f"certificate {parts[-1].certificate_id}")
    return Lineage(tuple(parts), certificate, require_invoice(reader, certificate.fingerprint))


def certificate_parts(reader: StateReader, certificate_id: str) -> list[Part]:
    """Every part of the certificate, the root first, depth first in child order."""
    certificate = require_certificate(reader, certificate_id)
    found: list[Part] = []
    stack = [certificate.root_part]
    while stack:
        part = require_part(reader, stack.pop())
        found.append(part)
        stack.extend(reversed(part.children))
    return found


# -- writes and record rules (from inside a payables transaction) ---------------------

def new_part(ctx: CallContext, index: int, certificate_id: str, holder: str, amount: int,
             parent: str | None, tier: int, origin: str, discount_id: str | None = None) -> Part:
    """Part `index` created by this transaction: id "PP-<tx id hex>-<index>" (a
    transaction spends at most one part, so the ids are unique on the chain)."""
    status = PartStatus.DISCOUNTED if origin == "discount" else PartStatus.LIVE
    return Part(f"PP-{ctx.tx_id.hex()}-{index}", certificate_id, holder, amount, parent, tier,
                origin, status.value, (), None, discount_id, None, ctx.tx_id, ctx.height)


def save(ctx: CallContext, *records: Certificate | Part | Discount) -> None:
    for record in records:
        if isinstance(record, Certificate):
            local = b"cert/" + record.certificate_id.encode("utf-8")
        elif isinstance(record, Part):
            local = b"part/" + record.part_id.encode("utf-8")
        else:
            local = b"discount/" + record.discount_id.encode("utf-8")
        ctx.state.put(local, record.encode())


def link_invoice(ctx: CallContext, fingerprint: bytes, certificate_id: str) -> None:
    ctx.state.put(b"invoice/" + fingerprint, certificate_id.encode("utf-8"))


def load_discount(ctx: CallContext, discount_id: str) -> Discount:
    return rp.load(ctx, b"discount/", discount_id, Discount, Code.DEAL_NOT_FOUND,
                   "certificate discount")


def require_unspent(part: Part) -> None:
    """PART_SPENT if the part was split, transferred or discounted already."""
    if part.status == PartStatus.SPENT:
        raise LedgerError(Code.PART_SPENT, f"part {part.part_id} is spent: it became "
                                           f"{', '.join(part.children)}")


def require_spendable(ctx: CallContext, part: Part, what: str) -> Certificate:
    """The part may be split, transferred or discounted (`what`), and its certificate:
    unspent (PART_SPENT), live (INVALID_STATE_TRANSITION), before maturity
    (CERTIFICATE_MATURED), under no other product's lien (ASSET_ENCUMBERED)."""
    require_unspent(part)
    rp.require_status(f"part {part.part_id}", part.status, (PartStatus.LIVE.value,),
                      f"it is {what}")
    certificate = require_certificate(ctx.scratch, part.certificate_id)
    if rp.today(ctx) >= parse_date(certificate.maturity_date):
        raise LedgerError(Code.CERTIFICATE_MATURED,
                          f"certificate {certificate.certificate_id} matured on "
                          f"{certificate.maturity_date}: its parts are no longer {what}; the "
                          "holders of record are paid")
    validate_unencumbered(ctx.scratch, certificate.asset)
    validate_unencumbered(ctx.scratch, part.asset)
    return certificate


def require_no_pending(part: Part) -> None:
    """PAYMENT_PENDING while the issuer's payment of the part awaits the holder."""
    if part.pending_ref is not None:
        raise LedgerError(Code.PAYMENT_PENDING,
                          f"part {part.part_id}: payment {part.pending_ref} awaits the holder's "
                          "acknowledgement or rejection")


def exposure(reader: StateReader, issuer: str) -> list[list[Any]]:
    """[[financier, discounted parts of `issuer`'s certificates not yet paid or
    defaulted], ...] sorted by financier."""
    return rp.exposure(reader, PAYABLES, issuer)

