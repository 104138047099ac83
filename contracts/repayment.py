"""Repayment, overdue and default: the bookkeeping financing products share (§7).

Money moves in the banking system; the ledger records it. A payment is a
transaction signed by the payer, carrying the bank's payment reference, then
acknowledged (or rejected) by the payee; products count only acknowledged
payments. Each product keeps its payments in its own namespace:

    pay/<deal id> 0x00 <payment ref>  ->  Payment

A reference is used once per deal (DUPLICATE_PAYMENT), rejected or not, so
"which transfer was that" never has two answers. A payment moves `pending ->
acknowledged | rejected`, by its payee only (FORBIDDEN), once
(INVALID_STATE_TRANSITION).

Overdue and default: a deal is in arrears after its due date plus its grace
days (NOT_IN_ARREARS before); at default `settle_default` computes what the
obligor's counterparties bear with `contracts.terms.penalty_interest`.
Exposure: per obligor, the financiers with live deals on it, so a default
can name every member exposed to the same obligor (one state read, no scan):

    exposure/<obligor id>  ->  [[financier, live deals], ...] sorted by financier

Also here: record ids derived from the transaction id, "today" from the block
time, offer expiry, record loading, state-machine steps and event subjects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from contracts.calendar import block_date, days, format_date, parse_date
from contracts.invoices import Invoice
from contracts.terms import penalty_interest
from ledger import codec
from ledger.accounts import MEMBER_ID, Role, get_member
from ledger.contract_api import CallContext, contract_prefix
from ledger.errors import Code, LedgerError
from ledger.state import StateReader
from ledger.structure import Field, Int, Optional, Str, Structure
from ledger.types import HASH

MAX_AMOUNT = 2**63 - 1
AMOUNT = Int(1, MAX_AMOUNT)
MONEY = Int(0, MAX_AMOUNT)
PENDING, ACKNOWLEDGED, REJECTED = "pending", "acknowledged", "rejected"
PAYMENT_REF = Str(max_bytes=64, pattern=r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")
RECORD_ID = Str(max_bytes=128, pattern=r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")
REASON = Str(max_bytes=256)
DATE = Str(max_bytes=10, pattern=r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DAYS = Int(0, 36_500)           # grace periods, minimum days early: up to 100 years
RATE_BPS = Int(0, 10_000)
S = TypeVar("S", bound=Structure)
E = TypeVar("E", bound=StrEnum)


@dataclass(frozen=True)
class Basis(Field):
    """A day-count basis: 365 (ACT/365F) or 360 (ACT/360)."""

    def load(self, value: Any, path: str) -> int:
        if type(value) is not int or value not in (360, 365):
            raise LedgerError(Code.SCHEMA_MISMATCH,
                              f"{path}: expected 360 (ACT/360) or 365 (ACT/365F), got {value!r}")
        return value


BASIS = Basis()


@dataclass(frozen=True, slots=True)
class Payment(Structure):
    """One payment as recorded by its payer; `status` set by its payee."""

    deal_id: str
    payment_ref: str
    kind: str            # the product's leg: "funding", "buyer", "reserve", "early_payment"
    payer: str
    payee: str
    amount: int
    status: str          # pending | acknowledged | rejected
    reason: str          # the payee's reason for a rejection, else ""
    recorded_tx: bytes
    recorded_height: int
    closed_height: int | None

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("deal_id", RECORD_ID), ("payment_ref", PAYMENT_REF),
        ("kind", Str(max_bytes=32, pattern=r"[a-z_]{1,32}")), ("payer", MEMBER_ID),
        ("payee", MEMBER_ID), ("amount", AMOUNT),
        ("status", Str(max_bytes=16, pattern=f"{PENDING}|{ACKNOWLEDGED}|{REJECTED}")),
        ("reason", REASON), ("recorded_tx", HASH), ("recorded_height", Int(1)),
        ("closed_height", Optional(Int(1))),
    )


@dataclass(frozen=True, slots=True)
class Default(Structure):
    """What a default leaves owed or lost (uncovered = principal not repaid)."""

    default_date: str
    days_late: int        # days(due date, default date)
    uncovered: int
    penalty: int          # with recourse: penalty_interest(uncovered, rate, days_late, B)
    recourse_claim: int   # owed by the recourse party: uncovered + penalty; else 0
    financier_loss: int   # without recourse: uncovered; else 0

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("default_date", DATE), ("days_late", Int(0)), ("uncovered", MONEY),
        ("penalty", MONEY), ("recourse_claim", MONEY), ("financier_loss", MONEY),
    )


# -- payments ----------------------------------------------------------------------

def payment_key(contract: str, deal_id: str, payment_ref: str) -> bytes:
    """The full state key of a payment (for reads and proofs)."""
    return contract_prefix(contract) + _payment_local(deal_id, payment_ref)


def get_payment(reader: StateReader, contract: str, deal_id: str,
                payment_ref: str) -> Payment | None:
    data = reader.get(payment_key(contract, deal_id, payment_ref))
    return None if data is None else Payment.decode(data)


def record_payment(ctx: CallContext, deal_id: str, kind: str, payee: str, amount: int,
                   payment_ref: str) -> Payment:
    """Records a pending payment by the signer (the payer) in the signer's contract."""
    local = _payment_local(deal_id, payment_ref)
    if ctx.state.get(local) is not None:
        raise LedgerError(Code.DUPLICATE_PAYMENT,
                          f"payment reference {payment_ref} is already recorded on {deal_id}")
    payment = Payment(deal_id, payment_ref, kind, ctx.sender.member_id, payee, amount, PENDING,
                      "", ctx.tx_id, ctx.height, None)
    ctx.state.put(local, payment.encode())
    return payment


