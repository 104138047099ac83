"""A node without the code of an upgrade refuses to pass its activation height.

Library level: `apply_block` (and the proposer's `build_block`, and
`apply_tx`) raise CONTRACT_CODE_MISSING naming the module and its full
source SHA-256, never a failed receipt or INVALID_BLOCK: the block is not at
fault, this node cannot judge it. Also: the registry's versions, the source
hash it computes, and the per-version pins of genesis/contract_pins.py.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from contracts import governance
from contracts.engine import Contract, ContractCode, ContractRegistry
from contracts.registry import CONTRACT_MODULES, load_contract_code, module_source_sha256
from genesis.contract_pins import compute_version_pins, validate_version_imports
from genesis.demo_keys import demo_key
from ledger.block_builder import build_block
from ledger.contract_api import CodeId
from ledger.contract_upgrades import check_code, get_index, missing_scheduled_code
from ledger.accounts import next_nonce
from ledger.errors import Code, LedgerError
from ledger.state import Overlay
from ledger.store import MemoryStore
from ledger.store.chain import ChainStore
from ledger.transition import TxContext, apply_block, apply_tx
from ledger.types import Transaction
from tests.contracts.support import GENESIS
from tests.contracts.test_upgrades_support import (
    BOARD,
    OLD,
    V1,
    V2,
    UpgradeChain,
    upgraded_with,
)
from tests.support.chain import VALIDATOR_KEYS

ROOT = Path(__file__).resolve().parents[2]
V2_FILE = ROOT / "contracts" / "versions" / "demo_board_v2.py"


@pytest.fixture(scope="module")
def crossed() -> UpgradeChain:
    """A chain (run by nodes with the new code) that crossed the upgrade: one
    post before it, activation at `crossed.activation`, two blocks after."""
    chain = UpgradeChain()
    chain.post("SUPPLIER-01", "before the upgrade")
    chain.activation = chain.schedule()  # type: ignore[attr-defined]
    chain.advance_to(chain.activation + 2)  # type: ignore[attr-defined]
    return chain


def follower(source: UpgradeChain, registry: ContractRegistry, up_to: int) -> ChainStore:
    """A second node's store that applied `source`'s blocks 1..up_to with `registry`."""
    store = ChainStore(MemoryStore(), GENESIS)
    for height in range(1, up_to + 1):
        block = source.store.block(height)
        store.append(apply_block(store, store.tip(), block, registry), source.store.commit(height))
    return store


def code_missing(error: LedgerError) -> str:
    assert error.code is Code.CONTRACT_CODE_MISSING, error
    return error.message


def test_without_the_code_a_node_stops_at_the_activation_height(crossed: UpgradeChain) -> None:
    activation = crossed.activation  # type: ignore[attr-defined]
    store = follower(crossed, OLD, activation - 1)   # every block before it: old code
    assert store.state_at(activation - 1).root == crossed.store.state_at(activation - 1).root
    with pytest.raises(LedgerError) as caught:
        apply_block(store, store.tip(), crossed.store.block(activation), OLD)
    message = code_missing(caught.value)
    assert f"contract demo_board version 2 activates at height {activation}" in message
    assert f"module contracts.versions.demo_board_v2 with source sha256 {V2.source_sha256}" \
        in message
    assert "this node lacks it" in message
    assert store.height == activation - 1


def test_code_with_another_hash_is_not_the_code(crossed: UpgradeChain) -> None:
    activation = crossed.activation  # type: ignore[attr-defined]
    other = ContractCode(V2.contract, V2.module, "0" * 64)
    store = follower(crossed, OLD, activation - 1)
    with pytest.raises(LedgerError) as caught:
        apply_block(store, store.tip(), crossed.store.block(activation), upgraded_with(other))
    message = code_missing(caught.value)
    assert f"carries module contracts.versions.demo_board_v2 with source sha256 {'0' * 64} " \
           "instead" in message
    assert V2.source_sha256 in message


def test_the_proposer_without_the_code_builds_nothing(crossed: UpgradeChain) -> None:
    activation = crossed.activation  # type: ignore[attr-defined]
    store = follower(crossed, OLD, activation - 1)
    tip = store.tip()
    with pytest.raises(LedgerError) as caught:
        build_block(store, tip, [], time_ms=tip.time_ms + 1000,
                    proposer=VALIDATOR_KEYS[0].public_key, last_commit=store.commit(tip.height),
                    registry=OLD, max_txs=10)
    code_missing(caught.value)


def test_after_the_activation_every_block_needs_the_code(crossed: UpgradeChain) -> None:
    activation = crossed.activation  # type: ignore[attr-defined]
    store = follower(crossed, crossed.registry, activation + 1)
    with pytest.raises(LedgerError) as caught:
        apply_block(store, store.tip(), crossed.store.block(activation + 2), OLD)
    assert f"contract demo_board runs version 2 since height {activation}" in \
        code_missing(caught.value)
    # and a transaction of the upgraded contract is never a receipt on such a node
    key = demo_key("SUPPLIER-01")
    nonce = next_nonce(store.state(), key.public_key)
    tx = Transaction(GENESIS.chain_id, key.public_key, nonce, BOARD, "post",
                     {"text": "t"}).sign(key)
    with pytest.raises(LedgerError) as caught:
        apply_tx(Overlay(store), tx, TxContext(GENESIS.chain_id, activation + 2, 0), OLD)
    code_missing(caught.value)


def test_check_code_and_early_warnings() -> None:
    chain = UpgradeChain()
    activation = chain.schedule()
    state = chain.state
    check_code(state, OLD, activation - 1)              # not due yet
    with pytest.raises(LedgerError) as caught:
        check_code(state, OLD, activation)
    code_missing(caught.value)
    [warning] = missing_scheduled_code(state, OLD)
    assert V2.source_sha256 in warning.message
    assert missing_scheduled_code(state, chain.registry) == []
    check_code(state, chain.registry, activation)


def test_a_node_with_the_code_follows_the_whole_chain(crossed: UpgradeChain) -> None:
    store = follower(crossed, crossed.registry, crossed.height)
    assert store.state_at(store.height).root == crossed.root
    assert get_index(store.state()).active_code(BOARD) is not None


# -- the registry's versions ----------------------------------------------------------

def test_the_registry_serves_each_version_and_its_migrations() -> None:
    registry = upgraded_with(V2)
    assert registry.code(BOARD, 2) == CodeId(V2.module, V2.source_sha256)
    assert registry.code(BOARD, 3) is None and registry.code("governance", 2) is None
    assert registry.migration(BOARD, 2, "count_words") is not None
    assert registry.migration(BOARD, 2, "nope") is None
    assert registry.method(BOARD, "edit", 2) is not None
    assert registry.method(BOARD, "edit", 3) is None
    assert registry.versions == (V2,)


@pytest.mark.parametrize("code,fragment", [
    (ContractCode(Contract("ghost", 2, ()), "contracts.ghost_v2", "1" * 64), "no genesis code"),
    (ContractCode(Contract(BOARD, 1, ()), "contracts.board_v1b", "1" * 64),
     "not above its genesis version 1"),
    (ContractCode(Contract(BOARD, 2, (), privileged=True), "contracts.x", "1" * 64),
     "changes whether it is privileged"),
])
def test_the_registry_refuses_inconsistent_versions(code: ContractCode, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        ContractRegistry([governance.CONTRACT, V1], [code])


def test_a_version_registered_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        ContractRegistry([V1], [V2, V2])


def test_a_migration_declared_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="migration is declared twice"):
        Contract(BOARD, 2, (), migrations=(("m", print), ("m", print)))  # type: ignore[arg-type]


def test_the_loaded_hash_is_the_source_files_hash_and_its_version_pin() -> None:
    expected = hashlib.sha256(V2_FILE.read_bytes()).hexdigest()
    assert V2.source_sha256 == expected == module_source_sha256(V2.module)
    assert compute_version_pins([(BOARD, 2, V2.module)]) == {"demo_board@2": expected}
    with pytest.raises(ValueError, match="is version 2, expected 3"):
        load_contract_code(BOARD, 3, V2.module)
    with pytest.raises(ValueError, match="no source file"):
        module_source_sha256("contracts.versions.no_such_module")


def test_a_version_may_import_only_genesis_pinned_code() -> None:
    validate_version_imports(CONTRACT_MODULES, [(BOARD, 2, V2.module)])
    with pytest.raises(LedgerError) as caught:
        validate_version_imports({}, [(BOARD, 2, V2.module)])
    assert caught.value.code is Code.CONTRACT_CODE_MISMATCH
    assert "demo_board@2 (contracts.versions.demo_board_v2) imports contracts.engine" in \
        caught.value.message
