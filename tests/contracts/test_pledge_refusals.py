"""Every refusal of the pledge contract, with its code, through real blocks.

Each case starts from the same stage (a funded pledge, half its principal
repaid on the funding day, and an applied, unfunded one), runs a few
successful steps, then sends the refused transaction: it must fail with the
expected code and change nothing but the sender's nonce (no contract key
written, no event: `refuse`), the deals and receipts read as before, and the
state root equals that of a twin chain where the same sender's transaction
failed for naming no method at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from contracts import pledge
from contracts import warehouse_receipts as wr
from tests.contracts.test_pledge_support import (
    PL,
    PledgeChain,
    apply_args,
    issue,
    open_pledge,
    refuse,
    repay,
)


@dataclass
class World:
    chain: PledgeChain
    receipt: str        # 1000 units at 400000, pledged under `deal`
    deal: str           # funded 280000000, 140000000 repaid: 500 units releasable
    spare: str          # 10 units at 1000000, pledged under `applied`
    applied: str        # applied for 7000000, not funded


def _stage() -> World:
    chain = PledgeChain()
    receipt = issue(chain)
    deal = open_pledge(chain, receipt)
    repay(chain, deal, 140_000_000, "R-1")               # same day: all principal
    spare = issue(chain, quantity=10, unit_value=1_000_000)
    applied = open_pledge(chain, spare, 7_000_000, fund=False)
    return World(chain, receipt, deal, spare, applied)


Step = tuple[str, str, dict[str, Any]]
Case = tuple[list[Callable[[World], Step]], Callable[[World], Step], str, str]


def _s(member: str, method: str, **args: Any) -> Callable[[World], Step]:
    """A step; an argument given as a World attribute name in angle brackets (e.g.
    "<deal>") is read from the world at run time."""
    def build(world: World) -> Step:
        return member, method, {name: getattr(world, value[1:-1])
                                if isinstance(value, str) and value.startswith("<") else value
                                for name, value in args.items()}
    return build


def _apply(member: str = "DISTRIBUTOR-01", *, pledged: bool = False,
           **changes: Any) -> Callable[[World], Step]:
    """pledge.apply of the staged (pledged) receipt, or of a fresh one issued first."""
    def build(world: World) -> Step:
        receipt = world.receipt if pledged else issue(world.chain)
        return member, "apply", apply_args(receipt, **changes)
    return build


DEAL = "<deal>"
CASES: dict[str, Case] = {
    # apply
    "apply: no such receipt": ([], _s("DISTRIBUTOR-01", "apply", **apply_args("WR-0")),
                               "RECEIPT_NOT_FOUND", "WR-0"),
    "apply: not the owner": ([], _apply("SUPPLIER-01"), "FORBIDDEN", "SUPPLIER-01"),
    "apply: pledged already": ([], _apply(pledged=True), "ASSET_ENCUMBERED", "BANK-A"),
    "apply: above the LTV": ([], _apply(principal=280_000_001), "LOAN_ABOVE_LTV", "280000000"),
    "apply: not a financier": ([], _apply(financier="CORE-01"), "INVALID_ARGUMENT",
                               "financier"),
    "apply: maintenance below ltv": ([], _apply(maintenance_bps=6999), "INVALID_ARGUMENT",
                                     "maintenance_bps"),
    "apply: no tenor": ([], _apply(tenor_days=0), "INVALID_ARGUMENT", "tenor_days"),
    "apply: basis": ([], _apply(basis=364), "INVALID_ARGUMENT", "basis"),
    # cancel, fund
    "cancel: no such deal": ([], _s("BANK-A", "cancel", deal_id="PL-0"), "DEAL_NOT_FOUND",
                             "PL-0"),
    "cancel: the warehouse": ([], _s("WAREHOUSE-01", "cancel", deal_id="<applied>"),
                              "FORBIDDEN", "WAREHOUSE-01"),
    "cancel: funded": ([], _s("BANK-A", "cancel", deal_id=DEAL), "INVALID_STATE_TRANSITION",
                       "funded -> cancelled"),
    "fund: another bank": ([], _s("BANK-B", "fund", deal_id="<applied>", payment_ref="F"),
                           "FORBIDDEN", "BANK-B"),
    "fund: not a financier": ([], _s("DISTRIBUTOR-01", "fund", deal_id="<applied>",
                                     payment_ref="F"), "FORBIDDEN", "financier"),
    "fund: twice": ([], _s("BANK-A", "fund", deal_id=DEAL, payment_ref="F"),
                    "INVALID_STATE_TRANSITION", "funded -> funded"),
    # repayments
    "repay: not funded": ([], _s("DISTRIBUTOR-01", "repay", deal_id="<applied>", amount=1,
                                 payment_ref="P"), "INVALID_STATE_TRANSITION", "applied"),
    "repay: not the borrower": ([], _s("BANK-A", "repay", deal_id=DEAL, amount=1,
                                       payment_ref="P"), "FORBIDDEN", "BANK-A"),
    "repay: more than owed": ([], _s("DISTRIBUTOR-01", "repay", deal_id=DEAL,
                                     amount=140_000_001, payment_ref="P"), "OVERPAYMENT",
                              "140000000"),
    "repay: pending counts": ([_s("DISTRIBUTOR-01", "repay", deal_id=DEAL, amount=100_000_000,
                                  payment_ref="P")],
                              _s("DISTRIBUTOR-01", "repay", deal_id=DEAL, amount=40_000_001,
                                 payment_ref="Q"), "OVERPAYMENT", "pending"),
    "repay: reference used": ([], _s("DISTRIBUTOR-01", "repay", deal_id=DEAL, amount=1,
                                     payment_ref="R-1"), "DUPLICATE_PAYMENT", "R-1"),
    "acknowledge: unknown ref": ([], _s("BANK-A", "acknowledge_payment", deal_id=DEAL,
                                        payment_ref="NOPE"), "PAYMENT_NOT_FOUND", "NOPE"),
    "acknowledge: by the payer": ([], _s("DISTRIBUTOR-01", "acknowledge_payment", deal_id=DEAL,
                                         payment_ref="R-1"), "FORBIDDEN", "BANK-A"),
    "acknowledge: twice": ([], _s("BANK-A", "reject_payment", deal_id=DEAL, payment_ref="R-1"),
                           "INVALID_STATE_TRANSITION", "acknowledged"),
    # releases
    "release: above the repaid share": ([], _s("DISTRIBUTOR-01", "request_release",
                                               deal_id=DEAL, quantity=501),
                                        "RELEASE_ABOVE_LIMIT", "500 may leave"),
    "release: nothing repaid": ([], _s("DISTRIBUTOR-01", "request_release",
                                       deal_id="<applied>", quantity=1),
                                "INVALID_STATE_TRANSITION", "applied"),
    "release: by the financier": ([], _s("BANK-A", "request_release", deal_id=DEAL,
                                         quantity=1), "FORBIDDEN", "BANK-A"),
    "release: one at a time": ([_s("DISTRIBUTOR-01", "request_release", deal_id=DEAL,
                                   quantity=100)],
                               _s("DISTRIBUTOR-01", "request_release", deal_id=DEAL,
                                  quantity=100), "RELEASE_PENDING", "100 units"),
    "approve: none open": ([], _s("BANK-A", "approve_release", deal_id=DEAL),
                           "RELEASE_NOT_FOUND", "no release"),
    "approve: by the borrower": ([_s("DISTRIBUTOR-01", "request_release", deal_id=DEAL,
                                     quantity=100)],
                                 _s("DISTRIBUTOR-01", "approve_release", deal_id=DEAL),
                                 "FORBIDDEN", "financier"),
    "approve: twice": ([_s("DISTRIBUTOR-01", "request_release", deal_id=DEAL, quantity=100),
                        _s("BANK-A", "approve_release", deal_id=DEAL)],
                       _s("BANK-A", "approve_release", deal_id=DEAL),
                       "INVALID_STATE_TRANSITION", "already approved"),
    "confirm: not approved": ([_s("DISTRIBUTOR-01", "request_release", deal_id=DEAL,
                                  quantity=100)],
                              _s("WAREHOUSE-01", "confirm_release", deal_id=DEAL),
                              "RELEASE_NOT_APPROVED", "BANK-A"),
    "confirm: another warehouse": ([_s("DISTRIBUTOR-01", "request_release", deal_id=DEAL,
                                       quantity=100),
                                    _s("BANK-A", "approve_release", deal_id=DEAL)],
                                   _s("WAREHOUSE-02", "confirm_release", deal_id=DEAL),
                                   "FORBIDDEN", "WAREHOUSE-02"),
    "confirm: the price fell meanwhile": (
        [_s("DISTRIBUTOR-01", "request_release", deal_id=DEAL, quantity=500),
         _s("BANK-A", "approve_release", deal_id=DEAL),
         # 140000000 outstanding at 300000: keep ceil(1.4e12 / 2.4e9) = 584 -> 416 may leave
         _s("WAREHOUSE-01", "reappraise", deal_id=DEAL, unit_value=300_000)],
        _s("WAREHOUSE-01", "confirm_release", deal_id=DEAL), "RELEASE_ABOVE_LIMIT",
        "416 may leave"),
    "cancel release: none open": ([], _s("DISTRIBUTOR-01", "cancel_release", deal_id=DEAL),
                                  "RELEASE_NOT_FOUND", "no release"),
    "cancel release: a stranger": ([_s("DISTRIBUTOR-01", "request_release", deal_id=DEAL,
                                       quantity=1)],
                                   _s("BANK-B", "cancel_release", deal_id=DEAL), "FORBIDDEN",
                                   "BANK-B"),
    # appraisal, default, title
    "reappraise: another warehouse": ([], _s("WAREHOUSE-02", "reappraise", deal_id=DEAL,
                                             unit_value=1), "FORBIDDEN", "WAREHOUSE-02"),
    "reappraise: too valuable": ([], _s("WAREHOUSE-01", "reappraise", deal_id=DEAL,
                                        unit_value=2**62), "INVALID_ARGUMENT", "quantity"),
    "reappraise: cancelled": ([_s("BANK-A", "cancel", deal_id="<applied>")],
                              _s("WAREHOUSE-01", "reappraise", deal_id="<applied>",
                                 unit_value=1), "INVALID_STATE_TRANSITION", "cancelled"),
    "default: not due": ([], _s("BANK-A", "declare_default", deal_id=DEAL), "NOT_IN_ARREARS",
                         "2027-05-27"),
    "default: not funded": ([], _s("BANK-A", "declare_default", deal_id="<applied>"),
                            "INVALID_STATE_TRANSITION", "applied -> defaulted"),
    "default: another bank": ([], _s("BANK-B", "declare_default", deal_id=DEAL), "FORBIDDEN",
                              "BANK-B"),
    "title: not defaulted": ([], _s("BANK-A", "take_title", deal_id=DEAL),
                             "INVALID_STATE_TRANSITION", "funded -> title_transferred"),
}


def _staged(before: list[Callable[[World], Step]]) -> World:
    world = _stage()
    for step in before:
        member, method, args = step(world)
        world.chain.do(member, PL, method, **args)
    return world


@pytest.mark.parametrize("name", sorted(CASES))
def test_refusal_changes_nothing(name: str) -> None:
    before, refused, code, needle = CASES[name]
    world, twin = _staged(before), _staged(before)
    member, method, args = refused(world)
    refused(twin)
    # the twin's sender fails a call to no method at all instead: both chains must end
    # with the same state root (each used the sender's nonce, nothing else)
    assert twin.chain.try_(member, PL, "no_such_method").code == "UNKNOWN_METHOD"
    state = world.chain.state
    records = (pledge.get_deal(state, world.deal), pledge.get_deal(state, world.applied),
               wr.get_receipt(state, world.receipt), wr.get_receipt(state, world.spare))
    message = refuse(world.chain, code, member, PL, method, **args)
    assert needle in message, message
    state = world.chain.state
    assert records == (pledge.get_deal(state, world.deal), pledge.get_deal(state, world.applied),
                       wr.get_receipt(state, world.receipt), wr.get_receipt(state, world.spare))
    assert world.chain.root == twin.chain.root
