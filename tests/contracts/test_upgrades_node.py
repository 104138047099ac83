"""The node side of an upgrade it lacks the code for: warn early, stop at the height.

`LedgerApplication` (node/runtime/application.py) of a node running the old
code, fed the blocks of a chain whose other nodes carry version 2 of
demo_board: it follows every block before the activation height; at that
height executing, committing (also a synced block) or building raises
CONTRACT_CODE_MISSING, logged once with the module and the SHA-256, and the
application stays halted. A real `Node` whose store is already at the height
before an activation refuses to start, with the same code, and releases its
store.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from contracts.registry import default_registry
from contracts.upgrades import MIN_ACTIVATION_DELAY
from genesis.demo_keys import demo_key
from genesis.examples.make_consortium import OUTPUT as EXAMPLE_GENESIS
from ledger.accounts import next_nonce
from ledger.block_builder import build_block
from ledger.contract_api import Registry
from ledger.errors import Code, LedgerError
from ledger.store import LevelDBStore, MemoryStore
from ledger.store.chain import ChainStore
from ledger.transition import apply_block
from ledger.types import SignedTransaction, Transaction
from node.config import NodeConfig
from node.home import init_home, open_home
from node.runtime.application import LedgerApplication
from node.runtime.mempool import Mempool
from tests.contracts.support import GENESIS
from tests.contracts.test_upgrades_support import OLD, V2, UpgradeChain
from tests.support.chain import VALIDATOR_KEYS, certify, example_genesis

APP_LOG = "scf.node.application"


@pytest.fixture(scope="module")
def crossed() -> UpgradeChain:
    chain = UpgradeChain()
    chain.post("SUPPLIER-01", "before the upgrade")
    chain.activation = chain.schedule()  # type: ignore[attr-defined]
    chain.advance_to(chain.activation + 1)  # type: ignore[attr-defined]
    return chain


def application(registry: Registry) -> LedgerApplication:
    return LedgerApplication(ChainStore(MemoryStore(), GENESIS), registry, Mempool(),
                             VALIDATOR_KEYS[0].public_key)


def follow(app: LedgerApplication, source: UpgradeChain, up_to: int) -> None:
    """Executes then commits `source`'s blocks up to `up_to`, as consensus would."""
    for height in range(app.height + 1, up_to + 1):
        block = source.store.block(height)
        assert app.execute(block)
        app.commit(block, source.store.commit(height))


def code_missing_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == APP_LOG and r.levelno == logging.ERROR]


def test_the_old_node_follows_until_the_activation_height_then_stops(
        crossed: UpgradeChain, caplog: pytest.LogCaptureFixture) -> None:
    activation = crossed.activation  # type: ignore[attr-defined]
    app = application(OLD)
    follow(app, crossed, activation - 1)
    assert app.halted is None
    block = crossed.store.block(activation)
    with caplog.at_level(logging.INFO, logger=APP_LOG):
        with pytest.raises(LedgerError) as caught:
            app.execute(block)
        assert caught.value.code is Code.CONTRACT_CODE_MISSING
        assert app.halted is caught.value
        # it does not vote the block invalid: it refuses every later step the same way
        assert app.invalid_reason(block.hash) is None
        for attempt in (lambda: app.execute(block),
                        lambda: app.commit(block, crossed.store.commit(activation)),
                        lambda: app.build(activation, block.header.time_ms)):
            with pytest.raises(LedgerError) as again:
                attempt()
            assert again.value is app.halted
    assert app.height == activation - 1
    [logged] = code_missing_errors(caplog)   # one line, not one per retry
    assert logged.startswith(f"stopping before height {activation}: CONTRACT_CODE_MISSING: ")
    assert "contracts.versions.demo_board_v2" in logged and V2.source_sha256 in logged


def test_a_synced_block_at_the_activation_height_halts_too(crossed: UpgradeChain) -> None:
    activation = crossed.activation  # type: ignore[attr-defined]
    app = application(OLD)
    follow(app, crossed, activation - 1)
    with pytest.raises(LedgerError) as caught:
        app.apply_synced(crossed.store.block(activation), crossed.store.commit(activation))
    assert caught.value.code is Code.CONTRACT_CODE_MISSING
    assert app.halted is caught.value and app.height == activation - 1


