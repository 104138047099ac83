"""A tiny contract registry for ledger-core tests (the real engine is contracts/).

`notes.set` writes a value; `notes.set_then_fail` writes and then refuses, to
show that a failed transaction leaves no write behind; `notes.crash` raises a
non-ledger exception; `notes.operators_only` needs the operator role.
"""

from __future__ import annotations

from typing import Any

from ledger import codec
from ledger.accounts import Role
from ledger.contract_api import CallContext, Method
from ledger.errors import Code, LedgerError


def _set(ctx: CallContext, args: dict[str, Any]) -> None:
    key, value = args.get("key"), args.get("value")
    if type(key) is not str or not key:
        raise LedgerError(Code.INVALID_ARGUMENT, "key: a non-empty str")
    if type(value) is not int:
        raise LedgerError(Code.INVALID_ARGUMENT, "value: an int")
    ctx.state.put(key.encode(), codec.encode(value))
    ctx.emit("notes.set", {"key": key, "value": value, "by": ctx.sender.member_id})


def _set_then_fail(ctx: CallContext, args: dict[str, Any]) -> None:
    _set(ctx, args)
    raise LedgerError(Code.INVALID_ARGUMENT, "refused after writing")


def _crash(ctx: CallContext, args: dict[str, Any]) -> None:
    ctx.state.put(b"half", b"written")
    raise ZeroDivisionError("boom")


def _operators_only(ctx: CallContext, args: dict[str, Any]) -> None:
    if not ctx.sender.has_role(Role.OPERATOR):
        raise LedgerError(Code.FORBIDDEN, "operators only")
    ctx.state.put(b"op", b"1")


class NotesRegistry:
    METHODS: dict[str, Method] = {"set": _set, "set_then_fail": _set_then_fail, "crash": _crash,
                                  "operators_only": _operators_only}

    def has_contract(self, contract: str) -> bool:
        return contract == "notes"

    def method(self, contract: str, name: str) -> Method | None:
        return self.METHODS.get(name) if contract == "notes" else None

    def is_privileged(self, contract: str) -> bool:
        return False
