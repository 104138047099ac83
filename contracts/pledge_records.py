"""Pledge financing's stored records: terms, deals, their life cycle, and the loan math.

Split from contracts/pledge.py (the methods) so each module holds one
concept. Prepayment financing (contracts/prepayment.py) shares `PledgeTerms`,
the loan limit and the exposure lookup; the node and CLI read deals through
these functions. Every formula is contracts.terms'; this module only says
which amounts go in (interest posted per period, what is owed and
releasable, when a deal is in breach).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, ClassVar

from contracts import repayment as rp
from contracts.calendar import format_date, parse_date
from contracts.invoices import CURRENCY, DATE
from contracts.repayment import AMOUNT, MONEY
from contracts.terms import loan_interest, pledge_max_loan, pledge_releasable
from contracts.warehouse_receipts import QUANTITY, RECEIPT_ID, Receipt
from ledger.accounts import MEMBER_ID
from ledger.contract_api import contract_prefix
from ledger.errors import Code, LedgerError
from ledger.state import StateReader
from ledger.structure import Bool, Field, Int, Nested, Optional, Str, Structure
from ledger.types import HASH

PLEDGE = "pledge"
TENOR = Int(1, 36_500)
LTV_BPS = Int(1, 10_000)


class DealStatus(StrEnum):
    APPLIED = "applied"
    CANCELLED = "cancelled"
    FUNDED = "funded"
    REPAID = "repaid"
    DEFAULTED = "defaulted"
    TITLE_TRANSFERRED = "title_transferred"


DEAL_NEXT: dict[DealStatus, tuple[DealStatus, ...]] = {
    DealStatus.APPLIED: (DealStatus.FUNDED, DealStatus.CANCELLED),
    DealStatus.FUNDED: (DealStatus.REPAID, DealStatus.DEFAULTED),
    DealStatus.DEFAULTED: (DealStatus.TITLE_TRANSFERRED,),
    DealStatus.CANCELLED: (), DealStatus.REPAID: (), DealStatus.TITLE_TRANSFERRED: (),
}


@dataclass(frozen=True, slots=True)
class PledgeTerms(Structure):
    """What borrower and financier agreed; copied into each deal."""

    ltv_bps: int            # the loan may be at most collateral value * ltv / 10000
    rate_bps: int           # annual interest on the outstanding principal
    basis: int              # 365 (ACT/365F) or 360 (ACT/360)
    maintenance_bps: int    # outstanding / collateral above this: margin call; >= ltv_bps
    cure_days: int          # days after a margin call to cure it
    grace_days: int         # days after the due date before a default
    penalty_rate_bps: int   # annual penalty interest on what is owed at default

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("ltv_bps", LTV_BPS), ("rate_bps", rp.RATE_BPS), ("basis", rp.BASIS),
        ("maintenance_bps", LTV_BPS), ("cure_days", rp.DAYS), ("grace_days", rp.DAYS),
        ("penalty_rate_bps", rp.RATE_BPS),
    )


#: the method arguments that make PledgeTerms (pledge.apply, prepayment.apply)
TERMS_ARGS: tuple[tuple[str, Field], ...] = (
    ("ltv_bps", LTV_BPS), ("rate_bps", rp.RATE_BPS), ("basis", rp.BASIS),
    ("maintenance_bps", LTV_BPS), ("cure_days", rp.DAYS), ("grace_days", rp.DAYS),
    ("penalty_rate_bps", rp.RATE_BPS),
)
TERMS_OPTIONAL = frozenset({"basis", "cure_days", "grace_days", "penalty_rate_bps"})


def terms_from_args(args: dict[str, Any]) -> PledgeTerms:
    """The terms of a method's checked arguments (defaults: ACT/365F, 0 days, 0 bp);
    INVALID_ARGUMENT if the maintenance ratio is below the LTV."""
    terms = PledgeTerms(args["ltv_bps"], args["rate_bps"], args.get("basis", 365),
                        args["maintenance_bps"], args.get("cure_days", 0),
                        args.get("grace_days", 0), args.get("penalty_rate_bps", 0))
    if terms.maintenance_bps < terms.ltv_bps:
        raise LedgerError(Code.INVALID_ARGUMENT,
                          f"maintenance_bps: {terms.maintenance_bps} is below ltv_bps "
                          f"{terms.ltv_bps}: a loan at its limit would be in margin call")
    return terms


@dataclass(frozen=True, slots=True)
class PledgeDeal(Structure):
    """One loan against one pledged receipt; money in minor units of `currency`."""

    deal_id: str
    receipt_id: str
    borrower: str               # the receipt's owner at the pledge
    financier: str
    warehouse: str
    currency: str
    terms: PledgeTerms
    principal: int              # L0
    tenor_days: int             # due date = funding date + tenor
    quantity: int               # q0: units in the warehouse at the pledge
    status: str
    origin: str | None          # the prepayment deal it continues, else None
    funding_ref: str | None     # the funding payment (the prepayment's, for an origin)
    funded_date: str | None
    due_date: str | None
    principal_repaid: int       # from acknowledged repayments, after interest
    interest_accrued: int       # posted up to accrued_through
    interest_paid: int
    accrued_through: str | None
    repay_pending: int          # recorded repayments awaiting the financier
    released: int               # units that left the warehouse under this deal
    release_requested: int      # units of the open release request; 0: none
    release_approved: bool      # the financier approved the open request
    margin_call_date: str | None
    cure_deadline: str | None   # an open margin call: cure through this day
    default: rp.Default | None  # uncovered = principal outstanding + interest due
    title_value: int | None     # remaining units * unit value when title passed
    created_tx: bytes
    created_height: int

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("deal_id", rp.RECORD_ID), ("receipt_id", RECEIPT_ID), ("borrower", MEMBER_ID),
        ("financier", MEMBER_ID), ("warehouse", MEMBER_ID), ("currency", CURRENCY),
        ("terms", Nested(PledgeTerms)), ("principal", AMOUNT), ("tenor_days", TENOR),
        ("quantity", QUANTITY),
        ("status", Str(max_bytes=24, pattern="|".join(s.value for s in DealStatus))),
        ("origin", Optional(rp.RECORD_ID)), ("funding_ref", Optional(rp.PAYMENT_REF)),
        ("funded_date", Optional(DATE)), ("due_date", Optional(DATE)),
        ("principal_repaid", MONEY), ("interest_accrued", MONEY), ("interest_paid", MONEY),
        ("accrued_through", Optional(DATE)), ("repay_pending", MONEY),
        ("released", Int(0, rp.MAX_AMOUNT)), ("release_requested", Int(0, rp.MAX_AMOUNT)),
        ("release_approved", Bool()), ("margin_call_date", Optional(DATE)),
        ("cure_deadline", Optional(DATE)), ("default", Optional(Nested(rp.Default))),
        ("title_value", Optional(MONEY)), ("created_tx", HASH), ("created_height", Int(1)),
    )

    @property
    def outstanding(self) -> int:
        """Principal not yet repaid."""
        return self.principal - self.principal_repaid

    @property
    def remaining(self) -> int:
        """Units of the pledge still in the warehouse."""
        return self.quantity - self.released

    def accrued(self, today: int) -> PledgeDeal:
        """The deal with interest posted through `today` (one accrual period, half up)."""
        start = parse_date(self.accrued_through or format_date(today))
        interest = loan_interest(self.outstanding, self.terms.rate_bps, max(0, today - start),
                                 self.terms.basis)
        return replace(self, interest_accrued=self.interest_accrued + interest,
                       accrued_through=format_date(max(start, today)))

    def interest_due(self, today: int) -> int:
        """Interest accrued through `today` and not paid."""
        posted = self.accrued(today)
        return posted.interest_accrued - posted.interest_paid

    def owed(self, today: int) -> int:
        """What repays the loan in full on `today`: principal outstanding + interest due."""
        return self.outstanding + self.interest_due(today)

    def releasable(self, unit_value: int) -> int:
        """Units that may leave now (terms.pledge_releasable), at the given appraisal."""
        return pledge_releasable(self.quantity, self.principal, self.principal_repaid,
                                 self.released, unit_value, self.terms.maintenance_bps)


# -- rules on the records ----------------------------------------------------------

def new_deal(deal_id: str, receipt: Receipt, financier: str, terms: PledgeTerms,
             principal: int, tenor_days: int, created_tx: bytes,
             created_height: int) -> PledgeDeal:
    """An `applied` deal on the units `receipt` holds now, nothing paid or released."""
    return PledgeDeal(deal_id, receipt.receipt_id, receipt.owner, financier, receipt.warehouse,
                      receipt.currency, terms, principal, tenor_days, receipt.remaining,
                      DealStatus.APPLIED.value, None, None, None, None, 0, 0, 0, None, 0, 0, 0,
                      False, None, None, None, None, created_tx, created_height)



def check_loan_limit(principal: int, quantity: int, unit_value: int, ltv_bps: int) -> None:
    """LOAN_ABOVE_LTV unless principal <= terms.pledge_max_loan(quantity, unit_value, ltv)."""
    limit = pledge_max_loan(quantity, unit_value, ltv_bps)
    if principal > limit:
        raise LedgerError(Code.LOAN_ABOVE_LTV,
                          f"principal {principal} is above the limit {limit} = {quantity} units "
                          f"* {unit_value} * {ltv_bps} bp // 10000")


def breach_date(deal: PledgeDeal, today: int) -> str:
    """The earlier of: the due date, once its grace days are over; the deadline of an
    uncured margin call, once past. NOT_IN_ARREARS if neither."""
    if deal.due_date is None:
        raise LedgerError(Code.INVALID_STATE_TRANSITION, f"deal {deal.deal_id} is not funded")
    due = parse_date(deal.due_date)
    found = [deal.due_date] if today > due + deal.terms.grace_days else []
    if deal.cure_deadline is not None and today > parse_date(deal.cure_deadline):
        found.append(deal.cure_deadline)
    if not found:
        call = ("no margin call is open" if deal.cure_deadline is None
                else f"the margin call may be cured through {deal.cure_deadline}")
        raise LedgerError(Code.NOT_IN_ARREARS,
                          f"deal {deal.deal_id}: due {deal.due_date} with "
                          f"{deal.terms.grace_days} grace days, in default only after "
                          f"{format_date(due + deal.terms.grace_days)}; {call}")
    return min(found, key=parse_date)


# -- queries (full state) ----------------------------------------------------------

def deal_key(deal_id: str) -> bytes:
    return contract_prefix(PLEDGE) + b"deal/" + deal_id.encode("utf-8")


def get_deal(reader: StateReader, deal_id: str) -> PledgeDeal | None:
    data = reader.get(deal_key(deal_id))
    return None if data is None else PledgeDeal.decode(data)


def exposure(reader: StateReader, borrower: str) -> list[list[Any]]:
    """[[financier, funded pledge deals], ...] on loans to `borrower`."""
    return rp.exposure(reader, PLEDGE, borrower)