def test_the_old_node_as_proposer_stops_too(crossed: UpgradeChain) -> None:
    activation = crossed.activation  # type: ignore[attr-defined]
    app = application(OLD)
    follow(app, crossed, activation - 1)
    with pytest.raises(LedgerError) as caught:
        app.build(activation, crossed.store.block(activation).header.time_ms)
    assert caught.value.code is Code.CONTRACT_CODE_MISSING and app.halted is caught.value


def test_at_start_a_node_warns_ahead_and_refuses_at_the_height(
        crossed: UpgradeChain, caplog: pytest.LogCaptureFixture) -> None:
    activation = crossed.activation  # type: ignore[attr-defined]
    app = application(OLD)
    with caplog.at_level(logging.WARNING, logger=APP_LOG):
        follow(app, crossed, activation - 50)   # warned once, at the block that scheduled it
        app.check_contract_code()               # and again at start
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert all(f"activates at height {activation}" in warning and V2.source_sha256 in warning
               for warning in warnings)
    follow(app, crossed, activation - 1)
    with pytest.raises(LedgerError) as caught:
        app.check_contract_code()
    assert caught.value.code is Code.CONTRACT_CODE_MISSING and app.halted is caught.value


def test_a_node_with_the_code_logs_the_schedule_and_the_activation(
        crossed: UpgradeChain, caplog: pytest.LogCaptureFixture) -> None:
    app = application(crossed.registry)
    with caplog.at_level(logging.INFO, logger=APP_LOG):
        follow(app, crossed, crossed.height)
        app.check_contract_code()
    messages = [r.getMessage() for r in caplog.records if r.name == APP_LOG]
    activation = crossed.activation  # type: ignore[attr-defined]
    assert any("demo_board version 2" in m and f"scheduled (activation height {activation})"
               in m for m in messages)
    assert any(m.startswith(f"height {activation}: contract demo_board version 2") and
               m.endswith("is now active") for m in messages)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert app.chain.state_at(app.height).root == crossed.root


# -- a real node's start --------------------------------------------------------------

def _governance_tx(chain: ChainStore, member: str, method: str, **args: object
                   ) -> SignedTransaction:
    key = demo_key(member)
    return Transaction(chain.genesis.chain_id, key.public_key,
                       next_nonce(chain.state(), key.public_key), "governance", method,
                       dict(args)).sign(key)


def _commit(chain: ChainStore, registry: Registry, txs: list[SignedTransaction]) -> None:
    tip = chain.tip()
    built, left_out = build_block(
        chain, tip, txs, time_ms=tip.time_ms + 1000,
        proposer=VALIDATOR_KEYS[tip.height % 4].public_key,
        last_commit=None if tip.height == 0 else chain.commit(tip.height), registry=registry,
        max_txs=100)
    assert not left_out
    assert all(receipt.code == "OK" for receipt in built.receipts), built.receipts
    chain.append(apply_block(chain, tip, built.block, registry), certify(chain, built.block))


def test_a_node_at_the_height_before_an_upgrade_it_lacks_refuses_to_start(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from node.service import Node

    home = tmp_path / "bank-a"
    init_home(home, config=NodeConfig(member_id="BANK-A", port=0),
              genesis_file=EXAMPLE_GENESIS, member_key=demo_key("BANK-A"),
              validator_key=demo_key("BANK-A/validator"))
    node_home = open_home(home)
    node_home.data.mkdir(exist_ok=True)
    registry = default_registry()
    sha = "ab" * 32
    with LevelDBStore(node_home.chain_dir) as kv:
        chain = ChainStore(kv, example_genesis())
        activation = 3 + MIN_ACTIVATION_DELAY
        _commit(chain, registry, [_governance_tx(
            chain, "CORE-01", "propose", action="upgrade", params={
                "contract": "governance", "version": 2, "module": "contracts.governance_v2",
                "source_sha256": sha, "activation_height": activation})])
        for approver in ("BANK-A", "BANK-B"):
            _commit(chain, registry, [_governance_tx(chain, approver, "approve", proposal_id=1)])
        while chain.height < activation - 1:
            _commit(chain, registry, [])

    with caplog.at_level(logging.ERROR, logger=APP_LOG):
        with pytest.raises(LedgerError) as caught:
            Node(node_home)
    assert caught.value.code is Code.CONTRACT_CODE_MISSING
    assert f"module contracts.governance_v2 with source sha256 {sha}" in caught.value.message
    assert any(sha in message for message in code_missing_errors(caplog))
    with LevelDBStore(node_home.chain_dir):   # the refusing node let go of its store
        pass
