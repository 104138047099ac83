"""E-invoice import: read a UBL 2.1 / Peppol BIS Billing 3.0 or UN/CEFACT CII invoice.

Pure: `parse_einvoice` takes the document's bytes and returns an `EInvoice`
(or raises `LedgerError` with an `EINVOICE_*` code); no file, network or
clock access. `registration_args` turns it into the arguments of the invoices
contract's `register` method.

Safety. The document is untrusted. It is parsed with defusedxml with DTDs
forbidden outright (UBL and CII never use one): no external entities (XXE), no
entity-expansion bombs, no network access. Input above `MAX_DOCUMENT_BYTES` is
refused before parsing. Money never touches a float: the payable amount's
decimal string is converted exactly to integer minor units.

Extraction rules (also in docs/cli.md, "scf invoice import"); for each field
the first rule that yields a value wins, and a rule that yields two different
values is refused as ambiguous (`EINVOICE_FIELD_INVALID`):

* invoice number: UBL `/Invoice/cbc:ID`; CII `rsm:ExchangedDocument/ram:ID`.
* issue date: UBL `cbc:IssueDate` (xs:date; a timezone suffix is dropped);
  CII `ram:IssueDateTime/udt:DateTimeString[@format="102"]` (YYYYMMDD).
* due date: UBL `cbc:DueDate`, then `cac:PaymentMeans/cbc:PaymentDueDate`,
  then `cac:PaymentTerms/cbc:PaymentDueDate`; CII
  `ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString`.
  Optional when parsing; required by `registration_args`.
* currency: UBL `cbc:DocumentCurrencyCode`, else the `currencyID` of the
  payable amount; CII `ram:InvoiceCurrencyCode`. A `currencyID` on the
  payable amount must equal the document currency.
* amount: UBL `cac:LegalMonetaryTotal/cbc:PayableAmount`; CII
  `ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:DuePayableAmount`
  (EN 16931 BT-115, the amount due for payment).
* seller / buyer id, in this order (EN 16931 business terms):
  1. VAT identifier (BT-31 / BT-48): UBL `cac:PartyTaxScheme[cac:TaxScheme/
     cbc:ID="VAT"]/cbc:CompanyID`; CII `ram:SpecifiedTaxRegistration/
     ram:ID[@schemeID="VA"]`;
  2. legal registration identifier (BT-30 / BT-47): UBL
     `cac:PartyLegalEntity/cbc:CompanyID`; CII
     `ram:SpecifiedLegalOrganization/ram:ID`;
  3. party identifier with a registered scheme (BT-29 / BT-46, e.g. GLN
     0088): UBL `cac:PartyIdentification/cbc:ID[@schemeID]`; CII
     `ram:GlobalID[@schemeID]`;
  4. electronic address (BT-34 / BT-49): UBL `cbc:EndpointID`; CII
     `ram:URIUniversalCommunication/ram:URIID`.
  A party identifier without a scheme (or with the "mutually defined"
  scheme ZZZ) is a number the seller gave its customer, not an identity of
  the party, and is never used. Other tax schemes (e.g. Swedish "TAX" with
  the text "Godkänd för F-skatt") are not identifiers either. Identifiers are
  taken verbatim (surrounding XML whitespace removed), without their scheme.
* credit notes: a UBL `CreditNote` root, or a UNTDID 1001 credit-note code
  (81, 83, 261, 262, 296, 308, 381, 396, 420, 458, 532 — Peppol's credit
  note list) in UBL `cbc:InvoiceTypeCode` or CII `ram:TypeCode`, are refused
  with `EINVOICE_CREDIT_NOTE` before any other field is read.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from contracts.calendar import parse_date
from contracts.fingerprint import compute_fingerprint, normalize_invoice_number
from ledger.accounts import MEMBER_ID
from ledger.errors import Code, LedgerError
from ledger.money import (  # noqa: F401 (amount helpers re-exported)
    MAX_AMOUNT_MINOR,
    MINOR_UNIT_EXPONENTS,
    _show,
    format_amount,
    minor_unit_exponent,
    parse_amount,
)

MAX_DOCUMENT_BYTES = 64 * 1024 * 1024

UBL = "UBL"
CII = "CII"

NS: dict[str, str] = {
    "inv": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "cn": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
_UBL_INVOICE = f"{{{NS['inv']}}}Invoice"
_UBL_CREDIT_NOTE = f"{{{NS['cn']}}}CreditNote"
_CII_INVOICE = f"{{{NS['rsm']}}}CrossIndustryInvoice"

#: UNTDID 1001 document type codes that denote a credit note (Peppol BIS 3.0 list).
CREDIT_NOTE_TYPE_CODES = frozenset(
    {"81", "83", "261", "262", "296", "308", "381", "396", "420", "458", "532"}
)


_CURRENCY = re.compile(r"[A-Z]{3}", re.ASCII)
_XS_DATE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})(?:Z|[+-][0-9]{2}:[0-9]{2})?", re.ASCII)
_CII_DATE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})", re.ASCII)
_XML_SPACE = " \t\r\n"
_BILATERAL_SCHEMES = frozenset({"", "ZZZ"})


@dataclass(frozen=True, slots=True)
class EInvoice:
    """The fields of an e-invoice that the ledger registers, and their identity."""

    syntax: str  # "UBL" | "CII"
    invoice_number: str
    issue_date: str  # "YYYY-MM-DD"
    due_date: str | None  # "YYYY-MM-DD"; None when the document states none
    currency: str  # ISO 4217
    amount_minor: int  # payable amount in minor units, 1 .. 2^63 - 1
    seller_id: str
    buyer_id: str
    document_sha256: bytes  # SHA-256 of the exact input bytes
    fingerprint: bytes = field(init=False)

    def __post_init__(self) -> None:
        fingerprint = compute_fingerprint(self.seller_id, self.buyer_id, self.invoice_number,
                                          self.issue_date, self.currency, self.amount_minor)
        object.__setattr__(self, "fingerprint", fingerprint)

    def to_json(self) -> dict[str, Any]:
        """The fields for `scf invoice import --json` (hashes in hex)."""
        return {
            "syntax": self.syntax,
            "invoice_number": self.invoice_number,
            "issue_date": self.issue_date,
            "due_date": self.due_date,
            "currency": self.currency,
            "amount_minor": self.amount_minor,
            "seller_id": self.seller_id,
            "buyer_id": self.buyer_id,
            "document_sha256": self.document_sha256.hex(),
            "fingerprint": self.fingerprint.hex(),
        }


# ---------------------------------------------------------------- money


def _text(element: Element) -> str:
    return (element.text or "").strip(_XML_SPACE)


def _texts(elements: list[Element]) -> list[str]:
    return [value for value in (_text(e) for e in elements) if value]


def _values(context: Element, path: str) -> list[str]:
    """The non-empty texts at `path` (ElementTree's XPath subset), in document order."""
    return _texts(context.findall(path, NS))


def _scheme(element: Element) -> str:
    return (element.get("schemeID") or "").strip(_XML_SPACE)


def _missing(field_name: str, xpaths: list[str]) -> LedgerError:
    return LedgerError(Code.EINVOICE_FIELD_MISSING,
                       f"{field_name}: not found (tried {' | '.join(xpaths)})")


def _one(values: list[str], field_name: str, xpath: str) -> str | None:
    """The value of a single-valued field: None if absent, refused if ambiguous."""
    distinct = sorted(set(values))
    if len(distinct) > 1:
        shown = ", ".join(_show(value) for value in distinct[:4])
        raise LedgerError(Code.EINVOICE_FIELD_INVALID,
                          f"{field_name}: {xpath} has {len(distinct)} different values ({shown})")
    return distinct[0] if distinct else None


def _required(context: Element | None, path: str, field_name: str, xpath: str) -> str:
    value = None if context is None else _one(_values(context, path), field_name, xpath)
    if value is None:
        raise _missing(field_name, [xpath])
    return value


def _calendar_date(iso: str, field_name: str, xpath: str) -> str:
    try:
        parse_date(iso, field_name)
    except LedgerError as error:
        raise LedgerError(Code.EINVOICE_FIELD_INVALID, f"{error.message} ({xpath})") from None
    return iso


def _xs_date(text: str, field_name: str, xpath: str) -> str:
    """A UBL date (xs:date, "YYYY-MM-DD" with an optional timezone, which is dropped)."""
    match = _XS_DATE.fullmatch(text)
    if match is None:
        raise LedgerError(Code.EINVOICE_FIELD_INVALID,
                          f"{field_name}: {xpath} = {_show(text)} is not a date YYYY-MM-DD")
    return _calendar_date(match.group(1), field_name, xpath)


def _cii_date(element: Element, field_name: str, xpath: str) -> str:
    """A CII udt:DateTimeString, which must be in format 102 (YYYYMMDD)."""
    text = _text(element)
    date_format = element.get("format")
    match = _CII_DATE.fullmatch(text)
    if date_format != "102" or match is None:
        raise LedgerError(Code.EINVOICE_FIELD_INVALID,
                          f"{field_name}: {xpath} = {_show(text)} (format "
                          f"{_show(date_format or '')}) is not a date in format 102 (YYYYMMDD)")
    return _calendar_date("-".join(match.groups()), field_name, xpath)


def _cii_dates(elements: list[Element], field_name: str, xpath: str) -> str | None:
    return _one([_cii_date(e, field_name, xpath) for e in elements if _text(e)], field_name, xpath)


def _invoice_number(context: Element | None, path: str, xpath: str) -> str:
    number = _required(context, path, "invoice_number", xpath)
    if not normalize_invoice_number(number):
        raise LedgerError(Code.EINVOICE_FIELD_INVALID,
                          f"invoice_number: {xpath} = {_show(number)} is empty once normalized")
    return number


def _currency(code: str, xpath: str) -> str:
    if _CURRENCY.fullmatch(code) is None:
        raise LedgerError(Code.EINVOICE_FIELD_INVALID,
                          f"currency: {xpath} = {_show(code)} is not an ISO 4217 code")
    minor_unit_exponent(code)
    return code


def _refuse_credit_note(type_code: str | None, xpath: str) -> None:
    if type_code in CREDIT_NOTE_TYPE_CODES:
        raise LedgerError(Code.EINVOICE_CREDIT_NOTE,
                          f"{xpath} is {type_code}, a credit note: it cannot be registered "
                          "for financing")


def _payable_amount(context: Element | None, path: str, xpath: str,
                    currency: str | None, currency_xpath: str) -> tuple[int, str]:
    """(minor units, currency) of the payable amount.

    `currency` is the document's currency (None if it states none: the
    amount's `currencyID` is then the currency). A `currencyID` that differs
    from the document currency is refused.
    """
    amounts = [] if context is None else context.findall(path, NS)
    if len(amounts) > 1:
        raise LedgerError(Code.EINVOICE_FIELD_INVALID,
                          f"amount: {xpath} appears {len(amounts)} times")
    if not amounts or not _text(amounts[0]):
        raise _missing("amount", [xpath])
    amount_currency = (amounts[0].get("currencyID") or "").strip(_XML_SPACE)
    if currency is None:
        if not amount_currency:
            raise _missing("currency", [currency_xpath, f"{xpath}/@currencyID"])
        currency = _currency(amount_currency, f"{xpath}/@currencyID")
    elif amount_currency and amount_currency != currency:
        raise LedgerError(Code.EINVOICE_FIELD_INVALID,
                          f"currency: {xpath}/@currencyID is {_show(amount_currency)}, "
                          f"the document currency is {currency}")
    return parse_amount(_text(amounts[0]), currency), currency


# A party rule: (the XPath shown in messages, relative to the party element;
# the function that returns its candidate values in document order).
_PartyRule = tuple[str, Callable[[Element], list[str]]]


def _party_id(party: Element | None, rules: list[_PartyRule], bilateral_path: str,
              field_name: str, party_xpath: str) -> str:
    """The party's id by the first rule that finds one (its first value in document order)."""
    tried = [f"{party_xpath}/{shown}" for shown, _ in rules]
    if party is None:
        raise _missing(field_name, tried)
    for _, candidates in rules:
        values = candidates(party)
        if values:
            return values[0]
    error = _missing(field_name, tried)
    bilateral = _texts([e for e in party.findall(bilateral_path, NS)
                        if _scheme(e) in _BILATERAL_SCHEMES])
    if bilateral:
        error = LedgerError(error.code, f"{error.message}; {bilateral_path} = "
                            f"{_show(bilateral[0])} has no registered scheme (a customer number, "
                            "not an identity of the party) and is not used")
    raise error


# ---------------------------------------------------------------- UBL

_INV = "/Invoice"
UBL_DUE_DATE_XPATHS = [f"{_INV}/cbc:DueDate", f"{_INV}/cac:PaymentMeans/cbc:PaymentDueDate",
                       f"{_INV}/cac:PaymentTerms/cbc:PaymentDueDate"]


def _ubl_vat(party: Element) -> list[str]:
    """CompanyIDs of the party's PartyTaxScheme elements whose TaxScheme is VAT."""
    values: list[str] = []
    for scheme in party.findall("cac:PartyTaxScheme", NS):
        if [v.upper() for v in _values(scheme, "cac:TaxScheme/cbc:ID")] == ["VAT"]:
            values.extend(_values(scheme, "cbc:CompanyID"))
    return values


_UBL_PARTY_RULES: list[_PartyRule] = [
    ("cac:PartyTaxScheme[cac:TaxScheme/cbc:ID='VAT']/cbc:CompanyID", _ubl_vat),
    ("cac:PartyLegalEntity/cbc:CompanyID",
     lambda party: _values(party, "cac:PartyLegalEntity/cbc:CompanyID")),
    ("cac:PartyIdentification/cbc:ID[@schemeID]",
     lambda party: _texts([e for e in party.findall("cac:PartyIdentification/cbc:ID", NS)
                           if _scheme(e) not in _BILATERAL_SCHEMES])),
    ("cbc:EndpointID", lambda party: _values(party, "cbc:EndpointID")),
]


def _ubl_due_date(root: Element) -> str | None:
    paths = ("cbc:DueDate", "cac:PaymentMeans/cbc:PaymentDueDate",
             "cac:PaymentTerms/cbc:PaymentDueDate")
    for path, xpath in zip(paths, UBL_DUE_DATE_XPATHS):
        value = _one(_values(root, path), "due_date", xpath)
        if value is not None:
            return _xs_date(value, "due_date", xpath)
    return None


def _ubl_party(root: Element, path: str, field_name: str) -> str:
    return _party_id(root.find(path, NS), _UBL_PARTY_RULES, "cac:PartyIdentification/cbc:ID",
                     field_name, f"{_INV}/{path}")


def _parse_ubl(root: Element) -> dict[str, Any]:
    type_xpath = f"{_INV}/cbc:InvoiceTypeCode"
    _refuse_credit_note(_one(_values(root, "cbc:InvoiceTypeCode"), "type_code", type_xpath),
                        type_xpath)
    number = _invoice_number(root, "cbc:ID", f"{_INV}/cbc:ID")
    issue_xpath = f"{_INV}/cbc:IssueDate"
    issue_date = _xs_date(_required(root, "cbc:IssueDate", "issue_date", issue_xpath),
                          "issue_date", issue_xpath)
    due_date = _ubl_due_date(root)
    currency_xpath = f"{_INV}/cbc:DocumentCurrencyCode"
    currency = _one(_values(root, "cbc:DocumentCurrencyCode"), "currency", currency_xpath)
    if currency is not None:
        currency = _currency(currency, currency_xpath)
    amount, currency = _payable_amount(
        root, "cac:LegalMonetaryTotal/cbc:PayableAmount",
        f"{_INV}/cac:LegalMonetaryTotal/cbc:PayableAmount", currency, currency_xpath)
    return {"syntax": UBL, "invoice_number": number, "issue_date": issue_date,
            "due_date": due_date, "currency": currency, "amount_minor": amount,
            "seller_id": _ubl_party(root, "cac:AccountingSupplierParty/cac:Party", "seller_id"),
            "buyer_id": _ubl_party(root, "cac:AccountingCustomerParty/cac:Party", "buyer_id")}


# ---------------------------------------------------------------- CII

_CII_DOC = "/rsm:CrossIndustryInvoice/rsm:ExchangedDocument"
_CII_TX = "/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction"
_CII_AGREEMENT = f"{_CII_TX}/ram:ApplicableHeaderTradeAgreement"
_CII_SETTLEMENT = f"{_CII_TX}/ram:ApplicableHeaderTradeSettlement"
_CII_DUE = "ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString"
_CII_AMOUNT = "ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:DuePayableAmount"
CII_DUE_DATE_XPATHS = [f"{_CII_SETTLEMENT}/{_CII_DUE}"]

_CII_PARTY_RULES: list[_PartyRule] = [
    ("ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']",
     lambda party: _texts([e for e in party.findall("ram:SpecifiedTaxRegistration/ram:ID", NS)
                           if _scheme(e).upper() == "VA"])),
    ("ram:SpecifiedLegalOrganization/ram:ID",
     lambda party: _values(party, "ram:SpecifiedLegalOrganization/ram:ID")),
    ("ram:GlobalID[@schemeID]",
     lambda party: _texts([e for e in party.findall("ram:GlobalID", NS)
                           if _scheme(e) not in _BILATERAL_SCHEMES])),
    ("ram:URIUniversalCommunication/ram:URIID",
     lambda party: _values(party, "ram:URIUniversalCommunication/ram:URIID")),
]


def _cii_party(agreement: Element | None, name: str, field_name: str) -> str:
    party = None if agreement is None else agreement.find(name, NS)
    return _party_id(party, _CII_PARTY_RULES, "ram:ID", field_name, f"{_CII_AGREEMENT}/{name}")


def _parse_cii(root: Element) -> dict[str, Any]:
    document = root.find("rsm:ExchangedDocument", NS)
    if document is not None:
        type_xpath = f"{_CII_DOC}/ram:TypeCode"
        _refuse_credit_note(_one(_values(document, "ram:TypeCode"), "type_code", type_xpath),
                            type_xpath)
    number = _invoice_number(document, "ram:ID", f"{_CII_DOC}/ram:ID")
    issue_xpath = f"{_CII_DOC}/ram:IssueDateTime/udt:DateTimeString"
    issue_date = None if document is None else _cii_dates(
        document.findall("ram:IssueDateTime/udt:DateTimeString", NS), "issue_date", issue_xpath)
    if issue_date is None:
        raise _missing("issue_date", [issue_xpath])
    settlement = root.find("rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement",
                           NS)
    due_date = None if settlement is None else _cii_dates(
        settlement.findall(_CII_DUE, NS), "due_date", CII_DUE_DATE_XPATHS[0])
    currency_xpath = f"{_CII_SETTLEMENT}/ram:InvoiceCurrencyCode"
    currency = _currency(_required(settlement, "ram:InvoiceCurrencyCode", "currency",
                                   currency_xpath), currency_xpath)
    amount, currency = _payable_amount(settlement, _CII_AMOUNT, f"{_CII_SETTLEMENT}/{_CII_AMOUNT}",
                                       currency, currency_xpath)
    agreement = root.find("rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement", NS)
    return {"syntax": CII, "invoice_number": number, "issue_date": issue_date,
            "due_date": due_date, "currency": currency, "amount_minor": amount,
            "seller_id": _cii_party(agreement, "ram:SellerTradeParty", "seller_id"),
            "buyer_id": _cii_party(agreement, "ram:BuyerTradeParty", "buyer_id")}


# ---------------------------------------------------------------- entry points


def _parse_xml(data: bytes) -> Element:
    try:
        return fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as error:
        raise LedgerError(Code.EINVOICE_MALFORMED,
                          f"the document uses a DTD, entities or external references, which "
                          f"are refused ({type(error).__name__})") from None
    except ParseError as error:
        raise LedgerError(Code.EINVOICE_MALFORMED, f"not well-formed XML: {error}") from None
    except (ValueError, LookupError) as error:  # unreadable declared encoding
        raise LedgerError(Code.EINVOICE_MALFORMED,
                          f"the XML cannot be decoded: {type(error).__name__}: {error}") from None


def parse_einvoice(data: bytes) -> EInvoice:
    """Read a UBL 2.1 / Peppol BIS 3.0 or CII invoice; `LedgerError` (EINVOICE_*) if unusable."""
    if not isinstance(data, bytes):
        raise LedgerError(Code.EINVOICE_MALFORMED, "the document must be given as bytes")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise LedgerError(Code.EINVOICE_TOO_LARGE,
                          f"the document is larger than {MAX_DOCUMENT_BYTES} bytes")
    digest = hashlib.sha256(data).digest()
    root = _parse_xml(data)
    if root.tag == _UBL_CREDIT_NOTE:
        raise LedgerError(Code.EINVOICE_CREDIT_NOTE,
                          "a UBL CreditNote cannot be registered for financing")
    if root.tag == _UBL_INVOICE:
        fields = _parse_ubl(root)
    elif root.tag == _CII_INVOICE:
        fields = _parse_cii(root)
    else:
        raise LedgerError(Code.EINVOICE_UNSUPPORTED,
                          f"root element {_show(root.tag)} is neither a UBL 2.1 Invoice / "
                          "CreditNote nor a UN/CEFACT CII CrossIndustryInvoice")
    return EInvoice(document_sha256=digest, **fields)


def due_date_xpaths(syntax: str) -> list[str]:
    """Where the due date was looked for, in order of precedence."""
    return UBL_DUE_DATE_XPATHS if syntax == UBL else CII_DUE_DATE_XPATHS


def require_registrable(invoice: EInvoice) -> str:
    """The due date of an invoice the ledger can register; refused if it has none.

    A financing ledger needs a due date: tenor, discount and overdue all
    count from it. A due date before the issue date is refused too.
    """
    if invoice.due_date is None:
        raise _missing("due_date", due_date_xpaths(invoice.syntax))
    if parse_date(invoice.due_date) < parse_date(invoice.issue_date):
        raise LedgerError(Code.EINVOICE_FIELD_INVALID,
                          f"due_date: {invoice.due_date} is before the issue date "
                          f"{invoice.issue_date}")
    return invoice.due_date


def registration_args(invoice: EInvoice, buyer_member: str) -> dict[str, Any]:
    """The arguments of the invoices contract's `register` method for this invoice.

    `buyer_member` is the ledger member id of the buyer (the document only
    knows the buyer's tax id); INVALID_ARGUMENT if it is not a member id.
    """
    if not isinstance(buyer_member, str) or re.fullmatch(MEMBER_ID.pattern or "",
                                                         buyer_member) is None:
        raise LedgerError(Code.INVALID_ARGUMENT,
                          f"buyer: {buyer_member!r} is not a member id (e.g. CORE-01)")
    due_date = require_registrable(invoice)
    return {
        "invoice_number": invoice.invoice_number,
        "seller_tax_id": invoice.seller_id,
        "buyer_tax_id": invoice.buyer_id,
        "buyer": buyer_member,
        "issue_date": invoice.issue_date,
        "due_date": due_date,
        "currency": invoice.currency,
        "face_amount": invoice.amount_minor,
        "document_sha256": invoice.document_sha256,
    }
