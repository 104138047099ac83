"""Contract source pins: genesis names the code; a node running other code refuses."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from contracts.registry import CONTRACT_MODULES
from genesis.contract_pins import compute_contract_pins, compute_node_pins, validate_contract_pins
from genesis.document import load_genesis, parse_genesis
from genesis.examples.make_consortium import OUTPUT, document
from ledger.errors import Code, LedgerError

ROOT = Path(__file__).resolve().parents[2]


def _sha(relative: str) -> str:
    return hashlib.sha256((ROOT / relative).read_bytes()).hexdigest()


def test_a_pin_is_the_sha256_of_the_source_file() -> None:
    pins = compute_contract_pins({"governance": "contracts.governance"}, dependencies=False)
    assert pins == {"governance": _sha("contracts/governance.py")}


def test_the_contracts_modules_a_contract_imports_are_pinned_too() -> None:
    pins = compute_contract_pins({"governance": "contracts.governance"})
    # governance imports engine, upgrades, and (to tell exposed financiers of a
    # freeze) repayment and risk, which import what they need in turn
    for module in ("contracts.engine", "contracts.upgrades", "contracts.repayment",
                   "contracts.risk", "contracts.invoices"):
        assert pins[module] == _sha(module.replace(".", "/") + ".py")
    assert pins["governance"] == _sha("contracts/governance.py")
    assert "contracts.factoring" not in pins  # only what governance's imports reach
    assert list(pins) == sorted(pins)


def test_every_registry_contract_is_pinned() -> None:
    pins = compute_node_pins()
    assert set(CONTRACT_MODULES) <= set(pins)
    assert all(name in CONTRACT_MODULES or name.startswith("contracts.") for name in pins)
    assert "contracts.registry" not in pins


def test_a_module_without_source_cannot_be_pinned() -> None:
    with pytest.raises(LedgerError) as caught:
        compute_contract_pins({"ghost": "contracts.no_such_module"})
    assert caught.value.code is Code.CONTRACT_CODE_MISMATCH
    assert "no_such_module" in caught.value.message


def test_the_example_genesis_pins_the_current_contracts() -> None:
    # Compared with a fresh computation, never with hard-coded hashes: any
    # edit of a contract module changes its pin.
    pinned = load_genesis(OUTPUT).contracts
    assert pinned == compute_node_pins(), (
        "genesis/examples/consortium.json pins other contract code: "
        "re-run `python genesis/examples/make_consortium.py`")
    assert document()["contracts"] == pinned
    validate_contract_pins(load_genesis(OUTPUT), compute_node_pins())


def test_a_node_with_other_code_refuses_and_names_each_module() -> None:
    pins = compute_node_pins()
    edited = dict(pins, governance="0" * 64)
    with pytest.raises(LedgerError) as caught:
        validate_contract_pins(parse_genesis(json.dumps(dict(document(), contracts=edited))), pins)
    message = caught.value.message
    assert caught.value.code is Code.CONTRACT_CODE_MISMATCH
    assert "(1 module)" in message and "governance: source sha256" in message
    assert "0000000000000000…" in message


def test_modules_pinned_on_one_side_only_are_named() -> None:
    node = {"governance": "a" * 64, "contracts.engine": "b" * 64, "extra": "c" * 64}
    genesis = {"governance": "a" * 64, "contracts.engine": "d" * 64, "invoices": "e" * 64}
    with pytest.raises(LedgerError) as caught:
        validate_contract_pins(genesis, node)
    message = caught.value.message
    assert "(3 modules)" in message
    assert "contracts.engine: source sha256 bbbb" in message
    assert "extra: this node runs it" in message
    assert "invoices: pinned in genesis" in message
    validate_contract_pins(genesis, genesis)
