"""UTC calendar dates for contracts, from block time, without the clock.

Contracts may not import `datetime` (the pure core never touches the clock,
and a library's calendar is one more thing that could differ between
nodes), so dates are computed here with integer arithmetic: days since
1970-01-01 (the proleptic Gregorian calendar, Howard Hinnant's
`days_from_civil` algorithm). A date on the wire is an ISO string
"YYYY-MM-DD"; `days(a, b)` is the number of calendar days from a to b.
"""

from __future__ import annotations

import re

from ledger.errors import Code, LedgerError

MS_PER_DAY = 86_400_000
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to the given date (negative before it)."""
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def civil_from_days(days: int) -> tuple[int, int, int]:
    """(year, month, day) of the date `days` after 1970-01-01."""
    days += 719_468
    era = (days if days >= 0 else days - 146_096) // 146_097
    day_of_era = days - era * 146_097
    year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36_524
                   - day_of_era // 146_096) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    mp = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * mp + 2) // 5 + 1
    month = mp + (3 if mp < 10 else -9)
    return year_of_era + era * 400 + (month <= 2), month, day


def parse_date(text: str, field: str = "date") -> int:
    """Day number of an ISO "YYYY-MM-DD" date; INVALID_ARGUMENT naming `field`."""
    match = _ISO_DATE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise LedgerError(Code.INVALID_ARGUMENT, f"{field}: expected a date YYYY-MM-DD")
    year, month, day = (int(part) for part in match.groups())
    number = days_from_civil(year, month, day)
    if not 1 <= month <= 12 or civil_from_days(number) != (year, month, day):
        raise LedgerError(Code.INVALID_ARGUMENT, f"{field}: {text} is not a calendar date")
    return number


def format_date(day_number: int) -> str:
    year, month, day = civil_from_days(day_number)
    return f"{year:04d}-{month:02d}-{day:02d}"


def block_date(time_ms: int) -> int:
    """The UTC day number of a block time (milliseconds since the epoch)."""
    return time_ms // MS_PER_DAY


def days(start: int, end: int) -> int:
    """Calendar days from day number `start` to day number `end`."""
    return end - start
