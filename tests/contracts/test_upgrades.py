"""Contract upgrades by governance, through real blocks: scheduled by the operator
quorum, recorded (and provable) under sys/, switched at the activation height
with the migration run once in that block, cancelled, refused.

The chain: the example consortium (operators CORE-01, BANK-A, BANK-B,
AUDITOR-01; quorum 3) running governance and the demo_board test contract
(contracts/versions/): version 1 stores {"author", "text"} with texts of at
most 64 bytes; version 2 stores {"author", "edits", "text", "words"}, takes
256 bytes and adds `edit`; its migration `count_words` converts old posts.
"""

from __future__ import annotations

from typing import Any

import pytest

from contracts.engine import Contract, ContractCode
from contracts.governance import get_proposal
from contracts.upgrades import MIN_ACTIVATION_DELAY
from genesis.demo_keys import demo_key
from ledger.accounts import nonce_key
from ledger.contract_api import MigrationContext
from ledger.contract_upgrades import (
    ACTIVE,
    CANCELLED,
    FAILED,
    INDEX_KEY,
    SCHEDULED,
    ActiveCode,
    PendingUpgrade,
    UpgradeIndex,
    get_index,
    get_upgrade,
    upgrade_key,
)
from ledger.errors import Code, LedgerError
from ledger.smt_proof import verify_proof
from ledger.types import Receipt
from tests.contracts.test_upgrades_support import (
    BOARD,
    V1,
    V2,
    UpgradeChain,
    board_post,
    upgrade_params,
    upgraded_with,
)


@pytest.fixture
def chain() -> UpgradeChain:
    return UpgradeChain()


def refused(receipt: Receipt, code: Code, fragment: str = "") -> None:
    assert receipt.code == code.value, (receipt.code, receipt.message)
    assert fragment in receipt.message, receipt.message


def only_the_nonce_changed(chain: UpgradeChain, member: str) -> None:
    """A rejected transaction used its nonce and changed nothing else."""
    assert list(chain.last_changes) == [nonce_key(demo_key(member).public_key)]


# -- 1. the proposal, its quorum and its record ----------------------------------------

def test_an_approved_upgrade_is_recorded_under_sys_and_provable(chain: UpgradeChain) -> None:
    activation = chain.height + 3 + MIN_ACTIVATION_DELAY
    receipt = chain.propose("upgrade", upgrade_params(activation))
    assert receipt.code == "OK"
    proposal_id = chain.last_proposal_id()
    [proposed, pending] = receipt.events
    assert proposed.kind == "governance.proposed"
    assert proposed.attributes["contract"] == BOARD and proposed.attributes["version"] == 2
    assert proposed.attributes["subjects"] == ["contract:demo_board", f"proposal:{proposal_id}",
                                               "member:CORE-01"]
    assert pending.kind == "governance.pending"
    assert get_upgrade(chain.state, BOARD, 2) is None    # not before the quorum
    chain.ok("BANK-A", "governance", "approve", proposal_id=proposal_id)
    assert chain.state.get(INDEX_KEY) is None
    executing = chain.ok("AUDITOR-01", "governance", "approve", proposal_id=proposal_id)

    record = get_upgrade(chain.state, BOARD, 2)
    assert record is not None
    assert (record.contract, record.version, record.module, record.source_sha256) == (
        BOARD, 2, "contracts.versions.demo_board_v2", V2.source_sha256)
    assert (record.activation_height, record.migration, record.status) == (
        activation, "count_words", SCHEDULED)
    assert (record.scheduled_by, record.scheduled_at) == (f"proposal:{proposal_id}",
                                                          chain.height)
    assert get_index(chain.state) == UpgradeIndex((PendingUpgrade(activation, BOARD, 2),), ())
    scheduled = executing.events[-1]
    assert scheduled.kind == "governance.upgrade_scheduled"
    assert scheduled.attributes["source_sha256"] == V2.source_sha256
    assert scheduled.attributes["activation_height"] == activation
    assert scheduled.attributes["subjects"] == ["contract:demo_board", f"proposal:{proposal_id}"]

    # Provable against the certified header's state root, like any state.
    header = chain.store.block(chain.height).header
    for key in (upgrade_key(BOARD, 2), INDEX_KEY):
        value, proof = chain.store.state_at(chain.height).get_with_proof(key)
        assert value is not None
        verify_proof(header.state_root, key, value, proof)


