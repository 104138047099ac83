"""Money amounts as text: ISO 4217 minor units, exact decimal parsing and printing.

Integer minor units everywhere; a decimal string is parsed exactly (no
floats) and refused if it has more fraction digits than the currency's minor
unit, unless the extra ones are zeros. Used by the e-invoice importer and by
`scf quote` to show amounts.
"""

from __future__ import annotations

import re

from ledger.errors import Code, LedgerError

MAX_AMOUNT_MINOR = 2**63 - 1
MAX_AMOUNT_CHARS = 64
# XML whitespace, trimmed around an amount's text.
_XML_SPACE = " \t\r\n"

# ISO 4217 minor-unit exponents. Every code not in the 0 / 3 / 4 tables below
# has 2 (HUF and TWD included: ISO lists 2 even where cash uses none). A few
# withdrawn codes (HRK, ANG, SLL, CUC, ...) stay: old invoices still carry them.
_EXPONENT_0 = frozenset(
    "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split()
)
_EXPONENT_3 = frozenset("BHD IQD JOD KWD LYD OMR TND".split())
_EXPONENT_4 = frozenset("CLF UYW".split())
_EXPONENT_2 = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL
    BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP
    DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HRK HTG HUF IDR
    ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK
    MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP
    PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC
    SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG
    YER ZAR ZMW ZWG ZWL""".split()
)
MINOR_UNIT_EXPONENTS: dict[str, int] = {
    **{code: 0 for code in _EXPONENT_0},
    **{code: 2 for code in _EXPONENT_2},
    **{code: 3 for code in _EXPONENT_3},
    **{code: 4 for code in _EXPONENT_4},
}

# xs:decimal's lexical space (no exponent, no grouping, ASCII digits only).
_DECIMAL = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?", re.ASCII)


def minor_unit_exponent(currency: str) -> int:
    """Digits after the decimal point of the currency's minor unit (ISO 4217)."""
    exponent = MINOR_UNIT_EXPONENTS.get(currency)
    if exponent is None:
        raise LedgerError(Code.EINVOICE_FIELD_INVALID,
                          f"currency: {_show(currency)} is not an ISO 4217 currency code with a "
                          "minor unit known to this importer")
    return exponent


def parse_amount(text: str, currency: str) -> int:
    """The exact decimal string `text` as a positive count of `currency`'s minor units.

    Accepts xs:decimal ("100", "-1.5", "+.50", "7."), never an exponent or a
    grouping separator. More fraction digits than the currency has are refused
    (EINVOICE_AMOUNT_PRECISION) unless the extra ones are zeros; zero, negative
    and above 2^63 - 1 minor units are refused (EINVOICE_AMOUNT_INVALID).
    """
    exponent = minor_unit_exponent(currency)
    shown = text.strip(_XML_SPACE)
    if len(shown) > MAX_AMOUNT_CHARS:
        raise LedgerError(Code.EINVOICE_AMOUNT_INVALID,
                          f"amount: longer than {MAX_AMOUNT_CHARS} characters")
    match = _DECIMAL.fullmatch(shown)
    if match is None or not (match.group(2) or match.group(3)):
        raise LedgerError(Code.EINVOICE_AMOUNT_INVALID,
                          f"amount: {shown!r} is not a plain decimal number")
    sign, whole, fraction = match.group(1), match.group(2), match.group(3) or ""
    if sign == "-" or not (whole + fraction).strip("0"):  # negative, or zero ("-0" too)
        raise LedgerError(Code.EINVOICE_AMOUNT_INVALID,
                          f"amount: {shown} {currency} is not positive; only an amount "
                          "owed can be registered")
    extra = fraction[exponent:]
    if extra.strip("0"):
        raise LedgerError(Code.EINVOICE_AMOUNT_PRECISION,
                          f"amount: {shown} has {len(fraction)} fraction digits; "
                          f"{currency} has {exponent}")
    value = int((whole or "0") + fraction[:exponent].ljust(exponent, "0"))
    if value > MAX_AMOUNT_MINOR:
        raise LedgerError(Code.EINVOICE_AMOUNT_INVALID,
                          f"amount: {shown} {currency} is above 2^63 - 1 minor units")
    return value


def format_amount(amount_minor: int, currency: str) -> str:
    """Minor units as a decimal string with the currency's digits: 72900 EUR -> "729.00"."""
    exponent = minor_unit_exponent(currency)
    sign = "-" if amount_minor < 0 else ""
    whole, fraction = divmod(abs(amount_minor), 10**exponent)
    return f"{sign}{whole}" + (f".{fraction:0{exponent}d}" if exponent else "")


# ---------------------------------------------------------------- XML helpers


def _show(value: str) -> str:
    """A document value quoted for a message, cut short (the document is untrusted)."""
    return repr(value if len(value) <= 80 else value[:77] + "...")
