"""The engine checks arguments (naming the field) and roles before a handler runs."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.engine import Contract, ContractRegistry, MethodSpec
from genesis.demo_keys import demo_key
from ledger.accounts import Member, Role
from ledger.contract_api import CallContext, contract_prefix
from ledger.errors import Code, LedgerError
from ledger.state import EmptyState, Namespace, Overlay
from ledger.structure import Int, Str

CALLS: list[dict[str, Any]] = []
SPEC = MethodSpec("pay", lambda ctx, args: CALLS.append(args),
                  args=(("amount", Int(1)), ("memo", Str(max_bytes=8))),
                  optional=frozenset({"memo"}), roles=frozenset({Role.FINANCIER}))
REGISTRY = ContractRegistry([Contract("bank", 1, (SPEC,)), Contract("gov", 1, (), privileged=True)])


def _ctx(roles: tuple[str, ...]) -> CallContext:
    scratch = Overlay(EmptyState())
    member = Member("M-1", "m", roles, (demo_key("m").public_key,))
    return CallContext("scf-demo", 1, 0, bytes(32), member, member.keys[0],
                       Namespace(scratch, contract_prefix("bank")), scratch, scratch)


@pytest.mark.parametrize("args,fragment", [
    ({}, "amount: required"),
    ({"amount": 0}, "amount: expected int"),
    ({"amount": "5"}, "amount: expected int"),
    ({"amount": 5, "memo": "x" * 9}, "memo: expected str"),
    ({"amount": 5, "extra": 1}, "extra: not an argument"),
])
def test_bad_argument_names_the_field(args: dict[str, Any], fragment: str) -> None:
    with pytest.raises(LedgerError) as caught:
        SPEC(_ctx(("financier",)), args)
    assert caught.value.code is Code.INVALID_ARGUMENT and fragment in caught.value.message


def test_role_is_checked_after_arguments() -> None:
    with pytest.raises(LedgerError) as caught:
        SPEC(_ctx(("supplier",)), {"amount": 5})
    assert caught.value.code is Code.FORBIDDEN and "financier" in caught.value.message


def test_handler_gets_checked_args() -> None:
    CALLS.clear()
    SPEC(_ctx(("financier",)), {"amount": 5})
    assert CALLS == [{"amount": 5}]


def test_registry_lookup() -> None:
    assert REGISTRY.method("bank", "pay") is SPEC and REGISTRY.method("bank", "x") is None
    assert REGISTRY.method("nope", "pay") is None and not REGISTRY.has_contract("nope")
    assert REGISTRY.is_privileged("gov") and not REGISTRY.is_privileged("bank")
    with pytest.raises(ValueError):
        ContractRegistry([Contract("a", 1, ()), Contract("a", 2, ())])