def test_an_upgrade_needs_only_the_operator_quorum(chain: UpgradeChain) -> None:
    receipt = chain.propose("upgrade", upgrade_params(chain.height + 200))
    assert receipt.code == "OK"
    proposal_id = chain.last_proposal_id()
    # no financier or auditor co-approval: operators only
    missing = receipt.events[-1].attributes["missing"]
    assert missing == ["2 more operator approval(s) (1 of the quorum of 3)"]
    refused(chain.call("SUPPLIER-01", "governance", "approve", proposal_id=proposal_id),
            Code.FORBIDDEN)
    refused(chain.propose("upgrade", upgrade_params(chain.height + 200), member="SUPPLIER-01"),
            Code.FORBIDDEN)
    proposal = get_proposal(chain.state, proposal_id)
    assert proposal is not None and proposal.status == "open"


@pytest.mark.parametrize("params,fragment", [
    ({"version": 1}, "params.version"),
    ({"source_sha256": "ABC"}, "params.source_sha256"),
    ({"module": "os.path"}, "params.module"),
    ({"contract": "Demo"}, "params.contract"),
    ({"migration": "Drop Tables"}, "params.migration"),
    ({"extra": 1}, "params.extra: not a param of upgrade"),
])
def test_malformed_upgrade_params_are_invalid_arguments(chain: UpgradeChain,
                                                        params: dict[str, Any],
                                                        fragment: str) -> None:
    receipt = chain.propose("upgrade", {**upgrade_params(chain.height + 200), **params})
    refused(receipt, Code.INVALID_ARGUMENT, fragment)
    only_the_nonce_changed(chain, "CORE-01")


def test_a_missing_param_is_named(chain: UpgradeChain) -> None:
    params = upgrade_params(chain.height + 200)
    del params["source_sha256"]
    refused(chain.propose("upgrade", params), Code.INVALID_ARGUMENT,
            "params.source_sha256: required")


def test_the_activation_height_needs_the_minimum_notice(chain: UpgradeChain) -> None:
    # proposed at height h + 1: the earliest activation is h + 1 + MIN_ACTIVATION_DELAY
    earliest = chain.height + 1 + MIN_ACTIVATION_DELAY
    refused(chain.propose("upgrade", upgrade_params(earliest - 1)), Code.UPGRADE_TOO_SOON,
            f"choose {earliest} or later")
    only_the_nonce_changed(chain, "CORE-01")


def test_an_upgrade_too_soon_by_execution_time_stays_open(chain: UpgradeChain) -> None:
    earliest = chain.height + 1 + MIN_ACTIVATION_DELAY
    assert chain.propose("upgrade", upgrade_params(earliest)).code == "OK"
    proposal_id = chain.last_proposal_id()
    chain.ok("BANK-A", "governance", "approve", proposal_id=proposal_id)
    root = chain.root
    refused(chain.call("BANK-B", "governance", "approve", proposal_id=proposal_id),
            Code.UPGRADE_TOO_SOON)
    only_the_nonce_changed(chain, "BANK-B")
    assert root != chain.root    # the nonce only
    proposal = get_proposal(chain.state, proposal_id)
    assert proposal is not None and proposal.status == "open"
    assert get_upgrade(chain.state, BOARD, 2) is None


def test_one_pending_upgrade_per_contract(chain: UpgradeChain) -> None:
    activation = chain.schedule()
    receipt = chain.propose("upgrade", upgrade_params(activation + 50, version=3))
    refused(receipt, Code.UPGRADE_PENDING, f"version 2 scheduled for height {activation}")
    only_the_nonce_changed(chain, "CORE-01")


