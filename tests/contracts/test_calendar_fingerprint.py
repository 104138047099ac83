"""Calendar arithmetic against the standard library, and the fingerprint rules."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.calendar import (
    block_date,
    civil_from_days,
    days_from_civil,
    format_date,
    parse_date,
)
from contracts.fingerprint import (
    compute_fingerprint,
    fingerprint_of_normalized,
    normalize_invoice_number,
)
from ledger.errors import Code, LedgerError

EPOCH = datetime.date(1970, 1, 1)


@given(st.dates(min_value=datetime.date(1, 1, 1), max_value=datetime.date(9999, 12, 31)))
def test_days_match_the_standard_library(date: datetime.date) -> None:
    number = (date - EPOCH).days
    assert days_from_civil(date.year, date.month, date.day) == number
    assert civil_from_days(number) == (date.year, date.month, date.day)
    assert parse_date(date.isoformat()) == number and format_date(number) == date.isoformat()


@pytest.mark.parametrize("text", ["2026-02-29", "2026-13-01", "2026-00-10", "2026-1-1",
                                  "20260101", "2026-04-31", "", "２０２６-01-01"])
def test_bad_dates_name_the_field(text: str) -> None:
    with pytest.raises(LedgerError) as caught:
        parse_date(text, "due_date")
    assert caught.value.code is Code.INVALID_ARGUMENT and "due_date" in caught.value.message


def test_leap_day_and_block_date() -> None:
    assert parse_date("2028-02-29") - parse_date("2028-02-28") == 1
    assert format_date(block_date(1_795_392_000_000)) == "2026-11-23"
    assert format_date(block_date(1_795_392_000_000 - 1)) == "2026-11-22"


@pytest.mark.parametrize("raw", ["INV-2026/001", " inv 2026 001 ", "inv-2026-001", "INV2026001"])
def test_number_normalization(raw: str) -> None:
    assert normalize_invoice_number(raw) == "INV2026001"


def test_fingerprint_identifies_the_same_invoice_under_number_spellings() -> None:
    a = compute_fingerprint("S-1", "B-1", "inv-2026/001", "2026-11-23", "CNY", 100)
    b = compute_fingerprint("S-1", "B-1", "INV 2026001", "2026-11-23", "CNY", 100)
    c = compute_fingerprint("S-1", "B-1", "INV 2026001", "2026-11-23", "CNY", 101)
    assert a == b != c and len(a) == 32


def _normalized_by_the_rule(number: str) -> str:
    """The rule as written: trim, upper-case, drop inner whitespace and - /."""
    return "".join(c for c in number.strip().upper() if c not in "-/" and not c.isspace())


WHITESPACE = "".join(chr(cp) for cp in range(0x3001) if chr(cp).isspace())


@given(st.text(alphabet=st.one_of(st.sampled_from(WHITESPACE + "-/ßﬁ"),
                                  st.characters(blacklist_categories=("Cs",))),
               max_size=40))
def test_normalization_is_the_rule(number: str) -> None:
    normalized = normalize_invoice_number(number)
    assert normalized == _normalized_by_the_rule(number)
    assert fingerprint_of_normalized("S", "B", normalized, "2026-11-23", "CNY", 7) == \
        compute_fingerprint("S", "B", number, "2026-11-23", "CNY", 7)


def test_every_whitespace_character_is_dropped() -> None:
    assert normalize_invoice_number(f"a{WHITESPACE}-/b") == "AB"
