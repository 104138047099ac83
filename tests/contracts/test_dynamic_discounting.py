"""Dynamic discounting through real blocks: a single rate, a sliding table, the payment
and its acknowledgement, withdrawal, and every refusal with its code.

Block dates start at 2026-11-23 (genesis); invoices are for 100000000 fen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from contracts.calendar import format_date, parse_date
from contracts.dynamic_discounting import get_acceptance, get_offer
from contracts.invoices import get_invoice
from contracts.liens import active_lien, invoice_asset
from contracts.provenance import get_provenance
from tests.contracts.support import contract_changes
from tests.contracts.test_factoring_support import (
    DD,
    F,
    FinanceChain,
    check_acceptance,
    created,
    events_of,
    offer_args,
    open_deal,
    payments_of,
    register_confirmed,
)

TABLE = [[10, 800], [30, 1000], [60, 1200]]


def publish(chain: FinanceChain, buyer: str = "CORE-01", **args: Any) -> str:
    args.setdefault("expiry_date", "2027-01-31")
    receipt = chain.do(buyer, DD, "publish_offer", **args)
    return str(created(receipt, "dynamic_discounting.offer_published", "offer_id"))


def test_a_single_rate_on_the_day_the_supplier_chooses() -> None:
    chain = FinanceChain()
    fp = register_confirmed(chain)                                   # due 2027-02-21
    offer_id = publish(chain, rate_bps=1200, min_days_early=10)
    offer = get_offer(chain.state, offer_id)
    assert offer is not None and offer.basis == 365 and len(offer.bands) == 1
    receipt = chain.do("SUPPLIER-01", DD, "accept", offer_id=offer_id, fingerprint=fp,
                       date="2026-12-23")
    acceptance_id = created(receipt, "dynamic_discounting.accepted", "acceptance_id")
    acceptance = get_acceptance(chain.state, acceptance_id)
    # d = 60; discount = round_half_up(100000000 * 1200 * 60 / 3650000) = round(1972602.74)
    assert acceptance is not None
    assert (acceptance.days_early, acceptance.rate_bps, acceptance.discount,
            acceptance.paid) == (60, 1200, 1_972_603, 98_027_397)
    assert acceptance.payment_status == "unpaid"
    invoice = get_invoice(chain.state, fp)
    assert invoice is not None and invoice.status == "settled"
    assert active_lien(chain.state, invoice_asset(fp)) is None
    assert [e.kind for e in receipt.events] == ["invoice.settled", "dynamic_discounting.accepted"]
    assert get_provenance(chain.state, fp)[-1].action == "dynamic_discounting.accept"
    # the buyer pays now, the supplier acknowledges
    chain.do("CORE-01", DD, "record_payment", acceptance_id=acceptance_id,
             payment_ref="CORE-EP-1")
    done = chain.do("SUPPLIER-01", DD, "acknowledge_payment", acceptance_id=acceptance_id,
                    payment_ref="CORE-EP-1")
    assert events_of(done, "dynamic_discounting.payment_acknowledged")[0]["amount"] == 98_027_397
    acceptance = get_acceptance(chain.state, acceptance_id)
    assert acceptance is not None and acceptance.payment_status == "paid"
    check_acceptance(acceptance, payments_of(chain, DD, acceptance_id, ["CORE-EP-1"]))


# d -> (rate of the band, discount under ACT/360 on 100000000)
SLIDING = [
    (10, 800, 222_222),       # 100000000 * 800 * 10 / 3600000 = 222222.2
    (29, 800, 644_444),       # 644444.4
    (30, 1000, 833_333),      # 833333.3
    (45, 1000, 1_250_000),    # exact
    (60, 1200, 2_000_000),    # exact
    (365, 1200, 12_166_667),  # 12166666.7 rounds up
]


@pytest.mark.parametrize("early,rate,discount", SLIDING)
def test_a_sliding_table_picks_the_band_of_the_days_early(early: int, rate: int,
                                                          discount: int) -> None:
    chain = FinanceChain()
    due = format_date(parse_date("2026-11-23") + early)
    fp = register_confirmed(chain, due_date=due)
    offer_id = publish(chain, table=TABLE, basis=360)
    receipt = chain.do("SUPPLIER-01", DD, "accept", offer_id=offer_id, fingerprint=fp)
    acceptance = get_acceptance(chain.state, created(receipt, "dynamic_discounting.accepted",
                                                     "acceptance_id"))
    assert acceptance is not None
    assert (acceptance.days_early, acceptance.rate_bps, acceptance.discount,
            acceptance.paid) == (early, rate, discount, 100_000_000 - discount)
    check_acceptance(acceptance, [])


def test_withdrawal_affects_only_invoices_not_yet_accepted() -> None:
    chain = FinanceChain()
    first = register_confirmed(chain, "W-1")
    second = register_confirmed(chain, "W-2")
    offer_id = publish(chain, rate_bps=900)
    accepted = created(chain.do("SUPPLIER-01", DD, "accept", offer_id=offer_id,
                                fingerprint=first), "dynamic_discounting.accepted",
                       "acceptance_id")
    chain.do("CORE-01", DD, "withdraw_offer", offer_id=offer_id)
    refused = chain.try_("SUPPLIER-01", DD, "accept", offer_id=offer_id, fingerprint=second)
    assert refused.code == "OFFER_WITHDRAWN"
    assert get_invoice(chain.state, second).status == "confirmed"  # type: ignore[union-attr]
    # the accepted invoice stays settled and its payment goes ahead
    chain.do("CORE-01", DD, "record_payment", acceptance_id=accepted, payment_ref="EP-1")
    chain.do("SUPPLIER-01", DD, "reject_payment", acceptance_id=accepted, payment_ref="EP-1",
             reason="not on our statement")
    chain.do("CORE-01", DD, "record_payment", acceptance_id=accepted, payment_ref="EP-2")
    chain.do("SUPPLIER-01", DD, "acknowledge_payment", acceptance_id=accepted,
             payment_ref="EP-2")
    acceptance = get_acceptance(chain.state, accepted)
    assert acceptance is not None and (acceptance.payment_status, acceptance.payment_ref) == (
        "paid", "EP-2")
    check_acceptance(acceptance, payments_of(chain, DD, accepted, ["EP-1", "EP-2"]))


def test_a_dynamically_discounted_invoice_cannot_be_factored() -> None:
    chain = FinanceChain()
    fp = register_confirmed(chain)
    chain.do("SUPPLIER-01", DD, "accept", offer_id=publish(chain, rate_bps=900), fingerprint=fp)
    factoring_offer = created(chain.do("BANK-A", F, "offer", **offer_args()),
                              "factoring.offered", "offer_id")
    refused = chain.try_("SUPPLIER-01", F, "accept", offer_id=factoring_offer, fingerprint=fp)
    assert refused.code == "INVALID_STATE_TRANSITION" and "settled -> assigned" in \
        refused.message


# -- refusals ------------------------------------------------------------------------

World = dict[str, Any]   # chain, fp (confirmed, SUPPLIER-01 -> CORE-01), offer, acceptance


def _world(stage: str) -> World:
    chain = FinanceChain()
    world: World = {"chain": chain, "fp": register_confirmed(chain)}
    if stage != "confirmed":
        world["offer"] = publish(chain, rate_bps=1200, min_days_early=10,
                                 expiry_date="2027-02-28")
    if stage == "accepted":
        world["acceptance"] = created(chain.do(
            "SUPPLIER-01", DD, "accept", offer_id=world["offer"], fingerprint=world["fp"]),
            "dynamic_discounting.accepted", "acceptance_id")
    return world


def _ids(w: World, **args: Any) -> dict[str, Any]:
    keys = {"offer_id": "offer", "fingerprint": "fp", "acceptance_id": "acceptance"}
    return {name: w[keys[name]] if value is ... else value for name, value in args.items()}


def _accept(**args: Any) -> Callable[[World], tuple[str, str, dict[str, Any]]]:
    return lambda w: ("SUPPLIER-01", "accept", _ids(w, **{"offer_id": ..., "fingerprint": ...,
                                                          **args}))


def _extra(member: str, contract: str, method: str, **args: Any) -> Callable[[World], Any]:
    return lambda w: w["chain"].do(member, contract, method, **_ids(w, **args))


def _lien(w: World) -> None:
    w["chain"].do("BANK-B", "testfin", "place_lien", asset=invoice_asset(w["fp"]),
                  deal_id="PLEDGE-1")


def _other_invoice(**kwargs: Any) -> Callable[[World], None]:
    def make(w: World) -> None:
        w["fp"] = register_confirmed(w["chain"], "OTHER-1", **kwargs)
    return make


def _address_to_supplier_02(w: World) -> None:
    w["offer"] = publish(w["chain"], rate_bps=1200, supplier="SUPPLIER-02")


def _offer_in_usd(w: World) -> None:
    w["offer"] = publish(w["chain"], rate_bps=1200, currency="USD")


def _factor_it(w: World) -> None:
    open_deal(w["chain"], w["fp"])


def _publish(**args: Any) -> Callable[[World], tuple[str, str, dict[str, Any]]]:
    return lambda w: ("CORE-01", "publish_offer", {"expiry_date": "2027-01-31", **args})


def _as(member: str, method: str, **args: Any) -> Callable[[World], tuple[str, str, dict]]:
    return lambda w: (member, method, _ids(w, **args))


def _nothing(w: World) -> None:
    return None


REFUSALS: list[tuple[str, Callable[[World], Any], Callable[[World], tuple[str, str, dict]],
                     str | None, str, str]] = [
    # stage, extra step, refused (member, method, args), date, code, fragment
    ("confirmed", _nothing, _publish(), None, "INVALID_ARGUMENT", "rate_bps: give either"),
    ("confirmed", _nothing, _publish(rate_bps=1, table=TABLE), None, "INVALID_ARGUMENT",
     "rate_bps: give either"),
    ("confirmed", _nothing, _publish(table=[]), None, "INVALID_ARGUMENT", "table:"),
    ("confirmed", _nothing, _publish(table=[[30, 800], [10, 900]]), None, "INVALID_ARGUMENT",
     "table[1]: min_days_early must increase"),
    ("confirmed", _nothing, _publish(table=[[0, 800]]), None, "INVALID_ARGUMENT", "table[0]:"),
    ("confirmed", _nothing, _publish(table=[[10, 10_001]]), None, "INVALID_ARGUMENT",
     "table[0]:"),
    ("confirmed", _nothing, _publish(table=[[10]]), None, "INVALID_ARGUMENT", "table[0]:"),
    ("confirmed", _nothing, _publish(rate_bps=10, basis=366), None, "INVALID_ARGUMENT",
     "basis:"),
    ("confirmed", _nothing, _publish(rate_bps=10, min_days_early=0), None, "INVALID_ARGUMENT",
     "min_days_early:"),
    ("confirmed", _nothing, _publish(rate_bps=10, expiry_date="2026-11-22"), None,
     "INVALID_ARGUMENT", "expiry_date:"),
    ("confirmed", _nothing, _publish(rate_bps=10, supplier="BANK-A"), None, "INVALID_ARGUMENT",
     "supplier:"),
    ("confirmed", _nothing, lambda w: ("SUPPLIER-01", "publish_offer",
                                       {"rate_bps": 10, "expiry_date": "2027-01-31"}),
     None, "FORBIDDEN", "needs the role core_enterprise"),
    ("offered", _nothing, _as("CORE-02", "withdraw_offer", offer_id=...), None, "FORBIDDEN",
     "CORE-02 is not CORE-01"),
    ("offered", _extra("CORE-01", DD, "withdraw_offer", offer_id=...),
     _as("CORE-01", "withdraw_offer", offer_id=...), None, "OFFER_WITHDRAWN", "already"),
    ("offered", _nothing, _accept(offer_id="DO-1"), None, "OFFER_NOT_FOUND", "DO-1"),
    ("offered", _extra("CORE-01", DD, "withdraw_offer", offer_id=...), _accept(), None,
     "OFFER_WITHDRAWN", "withdrawn"),
    ("offered", _nothing, _accept(), "2027-03-01", "OFFER_EXPIRED", "2027-02-28"),
    ("offered", _nothing, _accept(), "2027-02-12", "TOO_FEW_DAYS_EARLY",
     "at least 10 days"),                                       # 9 days before 2027-02-21
    ("offered", _nothing, lambda w: ("SUPPLIER-02", "accept", _ids(w, offer_id=...,
                                                                   fingerprint=...)),
     None, "FORBIDDEN", "SUPPLIER-02 is not SUPPLIER-01"),
    ("offered", _nothing, lambda w: ("CORE-01", "accept", _ids(w, offer_id=..., fingerprint=...)),
     None, "FORBIDDEN", "needs the role supplier"),
    ("offered", _address_to_supplier_02, _accept(), None, "FORBIDDEN",
     "addressed to SUPPLIER-02"),
    ("offered", _other_invoice(buyer="CORE-02"), _accept(), None, "OFFER_NOT_APPLICABLE",
     "buyer CORE-01"),
    ("offered", _offer_in_usd, _accept(), None, "OFFER_NOT_APPLICABLE", "currency USD"),
    ("offered", _other_invoice(confirmed=False), _accept(), None, "INVALID_STATE_TRANSITION",
     "registered -> settled"),
    ("offered", _extra("CORE-01", "invoices", "dispute", fingerprint=...), _accept(), None,
     "INVALID_STATE_TRANSITION", "disputed"),
    ("offered", _lien, _accept(), None, "ASSET_ENCUMBERED", "BANK-B for deal PLEDGE-1"),
    ("offered", _factor_it, _accept(), None, "ASSET_ENCUMBERED", "BANK-A"),
    ("offered", _nothing, _accept(fingerprint=bytes(32)), None, "INVOICE_NOT_FOUND", "0000"),
    ("accepted", _nothing, _accept(), None, "INVALID_STATE_TRANSITION", "settled -> settled"),
    ("accepted", _nothing, _as("CORE-02", "record_payment", acceptance_id=...,
                               payment_ref="EP-1"), None, "FORBIDDEN", "CORE-02 is not CORE-01"),
    ("accepted", _nothing, _as("SUPPLIER-01", "record_payment", acceptance_id=...,
                               payment_ref="EP-1"), None, "FORBIDDEN", "core_enterprise"),
    ("accepted", _nothing, _as("CORE-01", "record_payment", acceptance_id="DA-1",
                               payment_ref="EP-1"), None, "DEAL_NOT_FOUND", "DA-1"),
    ("accepted", _extra("CORE-01", DD, "record_payment", acceptance_id=..., payment_ref="EP-1"),
     _as("CORE-01", "record_payment", acceptance_id=..., payment_ref="EP-2"), None,
     "PAYMENT_PENDING", "EP-1"),
    ("accepted", _extra("CORE-01", DD, "record_payment", acceptance_id=..., payment_ref="EP-1"),
     _as("CORE-01", "acknowledge_payment", acceptance_id=..., payment_ref="EP-1"), None,
     "FORBIDDEN", "supplier"),
    ("accepted", _extra("CORE-01", DD, "record_payment", acceptance_id=..., payment_ref="EP-1"),
     _as("SUPPLIER-01", "acknowledge_payment", acceptance_id=..., payment_ref="EP-9"), None,
     "PAYMENT_NOT_FOUND", "EP-9"),
    ("accepted", lambda w: (_extra("CORE-01", DD, "record_payment", acceptance_id=...,
                                   payment_ref="EP-1")(w),
                            _extra("SUPPLIER-01", DD, "reject_payment", acceptance_id=...,
                                   payment_ref="EP-1")(w)),
     _as("CORE-01", "record_payment", acceptance_id=..., payment_ref="EP-1"), None,
     "DUPLICATE_PAYMENT", "EP-1"),
    ("accepted", lambda w: (_extra("CORE-01", DD, "record_payment", acceptance_id=...,
                                   payment_ref="EP-1")(w),
                            _extra("SUPPLIER-01", DD, "acknowledge_payment", acceptance_id=...,
                                   payment_ref="EP-1")(w)),
     _as("CORE-01", "record_payment", acceptance_id=..., payment_ref="EP-2"), None,
     "INVALID_STATE_TRANSITION", "is paid"),
]


@pytest.mark.parametrize("stage,before,refused,date,code,fragment", REFUSALS,
                         ids=[f"{i}-{case[4]}" for i, case in enumerate(REFUSALS)])
def test_refused_steps_fail_with_their_code_and_change_nothing(
        stage: str, before: Callable[[World], Any],
        refused: Callable[[World], tuple[str, str, dict]], date: str | None, code: str,
        fragment: str) -> None:
    world = _world(stage)
    before(world)
    chain: FinanceChain = world["chain"]
    member, method, args = refused(world)

    def snapshot() -> tuple[Any, ...]:
        state = chain.state
        return (get_invoice(state, world["fp"]), active_lien(state, invoice_asset(world["fp"])),
                get_provenance(state, world["fp"]),
                get_offer(state, world["offer"]) if "offer" in world else None,
                get_acceptance(state, world["acceptance"]) if "acceptance" in world else None)

    before_state = snapshot()
    receipt = chain.try_(member, DD, method, date=date, **args)
    assert (receipt.code, fragment in receipt.message) == (code, True), receipt.message
    assert contract_changes(chain.last_changes) == [] and receipt.events == ()
    assert snapshot() == before_state


def test_an_offer_is_valid_through_its_expiry_date() -> None:
    chain = FinanceChain()
    fp = register_confirmed(chain)
    offer_id = publish(chain, rate_bps=1200, expiry_date="2027-01-31")
    receipt = chain.do("SUPPLIER-01", DD, "accept", offer_id=offer_id, fingerprint=fp,
                       date="2027-01-31")
    assert created(receipt, "dynamic_discounting.accepted", "days_early") == 21   # to DUE