def test_a_version_must_be_above_the_running_one_and_never_reused(chain: UpgradeChain) -> None:
    activation = chain.schedule()
    chain.pass_proposal("cancel_upgrade", {"contract": BOARD, "version": 2, "reason": "typo"})
    refused(chain.propose("upgrade", upgrade_params(activation + 10)),
            Code.UPGRADE_VERSION_INVALID, "was already scheduled")
    third = ContractCode(Contract(BOARD, 3, V2.contract.methods,
                                  migrations=V2.contract.migrations),
                         "contracts.versions.demo_board_v3", "3" * 64)
    chain.registry = upgraded_with(V2, third)
    activation = chain.schedule(code=third)
    chain.advance_to(activation)
    assert get_index(chain.state).active_code(BOARD) is not None
    refused(chain.propose("upgrade", upgrade_params(chain.height + 200)),
            Code.UPGRADE_VERSION_INVALID, "demo_board runs version 3")


# -- 2. the switch at the activation height --------------------------------------------

def test_old_code_before_the_activation_height_new_code_from_it(chain: UpgradeChain) -> None:
    first = chain.post("SUPPLIER-01", "hello old board")
    assert first.events[0].attributes["version"] == 1
    activation = chain.schedule()
    chain.post("CORE-01", "one two  three")
    chain.advance_to(activation - 3)

    # up to height activation - 1: still version 1
    assert chain.post("BANK-A", "x" * 65).code == Code.INVALID_ARGUMENT.value
    refused(chain.call("SUPPLIER-01", BOARD, "edit", post_id=1, text="no"),
            Code.UNKNOWN_METHOD)
    assert chain.height == activation - 1
    assert board_post(chain.state, 2) == {"author": "CORE-01", "text": "one two  three"}

    # height activation: the migration, then the block's transactions on version 2
    before = chain.root
    receipt = chain.post("BANK-A", "x" * 65)
    assert chain.height == activation
    assert receipt.code == "OK" and receipt.events[0].attributes["version"] == 2
    assert board_post(chain.state, 1) == {"author": "SUPPLIER-01", "edits": 0,
                                          "text": "hello old board", "words": 3}
    assert board_post(chain.state, 2)["words"] == 3
    assert board_post(chain.state, 3) == {"author": "BANK-A", "edits": 0, "text": "x" * 65,
                                          "words": 1}
    record = get_upgrade(chain.state, BOARD, 2)
    assert record is not None and (record.status, record.closed_at) == (ACTIVE, activation)
    assert get_index(chain.state) == UpgradeIndex((), (ActiveCode(
        BOARD, 2, V2.module, V2.source_sha256, activation),))
    # the state root of the activation block commits to the migrated records
    header = chain.store.block(activation).header
    assert header.state_root == chain.root != before
    old_layout = chain.store.state_at(activation - 1)
    assert board_post(old_layout, 1) == {"author": "SUPPLIER-01", "text": "hello old board"}

    chain.ok("SUPPLIER-01", BOARD, "edit", post_id=1, text="edited")
    assert board_post(chain.state, 1)["edits"] == 1
    refused(chain.call("CORE-01", BOARD, "edit", post_id=1, text="not mine"), Code.FORBIDDEN)


def test_the_migration_runs_exactly_once(chain: UpgradeChain) -> None:
    chain.post("SUPPLIER-01", "a b c")
    activation = chain.schedule()
    chain.advance_to(activation - 1)
    chain.run([])
    migrated = {key for key in chain.last_changes if b"/post/" in key}
    assert len(migrated) == 1    # post 1, rewritten in the activation block
    chain.ok("SUPPLIER-01", BOARD, "edit", post_id=1, text="changed")
    for _ in range(3):
        chain.run([])
        assert INDEX_KEY not in chain.last_changes
        assert not any(b"/post/" in key for key in chain.last_changes)
    assert board_post(chain.state, 1)["text"] == "changed"   # never migrated again


def test_an_upgrade_without_migration_switches_code_only(chain: UpgradeChain) -> None:
    chain.post("SUPPLIER-01", "kept as it was")
    activation = chain.schedule(migration=None)
    chain.advance_to(activation)
    assert board_post(chain.state, 1) == {"author": "SUPPLIER-01", "text": "kept as it was"}
    assert chain.post("SUPPLIER-01", "y" * 100).events[0].attributes["version"] == 2


# -- a migration that fails: the old code keeps running ------------------------------

def _refusing(ctx: MigrationContext) -> None:
    ctx.state.put(b"half", b"written")
    raise LedgerError(Code.INVALID_STATE_TRANSITION, "post 7 cannot be converted")


