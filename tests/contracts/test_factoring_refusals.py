"""Every refusal of the factoring contract, with its code, through real blocks.

Each case builds a stage of the happy path (an invoice, an offer, an
acceptance, a funding, ...), optionally one more successful step, then sends
the refused transaction: it must fail with the expected code and a message
naming the cause, and change nothing but the sender's nonce (no contract
key written, no event, the deal, offer, invoice and lien records as before).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from contracts.factoring import get_deal, get_offer, latest_deal
from contracts.invoices import get_invoice
from contracts.liens import active_lien, invoice_asset
from contracts.provenance import get_provenance
from tests.contracts.support import contract_changes
from tests.contracts.test_factoring_support import (
    DUE,
    F,
    FinanceChain,
    created,
    offer_args,
    register_confirmed,
)


@dataclass
class World:
    chain: FinanceChain
    fp: bytes
    fp2: bytes                          # a second invoice of SUPPLIER-01, in USD
    offer: str = ""
    deal: str = ""
    ids: dict[str, str] = field(default_factory=dict)

    def do(self, member: str, method: str, contract: str = F, **args: Any) -> Any:
        return self.chain.do(member, contract, method, **args)


Step = tuple[str, str, dict[str, Any], str | None]     # member, method, args, date


def _stage(name: str) -> World:
    chain = FinanceChain()
    world = World(chain, register_confirmed(chain),
                  register_confirmed(chain, "INV-USD-1", currency="USD"))
    if name == "confirmed":
        return world
    world.offer = created(world.do("BANK-A", "offer", **offer_args()), "factoring.offered",
                          "offer_id")
    if name == "offered":
        return world
    world.deal = created(world.do("SUPPLIER-01", "accept", offer_id=world.offer,
                                  fingerprint=world.fp), "factoring.accepted", "deal_id")
    if name == "accepted":
        return world
    world.do("BANK-A", "fund", deal_id=world.deal, payment_ref="FUND-1")
    if name == "funded":
        return world
    world.do("CORE-01", "pay", deal_id=world.deal, amount=90_000_000, payment_ref="P-1")
    if name == "pending":
        return world
    raise ValueError(name)


def _offer(**changes: Any) -> Callable[[World], Step]:
    return lambda w: ("BANK-A", "offer", offer_args(**changes), None)


def _call(member: str, method: str, date: str | None = None,
          **args: Callable[[World], Any] | Any) -> Callable[[World], Step]:
    """A step whose args may be functions of the world (ids known only at run time)."""
    return lambda w: (member, method, {k: v(w) if callable(v) else v for k, v in args.items()},
                      date)


def _deal(w: World) -> str:
    return w.deal


def _offer_id(w: World) -> str:
    return w.offer


def _fp(w: World) -> bytes:
    return w.fp


NOTHING: Callable[[World], None] = lambda w: None

# (stage, extra successful step, refused step, code, fragment of the message)
CASES: list[tuple[str, Callable[[World], Any], Callable[[World], Step], str, str]] = [
    # offers
    ("confirmed", NOTHING, lambda w: ("SUPPLIER-01", "offer", offer_args(), None),
     "FORBIDDEN", "needs the role financier"),
    ("confirmed", NOTHING, _offer(basis=364), "INVALID_ARGUMENT", "basis:"),
    ("confirmed", NOTHING, _offer(advance_bps=0), "INVALID_ARGUMENT", "advance_bps:"),
    ("confirmed", NOTHING, _offer(advance_bps=10_001), "INVALID_ARGUMENT", "advance_bps:"),
    ("confirmed", NOTHING, _offer(rate_bps=10_001), "INVALID_ARGUMENT", "rate_bps:"),
    ("confirmed", NOTHING, _offer(fee=-1), "INVALID_ARGUMENT", "fee:"),
    ("confirmed", NOTHING, _offer(grace_days=-1), "INVALID_ARGUMENT", "grace_days:"),
    ("confirmed", NOTHING, _offer(recourse=None), "INVALID_ARGUMENT", "recourse: required"),
    ("confirmed", NOTHING, _offer(recourse=1), "INVALID_ARGUMENT", "recourse:"),
    ("confirmed", NOTHING, _offer(note="x"), "INVALID_ARGUMENT", "note:"),
    ("confirmed", NOTHING, _offer(supplier=None), "INVALID_ARGUMENT", "supplier:"),
    ("confirmed", NOTHING, _offer(supplier=None, reverse=True), "INVALID_ARGUMENT",
     "buyer: required for a reverse"),
    ("confirmed", NOTHING, _offer(expiry_date="2026-11-22"), "INVALID_ARGUMENT",
     "expiry_date:"),
    ("confirmed", NOTHING, _offer(supplier="CORE-01"), "INVALID_ARGUMENT", "supplier: CORE-01"),
    ("confirmed", NOTHING, _offer(buyer="SUPPLIER-02"), "INVALID_ARGUMENT", "buyer:"),
    ("confirmed", NOTHING, _offer(fingerprint=bytes(32)), "INVOICE_NOT_FOUND", "00000000"),
    ("confirmed", NOTHING, lambda w: ("BANK-A", "offer", offer_args(fingerprint=w.fp2), None),
     "INVALID_ARGUMENT", "currency: CNY"),
    ("confirmed", NOTHING, lambda w: ("BANK-A", "offer", offer_args(
        fingerprint=w.fp, supplier="SUPPLIER-02"), None), "INVALID_ARGUMENT", "supplier:"),
    ("offered", NOTHING, _call("BANK-B", "withdraw_offer", offer_id=_offer_id), "FORBIDDEN",
     "BANK-B is not BANK-A"),
    ("offered", lambda w: w.do("BANK-A", "withdraw_offer", offer_id=w.offer),
     _call("BANK-A", "withdraw_offer", offer_id=_offer_id), "OFFER_WITHDRAWN", "already"),
    # acceptance
    ("offered", NOTHING, _call("SUPPLIER-01", "accept", offer_id="FO-1", fingerprint=_fp),
     "OFFER_NOT_FOUND", "FO-1"),
    ("offered", lambda w: w.do("BANK-A", "withdraw_offer", offer_id=w.offer),
     _call("SUPPLIER-01", "accept", offer_id=_offer_id, fingerprint=_fp), "OFFER_WITHDRAWN",
     "withdrawn"),
    ("offered", NOTHING, _call("SUPPLIER-01", "accept", "2027-07-01", offer_id=_offer_id,
                               fingerprint=_fp), "OFFER_EXPIRED", "2027-06-30"),
    ("offered", NOTHING, _call("SUPPLIER-02", "accept", offer_id=_offer_id, fingerprint=_fp),
     "FORBIDDEN", "SUPPLIER-02 is not SUPPLIER-01"),
    ("offered", NOTHING, _call("BANK-A", "accept", offer_id=_offer_id, fingerprint=_fp),
     "FORBIDDEN", "needs the role supplier"),
    ("offered", NOTHING, _call("SUPPLIER-01", "accept", offer_id=_offer_id,
                               fingerprint=bytes(32)), "INVOICE_NOT_FOUND", "00000000"),
    ("confirmed", lambda w: setattr(w, "offer", created(w.do(
        "BANK-A", "offer", **offer_args(supplier="SUPPLIER-02")), "factoring.offered",
        "offer_id")), _call("SUPPLIER-01", "accept", offer_id=_offer_id, fingerprint=_fp),
     "FORBIDDEN", "addressed to SUPPLIER-02"),
    ("confirmed", lambda w: setattr(w, "offer", created(w.do(
        "BANK-A", "offer", **offer_args(fingerprint=w.fp)), "factoring.offered", "offer_id")),
     lambda w: ("SUPPLIER-01", "accept", {"offer_id": w.offer, "fingerprint": w.fp2}, None),
     "OFFER_NOT_APPLICABLE", "for invoice"),
    ("offered", NOTHING, lambda w: ("SUPPLIER-01", "accept",
                                    {"offer_id": w.offer, "fingerprint": w.fp2}, None),
     "OFFER_NOT_APPLICABLE", "for currency CNY"),
    ("offered", lambda w: w.do("BANK-B", "place_lien", "testfin",
                               asset=invoice_asset(w.fp), deal_id="PLEDGE-1"),
     _call("SUPPLIER-01", "accept", offer_id=_offer_id, fingerprint=_fp), "ASSET_ENCUMBERED",
     "BANK-B for deal PLEDGE-1"),
    ("offered", lambda w: w.do("CORE-01", "dispute", "invoices", fingerprint=w.fp),
     _call("SUPPLIER-01", "accept", offer_id=_offer_id, fingerprint=_fp),
     "INVALID_STATE_TRANSITION", "disputed -> assigned"),
    ("offered", NOTHING, _call("SUPPLIER-01", "accept", DUE, offer_id=_offer_id,
                               fingerprint=_fp), "INVOICE_NOT_FINANCEABLE", "days:"),
    ("confirmed", lambda w: setattr(w, "offer", created(w.do(
        "BANK-A", "offer", **offer_args(fee=79_000_000)), "factoring.offered", "offer_id")),
     _call("SUPPLIER-01", "accept", offer_id=_offer_id, fingerprint=_fp),
     "INVOICE_NOT_FINANCEABLE", "nothing to pay out"),
    ("accepted", NOTHING, _call("SUPPLIER-01", "accept", offer_id=_offer_id, fingerprint=_fp),
     "DEAL_ALREADY_OPEN", "accepted"),
    # funding
    ("accepted", NOTHING, _call("BANK-B", "fund", deal_id=_deal, payment_ref="T-1"),
     "FORBIDDEN", "BANK-B is not BANK-A"),
    ("accepted", NOTHING, _call("BANK-A", "fund", deal_id="FD-1", payment_ref="T-1"),
     "DEAL_NOT_FOUND", "FD-1"),
    ("accepted", NOTHING, _call("BANK-A", "fund", deal_id=_deal, payment_ref=""),
     "INVALID_ARGUMENT", "payment_ref:"),
    ("accepted", NOTHING, _call("BANK-A", "fund", "2026-11-24", deal_id=_deal,
                                payment_ref="T-1"), "ACCEPTANCE_LAPSED", "2026-11-23"),
    ("accepted", lambda w: w.do("CORE-01", "dispute", "invoices", fingerprint=w.fp),
     _call("BANK-A", "fund", deal_id=_deal, payment_ref="T-1"), "INVALID_STATE_TRANSITION",
     "disputed -> assigned"),
    ("accepted", lambda w: (w.do("CORE-01", "dispute", "invoices", fingerprint=w.fp),
                            w.do("CORE-01", "confirm", "invoices", fingerprint=w.fp,
                                 amount=99_000_000)),
     _call("BANK-A", "fund", deal_id=_deal, payment_ref="T-1"), "INVOICE_NOT_FINANCEABLE",
     "now due for 99000000"),
    ("accepted", NOTHING, _call("CORE-01", "pay", deal_id=_deal, amount=1, payment_ref="P-9"),
     "INVALID_STATE_TRANSITION", "accepted"),
    ("accepted", NOTHING, _call("BANK-A", "mark_overdue", deal_id=_deal),
     "INVALID_STATE_TRANSITION", "accepted -> overdue"),
    ("accepted", NOTHING, _call("CORE-01", "cancel_acceptance", deal_id=_deal), "FORBIDDEN",
     "financier, supplier"),
    ("accepted", NOTHING, _call("BANK-B", "cancel_acceptance", deal_id=_deal), "FORBIDDEN",
     "BANK-B is not SUPPLIER-01 or BANK-A"),
    ("funded", NOTHING, _call("BANK-A", "fund", deal_id=_deal, payment_ref="T-1"),
     "INVALID_STATE_TRANSITION", "funded -> funded"),
    ("funded", NOTHING, _call("SUPPLIER-01", "cancel_acceptance", deal_id=_deal),
     "INVALID_STATE_TRANSITION", "funded -> cancelled"),
    ("funded", lambda w: setattr(w, "offer", created(w.do(
        "BANK-B", "offer", **offer_args()), "factoring.offered", "offer_id")),
     _call("SUPPLIER-01", "accept", offer_id=_offer_id, fingerprint=_fp),
     "INVALID_STATE_TRANSITION", "assigned -> assigned"),
    # payments
    ("funded", NOTHING, _call("CORE-02", "pay", deal_id=_deal, amount=1, payment_ref="P-9"),
     "FORBIDDEN", "CORE-02 is not CORE-01"),
    ("funded", NOTHING, _call("SUPPLIER-01", "pay", deal_id=_deal, amount=1,
                              payment_ref="P-9"), "FORBIDDEN", "core_enterprise"),
    ("funded", NOTHING, _call("CORE-01", "pay", deal_id=_deal, amount=100_000_001,
                              payment_ref="P-9"), "OVERPAYMENT", "100000000"),
    ("funded", NOTHING, _call("CORE-01", "pay", deal_id=_deal, amount=0, payment_ref="P-9"),
     "INVALID_ARGUMENT", "amount:"),
    ("funded", NOTHING, _call("CORE-01", "pay", deal_id=_deal, amount=1, payment_ref="FUND-1"),
     "DUPLICATE_PAYMENT", "FUND-1"),
    ("funded", NOTHING, _call("CORE-01", "acknowledge_payment", deal_id=_deal,
                              payment_ref="FUND-1"), "FORBIDDEN", "is to SUPPLIER-01"),
    ("funded", NOTHING, _call("BANK-A", "acknowledge_payment", deal_id=_deal,
                              payment_ref="P-404"), "PAYMENT_NOT_FOUND", "P-404"),
    ("funded", lambda w: w.do("SUPPLIER-01", "acknowledge_payment", deal_id=w.deal,
                              payment_ref="FUND-1"),
     _call("SUPPLIER-01", "reject_payment", deal_id=_deal, payment_ref="FUND-1"),
     "INVALID_STATE_TRANSITION", "already acknowledged"),
    ("funded", NOTHING, _call("BANK-A", "release_reserve", deal_id=_deal, payment_ref="R-1"),
     "NOTHING_TO_RELEASE", "cover the advance"),
    ("funded", NOTHING, _call("BANK-B", "release_reserve", deal_id=_deal, payment_ref="R-1"),
     "FORBIDDEN", "BANK-B is not BANK-A"),
    ("pending", NOTHING, _call("CORE-01", "pay", deal_id=_deal, amount=10_000_001,
                               payment_ref="P-2"), "OVERPAYMENT", "pending 90000000"),
    ("pending", NOTHING, _call("BANK-B", "acknowledge_payment", deal_id=_deal,
                               payment_ref="P-1"), "FORBIDDEN", "is to BANK-A"),
    # overdue and default
    ("funded", NOTHING, _call("BANK-A", "mark_overdue", "2027-02-26", deal_id=_deal),
     "NOT_IN_ARREARS", "overdue only after 2027-02-26"),
    ("funded", NOTHING, _call("BANK-B", "mark_overdue", "2027-03-01", deal_id=_deal),
     "FORBIDDEN", "BANK-B is not BANK-A"),
    ("funded", NOTHING, _call("SUPPLIER-01", "mark_overdue", deal_id=_deal), "FORBIDDEN",
     "needs the role financier"),
    ("funded", NOTHING, _call("BANK-A", "declare_default", "2027-03-01", deal_id=_deal),
     "INVALID_STATE_TRANSITION", "funded -> defaulted"),
    ("pending", lambda w: w.chain.do("BANK-A", F, "mark_overdue", deal_id=w.deal,
                                     date="2027-03-01"),
     _call("BANK-A", "declare_default", deal_id=_deal), "PAYMENT_PENDING", "90000000"),
]


def _snapshot(world: World) -> tuple[Any, ...]:
    state = world.chain.state
    return (get_deal(state, world.deal) if world.deal else None,
            get_offer(state, world.offer) if world.offer else None,
            tuple(get_invoice(state, fp) for fp in (world.fp, world.fp2)),
            tuple(get_provenance(state, fp) for fp in (world.fp, world.fp2)),
            active_lien(state, invoice_asset(world.fp)), latest_deal(state, world.fp))


@pytest.mark.parametrize("stage,before,refused,code,fragment", CASES,
                         ids=[f"{i}-{c[3]}" for i, c in enumerate(CASES)])
def test_refused_steps_fail_with_their_code_and_change_nothing(
        stage: str, before: Callable[[World], Any], refused: Callable[[World], Step], code: str,
        fragment: str) -> None:
    world = _stage(stage)
    before(world)
    member, method, args, date = refused(world)
    snapshot = _snapshot(world)
    receipt = world.chain.try_(member, F, method, date=date, **args)
    assert (receipt.code, fragment in receipt.message) == (code, True), receipt.message
    assert contract_changes(world.chain.last_changes) == [] and receipt.events == ()
    assert _snapshot(world) == snapshot


def test_every_error_code_of_the_contract_is_exercised() -> None:
    codes = {case[3] for case in CASES}
    assert {"OFFER_NOT_FOUND", "OFFER_WITHDRAWN", "OFFER_EXPIRED", "OFFER_NOT_APPLICABLE",
            "DEAL_NOT_FOUND", "DEAL_ALREADY_OPEN", "ACCEPTANCE_LAPSED", "PAYMENT_NOT_FOUND",
            "DUPLICATE_PAYMENT", "OVERPAYMENT", "PAYMENT_PENDING", "NOTHING_TO_RELEASE",
            "NOT_IN_ARREARS", "FORBIDDEN", "INVALID_ARGUMENT", "INVALID_STATE_TRANSITION",
            "INVOICE_NOT_FOUND", "INVOICE_NOT_FINANCEABLE", "ASSET_ENCUMBERED"} <= codes