def close_payment(ctx: CallContext, deal_id: str, payment_ref: str, acknowledged: bool,
                  reason: str = "") -> Payment:
    """The payee acknowledges (or rejects) a pending payment; returns the updated record."""
    local = _payment_local(deal_id, payment_ref)
    data = ctx.state.get(local)
    if data is None:
        raise LedgerError(Code.PAYMENT_NOT_FOUND,
                          f"no payment with reference {payment_ref} on {deal_id}")
    payment = Payment.decode(data)
    if payment.payee != ctx.sender.member_id:
        raise LedgerError(Code.FORBIDDEN, f"payment {payment_ref} on {deal_id} is to "
                                          f"{payment.payee}; {ctx.sender.member_id} cannot "
                                          "acknowledge or reject it")
    if payment.status != PENDING:
        raise LedgerError(Code.INVALID_STATE_TRANSITION,
                          f"payment {payment_ref} on {deal_id} is already {payment.status}")
    closed = replace(payment, status=ACKNOWLEDGED if acknowledged else REJECTED,
                     reason=reason, closed_height=ctx.height)
    ctx.state.put(local, closed.encode())
    return closed


def payment_attributes(payment: Payment) -> dict[str, Any]:
    """A payment's event attributes (the product adds its deal id and `subjects`)."""
    return {"payment_ref": payment.payment_ref, "kind": payment.kind, "payer": payment.payer,
            "payee": payment.payee, "amount": payment.amount,
            "payment_status": payment.status, "reason": payment.reason}


# -- overdue, default, exposure ---------------------------------------------------------

def check_arrears(ctx: CallContext, deal_id: str, due_date: str, grace_days: int) -> None:
    """NOT_IN_ARREARS until the day after the due date plus the grace days."""
    last_grace_day = parse_date(due_date, "due_date") + grace_days
    if today(ctx) <= last_grace_day:
        raise LedgerError(Code.NOT_IN_ARREARS,
                          f"{deal_id}: due {due_date} with {grace_days} grace days, overdue "
                          f"only after {format_date(last_grace_day)}")


