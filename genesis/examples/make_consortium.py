"""Writes genesis/examples/consortium.json, the example consortium.

Six members (a supplier, a core enterprise, two banks, a warehouse, an
auditor) and four validators run by the core enterprise, both banks and the
auditor. Keys come from genesis/demo_keys.py: public and insecure, for demos
and tests only. Run: python genesis/examples/make_consortium.py

The `contracts` map pins the SHA-256 of the source of every production
contract module and of the contracts/ modules they import
(genesis/contract_pins.py). ANY edit to one of those files changes its pin,
and with it the genesis hash: re-run `python genesis/examples/make_consortium.py`
after changing a contract (tests/unit/test_genesis.py and
tests/contracts/test_contract_pins.py fail until you do).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genesis.builder import MemberSpec, ValidatorSpec, consortium_document
from genesis.builder import render as render_document
from genesis.demo_keys import demo_key

OUTPUT = Path(__file__).with_name("consortium.json")
CHAIN_ID = "scf-demo"
GENESIS_TIME_MS = 1_795_392_000_000  # 2026-11-23T00:00:00Z

MEMBERS = [
    ("SUPPLIER-01", "Shenzhen Precision Parts Co., Ltd.", ["supplier"]),
    ("CORE-01", "Core Electronics Manufacturing Group", ["core_enterprise", "operator"]),
    ("BANK-A", "Bank A Supply Chain Finance", ["financier", "operator"]),
    ("BANK-B", "Bank B Trade Finance", ["financier", "operator"]),
    ("WAREHOUSE-01", "Bonded Logistics Warehouse No. 1", ["warehouse"]),
    ("AUDITOR-01", "Independent Audit Partners", ["auditor", "operator"]),
]
VALIDATORS = ["CORE-01", "BANK-A", "BANK-B", "AUDITOR-01"]


def document() -> dict[str, Any]:
    return consortium_document(
        chain_id=CHAIN_ID, genesis_time_ms=GENESIS_TIME_MS,
        members=[MemberSpec(member_id, name, tuple(roles), demo_key(member_id).public_key)
                 for member_id, name, roles in MEMBERS],
        validators=[ValidatorSpec(member_id, demo_key(f"{member_id}/validator").public_key)
                    for member_id in VALIDATORS],
        operator_quorum=3)


def render() -> str:
    return render_document(document())


if __name__ == "__main__":
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT}")
