"""Replay from genesis of a chain that crossed a contract upgrade.

Blocks before the activation height re-execute with the genesis code, the
activation block runs the migration, later blocks the new code: the auditor
replay (ledger/replay.py) reproduces every stored receipt byte for byte and
the final state root. A replaying registry without the new code replays the
old blocks and stops at the activation height, naming the code it needs.
"""

from __future__ import annotations

import pytest

from ledger.replay import replay, replay_chain
from tests.contracts.test_upgrades_support import OLD, UPGRADED, V2, UpgradeChain


@pytest.fixture(scope="module")
def crossed() -> UpgradeChain:
    chain = UpgradeChain()
    chain.post("SUPPLIER-01", "one under version one")
    chain.post("CORE-01", "x" * 65)                      # refused by version 1
    chain.activation = chain.schedule()  # type: ignore[attr-defined]
    chain.advance_to(chain.activation - 2)  # type: ignore[attr-defined]
    chain.post("BANK-A", "the last under version one")
    chain.post("CORE-01", "x" * 65)                      # accepted by version 2
    chain.ok("SUPPLIER-01", "demo_board", "edit", post_id=1, text="edited")
    return chain


def test_the_stored_receipts_show_each_version_at_its_heights(crossed: UpgradeChain) -> None:
    activation = crossed.activation  # type: ignore[attr-defined]
    versions = {height: event.attributes["version"]
                for height in range(1, crossed.height + 1)
                for receipt in crossed.store.receipts(height)
                for event in receipt.events if event.kind == "demo_board.posted"}
    assert versions == {1: 1, activation - 1: 1, activation: 2}
    assert crossed.store.receipts(2)[0].code == "INVALID_ARGUMENT"


def test_replay_from_genesis_gives_the_same_receipts_and_state_root(
        crossed: UpgradeChain) -> None:
    report = replay_chain(crossed.store, UPGRADED)
    assert report.ok, report.mismatch
    assert (report.final_height, report.final_state_root) == (crossed.height, crossed.root)


def test_old_blocks_replay_with_the_old_code_alone(crossed: UpgradeChain) -> None:
    activation = crossed.activation  # type: ignore[attr-defined]
    entries = [crossed.store.raw_entry(h) for h in range(1, activation)]
    report = replay(crossed.store.genesis, entries, OLD)
    assert report.ok, report.mismatch
    assert report.final_state_root == crossed.store.state_at(activation - 1).root


def test_replay_without_the_new_code_stops_at_the_activation_height(
        crossed: UpgradeChain) -> None:
    activation = crossed.activation  # type: ignore[attr-defined]
    report = replay_chain(crossed.store, OLD)
    assert not report.ok and report.mismatch is not None
    assert report.mismatch.height == activation and report.final_height == activation - 1
    assert V2.module in report.mismatch.reason and V2.source_sha256 in report.mismatch.reason
