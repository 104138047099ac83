"""The money math: the domain guide's worked example, hand-checked tables, properties.

Expected values in the tables were worked out by hand (and cross-checked
with exact fractions), never by calling the module under test. The
properties compare every rounding with exact `fractions.Fraction`
arithmetic done here, in the test.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from contracts.terms import (
    DiscountTerms,
    FactoringTerms,
    collateral_value,
    dynamic_discount,
    factoring_terms,
    penalty_interest,
    pledge_max_loan,
    releasable_total,
    round_half_up,
)
from ledger.errors import Code, LedgerError

MAX = 2**63 - 1


def exact_half_up(num: int, den: int) -> int:
    """floor(num/den + 1/2), exactly."""
    return math.floor(Fraction(num, den) + Fraction(1, 2))


def test_worked_example_of_the_domain_guide() -> None:
    # face 1,000,000.00 CNY, a = 80 %, r = 6 %, ACT/365F, 90 days, no fee
    terms = factoring_terms(100_000_000, 8000, 600, 90, 365, 0)
    assert terms == FactoringTerms(advance=80_000_000, discount=1_183_562,
                                   paid_out=78_816_438, reserve=20_000_000)
    advance, discount, paid_out, reserve = terms  # unpacks like the tuple of the issue
    assert (advance, discount, paid_out, reserve) == (80_000_000, 1_183_562, 78_816_438, 20_000_000)


# (face, advance_bps, rate_bps, days, basis, fee) -> (advance, discount, paid_out, reserve)
FACTORING_TABLE = [
    # the worked example under ACT/360: 80,000,000 * 6 % * 90/360 = 1,200,000 exactly
    ((100_000_000, 8000, 600, 90, 360, 0), (80_000_000, 1_200_000, 78_800_000, 20_000_000)),
    # with a fee of 500.00
    ((100_000_000, 8000, 600, 90, 365, 50_000), (80_000_000, 1_183_562, 78_766_438, 20_000_000)),
    # 1-day tenors, 5 %: 100,000,000 * 0.05 / 365 = 13,698.63 -> 13,699; / 360 = 13,888.9 -> 13,889
    ((100_000_000, 10_000, 500, 1, 365, 0), (100_000_000, 13_699, 99_986_301, 0)),
    ((100_000_000, 10_000, 500, 1, 360, 0), (100_000_000, 13_889, 99_986_111, 0)),
    # 360-day tenors, 6 %: 80,000,000 * 0.06 = 4,800,000 (ACT/360);
    # 80,000,000 * 0.06 * 360/365 = 4,734,246.575 -> 4,734,247 (ACT/365F)
    ((100_000_000, 8000, 600, 360, 360, 0), (80_000_000, 4_800_000, 75_200_000, 20_000_000)),
    ((100_000_000, 8000, 600, 360, 365, 0), (80_000_000, 4_734_247, 75_265_753, 20_000_000)),
    # discount exactly .5: 1800 * 10 % * 1/360 = 0.5 -> 1; 1799 -> 0.49972 -> 0; 1801 -> 1
    ((1800, 10_000, 1000, 1, 360, 0), (1800, 1, 1799, 0)),
    ((1799, 10_000, 1000, 1, 360, 0), (1799, 0, 1799, 0)),
    ((1801, 10_000, 1000, 1, 360, 0), (1801, 1, 1800, 0)),
    # ACT/365F: 1825 * 10 % / 365 = 0.5 -> 1; 9125 * 10 % / 365 = 2.5 -> 3; 1824 -> 0
    ((1825, 10_000, 1000, 1, 365, 0), (1825, 1, 1824, 0)),
    ((9125, 10_000, 1000, 1, 365, 0), (9125, 3, 9122, 0)),
    ((1824, 10_000, 1000, 1, 365, 0), (1824, 0, 1824, 0)),
    # advance exactly .5: 1 * 50 % = 0.5 -> 1, 3 * 50 % = 1.5 -> 2 (reserve 1)
    ((1, 5000, 0, 30, 365, 0), (1, 0, 1, 0)),
    ((3, 5000, 0, 30, 365, 0), (2, 0, 2, 1)),
    # near 2^63: face 2^63-1 advanced in full, 6 % for 90 days on ACT/365F
    ((MAX, 10_000, 600, 90, 365, 0),
     (MAX, 136_455_367_120_591_204, 9_086_916_669_734_184_603, 0)),
    # 80 % of 2^63-1 = 7,378,697,629,483,820,645.6 -> ...646
    ((MAX, 8000, 600, 90, 365, 0),
     (7_378_697_629_483_820_646, 109_164_293_696_472_963, 7_269_533_335_787_347_683,
      1_844_674_407_370_955_161)),
    # a fee that leaves exactly one minor unit
    ((100, 10_000, 0, 10, 365, 99), (100, 0, 1, 0)),
]


@pytest.mark.parametrize("args,expected", FACTORING_TABLE)
def test_factoring_table(args: tuple[int, ...], expected: tuple[int, ...]) -> None:
    assert tuple(factoring_terms(*args)) == expected


@pytest.mark.parametrize("args,fragment", [
    ((100_000_000, 8000, 600, 0, 365, 0), "days"),         # due today
    ((100_000_000, 8000, 600, -3, 365, 0), "days"),        # past due
    ((100, 10_000, 0, 10, 365, 100), "nothing to pay out"),  # fee eats it all
    ((1, 4999, 0, 10, 365, 0), "nothing to pay out"),      # advance rounds to 0
    ((MAX, 8000, 10_000, 360, 360, 0), "nothing to pay out"),  # 100 % for a year
])
def test_not_financeable(args: tuple[int, ...], fragment: str) -> None:
    with pytest.raises(LedgerError) as caught:
        factoring_terms(*args)
    assert caught.value.code is Code.INVOICE_NOT_FINANCEABLE and fragment in caught.value.message


@pytest.mark.parametrize("changes,field", [
    ({"face": 0}, "face"), ({"face": MAX + 1}, "face"), ({"face": -1}, "face"),
    ({"advance_bps": 0}, "advance_bps"), ({"advance_bps": 10_001}, "advance_bps"),
    ({"rate_bps": -1}, "rate_bps"), ({"rate_bps": 10_001}, "rate_bps"),
    ({"basis": 364}, "basis"), ({"basis": 0}, "basis"), ({"fee": -1}, "fee"),
    ({"fee": MAX + 1}, "fee"), ({"days": True}, "days"), ({"face": 1.0}, "face"),
    ({"rate_bps": "600"}, "rate_bps"),
])
def test_factoring_rejects_bad_inputs_naming_them(changes: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {"face": 100_000_000, "advance_bps": 8000, "rate_bps": 600,
                            "days": 90, "basis": 365, "fee": 0, **changes}
    with pytest.raises(LedgerError) as caught:
        factoring_terms(**args)
    assert caught.value.code is Code.INVALID_ARGUMENT
    assert caught.value.message.startswith(field + ":")


# (face, rate_bps, days_early, basis) -> (discount, paid)
DISCOUNT_TABLE = [
    # 12 % for 30 days: 1,000,000.00 * 0.12 * 30/365 = 9,863.01369 -> 986,301 fen
    ((100_000_000, 1200, 30, 365), (986_301, 99_013_699)),
    ((100_000_000, 1200, 30, 360), (1_000_000, 99_000_000)),
    # 1 day early and 360 days early
    ((100_000_000, 500, 1, 365), (13_699, 99_986_301)),
    ((100_000_000, 600, 360, 360), (6_000_000, 94_000_000)),
    # exactly .5 both sides of it
    ((1800, 1000, 1, 360), (1, 1799)),
    ((1799, 1000, 1, 360), (0, 1799)),
    ((9125, 1000, 1, 365), (3, 9122)),
    # near 2^63: 100 % for one day on ACT/360, 6 % for 360 days on ACT/365F
    ((MAX, 10_000, 1, 360), (25_620_477_880_152_155, 9_197_751_558_974_623_652)),
    ((MAX, 600, 360, 365), (545_821_468_482_364_815, 8_677_550_568_372_410_992)),
]


@pytest.mark.parametrize("args,expected", DISCOUNT_TABLE)
def test_dynamic_discount_table(args: tuple[int, ...], expected: tuple[int, int]) -> None:
    assert dynamic_discount(*args) == DiscountTerms(*expected)
    discount, paid = dynamic_discount(*args)
    assert (discount, paid) == expected


@pytest.mark.parametrize("args,code", [
    ((100_000_000, 1200, 0, 365), Code.INVOICE_NOT_FINANCEABLE),
    ((100, 10_000, 365, 365), Code.INVOICE_NOT_FINANCEABLE),  # discount = face
    ((100, 10_000, 365, 366), Code.INVALID_ARGUMENT),
    ((0, 1200, 10, 365), Code.INVALID_ARGUMENT),
    ((100, 10_001, 10, 365), Code.INVALID_ARGUMENT),
])
def test_dynamic_discount_refusals(args: tuple[int, ...], code: Code) -> None:
    with pytest.raises(LedgerError) as caught:
        dynamic_discount(*args)
    assert caught.value.code is code


def test_penalty_interest() -> None:
    # 800,000.00 uncovered, 18 % for 10 days on ACT/365F: 394,520.547 -> 394,521 fen
    assert penalty_interest(80_000_000, 1800, 10, 365) == 394_521
    assert penalty_interest(80_000_000, 1800, 0, 365) == 0
    assert penalty_interest(0, 1800, 10, 365) == 0
    assert penalty_interest(1800, 1000, 1, 360) == 1   # exactly .5
    with pytest.raises(LedgerError) as caught:
        penalty_interest(MAX, 10_000, MAX, 365)
    assert caught.value.code is Code.INVALID_ARGUMENT and "days_late" in caught.value.message
    with pytest.raises(LedgerError):
        penalty_interest(1, 1, -1, 365)


def test_pledge_math_rounds_down() -> None:
    assert pledge_max_loan(1000, 12_345, 7000) == 8_641_500
    assert pledge_max_loan(1, 3, 5000) == 1             # 1.5 -> 1, borrower's disfavour
    assert pledge_max_loan(2**62, 1, 10_000) == 2**62
    assert collateral_value(2**62, 1) == 2**62
    with pytest.raises(LedgerError) as caught:
        pledge_max_loan(2**62, 2, 5000)                  # 2^63 does not fit
    assert caught.value.code is Code.INVALID_ARGUMENT
    assert caught.value.message.startswith("quantity")
    assert releasable_total(1000, 3000, 1000) == 333     # 333.3 -> 333
    assert releasable_total(1000, 3000, 0) == 0
    assert releasable_total(1000, 3000, 3000) == 1000
    with pytest.raises(LedgerError) as caught:
        releasable_total(1000, 3000, 3001)
    assert caught.value.message.startswith("repaid")


@pytest.mark.parametrize("num,den,expected", [
    (1, 2, 1), (3, 2, 2), (5, 2, 3), (1, 3, 0), (2, 3, 1), (0, 7, 0), (-1, 2, 0), (-3, 2, -1),
])
def test_round_half_up_table(num: int, den: int, expected: int) -> None:
    assert round_half_up(num, den) == expected


def test_round_half_up_needs_a_positive_int_denominator() -> None:
    for den in (0, -2):
        with pytest.raises(LedgerError):
            round_half_up(1, den)
    with pytest.raises(LedgerError):
        round_half_up(1.5, 2)  # type: ignore[arg-type]


# -- properties ----------------------------------------------------------------

amounts = st.integers(1, MAX)
bps = st.integers(0, 10_000)
bases = st.sampled_from([360, 365])
tenors = st.integers(1, 3 * 365)


@given(st.integers(-(2**130), 2**130), st.integers(1, 2**70))
def test_round_half_up_matches_exact_fractions(num: int, den: int) -> None:
    assert round_half_up(num, den) == exact_half_up(num, den)


@given(amounts, st.integers(1, 10_000), bps, tenors, bases, st.integers(0, MAX))
def test_factoring_identities_and_exact_rounding(face: int, a: int, r: int, n: int, basis: int,
                                                 fee: int) -> None:
    try:
        terms = factoring_terms(face, a, r, n, basis, fee)
    except LedgerError as error:
        assert error.code is Code.INVOICE_NOT_FINANCEABLE
        advance = exact_half_up(face * a, 10_000)
        assert advance - exact_half_up(advance * r * n, 10_000 * basis) - fee <= 0
        return
    assert terms.advance == exact_half_up(face * a, 10_000)
    assert terms.discount == exact_half_up(terms.advance * r * n, 10_000 * basis)
    assert terms.advance - terms.discount - fee == terms.paid_out > 0
    assert terms.reserve + terms.advance == face
    assert all(0 <= value <= MAX for value in terms)


@given(amounts, st.integers(1, 10_000), bps, tenors, tenors, bases)
def test_factoring_discount_grows_with_days(face: int, a: int, r: int, n1: int, n2: int,
                                            basis: int) -> None:
    short, long = sorted((n1, n2))
    try:
        later = factoring_terms(face, a, r, long, basis)
    except LedgerError:
        assume(False)
    earlier = factoring_terms(face, a, r, short, basis)  # a shorter tenor is always financeable
    assert earlier.discount <= later.discount and earlier.paid_out >= later.paid_out


@given(amounts, st.integers(1, 10_000), bps, bps, tenors, bases)
def test_factoring_discount_grows_with_rate(face: int, a: int, r1: int, r2: int, n: int,
                                            basis: int) -> None:
    low, high = sorted((r1, r2))
    try:
        dear = factoring_terms(face, a, high, n, basis)
    except LedgerError:
        assume(False)
    cheap = factoring_terms(face, a, low, n, basis)
    assert cheap.discount <= dear.discount and cheap.paid_out >= dear.paid_out


@given(amounts, bps, tenors, tenors, bases)
def test_dynamic_discount_identities(face: int, r: int, d1: int, d2: int, basis: int) -> None:
    early, earlier = sorted((d1, d2))
    try:
        more = dynamic_discount(face, r, earlier, basis)
    except LedgerError as error:
        assert error.code is Code.INVOICE_NOT_FINANCEABLE
        assert exact_half_up(face * r * earlier, 10_000 * basis) >= face
        return
    less = dynamic_discount(face, r, early, basis)
    for terms, days in ((less, early), (more, earlier)):
        assert terms.discount == exact_half_up(face * r * days, 10_000 * basis)
        assert terms.discount + terms.paid == face and 0 < terms.paid <= MAX
    assert less.discount <= more.discount


@given(st.integers(0, MAX), bps, st.integers(0, 100 * 365), bases)
def test_penalty_interest_is_exact_or_refused(uncovered: int, r: int, days: int,
                                              basis: int) -> None:
    exact = exact_half_up(uncovered * r * days, 10_000 * basis)
    if exact > MAX:
        with pytest.raises(LedgerError):
            penalty_interest(uncovered, r, days, basis)
    else:
        assert penalty_interest(uncovered, r, days, basis) == exact


@given(st.integers(1, 2**40), st.integers(1, 2**40), st.integers(0, 2**40))
def test_releases_never_exceed_the_repaid_share(q0: int, loan0: int, repaid: int) -> None:
    assume(repaid <= loan0)
    total = releasable_total(q0, loan0, repaid)
    assert Fraction(total, q0) <= Fraction(repaid, loan0) < Fraction(total + 1, q0)