def settle_default(ctx: CallContext, due_date: str, uncovered: int, recourse: bool,
                   penalty_rate_bps: int, basis: int) -> Default:
    """Default today: with recourse, uncovered + penalty interest since the due date is
    claimed from the recourse party; without, the financier loses `uncovered`."""
    late = days(parse_date(due_date, "due_date"), today(ctx))
    penalty = penalty_interest(uncovered, penalty_rate_bps, late, basis) if recourse else 0
    claim, loss = (uncovered + penalty, 0) if recourse else (0, uncovered)
    return Default(format_date(today(ctx)), late, uncovered, penalty, claim, loss)


def exposure_key(contract: str, obligor: str) -> bytes:
    return contract_prefix(contract) + b"exposure/" + obligor.encode("utf-8")


def exposure(reader: StateReader, contract: str, obligor: str) -> list[list[Any]]:
    """[[financier, live deals], ...] of `contract` on `obligor`, sorted by financier."""
    data = reader.get(exposure_key(contract, obligor))
    return [] if data is None else codec.decode(data)  # type: ignore[return-value]


#: The products that keep an exposure index: who is exposed to an obligor.
EXPOSURE_CONTRACTS = ("factoring", "payables", "pledge", "prepayment")


def exposed_financiers(reader: StateReader, obligor: str) -> list[str]:
    """Every financier with a live deal on `obligor` in any product, sorted, each once:
    whom a default or a freeze of that obligor concerns."""
    found = {entry[0] for contract in EXPOSURE_CONTRACTS
             for entry in exposure(reader, contract, obligor)}
    return sorted(found)


def add_exposure(ctx: CallContext, contract: str, obligor: str, financier: str,
                 delta: int) -> None:
    """Counts a financier's live deal of `contract` on an obligor in (+1) or out (-1)."""
    counts = {entry[0]: entry[1] for entry in exposure(ctx.scratch, contract, obligor)}
    counts[financier] = counts.get(financier, 0) + delta
    entries = [[member, counts[member]] for member in sorted(counts) if counts[member] > 0]
    namespace = ctx.namespace(contract)
    local = b"exposure/" + obligor.encode("utf-8")
    if entries:
        namespace.put(local, codec.encode(entries))
    else:
        namespace.delete(local)


# -- records, steps, ids, time ---------------------------------------------------------

def load(ctx: CallContext, prefix: bytes, record_id: str, kind: type[S], code: Code,
         what: str) -> S:
    """A record of the contract's own namespace, or `code` ("no <what> <id>")."""
    data = ctx.state.get(prefix + record_id.encode("utf-8"))
    if data is None:
        raise LedgerError(code, f"no {what} {record_id}")
    return kind.decode(data)


def check_step(table: Mapping[E, tuple[E, ...]], status: E, to: E, what: str) -> None:
    """INVALID_STATE_TRANSITION unless `to` follows `status` in the life cycle `table`."""
    if to not in table[status]:
        raise LedgerError(Code.INVALID_STATE_TRANSITION,
                          f"{what}: {status.value} -> {to.value} is not a step of its life cycle")


def today(ctx: CallContext) -> int:
    """The block's UTC day number: the only "today" a contract knows."""
    return block_date(ctx.time_ms)


def new_id(prefix: str, ctx: CallContext) -> str:
    """A deterministic record id: the prefix and the creating transaction's id (hex).
    Tx ids are unique on a chain and a method creates at most one record per prefix."""
    return f"{prefix}-{ctx.tx_id.hex()}"


def check_expiry_date(ctx: CallContext, expiry_date: str) -> None:
    """An offer's last day may not be before the block's date (INVALID_ARGUMENT)."""
    if parse_date(expiry_date, "expiry_date") < today(ctx):
        raise LedgerError(Code.INVALID_ARGUMENT,
                          f"expiry_date: {expiry_date} is before today {format_date(today(ctx))}")


