"""The money math of every product, as pure integer functions. The only copy.

Contracts, the CLI's `scf quote` and the tests call these functions; no
other module writes a formula down (docs/products.md § The math). Everything
is exact integer arithmetic: money is an int count of minor units, rates are
int basis points (10000 bp = 100 %), annual rates use a day-count basis `B`
(365 for ACT/365F, 360 for ACT/360), and tenors are whole calendar days.

Rounding is explicit and written next to each formula:

* interest and discounts owed to the financier (or, in dynamic discounting,
  to the buyer) round **half up** to the minor unit: `round_half_up`;
* collateral limits and releases round **down**, in the borrower's
  disfavour: `//`.

Intermediate products may exceed 2^63 (Python ints are exact); every input
is range-checked first (INVALID_ARGUMENT naming it) and every result fits the
ledger's signed 64-bit range. A deal that makes no economic sense (no days
left, nothing paid out) is INVOICE_NOT_FINANCEABLE.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ledger.errors import Code, LedgerError

MAX_AMOUNT = 2**63 - 1
BPS = 10_000
ACT_360 = 360
ACT_365F = 365
BASES = (ACT_360, ACT_365F)


@dataclass(frozen=True, slots=True)
class FactoringTerms:
    """Invoice discounting (domain guide §2); all in minor units."""

    advance: int   # paid by the financier, = face * a / 10000, half up
    discount: int  # the financier's interest for n days, half up
    paid_out: int  # to the supplier at funding: advance - discount - fee (> 0)
    reserve: int   # held for the supplier until the buyer pays: face - advance

    def __iter__(self) -> Iterator[int]:
        return iter((self.advance, self.discount, self.paid_out, self.reserve))


@dataclass(frozen=True, slots=True)
class DiscountTerms:
    """Dynamic discounting (domain guide §3); all in minor units."""

    discount: int  # kept by the buyer for paying d days early, half up
    paid: int      # paid by the buyer to the supplier now: face - discount (> 0)

    def __iter__(self) -> Iterator[int]:
        return iter((self.discount, self.paid))


def round_half_up(num: int, den: int) -> int:
    """num / den rounded to the nearest int, a half rounding up (towards +inf)."""
    _require_int("num", num)
    _require_int("den", den)
    if den <= 0:
        raise LedgerError(Code.INVALID_ARGUMENT, f"den: must be positive, got {den}")
    q, r = divmod(num, den)
    return q + (2 * r >= den)


def factoring_terms(face: int, advance_bps: int, rate_bps: int, days: int, basis: int,
                    fee: int = 0) -> FactoringTerms:
    """Terms of financing `face` for `days` days (domain guide §2).

        advance  = round_half_up(face * advance_bps / 10000)
        discount = round_half_up(advance * rate_bps * days / (10000 * basis))
        paid_out = advance - discount - fee      must be > 0
        reserve  = face - advance
    """
    _require_range("face", face, 1, MAX_AMOUNT)
    _require_range("advance_bps", advance_bps, 1, BPS)
    _require_range("rate_bps", rate_bps, 0, BPS)
    _require_int("days", days)
    _require_basis(basis)
    _require_range("fee", fee, 0, MAX_AMOUNT)
    if days < 1:
        raise LedgerError(Code.INVOICE_NOT_FINANCEABLE,
                          f"days: the tenor must be at least 1 day, got {days}")
    advance = round_half_up(face * advance_bps, BPS)
    discount = round_half_up(advance * rate_bps * days, BPS * basis)
    paid_out = advance - discount - fee
    if paid_out <= 0:
        raise LedgerError(Code.INVOICE_NOT_FINANCEABLE,
                          f"nothing to pay out: advance {advance} - discount {discount} "
                          f"- fee {fee} = {paid_out}")
    return FactoringTerms(advance, discount, paid_out, face - advance)


def dynamic_discount(face: int, rate_bps: int, days_early: int, basis: int) -> DiscountTerms:
    """The buyer's early payment `days_early` days before the due date (§3).

        discount = round_half_up(face * rate_bps * days_early / (10000 * basis))
        paid     = face - discount               must be > 0
    """
    _require_range("face", face, 1, MAX_AMOUNT)
    _require_range("rate_bps", rate_bps, 0, BPS)
    _require_int("days_early", days_early)
    _require_basis(basis)
    if days_early < 1:
        raise LedgerError(Code.INVOICE_NOT_FINANCEABLE,
                          f"days_early: must be at least 1 day before the due date, "
                          f"got {days_early}")
    discount = round_half_up(face * rate_bps * days_early, BPS * basis)
    paid = face - discount
    if paid <= 0:
        raise LedgerError(Code.INVOICE_NOT_FINANCEABLE,
                          f"the discount {discount} would consume the face amount {face}")
    return DiscountTerms(discount, paid)


def penalty_interest(uncovered: int, penalty_rate_bps: int, days_late: int, basis: int) -> int:
    """Overdue interest on the uncovered advance (§2, §7); 0 when nothing is late.

        penalty = round_half_up(uncovered * penalty_rate_bps * days_late / (10000 * basis))
    """
    _require_range("uncovered", uncovered, 0, MAX_AMOUNT)
    _require_range("penalty_rate_bps", penalty_rate_bps, 0, BPS)
    _require_range("days_late", days_late, 0, MAX_AMOUNT)
    _require_basis(basis)
    penalty = round_half_up(uncovered * penalty_rate_bps * days_late, BPS * basis)
    if penalty > MAX_AMOUNT:
        raise LedgerError(Code.INVALID_ARGUMENT,
                          f"days_late: {days_late} days make the penalty exceed 2^63-1")
    return penalty


def collateral_value(quantity: int, unit_value: int) -> int:
    """Value of pledged goods (§4): quantity * unit_value, which must fit 2^63-1."""
    _require_range("quantity", quantity, 1, MAX_AMOUNT)
    _require_range("unit_value", unit_value, 1, MAX_AMOUNT)
    value = quantity * unit_value
    if value > MAX_AMOUNT:
        raise LedgerError(Code.INVALID_ARGUMENT,
                          f"quantity: {quantity} units at {unit_value} exceed 2^63-1 minor units")
    return value


def pledge_max_loan(quantity: int, unit_value: int, ltv_bps: int) -> int:
    """Largest loan on pledged goods (§4), rounding down:

        max_loan = quantity * unit_value * ltv_bps // 10000
    """
    value = collateral_value(quantity, unit_value)
    _require_range("ltv_bps", ltv_bps, 0, BPS)
    return value * ltv_bps // BPS


def releasable_total(q0: int, loan0: int, repaid: int) -> int:
    """Units releasable in total once `repaid` of `loan0` is repaid (§4), rounding down:

        releasable_total = q0 * repaid // loan0
    """
    _require_range("q0", q0, 1, MAX_AMOUNT)
    _require_range("loan0", loan0, 1, MAX_AMOUNT)
    _require_range("repaid", repaid, 0, loan0)
    return q0 * repaid // loan0


def _require_int(name: str, value: object) -> None:
    if type(value) is not int:
        raise LedgerError(Code.INVALID_ARGUMENT,
                          f"{name}: expected an int, got {type(value).__name__}")


def _require_range(name: str, value: object, low: int, high: int) -> None:
    _require_int(name, value)
    if not low <= value <= high:  # type: ignore[operator]
        raise LedgerError(Code.INVALID_ARGUMENT,
                          f"{name}: expected an int in [{low}, {high}], got {value}")


def _require_basis(basis: object) -> None:
    _require_int("basis", basis)
    if basis not in BASES:
        raise LedgerError(Code.INVALID_ARGUMENT,
                          f"basis: expected 360 (ACT/360) or 365 (ACT/365F), got {basis}")


# -- pledge and prepayment financing (domain guide §4, §5) -------------------------------

def loan_interest(outstanding: int, rate_bps: int, days: int, basis: int) -> int:
    """Interest on an outstanding loan principal for one accrual period (§4, as §2):

        interest = round_half_up(outstanding * rate_bps * days / (10000 * basis))

    Rounds half up, in the financier's favour; 0 when nothing is outstanding
    or no day passed. A pledge loan's period ends at each acknowledged
    repayment and at default (docs/products.md § Pledge financing).
    """
    _require_range("outstanding", outstanding, 0, MAX_AMOUNT)
    _require_range("rate_bps", rate_bps, 0, BPS)
    _require_range("days", days, 0, MAX_AMOUNT)
    _require_basis(basis)
    interest = round_half_up(outstanding * rate_bps * days, BPS * basis)
    if interest > MAX_AMOUNT:
        raise LedgerError(Code.INVALID_ARGUMENT,
                          f"days: {days} days make the interest exceed 2^63-1")
    return interest


def loan_to_value_bps(outstanding: int, collateral: int) -> int:
    """The loan-to-value ratio in basis points, rounding **up** (§4):

        ltv = ceil(outstanding * 10000 / collateral)

    Rounding up makes `ltv > maintenance_bps` exactly `outstanding / collateral
    > maintenance_bps / 10000` (no ratio just above the maintenance ratio shows
    as equal to it): the margin-call test.
    """
    _require_range("outstanding", outstanding, 0, MAX_AMOUNT)
    _require_range("collateral", collateral, 1, MAX_AMOUNT)
    return -(-outstanding * BPS // collateral)


def margin_call_needed(outstanding: int, collateral: int, maintenance_bps: int) -> bool:
    """True when `outstanding / collateral` is above the maintenance ratio (§4)."""
    _require_range("maintenance_bps", maintenance_bps, 1, BPS)
    return loan_to_value_bps(outstanding, collateral) > maintenance_bps


# -- payable certificates (domain guide §6) ---------------------------------------------

def certificate_discount(amount: int, rate_bps: int, days: int, basis: int,
                         fee: int = 0) -> FactoringTerms:
    """A financier buys a payable certificate part outright (§6): §2 with a = 10000.

        advance  = amount                                  (the whole part)
        discount = round_half_up(amount * rate_bps * days / (10000 * basis))
        paid_out = amount - discount - fee                 to the part's seller; must be > 0
        reserve  = 0                                       the financier collects `amount`
    """
    return factoring_terms(amount, BPS, rate_bps, days, basis, fee)


def units_to_keep(outstanding: int, unit_value: int, maintenance_bps: int) -> int:
    """Fewest pledged units that keep `outstanding` within the maintenance ratio (§4),
    rounding **up**, in the borrower's disfavour:

        keep = ceil(outstanding * 10000 / (maintenance_bps * unit_value))

    so that `outstanding * 10000 <= maintenance_bps * keep * unit_value`.
    """
    _require_range("outstanding", outstanding, 0, MAX_AMOUNT)
    _require_range("unit_value", unit_value, 1, MAX_AMOUNT)
    _require_range("maintenance_bps", maintenance_bps, 1, BPS)
    return -(-outstanding * BPS // (maintenance_bps * unit_value))


def pledge_releasable(q0: int, loan0: int, repaid: int, released: int, unit_value: int,
                      maintenance_bps: int) -> int:
    """Units of a pledge that may leave the warehouse now (§4), never negative:

        by_repayment = releasable_total(q0, loan0, repaid) - released
        by_margin    = (q0 - released) - units_to_keep(loan0 - repaid, unit_value, maintenance)
        releasable   = max(0, min(by_repayment, by_margin))

    The first is the domain guide's proportional release; the second keeps the
    loan within its maintenance ratio at the latest appraisal, so a release
    never leaves it under-collateralised (nothing leaves during a margin call).
    """
    _require_range("released", released, 0, q0)
    by_repayment = releasable_total(q0, loan0, repaid) - released
    by_margin = (q0 - released) - units_to_keep(loan0 - repaid, unit_value, maintenance_bps)
    return max(0, min(by_repayment, by_margin))
