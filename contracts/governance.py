"""Governance: who is a member, with which roles and keys, and who is frozen.

The privileged `governance` contract is the only writer of member records
(`sys/member/...`, through `ledger.accounts.put_member` on
`ctx.system_writer`). Its proposals live in its own namespace and are never
deleted: a proposal ends `executed` or `withdrawn`, and a frozen member keeps
its record, its keys and its whole history.

Methods (the engine checks arguments, then roles -> FORBIDDEN):

* `propose(action, params)` — operators; an auditor may also propose a
  `freeze`. Actions and their params: `admit` (member_id, name, roles, keys),
  `grant_role` / `revoke_role` (member_id, role), `rotate_key` (member_id,
  old_key, new_key), `freeze` / `unfreeze` (member_id, reason). The proposal
  is the proposer's first approval.
* `approve(proposal_id)` — each member once (ALREADY_APPROVED).
* `withdraw(proposal_id)` — the proposer only, while the proposal is open.
* `sponsor(member_id, name, roles, keys)` — a core enterprise or financier
  admits an SME on its own signature.
* `rotate_own_key(old_key, new_key)` — any member, signed with one of its
  current keys, replaces one of its keys (a member that lost every key is
  re-keyed by a `rotate_key` proposal).

Two more proposal actions, `upgrade` and `cancel_upgrade`, schedule a new
version of a contract: their params, checks and records are in
contracts/upgrades.py; here they only go through the same proposal, quorum
and execution steps (marked "contract upgrades" below).

The rule implemented (domain guide, "Who takes part" and seed 002):

1. SME roles are supplier, distributor and warehouse. A member whose roles
   are all SME roles joins with ONE sponsor: a `sponsor` transaction by a
   member holding core_enterprise or financier (the anchor or the bank that
   knows the firm). The sponsor is recorded with the admission. Any other
   role through `sponsor` is ADMISSION_RULE. (An operator proposal may also
   admit an SME, under rule 2.)
2. Every proposal executes when its approvals include `operator_quorum`
   operators (ChainParams, read when counting).
3. A proposal that admits a member with core_enterprise or financier, or
   grants one of these roles, ALSO needs the approval of a financier and of
   an auditor, two different members (operators or not). Until then it stays
   open and each approval emits `governance.pending` listing what is missing.
4. Approvals are counted against the approvers' records at the moment of
   counting: an approver that lost the role, or is frozen, no longer counts.
   An approval that could count for nothing (a non-operator on a proposal
   that needs no financier/auditor co-approval) is FORBIDDEN.
5. The action executes inside the transaction whose approval completes the
   conditions. Its preconditions are checked at proposal and again at
   execution; if they no longer hold (the member was admitted meanwhile, say)
   that approval fails with the code and the proposal stays open for its
   proposer to withdraw.

Not guarded: the quorum could freeze or demote operators until it can no
longer be reached (state keeps no count of operators to check against).

Every event carries `subjects` (["member:<id>", "proposal:<n>", ...]) for the
node's event index, so a member's governance history is one lookup.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

from contracts import upgrades
from contracts.repayment import exposed_financiers
from contracts.risk import freeze_notice
from contracts.engine import Contract, MethodSpec
from contracts.stored_int import decode_int
from ledger import codec
from ledger.accounts import (MAX_KEYS_PER_MEMBER, MEMBER_ID, ROLE, Member, Role, get_member,
                             member_of_signer, put_member)
from ledger.contract_api import CallContext, contract_prefix
from ledger.crypto import validate_public_key
from ledger.errors import Code, LedgerError
from ledger.state import Overlay, StateReader
from ledger.structure import Field, Int, ListOf, Optional, Str, StrMap, Structure
from ledger.system_state import get_params
from ledger.types import HEIGHT, PUBLIC_KEY

GOVERNANCE = "governance"
SME_ROLES = frozenset({Role.SUPPLIER.value, Role.DISTRIBUTOR.value, Role.WAREHOUSE.value})
CO_APPROVED_ROLES = frozenset({Role.CORE_ENTERPRISE.value, Role.FINANCIER.value})
OPEN, EXECUTED, WITHDRAWN = "open", "executed", "withdrawn"

NAME = Str(max_bytes=256)
REASON = Str(max_bytes=256)
ROLES = ListOf(ROLE, len(Role))
KEYS = ListOf(PUBLIC_KEY, MAX_KEYS_PER_MEMBER)
PROPOSAL_ID = Int(1)
ACTIONS: dict[str, tuple[tuple[str, Field], ...]] = {
    "admit": (("member_id", MEMBER_ID), ("name", NAME), ("roles", ROLES), ("keys", KEYS)),
    "grant_role": (("member_id", MEMBER_ID), ("role", ROLE)),
    "revoke_role": (("member_id", MEMBER_ID), ("role", ROLE)),
    "rotate_key": (("member_id", MEMBER_ID), ("old_key", PUBLIC_KEY), ("new_key", PUBLIC_KEY)),
    "freeze": (("member_id", MEMBER_ID), ("reason", REASON)),
    "unfreeze": (("member_id", MEMBER_ID), ("reason", REASON)),
    **upgrades.ACTIONS,  # contract upgrades
}
ACTION = Str(max_bytes=16, pattern="|".join(sorted(ACTIONS)))
_NEXT_ID = b"next_proposal"
_EVENT_OF = {"grant_role": "governance.role_granted", "revoke_role": "governance.role_revoked",
             "freeze": "governance.member_frozen", "unfreeze": "governance.member_unfrozen"}


@dataclass(frozen=True, slots=True)
class Proposal(Structure):
    """One governance proposal; `approvals` in order, the proposer first."""

    proposal_id: int
    action: str
    params: dict[str, Any]
    proposer: str
    approvals: tuple[str, ...]
    status: str
    proposed_at: int
    closed_at: int | None = None

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("proposal_id", PROPOSAL_ID),
        ("action", ACTION),
        ("params", StrMap(max_depth=4)),
        ("proposer", MEMBER_ID),
        ("approvals", ListOf(MEMBER_ID)),
        ("status", Str(max_bytes=16, pattern=f"{OPEN}|{EXECUTED}|{WITHDRAWN}")),
        ("proposed_at", HEIGHT),
        ("closed_at", Optional(HEIGHT)),
    )

    @property
    def subject(self) -> str:
        return str(self.params["member_id"])


# -- reading (for the node, the CLI and tests) ------------------------------

def proposal_key(proposal_id: int) -> bytes:
    """The state key of a proposal (under the contract's namespace)."""
    return contract_prefix(GOVERNANCE) + _proposal_local(proposal_id)


def get_proposal(state: StateReader, proposal_id: int) -> Proposal | None:
    data = state.get(proposal_key(proposal_id))
    return None if data is None else Proposal.decode(data)


def get_admission(state: StateReader, member_id: str) -> dict[str, Any] | None:
    """How a member was admitted: {"by": sponsor or proposal, "height", "tx_id"}."""
    data = state.get(contract_prefix(GOVERNANCE) + _admission_local(member_id))
    return None if data is None else codec.decode(data)  # type: ignore[return-value]


def needs_co_approval(proposal: Proposal) -> bool:
    """Admitting or granting core_enterprise / financier needs a financier and an auditor."""
    if proposal.action == "admit":
        return any(role in CO_APPROVED_ROLES for role in proposal.params["roles"])
    return proposal.action == "grant_role" and proposal.params["role"] in CO_APPROVED_ROLES


def missing_approvals(state: StateReader, proposal: Proposal) -> list[str]:
    """What the proposal still lacks before it executes; empty when it is ready."""
    quorum = get_params(state).operator_quorum
    approvers = [m for m in (get_member(state, a) for a in proposal.approvals)
                 if m is not None and not m.frozen]
    operators = sum(1 for m in approvers if m.has_role(Role.OPERATOR))
    missing = []
    if operators < quorum:
        missing.append(f"{quorum - operators} more operator approval(s) "
                       f"({operators} of the quorum of {quorum})")
    if needs_co_approval(proposal):
        financiers = [m.member_id for m in approvers if m.has_role(Role.FINANCIER)]
        auditors = [m.member_id for m in approvers if m.has_role(Role.AUDITOR)]
        if not financiers:
            missing.append("a financier's approval")
        if not auditors:
            missing.append("an auditor's approval")
        if financiers and auditors and financiers == auditors and len(financiers) == 1:
            missing.append(f"a second member: {financiers[0]} cannot approve as both "
                           "the financier and the auditor")
    return missing


# -- methods ------------------------------------------------------------------

def _propose(ctx: CallContext, args: dict[str, Any]) -> None:
    action = args["action"]
    if not ctx.sender.has_role(Role.OPERATOR) and action != "freeze":
        raise LedgerError(Code.FORBIDDEN, f"only operators propose {action}; "
                                          f"{ctx.sender.member_id} is not one")
    if action in upgrades.ACTIONS:  # contract upgrades
        params = upgrades.load_params(action, args["params"])
        upgrades.validate(ctx.system, ctx.height, action, params)
    else:
        params = _load_params(action, args["params"])
        _validate_action(ctx.system, action, params)
    proposal_id = _take_id(ctx)
    proposal = Proposal(proposal_id, action, params, ctx.sender.member_id,
                        (ctx.sender.member_id,), OPEN, ctx.height)
    _emit(ctx, "governance.proposed", proposal, ctx.sender.member_id,
          action=action, params=params, proposer=ctx.sender.member_id)
    _advance(ctx, proposal)


def _approve(ctx: CallContext, args: dict[str, Any]) -> None:
    proposal = _open_proposal(ctx, args["proposal_id"])
    me = ctx.sender
    if me.member_id in proposal.approvals:
        raise LedgerError(Code.ALREADY_APPROVED,
                          f"{me.member_id} already approved proposal {proposal.proposal_id}")
    co_approver = needs_co_approval(proposal) and (
        me.has_role(Role.FINANCIER) or me.has_role(Role.AUDITOR))
    if not me.has_role(Role.OPERATOR) and not co_approver:
        raise LedgerError(Code.FORBIDDEN, f"{me.member_id}'s approval counts for nothing on "
                                          f"proposal {proposal.proposal_id}: not an operator")
    proposal = replace(proposal, approvals=proposal.approvals + (me.member_id,))
    _emit(ctx, "governance.approved", proposal, me.member_id, approver=me.member_id,
          approvals=len(proposal.approvals))
    _advance(ctx, proposal)


def _withdraw(ctx: CallContext, args: dict[str, Any]) -> None:
    proposal = _open_proposal(ctx, args["proposal_id"])
    if proposal.proposer != ctx.sender.member_id:
        raise LedgerError(Code.FORBIDDEN, f"only the proposer {proposal.proposer} withdraws "
                                          f"proposal {proposal.proposal_id}")
    proposal = replace(proposal, status=WITHDRAWN, closed_at=ctx.height)
    _save(ctx, proposal)
    _emit(ctx, "governance.withdrawn", proposal, ctx.sender.member_id)


def _sponsor(ctx: CallContext, args: dict[str, Any]) -> None:
    params = _load_params("admit", args, where="")
    others = [role for role in params["roles"] if role not in SME_ROLES]
    if others:
        raise LedgerError(Code.ADMISSION_RULE,
                          f"a sponsor admits only SMEs (supplier, distributor, warehouse); "
                          f"{', '.join(others)} needs a governance proposal with the operator "
                          "quorum and the approval of a financier and an auditor")
    _execute(ctx, "admit", params, by=f"sponsor:{ctx.sender.member_id}",
             subjects=[f"member:{params['member_id']}", f"member:{ctx.sender.member_id}"])


def _rotate_own_key(ctx: CallContext, args: dict[str, Any]) -> None:
    params = {"member_id": ctx.sender.member_id, "old_key": args["old_key"],
              "new_key": args["new_key"]}
    _check_point(params["new_key"], "new_key")
    _execute(ctx, "rotate_key", params, by=f"member:{ctx.sender.member_id}",
             subjects=[f"member:{ctx.sender.member_id}"])


# -- rules ----------------------------------------------------------------------

def _load_params(action: str, params: dict[str, Any], where: str = "params.") -> dict[str, Any]:
    """Checks `params` against the action's layout; returns them in codec form."""
    layout = ACTIONS[action]
    unknown = sorted(set(params) - {name for name, _ in layout})
    if unknown:
        raise LedgerError(Code.INVALID_ARGUMENT, f"{where}{unknown[0]}: not a param of {action}")
    loaded: dict[str, Any] = {}
    for name, kind in layout:
        if name not in params:
            raise LedgerError(Code.INVALID_ARGUMENT, f"{where}{name}: required")
        value = params[name]
        try:
            value = kind.load(list(value) if isinstance(value, tuple) else value, where + name)
        except LedgerError as error:
            raise LedgerError(Code.INVALID_ARGUMENT, error.message) from None
        loaded[name] = list(value) if isinstance(value, tuple) else value
    if "roles" in loaded:
        if len(set(loaded["roles"])) != len(loaded["roles"]):
            raise LedgerError(Code.INVALID_ARGUMENT, f"{where}roles: each role once")
        loaded["roles"] = sorted(loaded["roles"])
    if "keys" in loaded:
        if not loaded["keys"] or len(set(loaded["keys"])) != len(loaded["keys"]):
            raise LedgerError(Code.INVALID_ARGUMENT, f"{where}keys: at least one key, each once")
        for index, key in enumerate(loaded["keys"]):
            _check_point(key, f"{where}keys[{index}]")
    if "new_key" in loaded:
        _check_point(loaded["new_key"], f"{where}new_key")
    return loaded


def _check_point(key: bytes, field: str) -> None:
    try:
        validate_public_key(key)
    except LedgerError as error:
        raise LedgerError(Code.INVALID_ARGUMENT, f"{field}: {error.message}") from None


def _validate_action(state: StateReader, action: str, params: dict[str, Any]) -> Member | None:
    """Raises unless `action` can be carried out now; returns the member it changes."""
    member_id = params["member_id"]
    member = get_member(state, member_id)
    if action == "admit":
        if member is not None:
            raise LedgerError(Code.MEMBER_EXISTS, f"member {member_id} already exists")
        for key in params["keys"]:
            _check_key_free(state, key)
        return None
    if member is None:
        raise LedgerError(Code.MEMBER_NOT_FOUND, f"no member {member_id}")
    if action == "grant_role" and member.has_role(Role(params["role"])):
        raise LedgerError(Code.ROLE_ALREADY_HELD, f"{member_id} already holds {params['role']}")
    if action == "revoke_role" and not member.has_role(Role(params["role"])):
        raise LedgerError(Code.ROLE_NOT_HELD, f"{member_id} does not hold {params['role']}")
    if action == "rotate_key":
        if params["old_key"] not in member.keys:
            raise LedgerError(Code.KEY_NOT_FOUND, f"old_key {params['old_key'].hex()[:16]}… "
                                                  f"is not a key of {member_id}")
        _check_key_free(state, params["new_key"])
    if action == "freeze" and member.frozen:
        raise LedgerError(Code.MEMBER_ALREADY_FROZEN, f"member {member_id} is already frozen")
    if action == "unfreeze" and not member.frozen:
        raise LedgerError(Code.MEMBER_NOT_FROZEN, f"member {member_id} is not frozen")
    return member


def _check_key_free(state: StateReader, key: bytes) -> None:
    owner = member_of_signer(state, key)
    if owner is not None:
        raise LedgerError(Code.KEY_IN_USE, f"key {key.hex()[:16]}… belongs to member "
                                           f"{owner.member_id}")


def _advance(ctx: CallContext, proposal: Proposal) -> None:
    """Executes the proposal if nothing is missing; saves it either way."""
    missing = missing_approvals(ctx.system, proposal)
    if missing:
        _save(ctx, proposal)
        _emit(ctx, "governance.pending", proposal, None, missing=missing)
        return
    executed = replace(proposal, status=EXECUTED, closed_at=ctx.height)
    _save(ctx, executed)
    _execute(ctx, proposal.action, proposal.params, by=f"proposal:{proposal.proposal_id}",
             subjects=_subjects(proposal, None))


def _execute(ctx: CallContext, action: str, params: dict[str, Any], *, by: str,
             subjects: list[str]) -> None:
    if action in upgrades.ACTIONS:  # contract upgrades
        upgrades.execute(ctx, _writer(ctx), action, params, by=by, subjects=subjects)
        return
    member = _validate_action(ctx.system, action, params)
    writer = _writer(ctx)
    if action == "admit":
        member = Member(params["member_id"], params["name"], tuple(params["roles"]),
                        tuple(params["keys"]))
        ctx.state.put(_admission_local(member.member_id),
                      codec.encode({"by": by, "height": ctx.height, "tx_id": ctx.tx_id}))
        kind, detail = "governance.member_admitted", {"roles": params["roles"],
                                                      "name": params["name"]}
    elif member is None:  # unreachable: _validate_action raised MEMBER_NOT_FOUND
        raise LedgerError(Code.MEMBER_NOT_FOUND, f"no member {params['member_id']}")
    elif action == "grant_role" or action == "revoke_role":
        roles = [r for r in member.roles if r != params["role"]]
        if action == "grant_role":
            roles = sorted(roles + [params["role"]])
        member = replace(member, roles=tuple(roles))
        kind, detail = _EVENT_OF[action], {"role": params["role"]}
    elif action == "rotate_key":
        keys = tuple(params["new_key"] if k == params["old_key"] else k for k in member.keys)
        member = replace(member, keys=keys)
        kind, detail = "governance.key_rotated", {"old_key": params["old_key"],
                                                  "new_key": params["new_key"]}
    else:
        member = replace(member, frozen=action == "freeze")
        kind, detail = _EVENT_OF[action], {"reason": params["reason"]}
    put_member(writer, member)
    ctx.emit(kind, {"member_id": member.member_id, "by": by, "subjects": subjects, **detail})
    if action == "freeze":  # the financiers exposed to it are told (risk controls)
        freeze_notice(ctx, member.member_id, exposed_financiers(ctx.scratch, member.member_id))


def _subjects(proposal: Proposal, actor: str | None) -> list[str]:
    if proposal.action in upgrades.ACTIONS:  # contract upgrades
        subjects = upgrades.subjects(proposal.params) + [f"proposal:{proposal.proposal_id}"]
        return subjects + ([] if actor is None else [f"member:{actor}"])
    subjects = [f"member:{proposal.subject}", f"proposal:{proposal.proposal_id}"]
    if actor is not None and actor != proposal.subject:
        subjects.append(f"member:{actor}")
    return subjects


def _emit(ctx: CallContext, kind: str, proposal: Proposal, actor: str | None,
          **attributes: Any) -> None:
    about = (upgrades.about(proposal.params) if proposal.action in upgrades.ACTIONS
             else {"member_id": proposal.subject})  # contract upgrades
    ctx.emit(kind, {"proposal_id": proposal.proposal_id, **about,
                    "subjects": _subjects(proposal, actor), **attributes})


# -- storage --------------------------------------------------------------------

def _proposal_local(proposal_id: int) -> bytes:
    return b"proposal/" + proposal_id.to_bytes(8, "big")


def _admission_local(member_id: str) -> bytes:
    return b"admission/" + member_id.encode()


def _take_id(ctx: CallContext) -> int:
    data = ctx.state.get(_NEXT_ID)
    proposal_id = 1 if data is None else decode_int(data, "the next proposal id")
    ctx.state.put(_NEXT_ID, codec.encode(proposal_id + 1))
    return proposal_id


def _open_proposal(ctx: CallContext, proposal_id: int) -> Proposal:
    data = ctx.state.get(_proposal_local(proposal_id))
    if data is None:
        raise LedgerError(Code.PROPOSAL_NOT_FOUND, f"no proposal {proposal_id}")
    proposal = Proposal.decode(data)
    if proposal.status != OPEN:
        raise LedgerError(Code.PROPOSAL_CLOSED, f"proposal {proposal_id} is {proposal.status} "
                                                f"(at height {proposal.closed_at})")
    return proposal


def _save(ctx: CallContext, proposal: Proposal) -> None:
    ctx.state.put(_proposal_local(proposal.proposal_id), proposal.encode())


def _writer(ctx: CallContext) -> Overlay:
    if ctx.system_writer is None:
        raise LedgerError(Code.CONTRACT_BUG, "governance runs without system access: "
                                             "register it as a privileged contract")
    return ctx.system_writer


CONTRACT = Contract(GOVERNANCE, 1, (
    MethodSpec("propose", _propose, (("action", ACTION), ("params", StrMap(max_depth=4))),
               roles=frozenset({Role.OPERATOR, Role.AUDITOR})),
    MethodSpec("approve", _approve, (("proposal_id", PROPOSAL_ID),),
               roles=frozenset({Role.OPERATOR, Role.FINANCIER, Role.AUDITOR})),
    MethodSpec("withdraw", _withdraw, (("proposal_id", PROPOSAL_ID),)),
    MethodSpec("sponsor", _sponsor, ACTIONS["admit"],
               roles=frozenset({Role.CORE_ENTERPRISE, Role.FINANCIER})),
    MethodSpec("rotate_own_key", _rotate_own_key,
               (("old_key", PUBLIC_KEY), ("new_key", PUBLIC_KEY))),
), privileged=True)