def check_offer_open(ctx: CallContext, offer_id: str, withdrawn: bool, expiry_date: str) -> None:
    """OFFER_WITHDRAWN, or OFFER_EXPIRED after its expiry date (valid through that day)."""
    if withdrawn:
        raise LedgerError(Code.OFFER_WITHDRAWN, f"offer {offer_id} was withdrawn")
    if today(ctx) > parse_date(expiry_date, "expiry_date"):
        raise LedgerError(Code.OFFER_EXPIRED, f"offer {offer_id} expired on {expiry_date}; "
                                              f"today is {format_date(today(ctx))}")


def check_applies(ctx: CallContext, offer_id: str, invoice: Invoice, *, supplier: str | None,
                  fingerprint: bytes | None, buyer: str | None, currency: str | None) -> None:
    """The signer may take up the offer for the invoice: it is the invoice's seller and
    the offer's addressee (FORBIDDEN), and the invoice is the offer's invoice, of its
    buyer, in its currency, where the offer names them (OFFER_NOT_APPLICABLE)."""
    me = ctx.sender.member_id
    require_signer(ctx, (invoice.seller,), f"invoice {invoice.fingerprint.hex()}")
    if supplier is not None and supplier != me:
        raise LedgerError(Code.FORBIDDEN, f"offer {offer_id} is addressed to {supplier}, "
                                          f"not {me}")
    for name, want, have in (("invoice", fingerprint, invoice.fingerprint),
                             ("buyer", buyer, invoice.buyer),
                             ("currency", currency, invoice.currency)):
        if want is not None and want != have:
            shown = want.hex() if isinstance(want, bytes) else want
            raise LedgerError(Code.OFFER_NOT_APPLICABLE,
                              f"offer {offer_id} is for {name} {shown}; invoice "
                              f"{invoice.fingerprint.hex()} does not match")


def require_status(record_id: str, status: str, allowed: tuple[str, ...], what: str) -> None:
    """INVALID_STATE_TRANSITION unless `status` is one of `allowed`."""
    if status not in allowed:
        raise LedgerError(Code.INVALID_STATE_TRANSITION,
                          f"{record_id} is {status}: {what} only when it is "
                          f"{' or '.join(allowed)}")


def require_role(ctx: CallContext, member_id: str, role: Role, field: str) -> None:
    """INVALID_ARGUMENT unless `member_id` is a member holding `role`."""
    member = get_member(ctx.system, member_id)
    if member is None or not member.has_role(role):
        raise LedgerError(Code.INVALID_ARGUMENT,
                          f"{field}: {member_id} is not a member with the role {role.value}")


def require_signer(ctx: CallContext, allowed: tuple[str, ...], what: str) -> None:
    """FORBIDDEN unless the signer's member is one of `allowed`."""
    if ctx.sender.member_id not in allowed:
        raise LedgerError(Code.FORBIDDEN, f"{what}: {ctx.sender.member_id} is not "
                                          f"{' or '.join(allowed)}")


def fields_of(record: Structure) -> dict[str, Any]:
    """A flat record's fields as event attributes."""
    return {name: getattr(record, name) for name, _ in record.LAYOUT}


def subjects(*items: str) -> list[str]:
    """Event subjects in order, each once, empty ones dropped."""
    found: list[str] = []
    for item in items:
        if item and item not in found:
            found.append(item)
    return found


def _payment_local(deal_id: str, payment_ref: str) -> bytes:
    for kind, value, name in ((RECORD_ID, deal_id, "deal_id"),
                              (PAYMENT_REF, payment_ref, "payment_ref")):
        try:
            kind.load(value, name)
        except LedgerError as error:
            raise LedgerError(Code.INVALID_ARGUMENT, error.message) from None
    return b"pay/" + deal_id.encode("utf-8") + b"\x00" + payment_ref.encode("utf-8")
