"""Governance through real blocks: built, re-validated, certified, committed.

The example consortium: operators CORE-01, BANK-A, BANK-B, AUDITOR-01 with a
quorum of 3; financiers BANK-A and BANK-B; auditor AUDITOR-01.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts import governance
from contracts.engine import ContractRegistry
from contracts.governance import Proposal, get_admission, get_proposal, missing_approvals
from contracts.registry import CONTRACT_MODULES, default_registry, load_contract
from genesis.demo_keys import demo_key
from ledger.accounts import Member, get_member, next_nonce, put_member
from ledger.block_builder import build_block
from ledger.crypto import SigningKey
from ledger.errors import Code, LedgerError
from ledger.state import EmptyState, Overlay
from ledger.store import MemoryStore
from ledger.store.chain import ChainStore
from ledger.transition import BlockExecution, apply_block
from ledger.types import Block, Receipt, SignedTransaction, Transaction, compute_txs_root
from tests.support.chain import VALIDATOR_KEYS, certify, example_genesis, last_commit_for

GENESIS = example_genesis()
REGISTRY = ContractRegistry([governance.CONTRACT])


@pytest.fixture
def chain() -> Iterator[ChainStore]:
    kv = MemoryStore()
    yield ChainStore(kv, GENESIS)
    kv.close()


def _key(signer: str | SigningKey) -> SigningKey:
    return demo_key(signer) if isinstance(signer, str) else signer


def tx(chain: ChainStore, signer: str | SigningKey, method: str, *, nonce: int | None = None,
       **args: Any) -> SignedTransaction:
    key = _key(signer)
    if nonce is None:
        nonce = next_nonce(chain.state(), key.public_key)
    return Transaction(chain.genesis.chain_id, key.public_key, nonce, "governance", method,
                       args).sign(key)


def build(chain: ChainStore, txs: list[SignedTransaction]) -> BlockExecution:
    tip = chain.tip()
    execution, _ = build_block(chain, tip, txs, time_ms=tip.time_ms + 1000,
                               proposer=VALIDATOR_KEYS[tip.height % 4].public_key,
                               last_commit=last_commit_for(chain), registry=REGISTRY, max_txs=1000)
    return execution


def commit(chain: ChainStore, txs: list[SignedTransaction]) -> BlockExecution:
    built = build(chain, txs)
    validated = apply_block(chain, chain.tip(), built.block, REGISTRY)
    chain.append(validated, certify(chain, built.block))
    return validated


def run(chain: ChainStore, signer: str | SigningKey, method: str, **args: Any) -> Receipt:
    """One transaction in its own block; its receipt."""
    [receipt] = commit(chain, [tx(chain, signer, method, **args)]).receipts
    return receipt


def propose(chain: ChainStore, signer: str, action: str, **params: Any) -> Receipt:
    return run(chain, signer, "propose", action=action, params=params)


def approve(chain: ChainStore, signer: str, proposal_id: int) -> Receipt:
    return run(chain, signer, "approve", proposal_id=proposal_id)


def ok(receipt: Receipt) -> Receipt:
    assert receipt.code == "OK", receipt.message
    return receipt


def refused(receipt: Receipt, code: Code, fragment: str = "") -> None:
    assert receipt.code == code.value, (receipt.code, receipt.message)
    assert fragment in receipt.message, receipt.message


def kinds(receipt: Receipt) -> list[str]:
    return [event.kind for event in receipt.events]


def member(chain: ChainStore, member_id: str) -> Member:
    found = get_member(chain.state(), member_id)
    assert found is not None
    return found


def pub(name: str) -> bytes:
    return demo_key(name).public_key


def admit_params(member_id: str, *roles: str) -> dict[str, Any]:
    return {"member_id": member_id, "name": f"{member_id} Ltd.", "roles": list(roles),
            "keys": [pub(member_id)]}


def execute(chain: ChainStore, action: str, **params: Any) -> int:
    """Proposal by CORE-01, approved by BANK-A and BANK-B (the quorum); its id."""
    ok(propose(chain, "CORE-01", action, **params))
    proposal_id = 1
    while get_proposal(chain.state(), proposal_id + 1) is not None:
        proposal_id += 1
    ok(approve(chain, "BANK-A", proposal_id))
    ok(approve(chain, "BANK-B", proposal_id))
    proposal = get_proposal(chain.state(), proposal_id)
    assert proposal is not None and proposal.status == "executed"
    return proposal_id


# -- admission ------------------------------------------------------------------

def test_an_sme_joins_with_one_sponsor(chain: ChainStore) -> None:
    receipt = ok(run(chain, "CORE-01", "sponsor", **admit_params("SUPPLIER-02", "supplier")))
    admitted = member(chain, "SUPPLIER-02")
    assert admitted.roles == ("supplier",) and not admitted.frozen
    assert admitted.keys == (pub("SUPPLIER-02"),)
    assert get_admission(chain.state(), "SUPPLIER-02")["by"] == "sponsor:CORE-01"
    [event] = receipt.events
    assert event.kind == "governance.member_admitted"
    assert event.attributes["subjects"] == ["member:SUPPLIER-02", "member:CORE-01"]
    # the new member signs at once, from its first nonce
    ok(run(chain, "SUPPLIER-02", "rotate_own_key", old_key=pub("SUPPLIER-02"),
           new_key=pub("SUPPLIER-02/2")))
    history = chain.events_for("member:SUPPLIER-02")
    assert [e.event.kind for e in history] == ["governance.member_admitted",
                                               "governance.key_rotated"]
    assert [e.height for e in history] == [1, 2]
    assert [e.event.kind for e in chain.events_for("member:CORE-01")] == [
        "governance.member_admitted"]


def test_a_sponsor_admits_smes_only_and_must_be_an_anchor_or_a_bank(chain: ChainStore) -> None:
    execution = commit(chain, [
        tx(chain, "CORE-01", "sponsor", **admit_params("BANK-C", "financier")),
        tx(chain, "BANK-A", "sponsor", **admit_params("CORE-02", "core_enterprise", "supplier")),
        tx(chain, "SUPPLIER-01", "sponsor", **admit_params("SUPPLIER-02", "supplier")),
        tx(chain, "WAREHOUSE-01", "sponsor", **admit_params("SUPPLIER-02", "supplier")),
        tx(chain, "CORE-01", "sponsor", nonce=1, **admit_params("BANK-A", "supplier")),
        tx(chain, "CORE-01", "sponsor", nonce=2,
           **dict(admit_params("SUPPLIER-02", "supplier"), keys=[pub("BANK-A")])),
        tx(chain, "CORE-01", "sponsor", nonce=3,
           **dict(admit_params("SUPPLIER-02", "supplier"), roles=["supplier", "supplier"])),
    ])
    codes = [(r.code, r.message) for r in execution.receipts]
    assert codes[0][0] == "ADMISSION_RULE"
    assert "financier needs a governance proposal" in codes[0][1]
    assert codes[1][0] == "ADMISSION_RULE" and "core_enterprise" in codes[1][1]
    assert [c for c, _ in codes[2:]] == ["FORBIDDEN", "FORBIDDEN", "MEMBER_EXISTS", "KEY_IN_USE",
                                         "INVALID_ARGUMENT"]
    assert "roles: each role once" in codes[6][1]
    _only_nonces_changed(execution)


def test_a_financier_needs_the_quorum_a_financier_and_an_auditor(chain: ChainStore) -> None:
    receipt = ok(propose(chain, "CORE-01", "admit", **admit_params("BANK-C", "financier")))
    assert kinds(receipt) == ["governance.proposed", "governance.pending"]
    assert receipt.events[1].attributes["missing"] == [
        "2 more operator approval(s) (1 of the quorum of 3)", "a financier's approval",
        "an auditor's approval"]
    refused(approve(chain, "WAREHOUSE-01", 1), Code.FORBIDDEN)
    assert ok(approve(chain, "BANK-A", 1)).events[-1].attributes["missing"] == [
        "1 more operator approval(s) (2 of the quorum of 3)", "an auditor's approval"]
    # the operator quorum alone is not enough
    receipt = ok(approve(chain, "BANK-B", 1))
    assert receipt.events[-1].attributes["missing"] == ["an auditor's approval"]
    assert get_member(chain.state(), "BANK-C") is None
    assert get_proposal(chain.state(), 1).status == "open"  # type: ignore[union-attr]
    receipt = ok(approve(chain, "AUDITOR-01", 1))
    assert kinds(receipt) == ["governance.approved", "governance.member_admitted"]
    assert receipt.events[-1].attributes["by"] == "proposal:1"
    assert member(chain, "BANK-C").roles == ("financier",)
    proposal = get_proposal(chain.state(), 1)
    assert proposal is not None and (proposal.status, proposal.closed_at) == ("executed", 5)
    assert proposal.approvals == ("CORE-01", "BANK-A", "BANK-B", "AUDITOR-01")
    assert get_admission(chain.state(), "BANK-C")["by"] == "proposal:1"
    refused(approve(chain, "BANK-A", 1), Code.PROPOSAL_CLOSED, "executed")
    history = [e.event.kind for e in chain.events_for("proposal:1")]
    assert history == ["governance.proposed", "governance.pending", "governance.approved",
                       "governance.pending", "governance.approved", "governance.pending",
                       "governance.approved", "governance.member_admitted"]


def test_co_approvers_need_not_be_operators_but_count_only_where_needed(chain: ChainStore) -> None:
    execute(chain, "admit", **admit_params("AUDITOR-02", "auditor"))  # no co-approval needed
    assert member(chain, "AUDITOR-02").roles == ("auditor",)
    # an auditor that is no operator co-approves a financier's admission ...
    ok(propose(chain, "CORE-01", "admit", **admit_params("BANK-C", "financier")))
    ok(approve(chain, "BANK-A", 2))
    assert ok(approve(chain, "AUDITOR-02", 2)).events[-1].attributes["missing"] == [
        "1 more operator approval(s) (2 of the quorum of 3)"]
    assert kinds(ok(approve(chain, "BANK-B", 2)))[-1] == "governance.member_admitted"
    # ... but its approval of anything else would count for nothing
    ok(propose(chain, "CORE-01", "grant_role", member_id="SUPPLIER-01", role="distributor"))
    refused(approve(chain, "AUDITOR-02", 3), Code.FORBIDDEN, "counts for nothing")
    # an auditor may propose a freeze, and nothing else
    refused(propose(chain, "AUDITOR-02", "grant_role", member_id="SUPPLIER-01", role="warehouse"),
            Code.FORBIDDEN, "only operators propose grant_role")
    ok(propose(chain, "AUDITOR-02", "freeze", member_id="SUPPLIER-01", reason="review"))
    refused(propose(chain, "SUPPLIER-01", "freeze", member_id="CORE-01", reason="x"),
            Code.FORBIDDEN)


def test_financier_and_auditor_must_be_two_members() -> None:
    state = Overlay(EmptyState())
    GENESIS.build_state(state)
    put_member(state, Member("BANK-AUD", "both", ("auditor", "financier", "operator"),
                             (pub("BANK-AUD"),)))
    params = admit_params("CORE-02", "core_enterprise")
    proposal = Proposal(1, "admit", params, "BANK-AUD", ("BANK-AUD", "CORE-01", "BANK-B"),
                        "open", 1)
    assert missing_approvals(state, proposal) == []
    alone = dataclasses.replace(proposal, approvals=("BANK-AUD", "CORE-01", "AUDITOR-01"))
    assert missing_approvals(state, alone) == []
    same = dataclasses.replace(proposal, approvals=("BANK-AUD", "CORE-01"))
    assert missing_approvals(state, same) == [
        "1 more operator approval(s) (2 of the quorum of 3)",
        "a second member: BANK-AUD cannot approve as both the financier and the auditor"]
    # a frozen approver no longer counts
    put_member(state, dataclasses.replace(get_member(state, "BANK-B"), frozen=True))  # type: ignore
    assert "a financier's approval" not in missing_approvals(state, proposal)
    assert missing_approvals(state, proposal)[0].startswith("1 more operator approval(s)")


# -- roles and keys ---------------------------------------------------------------

def test_grant_and_revoke_a_role(chain: ChainStore) -> None:
    proposal_id = execute(chain, "grant_role", member_id="SUPPLIER-01", role="distributor")
    assert member(chain, "SUPPLIER-01").roles == ("distributor", "supplier")
    assert chain.events_for("member:SUPPLIER-01")[-1].event.kind == "governance.role_granted"
    refused(propose(chain, "CORE-01", "grant_role", member_id="SUPPLIER-01", role="distributor"),
            Code.ROLE_ALREADY_HELD)
    execute(chain, "revoke_role", member_id="SUPPLIER-01", role="distributor")
    assert member(chain, "SUPPLIER-01").roles == ("supplier",)
    refused(propose(chain, "CORE-01", "revoke_role", member_id="SUPPLIER-01", role="distributor"),
            Code.ROLE_NOT_HELD)
    refused(propose(chain, "CORE-01", "grant_role", member_id="NOBODY", role="supplier"),
            Code.MEMBER_NOT_FOUND)
    # granting financier takes the same co-approvals as admitting one
    ok(propose(chain, "CORE-01", "grant_role", member_id="SUPPLIER-01", role="financier"))
    ok(approve(chain, "BANK-A", proposal_id + 2))
    assert ok(approve(chain, "BANK-B", proposal_id + 2)).events[-1].attributes["missing"] == [
        "an auditor's approval"]
    assert member(chain, "SUPPLIER-01").roles == ("supplier",)


def test_a_member_rotates_its_own_key(chain: ChainStore) -> None:
    old, new = demo_key("SUPPLIER-01"), demo_key("SUPPLIER-01/new")
    receipt = ok(run(chain, old, "rotate_own_key", old_key=old.public_key, new_key=new.public_key))
    assert receipt.events[0].attributes["subjects"] == ["member:SUPPLIER-01"]
    assert member(chain, "SUPPLIER-01").keys == (new.public_key,)
    # the old key no longer signs: a proposer leaves its transaction out ...
    stale = tx(chain, old, "rotate_own_key", old_key=new.public_key, new_key=pub("X"))
    tip = chain.tip()
    built, left_out = build_block(chain, tip, [stale], time_ms=tip.time_ms + 1000,
                                  proposer=VALIDATOR_KEYS[tip.height % 4].public_key,
                                  last_commit=last_commit_for(chain), registry=REGISTRY,
                                  max_txs=10)
    assert built.block.txs == () and left_out[0][1].code is Code.UNKNOWN_SENDER
    # ... and a block that includes it anyway is invalid whole
    header = dataclasses.replace(built.block.header, tx_count=1,
                                 txs_root=compute_txs_root([stale]))
    with pytest.raises(LedgerError) as caught:
        apply_block(chain, tip, Block(header, (stale,), built.block.last_commit), REGISTRY)
    assert caught.value.code is Code.INVALID_BLOCK and "UNKNOWN_SENDER" in caught.value.message
    # the new key signs, from its own first nonce
    ok(run(chain, new, "rotate_own_key", old_key=new.public_key, new_key=pub("SUPPLIER-01/3")))
    assert member(chain, "SUPPLIER-01").keys == (pub("SUPPLIER-01/3"),)
    execution = commit(chain, [
        tx(chain, "SUPPLIER-01/3", "rotate_own_key", old_key=pub("SUPPLIER-01/3"),
           new_key=pub("BANK-A")),
        tx(chain, "SUPPLIER-01/3", "rotate_own_key", nonce=1, old_key=pub("BANK-A"),
           new_key=pub("Y")),
        tx(chain, "SUPPLIER-01/3", "rotate_own_key", nonce=2, old_key=pub("SUPPLIER-01/3"),
           new_key=bytes(32)),
    ])
    assert [r.code for r in execution.receipts] == ["KEY_IN_USE", "KEY_NOT_FOUND",
                                                    "INVALID_ARGUMENT"]


def test_governance_rotates_the_key_of_a_member_that_lost_it(chain: ChainStore) -> None:
    execute(chain, "rotate_key", member_id="WAREHOUSE-01", old_key=pub("WAREHOUSE-01"),
            new_key=pub("WAREHOUSE-01/recovered"))
    assert member(chain, "WAREHOUSE-01").keys == (pub("WAREHOUSE-01/recovered"),)
    assert chain.events_for("member:WAREHOUSE-01")[-1].event.attributes["by"] == "proposal:1"


# -- freeze -------------------------------------------------------------------------

def test_freeze_stops_a_member_and_deletes_nothing(chain: ChainStore) -> None:
    before = member(chain, "SUPPLIER-01")
    ok(propose(chain, "AUDITOR-01", "freeze", member_id="SUPPLIER-01", reason="fake trade"))
    ok(approve(chain, "CORE-01", 1))
    # the freeze, then the risk notice to the financiers exposed to it (none here)
    assert kinds(ok(approve(chain, "BANK-A", 1)))[-2:] == ["governance.member_frozen",
                                                         "risk.member_frozen"]
    frozen = member(chain, "SUPPLIER-01")
    assert frozen == dataclasses.replace(before, frozen=True)
    refused(run(chain, "SUPPLIER-01", "rotate_own_key", old_key=pub("SUPPLIER-01"),
                new_key=pub("Z")), Code.MEMBER_FROZEN)
    assert member(chain, "SUPPLIER-01").keys == before.keys
    refused(propose(chain, "CORE-01", "freeze", member_id="SUPPLIER-01", reason="again"),
            Code.MEMBER_ALREADY_FROZEN)
    refused(propose(chain, "CORE-01", "unfreeze", member_id="BANK-A", reason="x"),
            Code.MEMBER_NOT_FROZEN)
    execute(chain, "unfreeze", member_id="SUPPLIER-01", reason="cleared")
    assert member(chain, "SUPPLIER-01") == before
    ok(run(chain, "SUPPLIER-01", "rotate_own_key", old_key=pub("SUPPLIER-01"), new_key=pub("Z")))
    history = [e.event.kind for e in chain.events_for("member:SUPPLIER-01")]
    assert "governance.member_frozen" in history and "governance.member_unfrozen" in history


# -- approvals, withdrawal, failures ------------------------------------------------

def test_each_member_approves_once(chain: ChainStore) -> None:
    ok(propose(chain, "CORE-01", "grant_role", member_id="SUPPLIER-01", role="distributor"))
    execution = commit(chain, [tx(chain, "CORE-01", "approve", proposal_id=1),
                               tx(chain, "BANK-A", "approve", proposal_id=1),
                               tx(chain, "BANK-A", "approve", nonce=1, proposal_id=1)])
    assert [r.code for r in execution.receipts] == ["ALREADY_APPROVED", "OK", "ALREADY_APPROVED"]
    assert get_proposal(chain.state(), 1).approvals == ("CORE-01", "BANK-A")  # type: ignore


def test_non_operators_are_forbidden(chain: ChainStore) -> None:
    ok(propose(chain, "CORE-01", "grant_role", member_id="SUPPLIER-01", role="distributor"))
    execution = commit(chain, [
        tx(chain, "SUPPLIER-01", "propose", action="grant_role",
           params={"member_id": "SUPPLIER-01", "role": "financier"}),
        tx(chain, "WAREHOUSE-01", "approve", proposal_id=1),
        tx(chain, "SUPPLIER-01", "approve", nonce=1, proposal_id=1),
        tx(chain, "BANK-A", "withdraw", proposal_id=1),
    ])
    assert [r.code for r in execution.receipts] == ["FORBIDDEN"] * 4
    assert "operator" in execution.receipts[0].message
    assert "only the proposer CORE-01" in execution.receipts[3].message
    _only_nonces_changed(execution)


def test_the_proposer_withdraws(chain: ChainStore) -> None:
    ok(propose(chain, "CORE-01", "admit", **admit_params("CORE-02", "core_enterprise")))
    assert kinds(ok(run(chain, "CORE-01", "withdraw", proposal_id=1))) == ["governance.withdrawn"]
    proposal = get_proposal(chain.state(), 1)
    assert proposal is not None and (proposal.status, proposal.closed_at) == ("withdrawn", 2)
    execution = commit(chain, [tx(chain, "BANK-A", "approve", proposal_id=1),
                               tx(chain, "CORE-01", "withdraw", proposal_id=1),
                               tx(chain, "BANK-A", "approve", nonce=1, proposal_id=99)])
    assert [r.code for r in execution.receipts] == ["PROPOSAL_CLOSED", "PROPOSAL_CLOSED",
                                                    "PROPOSAL_NOT_FOUND"]


@pytest.mark.parametrize("action,params,code,fragment", [
    ("admit", {**admit_params("X-1", "supplier"), "roles": ["supplier", "supplier"]},
     Code.INVALID_ARGUMENT, "params.roles: each role once"),
    ("admit", {**admit_params("X-1", "supplier"), "extra": 1}, Code.INVALID_ARGUMENT,
     "params.extra: not a param"),
    ("admit", {"member_id": "X-1", "roles": ["supplier"], "keys": [pub("X-1")]},
     Code.INVALID_ARGUMENT, "params.name: required"),
    ("admit", {**admit_params("X-1", "supplier"), "roles": ["banker"]}, Code.INVALID_ARGUMENT,
     "params.roles[0]"),
    ("admit", {**admit_params("X-1", "supplier"), "keys": []}, Code.INVALID_ARGUMENT,
     "params.keys: at least one key"),
    ("admit", {**admit_params("x lower", "supplier")}, Code.INVALID_ARGUMENT, "params.member_id"),
    ("admit", admit_params("BANK-A", "supplier"), Code.MEMBER_EXISTS, "BANK-A"),
    ("delete", {"member_id": "BANK-A"}, Code.INVALID_ARGUMENT, "action"),
    ("rotate_key", {"member_id": "BANK-A", "old_key": pub("nope"), "new_key": pub("n")},
     Code.KEY_NOT_FOUND, "not a key of BANK-A"),
    ("freeze", {"member_id": "NOBODY", "reason": "x"}, Code.MEMBER_NOT_FOUND, "NOBODY"),
])
def test_bad_proposals_are_refused_and_change_nothing(chain: ChainStore, action: str,
                                                      params: dict[str, Any], code: Code,
                                                      fragment: str) -> None:
    execution = commit(chain, [tx(chain, "CORE-01", "propose", action=action, params=params)])
    refused(execution.receipts[0], code, fragment)
    _only_nonces_changed(execution)
    assert get_proposal(chain.state(), 1) is None


def test_an_action_that_no_longer_applies_fails_and_the_proposal_stays_open(
        chain: ChainStore) -> None:
    for proposer in ("CORE-01", "BANK-B"):
        ok(propose(chain, proposer, "admit", **admit_params("SUPPLIER-03", "supplier")))
    ok(approve(chain, "BANK-A", 1))
    ok(approve(chain, "AUDITOR-01", 1))  # proposal 1 executes
    ok(approve(chain, "CORE-01", 2))
    execution = commit(chain, [tx(chain, "AUDITOR-01", "approve", proposal_id=2)])
    refused(execution.receipts[0], Code.MEMBER_EXISTS, "SUPPLIER-03")
    _only_nonces_changed(execution)
    proposal = get_proposal(chain.state(), 2)
    assert proposal is not None and proposal.status == "open"
    assert proposal.approvals == ("BANK-B", "CORE-01")
    ok(run(chain, "BANK-B", "withdraw", proposal_id=2))


def test_the_default_registry_runs_governance_privileged() -> None:
    registry = default_registry()
    assert registry.is_privileged("governance")
    assert CONTRACT_MODULES["governance"] == "contracts.governance"
    assert [c.name for c in registry.contracts] == sorted(CONTRACT_MODULES)


def _only_nonces_changed(execution: BlockExecution) -> None:
    assert execution.changes and all(key.startswith(b"sys/nonce/") for key in execution.changes)


def scenario_root() -> bytes:
    """The state root after a governance history touching every action."""
    kv = MemoryStore()
    chain = ChainStore(kv, GENESIS)
    ok(run(chain, "CORE-01", "sponsor", **admit_params("SUPPLIER-02", "supplier", "warehouse")))
    ok(propose(chain, "CORE-01", "admit", **admit_params("BANK-C", "financier", "operator")))
    commit(chain, [tx(chain, m, "approve", proposal_id=1) for m in ("BANK-A", "BANK-B",
                                                                     "AUDITOR-01")])
    assert member(chain, "BANK-C").roles == ("financier", "operator")
    execute(chain, "grant_role", member_id="SUPPLIER-02", role="distributor")
    execute(chain, "freeze", member_id="SUPPLIER-01", reason="review")
    ok(run(chain, "SUPPLIER-02", "rotate_own_key", old_key=pub("SUPPLIER-02"), new_key=pub("S2")))
    root = chain.state_at(chain.height).root
    kv.close()
    return root


def test_the_same_blocks_give_the_same_root_under_any_hash_seed() -> None:
    code = ("from tests.contracts.test_governance import scenario_root; "
            "print(scenario_root().hex())")
    roots = {scenario_root().hex()}
    for seed in ("0", "4242"):
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True, cwd=Path(__file__).resolve().parents[2],
                                env={**os.environ, "PYTHONHASHSEED": seed})
        roots.add(result.stdout.strip())
    assert len(roots) == 1


def test_the_registry_refuses_a_misdeclared_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="named 'governance', expected 'invoices'"):
        load_contract("invoices", "contracts.governance")
    monkeypatch.setattr(governance, "CONTRACT", dataclasses.replace(governance.CONTRACT,
                                                                    privileged=False))
    with pytest.raises(ValueError, match="only governance is privileged"):
        load_contract("governance", "contracts.governance")
    monkeypatch.setattr(governance, "CONTRACT", None)
    with pytest.raises(ValueError, match="defines no CONTRACT"):
        load_contract("governance", "contracts.governance")
