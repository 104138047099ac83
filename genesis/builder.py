"""Writing a genesis document from members, keys and parameters.

The example consortium (genesis/examples/make_consortium.py, demo keys) and
`scf localnet up` (fresh keys) both build their document here, so both
produce the same shape the loader (genesis/document.py) checks.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from contracts.registry import CONTRACT_MODULES
from genesis.contract_pins import compute_contract_pins
from genesis.document import CONSENSUS_DEFAULTS


@dataclass(frozen=True, slots=True)
class MemberSpec:
    member_id: str
    name: str
    roles: tuple[str, ...]
    public_key: bytes


@dataclass(frozen=True, slots=True)
class ValidatorSpec:
    member_id: str
    public_key: bytes
    power: int = 1


def consortium_document(*, chain_id: str, genesis_time_ms: int, members: Sequence[MemberSpec],
                        validators: Sequence[ValidatorSpec], operator_quorum: int,
                        consensus: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "format": 1,
        "chain_id": chain_id,
        "genesis_time_ms": genesis_time_ms,
        "consensus": {**CONSENSUS_DEFAULTS, **(consensus or {})},
        "governance": {"operator_quorum": operator_quorum},
        "members": [{"id": m.member_id, "name": m.name, "roles": list(m.roles),
                     "keys": [m.public_key.hex()]} for m in members],
        "validators": [{"member": v.member_id, "public_key": v.public_key.hex(),
                        "power": v.power} for v in validators],
        "contracts": compute_contract_pins(CONTRACT_MODULES),
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"
