"""The genesis loader: the example consortium loads; doubtful documents do not."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable

import pytest

from genesis.document import load_genesis, parse_genesis
from genesis.examples.make_consortium import OUTPUT, render
from ledger.accounts import Role, get_member, member_of_signer, next_nonce
from ledger.errors import Code, LedgerError
from ledger.state import EmptyState, Overlay
from ledger.system_state import get_params, get_validator_set

EXAMPLE = json.loads(OUTPUT.read_text())


def test_example_file_matches_its_generator() -> None:
    assert OUTPUT.read_text() == render()


def test_example_consortium_loads_and_builds_state() -> None:
    genesis = load_genesis(OUTPUT)
    assert genesis.chain_id == "scf-demo"
    assert len(genesis.members) == 6 and len(genesis.validators.validators) == 4
    assert genesis.validators.total_power == 4 and genesis.validators.has_quorum(3)
    state = Overlay(EmptyState())
    genesis.build_state(state)
    bank = get_member(state, "BANK-A")
    assert bank is not None and bank.has_role(Role.FINANCIER) and not bank.frozen
    assert member_of_signer(state, bank.keys[0]) == bank
    assert next_nonce(state, bank.keys[0]) == 0
    assert get_validator_set(state) == genesis.validators
    assert get_params(state) == genesis.params


def test_hash_ignores_json_layout_but_not_content() -> None:
    reformatted = json.dumps(EXAMPLE, separators=(",", ":"), sort_keys=True)
    assert parse_genesis(reformatted).hash == load_genesis(OUTPUT).hash
    changed = copy.deepcopy(EXAMPLE)
    changed["genesis_time_ms"] += 1
    assert parse_genesis(json.dumps(changed)).hash != load_genesis(OUTPUT).hash


def _edit(change: Callable[[dict[str, Any]], None]) -> str:
    doc = copy.deepcopy(EXAMPLE)
    change(doc)
    return json.dumps(doc)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value
    return change


BAD = [
    ("unknown field", _set("colour", "blue"), "unknown: colour"),
    ("format", _set("format", 2), "format"),
    ("float", _set("genesis_time_ms", 1.5), ""),
    ("chain id", _set("chain_id", "bad chain"), "chain_id"),
    ("unknown role", _set("members.0.roles", ["king"]), "members[0].roles"),
    ("bad key hex", _set("members.0.keys", ["zz" * 32]), "members[0].keys"),
    ("small order key", _set("members.0.keys", ["00" * 32]), "members[0].keys"),
    ("no key", _set("members.0.keys", []), "members[0]"),
    ("duplicate member", lambda d: d["members"].append(d["members"][0]), "appears twice"),
    ("shared key", lambda d: d["members"][1]["keys"].append(d["members"][0]["keys"][0]), "also"),
    ("validator of nobody", _set("validators.0.member", "NOBODY"), "validators[0].member"),
    ("zero power", _set("validators.0.power", 0), "validators[0]"),
    ("duplicate validator", lambda d: d["validators"].append(d["validators"][0]), "validator"),
    ("no validators", _set("validators", []), "validators"),
    ("quorum too high", _set("governance.operator_quorum", 5), "operator_quorum"),
    ("unknown consensus", _set("consensus.timeout_commit_ms", 5), "consensus"),
    ("contract digest", _set("contracts", {"invoices": "abc"}), "contracts.invoices"),
]


@pytest.mark.parametrize("name,change,fragment", BAD, ids=[b[0] for b in BAD])
def test_bad_genesis_is_refused_naming_the_field(name: str, change: Any, fragment: str) -> None:
    with pytest.raises(LedgerError) as caught:
        parse_genesis(_edit(change))
    assert caught.value.code in (Code.INVALID_GENESIS, Code.CODEC_FLOAT_NOT_ALLOWED)
    assert fragment in caught.value.message


@pytest.mark.parametrize("text", ["", "[]", '{"format": 1, "format": 1}', "{"])
def test_not_a_genesis_object(text: str) -> None:
    with pytest.raises(LedgerError) as caught:
        parse_genesis(text)
    assert caught.value.code is Code.INVALID_GENESIS


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LedgerError) as caught:
        load_genesis(tmp_path / "nope.json")
    assert caught.value.code is Code.INVALID_GENESIS and "cannot read" in caught.value.message
