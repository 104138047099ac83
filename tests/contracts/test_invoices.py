"""The invoice life cycle through real blocks: every allowed step, forbidden steps, roles, args.

Each step is a signed transaction in its own block (ContractChain: build,
re-validate with apply_block, commit). A refused step must leave a failed
receipt with the expected code and change nothing but the sender's nonce.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from contracts.invoices import NEXT, Status, get_invoice
from contracts.liens import active_lien, invoice_asset
from contracts.provenance import get_provenance
from tests.contracts.support import (
    Call,
    ContractChain,
    contract_changes,
    fingerprint_of,
    invoice_args,
)

ROOT = Path(__file__).resolve().parents[2]
ARGS = invoice_args()
FP = fingerprint_of(ARGS)

# step name -> (signer, contract, method, args); every step acts on the invoice FP
STEPS: dict[str, Call] = {
    "register": Call("SUPPLIER-01", "register", ARGS),
    "confirm": Call("CORE-01", "confirm", {"fingerprint": FP}),
    "confirm_reduced": Call("CORE-01", "confirm", {"fingerprint": FP, "amount": 90_000_000}),
    "dispute": Call("CORE-01", "dispute", {"fingerprint": FP, "reason": "short delivery"}),
    "consent_cancel": Call("CORE-01", "consent_cancel", {"fingerprint": FP}),
    "cancel": Call("SUPPLIER-01", "cancel", {"fingerprint": FP}),
    "assign": Call("BANK-A", "assign", {"fingerprint": FP, "deal_id": "D-1"}, "testfin"),
    "assign_b": Call("BANK-B", "assign", {"fingerprint": FP, "deal_id": "D-2"}, "testfin"),
    "settle": Call("CORE-01", "settle", {"fingerprint": FP}, "testfin"),
    "settle_deal": Call("BANK-A", "settle", {"fingerprint": FP, "deal_id": "D-1"}, "testfin"),
    "settle_wrong_deal": Call("BANK-A", "settle", {"fingerprint": FP, "deal_id": "D-9"}, "testfin"),
    "release_lien": Call("BANK-A", "release_lien", {"asset": invoice_asset(FP), "deal_id": "D-1"},
                         "testfin"),
    "overdue": Call("BANK-A", "overdue", {"fingerprint": FP}, "testfin"),
    "default": Call("BANK-A", "default", {"fingerprint": FP}, "testfin"),
}

# paths of allowed steps -> the statuses after each step
ALLOWED_PATHS: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    (("register", "confirm"), ("registered", "confirmed")),
    (("register", "dispute", "confirm_reduced"), ("registered", "disputed", "confirmed")),
    (("register", "cancel"), ("registered", "cancelled")),
    (("register", "dispute", "cancel"), ("registered", "disputed", "cancelled")),
    (("register", "confirm", "dispute"), ("registered", "confirmed", "disputed")),
    (("register", "confirm", "consent_cancel", "cancel"),
     ("registered", "confirmed", "confirmed", "cancelled")),
    (("register", "confirm", "settle"), ("registered", "confirmed", "settled")),
    (("register", "confirm", "assign", "settle_deal"),
     ("registered", "confirmed", "assigned", "settled")),
    (("register", "confirm", "assign", "overdue", "settle_deal"),
     ("registered", "confirmed", "assigned", "overdue", "settled")),
    (("register", "confirm", "assign", "overdue", "default"),
     ("registered", "confirmed", "assigned", "overdue", "defaulted")),
]


def walk(chain: ContractChain, steps: tuple[str, ...]) -> None:
    for step in steps:
        receipt = chain.run([STEPS[step]])[0]
        assert receipt.code == "OK", (step, receipt.message)


def test_the_allowed_paths_cover_every_step_of_the_life_cycle() -> None:
    covered = {(a, b) for _, statuses in ALLOWED_PATHS for a, b in zip(statuses, statuses[1:])
               if a != b}
    assert covered == {(a.value, b.value) for a in Status for b in NEXT[a]}


@pytest.mark.parametrize("steps,statuses", ALLOWED_PATHS, ids=lambda v: "-".join(v))
def test_allowed_paths(steps: tuple[str, ...], statuses: tuple[str, ...]) -> None:
    chain = ContractChain()
    for step, status in zip(steps, statuses):
        receipt = chain.run([STEPS[step]])[0]
        assert receipt.code == "OK", (step, receipt.message)
        assert get_invoice(chain.state, FP).status == status  # type: ignore[union-attr]
        assert all("subjects" in event.attributes for event in receipt.events)
    history = get_provenance(chain.state, FP)
    assert [entry.status for entry in history] == list(statuses)
    assert [entry.signer for entry in history] == [STEPS[step].member for step in steps]
    lien = active_lien(chain.state, invoice_asset(FP))
    assert (lien is not None) == (statuses[-1] in ("assigned", "overdue", "defaulted"))


def test_confirmation_may_reduce_the_amount() -> None:
    chain = ContractChain()
    walk(chain, ("register", "dispute", "confirm_reduced"))
    invoice = get_invoice(chain.state, FP)
    assert invoice is not None
    assert (invoice.face_amount, invoice.confirmed_amount, invoice.amount_due) == (
        100_000_000, 90_000_000, 90_000_000)


# (steps to the start, refused step, code, fragment of the message)
FORBIDDEN: list[tuple[tuple[str, ...], str, str, str]] = [
    (("register",), "assign", "INVALID_STATE_TRANSITION", "registered -> assigned"),
    (("register",), "settle", "INVALID_STATE_TRANSITION", "registered -> settled"),
    (("register",), "overdue", "INVALID_STATE_TRANSITION", "registered -> overdue"),
    (("register",), "consent_cancel", "INVALID_STATE_TRANSITION", "confirmed"),
    (("register", "confirm"), "overdue", "INVALID_STATE_TRANSITION", "confirmed -> overdue"),
    (("register", "confirm"), "default", "INVALID_STATE_TRANSITION", "confirmed -> defaulted"),
    (("register", "confirm"), "cancel", "CANCEL_CONSENT_REQUIRED", "consent_cancel"),
    (("register", "confirm", "consent_cancel"), "consent_cancel", "INVALID_STATE_TRANSITION",
     "already"),
    (("register", "confirm", "consent_cancel", "dispute"), "cancel", "OK", ""),
    (("register", "dispute"), "assign", "INVALID_STATE_TRANSITION", "disputed -> assigned"),
    (("register", "dispute"), "dispute", "INVALID_STATE_TRANSITION", "disputed -> disputed"),
    (("register", "confirm", "assign"), "cancel", "INVALID_STATE_TRANSITION",
     "assigned -> cancelled"),
    (("register", "confirm", "assign"), "dispute", "INVALID_STATE_TRANSITION",
     "assigned -> disputed"),
    (("register", "confirm", "assign"), "confirm", "INVALID_STATE_TRANSITION",
     "assigned -> confirmed"),
    (("register", "confirm", "assign"), "assign_b", "INVALID_STATE_TRANSITION",
     "assigned -> assigned"),
    (("register", "confirm", "assign"), "default", "INVALID_STATE_TRANSITION",
     "assigned -> defaulted"),
    (("register", "confirm", "assign"), "settle", "ASSET_ENCUMBERED", "BANK-A for deal D-1"),
    (("register", "confirm", "assign"), "settle_wrong_deal", "LIEN_NOT_FOUND", "deal D-1"),
    (("register", "confirm", "assign"), "release_lien", "INVALID_STATE_TRANSITION",
     "released by settling the invoice"),
    (("register", "confirm", "assign", "overdue", "default"), "release_lien",
     "INVALID_STATE_TRANSITION", "released by settling the invoice"),
    (("register", "confirm", "settle"), "cancel", "INVALID_STATE_TRANSITION",
     "settled -> cancelled"),
    (("register", "confirm", "settle"), "assign", "INVALID_STATE_TRANSITION",
     "settled -> assigned"),
    (("register", "cancel"), "confirm", "INVALID_STATE_TRANSITION", "cancelled -> confirmed"),
    (("register", "cancel"), "cancel", "INVALID_STATE_TRANSITION", "cancelled -> cancelled"),
    (("register", "confirm", "assign", "overdue", "default"), "settle_deal",
     "INVALID_STATE_TRANSITION", "defaulted -> settled"),
    (("register", "confirm", "assign", "overdue"), "overdue", "INVALID_STATE_TRANSITION",
     "overdue -> overdue"),
    ((), "confirm", "INVOICE_NOT_FOUND", FP.hex()),
    (("register",), "register", "DUPLICATE_INVOICE", FP.hex()),
]


@pytest.mark.parametrize("before,step,code,fragment", FORBIDDEN,
                         ids=lambda v: "-".join(v) if isinstance(v, tuple) else str(v))
def test_forbidden_steps_fail_and_change_nothing(before: tuple[str, ...], step: str, code: str,
                                                 fragment: str) -> None:
    chain = ContractChain()
    walk(chain, before)
    history = get_provenance(chain.state, FP)
    receipt = chain.run([STEPS[step]])[0]
    assert (receipt.code, fragment in receipt.message) == (code, True), receipt.message
    if code != "OK":
        assert contract_changes(chain.last_changes) == [] and receipt.events == ()
        assert get_provenance(chain.state, FP) == history


# -- roles: the engine's role check, then "only the buyer" / "only the seller" --

ROLE_CASES = [
    ((), Call("CORE-01", "register", ARGS), "register needs the role supplier"),
    ((), Call("BANK-A", "register", ARGS), "register needs the role supplier"),
    (("register",), Call("BANK-A", "confirm", {"fingerprint": FP}), "core_enterprise"),
    (("register",), Call("CORE-02", "confirm", {"fingerprint": FP}), "CORE-02 is not the buyer"),
    (("register",), Call("CORE-02", "dispute", {"fingerprint": FP}), "CORE-02 is not the buyer"),
    (("register", "confirm"), Call("CORE-02", "consent_cancel", {"fingerprint": FP}),
     "CORE-02 is not the buyer"),
    (("register",), Call("SUPPLIER-02", "cancel", {"fingerprint": FP}),
     "SUPPLIER-02 is not the seller"),
    (("register",), Call("CORE-01", "cancel", {"fingerprint": FP}), "supplier"),
    (("register", "confirm"),
     Call("SUPPLIER-01", "assign", {"fingerprint": FP, "deal_id": "D-1"}, "testfin"), "financier"),
]


@pytest.mark.parametrize("before,call,fragment", ROLE_CASES)
def test_wrong_signer_is_forbidden(before: tuple[str, ...], call: Call, fragment: str) -> None:
    chain = ContractChain()
    walk(chain, before)
    receipt = chain.run([call])[0]
    assert receipt.code == "FORBIDDEN" and fragment in receipt.message, receipt.message
    assert contract_changes(chain.last_changes) == []


# -- arguments: INVALID_ARGUMENT naming the field, nothing changed ------------

Change = Callable[[dict[str, Any]], dict[str, Any]]


def _without(name: str) -> Change:
    return lambda args: {k: v for k, v in args.items() if k != name}


def _with(**changes: Any) -> Change:
    return lambda args: {**args, **changes}


BAD_REGISTRATIONS = [
    (_with(invoice_number=""), "invoice_number"),
    (_with(invoice_number=" -/ "), "invoice_number"),
    (_with(invoice_number="INV\n1"), "invoice_number"),
    (_with(seller_tax_id=""), "seller_tax_id"),
    (_with(buyer_tax_id=" 9111"), "buyer_tax_id"),
    (_with(buyer="NOBODY-1"), "buyer"),
    (_with(buyer="BANK-A"), "buyer"),
    (_with(buyer="SUPPLIER-01"), "buyer"),
    (_with(buyer="core-01"), "buyer"),
    (_with(issue_date="2026-02-30"), "issue_date"),
    (_with(issue_date="2026-11-25"), "issue_date"),   # in the future (block date 2026-11-23)
    (_with(due_date="2027/02/18"), "due_date"),
    (_with(due_date="2026-11-19"), "due_date"),       # before the issue date
    (_with(currency="cny"), "currency"),
    (_with(currency="CNYY"), "currency"),
    (_with(face_amount=0), "face_amount"),
    (_with(face_amount=-5), "face_amount"),
    (_with(face_amount="100"), "face_amount"),
    (_with(document_sha256=bytes(31)), "document_sha256"),
    (_without("due_date"), "due_date"),
    (_with(note="hi"), "note"),
]


@pytest.mark.parametrize("change,field", BAD_REGISTRATIONS)
def test_bad_registration_arguments_name_the_field(change: Change, field: str) -> None:
    chain = ContractChain()
    receipt = chain.run([Call("SUPPLIER-01", "register", change(ARGS))])[0]
    assert receipt.code == "INVALID_ARGUMENT" and receipt.message.startswith(field + ":"), \
        receipt.message
    assert contract_changes(chain.last_changes) == []


@pytest.mark.parametrize("args,field", [
    ({"fingerprint": FP, "amount": 100_000_001}, "amount"),
    ({"fingerprint": FP, "amount": 0}, "amount"),
    ({"fingerprint": FP[:31]}, "fingerprint"),
    ({}, "fingerprint"),
])
def test_bad_confirmation_arguments_name_the_field(args: dict[str, Any], field: str) -> None:
    chain = ContractChain()
    walk(chain, ("register",))
    receipt = chain.run([Call("CORE-01", "confirm", args)])[0]
    assert receipt.code == "INVALID_ARGUMENT" and receipt.message.startswith(field + ":"), \
        receipt.message
    assert contract_changes(chain.last_changes) == []


def test_issue_date_may_be_one_day_after_the_utc_block_date() -> None:
    chain = ContractChain()   # block dates are 2026-11-23 UTC
    receipt = chain.run([Call("SUPPLIER-01", "register", {**ARGS, "issue_date": "2026-11-24",
                                                          "due_date": "2026-11-24"})])[0]
    assert receipt.code == "OK", receipt.message


def test_an_imported_e_invoice_registers_under_the_importers_fingerprint() -> None:
    # The e-invoice importer (ledger/einvoice.py) builds exactly these register args.
    from ledger.einvoice import parse_einvoice, registration_args

    path = ROOT / "tests/vectors/einvoices/oasis-ubl21/UBL-Invoice-2.1-Example.xml"
    imported = parse_einvoice(path.read_bytes())
    chain = ContractChain()
    args = registration_args(imported, "CORE-01")
    receipt = chain.run([Call("SUPPLIER-01", "register", args)])[0]
    assert receipt.code == "OK", receipt.message
    invoice = get_invoice(chain.state, imported.fingerprint)
    assert invoice is not None and invoice.document_sha256 == imported.document_sha256
