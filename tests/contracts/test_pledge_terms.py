"""The pledge formulas of contracts/terms.py: hand-checked tables and properties.

Release math (`releasable_total`, `units_to_keep`, `pledge_releasable`) and
margin-call math (`loan_to_value_bps`, `margin_call_needed`), and the interest
of one accrual period (`loan_interest`). Each row's arithmetic is written next
to it; the properties say what the rounding guarantees.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.terms import (
    MAX_AMOUNT,
    loan_interest,
    loan_to_value_bps,
    margin_call_needed,
    pledge_max_loan,
    pledge_releasable,
    releasable_total,
    units_to_keep,
)
from ledger.errors import Code, LedgerError


@pytest.mark.parametrize(("outstanding", "rate", "days", "basis", "expected"), [
    # 280000000*600*60 / 3650000 = 2761643.83 -> 2761644
    (280_000_000, 600, 60, 365, 2_761_644),
    # 140000000*600*15 / 3650000 = 345205.48 -> 345205
    (140_000_000, 600, 15, 365, 345_205),
    # 120000000*600*105 / 3600000 = 2100000 exactly (ACT/360)
    (120_000_000, 600, 105, 360, 2_100_000),
    # 73*10000*1 / 3650000 = 0.2 -> 0 ; 219*10000*1 / 3650000 = 0.6 -> 1
    (73, 10_000, 1, 365, 0), (219, 10_000, 1, 365, 1),
    # 1825*1*1 / 3650000 = 0.0005 -> 0; a half: 182500*10*1 / 3650000 = 0.5 -> 1
    (1_825, 1, 1, 365, 0), (182_500, 10, 1, 365, 1),
    (0, 600, 365, 365, 0), (280_000_000, 600, 0, 365, 0), (280_000_000, 0, 90, 365, 0),
])
def test_loan_interest_table(outstanding: int, rate: int, days: int, basis: int,
                             expected: int) -> None:
    assert loan_interest(outstanding, rate, days, basis) == expected


@pytest.mark.parametrize(("outstanding", "collateral", "maintenance", "ltv", "call"), [
    # 140000000*10000 / 160000000 = 8750 exactly
    (140_000_000, 160_000_000, 8000, 8750, True),
    # 120000000*10000 / 160000000 = 7500
    (120_000_000, 160_000_000, 8000, 7500, False),
    # exactly at the maintenance ratio is no call: 8000*10000/10000
    (8_000, 10_000, 8000, 8000, False),
    # a hair above: 80001*10000 / 100000 = 8000.1 -> 8001 (rounded up) > 8000
    (80_001, 100_000, 8000, 8001, True),
    # 280000000*10000 / 300000000 = 9333.33 -> 9334
    (280_000_000, 300_000_000, 8000, 9334, True),
    (0, 1, 1, 0, False),                      # nothing outstanding
    (3, 1, 10_000, 30_000, True),             # the loan is three times the goods
])
def test_margin_call_table(outstanding: int, collateral: int, maintenance: int, ltv: int,
                           call: bool) -> None:
    assert loan_to_value_bps(outstanding, collateral) == ltv
    assert margin_call_needed(outstanding, collateral, maintenance) is call


@pytest.mark.parametrize(("q0", "loan0", "repaid", "released", "unit", "maintenance",
                          "proportional", "keep", "releasable"), [
    # the worked example: 1000 t, L0 280000000, maintenance 8000
    # repaid 140000000: 1000*140000000//280000000 = 500; keep ceil(140000000*10000 /
    # (8000*400000)) = ceil(437.5) = 438, so 1000 - 438 = 562 by margin -> 500
    (1000, 280_000_000, 140_000_000, 0, 400_000, 8000, 500, 438, 500),
    # re-appraised at 320000, repaid 160000000: 571 - 500 = 71 by repayment;
    # keep ceil(120000000*10000 / (8000*320000)) = ceil(468.75) = 469 -> 500 - 469 = 31
    (1000, 280_000_000, 160_000_000, 500, 320_000, 8000, 571, 469, 31),
    # in a margin call (keep above the units left) nothing leaves: 500 - 547 < 0 -> 0
    (1000, 280_000_000, 140_000_000, 500, 320_000, 8000, 500, 547, 0),
    # 7 units, L0 3, repaid 1: 7*1//3 = 2 (2.33 rounds down); keep ceil(2*10000/(10000*1))=2
    (7, 3, 1, 0, 1, 10_000, 2, 2, 2),
    # fully repaid: everything left, keep 0
    (1000, 280_000_000, 280_000_000, 531, 320_000, 8000, 1000, 0, 469),
    # nothing repaid
    (1000, 280_000_000, 0, 0, 400_000, 8000, 0, 875, 0),
])
def test_release_table(q0: int, loan0: int, repaid: int, released: int, unit: int,
                       maintenance: int, proportional: int, keep: int, releasable: int) -> None:
    assert releasable_total(q0, loan0, repaid) == proportional
    assert units_to_keep(loan0 - repaid, unit, maintenance) == keep
    assert pledge_releasable(q0, loan0, repaid, released, unit, maintenance) == releasable


def test_refusals_name_the_argument() -> None:
    for call, name in ((lambda: loan_interest(-1, 600, 1, 365), "outstanding"),
                       (lambda: loan_interest(1, 600, 1, 364), "basis"),
                       (lambda: loan_to_value_bps(1, 0), "collateral"),
                       (lambda: margin_call_needed(1, 1, 0), "maintenance_bps"),
                       (lambda: units_to_keep(1, 0, 8000), "unit_value"),
                       (lambda: pledge_releasable(10, 5, 1, 11, 1, 8000), "released")):
        with pytest.raises(LedgerError) as caught:
            call()
        assert caught.value.code is Code.INVALID_ARGUMENT
        assert caught.value.message.startswith(name)
    with pytest.raises(LedgerError):
        loan_interest(MAX_AMOUNT, 10_000, 36_500, 360)       # the interest would overflow


amounts = st.integers(1, 10**12)
units = st.integers(1, 10**6)
bps = st.integers(1, 10_000)


@given(q0=units, unit=st.integers(1, 10**7), ltv=bps, extra=st.integers(0, 10_000),
       repaid_share=st.integers(0, 10_000), released_share=st.integers(0, 10_000),
       new_unit=st.integers(1, 10**7))
def test_a_release_never_leaves_the_loan_under_collateralised(
        q0: int, unit: int, ltv: int, extra: int, repaid_share: int, released_share: int,
        new_unit: int) -> None:
    maintenance = min(10_000, ltv + extra)
    loan0 = pledge_max_loan(q0, unit, ltv)
    if loan0 == 0:
        return
    repaid = loan0 * repaid_share // 10_000
    cap = releasable_total(q0, loan0, repaid)
    released = cap * released_share // 10_000
    allowed = pledge_releasable(q0, loan0, repaid, released, new_unit, maintenance)
    outstanding = loan0 - repaid
    assert 0 <= allowed <= cap - released              # never above the repaid share
    assert released + allowed <= q0                    # never above the quantity
    if allowed:                                        # and the rest still covers the loan
        assert outstanding == 0 or not margin_call_needed(
            outstanding, (q0 - released - allowed) * new_unit, maintenance)
        # one unit more would break the ratio or the repaid share
        more = allowed + 1
        assert more > cap - released or (q0 - released - more) * new_unit * maintenance < \
            outstanding * 10_000


@given(outstanding=amounts, rate=st.integers(0, 10_000), a=st.integers(0, 400),
       b=st.integers(0, 400), basis=st.sampled_from([360, 365]))
def test_interest_grows_with_time_and_one_period_is_within_half_a_unit_of_two(
        outstanding: int, rate: int, a: int, b: int, basis: int) -> None:
    whole = loan_interest(outstanding, rate, a + b, basis)
    assert loan_interest(outstanding, rate, a, basis) <= whole
    split = loan_interest(outstanding, rate, a, basis) + loan_interest(outstanding, rate, b,
                                                                        basis)
    assert abs(split - whole) <= 1                    # two half-up roundings vs one
    exact_twice = outstanding * rate * (a + b) * 2
    assert abs(whole * 2 * 10_000 * basis - exact_twice) <= 10_000 * basis


@given(outstanding=st.integers(0, 10**12), collateral=amounts, maintenance=bps)
def test_ltv_rounds_up_and_the_call_is_the_exact_comparison(
        outstanding: int, collateral: int, maintenance: int) -> None:
    ltv = loan_to_value_bps(outstanding, collateral)
    assert (ltv - 1) * collateral < outstanding * 10_000 <= ltv * collateral
    assert margin_call_needed(outstanding, collateral, maintenance) is (
        outstanding * 10_000 > maintenance * collateral)