def _crashing(ctx: MigrationContext) -> None:
    ctx.state.put(b"half", b"written")
    raise ZeroDivisionError("boom")


@pytest.mark.parametrize("migration,outcome", [
    ("refuse", "INVALID_STATE_TRANSITION: post 7 cannot be converted"),
    ("crash", "CONTRACT_BUG: ZeroDivisionError"),
    ("not_declared", "CONTRACT_BUG: module contracts.versions.demo_board_v9 declares no "
                     "migration 'not_declared'"),
])
def test_a_failed_migration_leaves_the_old_version_running(chain: UpgradeChain, migration: str,
                                                           outcome: str) -> None:
    broken = ContractCode(Contract(BOARD, 9, V2.contract.methods,
                                   migrations=(("refuse", _refusing), ("crash", _crashing))),
                          "contracts.versions.demo_board_v9", "9" * 64)
    chain.registry = upgraded_with(broken)
    chain.post("SUPPLIER-01", "before")
    activation = chain.schedule(code=broken, migration=migration)
    chain.advance_to(activation)
    record = get_upgrade(chain.state, BOARD, 9)
    assert record is not None
    assert (record.status, record.closed_at, record.outcome) == (FAILED, activation, outcome)
    assert get_index(chain.state) == UpgradeIndex()
    assert not any(key.endswith(b"/half") for key in chain.last_changes)
    assert board_post(chain.state, 1) == {"author": "SUPPLIER-01", "text": "before"}
    assert chain.post("SUPPLIER-01", "z" * 65).code == Code.INVALID_ARGUMENT.value  # still v1
    # a fixed version may be scheduled under a new number
    chain.schedule(code=V2)


# -- cancelling ---------------------------------------------------------------------------

def test_a_cancelled_upgrade_never_activates(chain: UpgradeChain) -> None:
    activation = chain.schedule()
    proposal_id = chain.pass_proposal("cancel_upgrade", {
        "contract": BOARD, "version": 2, "reason": "the code is not ready"})
    record = get_upgrade(chain.state, BOARD, 2)
    assert record is not None and record.status == CANCELLED
    assert record.outcome == f"proposal:{proposal_id}: the code is not ready"
    assert get_index(chain.state) == UpgradeIndex()
    kinds = [event.kind for event in chain.store.receipts(chain.height)[0].events]
    assert kinds[-1] == "governance.upgrade_cancelled"
    chain.advance_to(activation + 1)
    assert chain.post("SUPPLIER-01", "w" * 65).code == Code.INVALID_ARGUMENT.value


def test_only_a_scheduled_upgrade_can_be_cancelled(chain: UpgradeChain) -> None:
    cancel = {"contract": BOARD, "version": 2, "reason": "r"}
    refused(chain.propose("cancel_upgrade", cancel), Code.UPGRADE_NOT_FOUND,
            "no upgrade of demo_board to version 2")
    only_the_nonce_changed(chain, "CORE-01")
    activation = chain.schedule()
    chain.advance_to(activation)
    refused(chain.propose("cancel_upgrade", cancel), Code.UPGRADE_NOT_FOUND, "is active")


def test_a_cancel_that_completes_after_activation_fails_and_stays_open(
        chain: UpgradeChain) -> None:
    activation = chain.schedule()
    chain.ok("CORE-01", "governance", "propose", action="cancel_upgrade",
             params={"contract": BOARD, "version": 2, "reason": "late"})
    proposal_id = chain.last_proposal_id()
    chain.ok("BANK-A", "governance", "approve", proposal_id=proposal_id)
    chain.advance_to(activation)
    refused(chain.call("BANK-B", "governance", "approve", proposal_id=proposal_id),
            Code.UPGRADE_NOT_FOUND)
    record = get_upgrade(chain.state, BOARD, 2)
    assert record is not None and record.status == ACTIVE


def test_v1_is_the_genesis_code(chain: UpgradeChain) -> None:
    assert chain.registry.method(BOARD, "post") is V1.by_name["post"]
    assert chain.registry.method(BOARD, "post", 2) is V2.contract.by_name["post"]
    assert chain.registry.method(BOARD, "edit") is None
