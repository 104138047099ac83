"""Every refusal of the payables contract, with its code, through real blocks.

Each case builds a stage of the life of a certificate (an issued
certificate, a split, a transfer, a discount requested or funded, maturity,
a payment pending, an overdue part), optionally one more successful step,
then sends the refused transaction in a block of its own. It must fail with
the expected code and a message naming the cause, and leave the state root
exactly as the sender's nonce alone would (`assert_rejected_changed_nothing`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.contracts.test_factoring_support import DUE, created, open_deal, register_confirmed
from tests.contracts.test_payables_support import (
    P,
    PayablesChain,
    assert_rejected_changed_nothing,
    issue,
    split,
    transfer,
)

STAGES = ("confirmed", "issued", "split", "transferred", "requested", "discounted", "matured",
          "paying", "overdue")


@dataclass
class World:
    chain: PayablesChain
    fp: bytes                                  # SUPPLIER-01 -> CORE-01, 100000000, due DUE
    ids: dict[str, Any] = field(default_factory=dict)

    def do(self, member: str, method: str, contract: str = P, **args: Any) -> Any:
        return self.chain.do(member, contract, method, **args)


@dataclass(frozen=True)
class At:
    """An argument known only once the stage is built: world.ids[name] (or `fp`)."""

    name: str

    def resolve(self, world: World) -> Any:
        return world.fp if self.name == "fp" else world.ids[self.name]


def _stage(name: str) -> World:
    chain = PayablesChain()
    world = World(chain, register_confirmed(chain))
    ids = world.ids
    ids["registered"] = register_confirmed(chain, "INV-R", confirmed=False)
    ids["factored"] = register_confirmed(chain, "INV-F")
    open_deal(chain, ids["factored"])
    ids["other_buyer"] = register_confirmed(chain, "INV-C2", buyer="CORE-02")
    for stage in STAGES[1:STAGES.index(name) + 1]:
        _advance(world, stage)
    return world


def _advance(world: World, stage: str) -> None:
    ids, chain = world.ids, world.chain
    if stage == "issued":
        ids["cert"], ids["root"] = issue(chain, world.fp, grace_days=5)
    elif stage == "split":
        ids["a"], ids["b"] = split(chain, "SUPPLIER-01", ids["root"], [60_000_000, 40_000_000])
    elif stage == "transferred":
        ids["b2"] = transfer(chain, "SUPPLIER-01", ids["b"], "SUPPLIER-02")
    elif stage == "requested":
        ids["disc"] = created(world.do("SUPPLIER-02", "request_discount", part_id=ids["b2"],
                                       financier="BANK-A", rate_bps=500),
                              "payables.discount_requested", "discount_id")
    elif stage == "discounted":
        ids["bank_part"] = created(world.do("BANK-A", "fund_discount", discount_id=ids["disc"],
                                            payment_ref="FUND-1"),
                                   "payables.discounted", "new_part_id")
    elif stage == "matured":
        chain.run([], step_ms=chain.on(DUE))
    elif stage == "paying":
        world.do("CORE-01", "pay", part_id=ids["a"], payment_ref="M-1")
    elif stage == "overdue":
        world.do("BANK-A", "mark_overdue", part_id=ids["bank_part"], date="2027-02-27")


Step = tuple[str, str, dict[str, Any], str | None]


def _call(member: str, method: str, date: str | None = None, contract: str = P,
          **args: Any) -> Callable[[World], tuple[Step, str]]:
    def build(world: World) -> tuple[Step, str]:
        resolved = {k: v.resolve(world) if isinstance(v, At) else v for k, v in args.items()}
        return (member, method, resolved, date), contract
    return build


def _then(member: str, method: str, contract: str = P, **args: Any) -> Callable[[World], Any]:
    """One more successful step before the refused one."""
    def run(world: World) -> Any:
        return world.do(member, method, contract,
                        **{k: v.resolve(world) if isinstance(v, At) else v
                           for k, v in args.items()})
    return run


def _freeze(member: str) -> Callable[[World], Any]:
    def run(world: World) -> None:
        world.do("AUDITOR-01", "propose", "governance", action="freeze",
                 params={"member_id": member, "reason": "review"})
        world.do("CORE-01", "approve", "governance", proposal_id=1)
        world.do("BANK-A", "approve", "governance", proposal_id=1)
    return run


NOTHING: Callable[[World], Any] = lambda world: None
FP, ROOT, A, B, B2 = At("fp"), At("root"), At("a"), At("b"), At("b2")
DISC, BANK_PART = At("disc"), At("bank_part")
SPLIT = {"amounts": [60_000_000, 40_000_000]}
MISSING_PART = "PP-" + "0" * 64 + "-0"

# (stage, extra successful step, refused step, code, fragment of the message)
CASES: list[tuple[str, Callable[[World], Any], Callable[[World], tuple[Step, str]], str, str]] = [
    # issue
    ("confirmed", NOTHING, _call("SUPPLIER-01", "issue", fingerprint=FP), "FORBIDDEN",
     "needs the role core_enterprise"),
    ("confirmed", NOTHING, _call("CORE-02", "issue", fingerprint=FP), "FORBIDDEN",
     "CORE-02 is not CORE-01"),
    ("confirmed", NOTHING, _call("CORE-01", "issue", fingerprint=bytes(32)), "INVOICE_NOT_FOUND",
     "00000000"),
    ("confirmed", NOTHING, _call("CORE-01", "issue", fingerprint=At("registered")),
     "INVALID_STATE_TRANSITION", "is registered"),
    ("confirmed", NOTHING, _call("CORE-01", "issue", fingerprint=At("factored")),
     "INVALID_STATE_TRANSITION", "is assigned"),
    ("confirmed", NOTHING, _call("CORE-01", "issue", fingerprint=FP, amount=100_000_001),
     "INVALID_ARGUMENT", "amount: 100000001 is above the amount due 100000000"),
    ("confirmed", NOTHING, _call("CORE-01", "issue", fingerprint=FP, amount=0),
     "INVALID_ARGUMENT", "amount:"),
    ("confirmed", NOTHING, _call("CORE-01", "issue", fingerprint=FP, basis=364),
     "INVALID_ARGUMENT", "basis:"),
    ("confirmed", NOTHING, _call("CORE-01", "issue", fingerprint=FP, grace_days=-1),
     "INVALID_ARGUMENT", "grace_days:"),
    ("confirmed", NOTHING, _call("CORE-01", "issue", fingerprint=FP, penalty_rate_bps=10_001),
     "INVALID_ARGUMENT", "penalty_rate_bps:"),
    ("confirmed", NOTHING, _call("CORE-01", "issue", fingerprint=FP, maturity="2027-01-01"),
     "INVALID_ARGUMENT", "maturity:"),
    ("confirmed", NOTHING, _call("CORE-01", "issue", DUE, fingerprint=FP),
     "CERTIFICATE_MATURED", "due 2027-02-21"),
    ("issued", NOTHING, _call("CORE-01", "issue", fingerprint=FP), "ASSET_ENCUMBERED",
     "held by CORE-01 for deal PC-"),
    # split
    ("issued", NOTHING, _call("SUPPLIER-02", "split", part_id=ROOT, **SPLIT), "FORBIDDEN",
     "SUPPLIER-02 is not SUPPLIER-01"),
    ("issued", NOTHING, _call("BANK-A", "split", part_id=ROOT, **SPLIT), "FORBIDDEN",
     "needs the role supplier"),
    ("issued", NOTHING, _call("SUPPLIER-01", "split", part_id=MISSING_PART, **SPLIT),
     "PART_NOT_FOUND", MISSING_PART),
    ("issued", NOTHING, _call("SUPPLIER-01", "split", part_id="PC-1", **SPLIT),
     "INVALID_ARGUMENT", "part_id:"),
    ("issued", NOTHING, _call("SUPPLIER-01", "split", part_id=ROOT, amounts=[100_000_000]),
     "INVALID_ARGUMENT", "2 to 16 parts, got 1"),
    ("issued", NOTHING, _call("SUPPLIER-01", "split", part_id=ROOT, amounts=[1] * 17),
     "INVALID_ARGUMENT", "amounts:"),
    ("issued", NOTHING, _call("SUPPLIER-01", "split", part_id=ROOT, amounts=[100_000_000, 0]),
     "INVALID_ARGUMENT", "amounts"),
    ("issued", NOTHING, _call("SUPPLIER-01", "split", part_id=ROOT,
                              amounts=[60_000_000, 40_000_001]),
     "SPLIT_SUM_MISMATCH", "add up to 100000001"),
    ("issued", NOTHING, _call("SUPPLIER-01", "split", part_id=ROOT,
                              amounts=[60_000_000, 39_999_999]),
     "SPLIT_SUM_MISMATCH", "is 100000000"),
    ("split", NOTHING, _call("SUPPLIER-01", "split", part_id=ROOT, **SPLIT), "PART_SPENT",
     "is spent"),
    ("issued", NOTHING, _call("SUPPLIER-01", "split", DUE, part_id=ROOT, **SPLIT),
     "CERTIFICATE_MATURED", "matured on 2027-02-21"),
    ("split", _then("BANK-B", "place_lien", "testfin", asset=At("lien_a"), deal_id="PLEDGE-2"),
     _call("SUPPLIER-01", "split", part_id=A, amounts=[1, 59_999_999]), "ASSET_ENCUMBERED",
     "PLEDGE-2"),
    ("split", _then("BANK-B", "place_lien", "testfin", asset=At("lien_cert"),
                    deal_id="PLEDGE-3"),
     _call("SUPPLIER-01", "transfer", part_id=A, to="SUPPLIER-02"), "ASSET_ENCUMBERED",
     "PLEDGE-3"),
    ("discounted", NOTHING, _call("SUPPLIER-02", "split", part_id=BANK_PART, **SPLIT),
     "FORBIDDEN", "SUPPLIER-02 is not BANK-A"),
    # transfer
    ("split", NOTHING, _call("SUPPLIER-01", "transfer", part_id=A, to="SUPPLIER-01"),
     "INVALID_ARGUMENT", "to: SUPPLIER-01 is the part's holder"),
    ("split", NOTHING, _call("SUPPLIER-01", "transfer", part_id=A, to="CORE-01"),
     "INVALID_ARGUMENT", "to: CORE-01 is the part's issuer"),
    ("split", NOTHING, _call("SUPPLIER-01", "transfer", part_id=A, to="BANK-A"),
     "INVALID_ARGUMENT", "role supplier"),
    ("split", NOTHING, _call("SUPPLIER-01", "transfer", part_id=A, to="NOBODY"),
     "INVALID_ARGUMENT", "to: NOBODY"),
    ("split", _freeze("SUPPLIER-02"), _call("SUPPLIER-01", "transfer", part_id=A,
                                            to="SUPPLIER-02"), "MEMBER_FROZEN", "SUPPLIER-02"),
    ("transferred", NOTHING, _call("SUPPLIER-01", "transfer", part_id=B, to="SUPPLIER-02"),
     "PART_SPENT", "is spent"),
    ("transferred", NOTHING, _call("SUPPLIER-01", "transfer", part_id=B2, to="SUPPLIER-02"),
     "FORBIDDEN", "SUPPLIER-01 is not SUPPLIER-02"),
    # discount requests
    ("split", NOTHING, _call("SUPPLIER-01", "request_discount", part_id=A,
                             financier="SUPPLIER-02", rate_bps=500),
     "INVALID_ARGUMENT", "role financier"),
    ("split", NOTHING, _call("SUPPLIER-01", "request_discount", part_id=A, financier="BANK-A",
                             rate_bps=10_001), "INVALID_ARGUMENT", "rate_bps:"),
    ("split", NOTHING, _call("SUPPLIER-01", "request_discount", part_id=A, financier="BANK-A",
                             rate_bps=500, fee=60_000_000), "INVOICE_NOT_FINANCEABLE",
     "nothing to pay out"),
    ("split", NOTHING, _call("SUPPLIER-01", "request_discount", part_id=B, financier="BANK-A",
                             rate_bps=500, basis=1), "INVALID_ARGUMENT", "basis:"),
    ("transferred", NOTHING, _call("SUPPLIER-01", "request_discount", part_id=B,
                                   financier="BANK-A", rate_bps=500), "PART_SPENT", "is spent"),
    ("requested", NOTHING, _call("SUPPLIER-01", "withdraw_discount", discount_id=DISC),
     "FORBIDDEN", "SUPPLIER-01 is not SUPPLIER-02"),
    ("requested", NOTHING, _call("SUPPLIER-02", "withdraw_discount",
                                 discount_id="PD-" + "0" * 64),
     "DEAL_NOT_FOUND", "no certificate discount"),
    ("discounted", NOTHING, _call("SUPPLIER-02", "withdraw_discount", discount_id=DISC),
     "INVALID_STATE_TRANSITION", "is funded"),
    # funding a discount
    ("requested", NOTHING, _call("BANK-B", "fund_discount", discount_id=DISC, payment_ref="T"),
     "FORBIDDEN", "BANK-B is not BANK-A"),
    ("requested", NOTHING, _call("SUPPLIER-02", "fund_discount", discount_id=DISC,
                                 payment_ref="T"), "FORBIDDEN", "needs the role financier"),
    ("requested", NOTHING, _call("BANK-A", "fund_discount", "2026-11-24", discount_id=DISC,
                                 payment_ref="T"), "ACCEPTANCE_LAPSED", "2026-11-23"),
    ("requested", _then("SUPPLIER-02", "withdraw_discount", discount_id=DISC),
     _call("BANK-A", "fund_discount", discount_id=DISC, payment_ref="T"),
     "INVALID_STATE_TRANSITION", "is withdrawn"),
    ("requested", _then("SUPPLIER-02", "transfer", part_id=B2, to="SUPPLIER-01"),
     _call("BANK-A", "fund_discount", discount_id=DISC, payment_ref="T"), "PART_SPENT",
     "is spent"),
    ("requested", _then("SUPPLIER-02", "split", part_id=B2, amounts=[1, 39_999_999]),
     _call("BANK-A", "fund_discount", discount_id=DISC, payment_ref="T"), "PART_SPENT",
     "is spent"),
    ("requested", _freeze("SUPPLIER-02"), _call("BANK-A", "fund_discount", discount_id=DISC,
                                                payment_ref="T"), "MEMBER_FROZEN",
     "seller: member SUPPLIER-02 is frozen"),
    ("requested", NOTHING, _call("BANK-A", "fund_discount", discount_id=DISC, payment_ref=""),
     "INVALID_ARGUMENT", "payment_ref:"),
    ("discounted", NOTHING, _call("BANK-A", "fund_discount", discount_id=DISC,
                                  payment_ref="T"), "INVALID_STATE_TRANSITION", "is funded"),
    # payment at maturity
    ("discounted", NOTHING, _call("CORE-01", "pay", part_id=A, payment_ref="M-0"),
     "CERTIFICATE_NOT_MATURE", "matures on 2027-02-21"),
    ("matured", NOTHING, _call("CORE-02", "pay", part_id=A, payment_ref="M-0"), "FORBIDDEN",
     "CORE-02 is not CORE-01"),
    ("matured", NOTHING, _call("SUPPLIER-01", "pay", part_id=A, payment_ref="M-0"),
     "FORBIDDEN", "needs the role core_enterprise"),
    ("matured", NOTHING, _call("CORE-01", "pay", part_id=ROOT, payment_ref="M-0"),
     "PART_SPENT", "is spent"),
    ("matured", NOTHING, _call("CORE-01", "pay", part_id=MISSING_PART, payment_ref="M-0"),
     "PART_NOT_FOUND", MISSING_PART),
    ("matured", NOTHING, _call("SUPPLIER-01", "transfer", part_id=A, to="SUPPLIER-02"),
     "CERTIFICATE_MATURED", "no longer transferred"),
    ("paying", NOTHING, _call("CORE-01", "pay", part_id=A, payment_ref="M-2"),
     "PAYMENT_PENDING", "M-1"),
    ("paying", _then("SUPPLIER-01", "reject_payment", deal_id=A, payment_ref="M-1"),
     _call("CORE-01", "pay", part_id=A, payment_ref="M-1"), "DUPLICATE_PAYMENT", "M-1"),
    ("paying", _then("SUPPLIER-01", "acknowledge_payment", deal_id=A, payment_ref="M-1"),
     _call("CORE-01", "pay", part_id=A, payment_ref="M-2"), "INVALID_STATE_TRANSITION",
     "is paid"),
    # acknowledgement
    ("paying", NOTHING, _call("CORE-01", "acknowledge_payment", deal_id=A, payment_ref="M-1"),
     "FORBIDDEN", "CORE-01 cannot acknowledge"),
    ("paying", NOTHING, _call("SUPPLIER-01", "acknowledge_payment", deal_id=A,
                              payment_ref="M-9"), "PAYMENT_NOT_FOUND", "M-9"),
    ("paying", _then("SUPPLIER-01", "acknowledge_payment", deal_id=A, payment_ref="M-1"),
     _call("SUPPLIER-01", "reject_payment", deal_id=A, payment_ref="M-1"),
     "INVALID_STATE_TRANSITION", "already acknowledged"),
    ("discounted", NOTHING, _call("BANK-A", "acknowledge_payment", deal_id=DISC,
                                  payment_ref="FUND-1"), "FORBIDDEN", "is to SUPPLIER-02"),
    # overdue and default
    ("matured", NOTHING, _call("SUPPLIER-01", "mark_overdue", "2027-02-26", part_id=A),
     "NOT_IN_ARREARS", "overdue only after 2027-02-26"),
    ("matured", NOTHING, _call("SUPPLIER-02", "mark_overdue", "2027-02-27", part_id=A),
     "FORBIDDEN", "SUPPLIER-02 is not SUPPLIER-01"),
    ("paying", NOTHING, _call("SUPPLIER-01", "mark_overdue", "2027-02-27", part_id=A),
     "PAYMENT_PENDING", "M-1"),
    ("matured", NOTHING, _call("SUPPLIER-01", "mark_overdue", "2027-02-27", part_id=ROOT),
     "INVALID_STATE_TRANSITION", "spent -> overdue"),
    ("overdue", NOTHING, _call("BANK-A", "mark_overdue", part_id=BANK_PART),
     "INVALID_STATE_TRANSITION", "overdue -> overdue"),
    ("discounted", NOTHING, _call("BANK-A", "declare_default", part_id=BANK_PART),
     "INVALID_STATE_TRANSITION", "discounted -> defaulted"),
    ("overdue", NOTHING, _call("BANK-B", "declare_default", part_id=BANK_PART), "FORBIDDEN",
     "BANK-B is not BANK-A"),
    ("overdue", NOTHING, _call("SUPPLIER-01", "declare_default", part_id=A), "FORBIDDEN",
     "needs the role financier"),
    ("overdue", _then("CORE-01", "pay", part_id=BANK_PART, payment_ref="LATE-1"),
     _call("BANK-A", "declare_default", part_id=BANK_PART), "PAYMENT_PENDING", "LATE-1"),
]


@pytest.mark.parametrize("stage,extra,refused,code,fragment", CASES,
                         ids=[f"{c[3]}-{i}" for i, c in enumerate(CASES)])
def test_refused_with_code_and_nothing_changed(
        stage: str, extra: Callable[[World], Any],
        refused: Callable[[World], tuple[Step, str]], code: str, fragment: str) -> None:
    world = _stage(stage)
    if "cert" in world.ids:
        world.ids["lien_cert"] = "certificate:" + world.ids["cert"]
    if "a" in world.ids:
        world.ids["lien_a"] = "certificate:" + world.ids["a"]
    extra(world)
    (member, method, args, date), contract = refused(world)
    receipt = world.chain.try_(member, contract, method, date=date, **args)
    assert receipt.code == code, (receipt.code, receipt.message)
    assert fragment in receipt.message, receipt.message
    assert_rejected_changed_nothing(world.chain, receipt, member)


def test_a_financier_holding_a_part_it_did_not_discount_cannot_declare_default() -> None:
    """A member both supplier and financier could hold a transferred part; only a
    discounted part is declared in default (here: a supplier's part, by its bank)."""
    world = _stage("overdue")
    receipt = world.chain.try_("BANK-A", P, "declare_default", part_id=world.ids["a"])
    assert receipt.code == "FORBIDDEN" and "BANK-A is not SUPPLIER-01" in receipt.message
    assert_rejected_changed_nothing(world.chain, receipt, "BANK-A")
