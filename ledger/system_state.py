"""Chain-wide records in state: consensus and governance parameters, validators.

Kept in state (under `sys/`) rather than in node configuration so that every
node reads the same values at the same height, and governance can change them
by transaction with an activation height.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ledger.errors import Code, LedgerError
from ledger.state import Overlay, StateReader
from ledger.structure import Field, Int, Structure
from ledger.types import MAX_BLOCK_SIZE, MAX_TXS_PER_BLOCK
from ledger.validators import ValidatorSet

PARAMS_KEY = b"sys/params"
VALIDATORS_KEY = b"sys/validators"
_TIMEOUT = Int(1, 600_000)


@dataclass(frozen=True, slots=True)
class ChainParams(Structure):
    """Consensus timeouts (milliseconds), block limits, governance quorum."""

    timeout_propose_ms: int
    timeout_prevote_ms: int
    timeout_precommit_ms: int
    timeout_increase_ms: int
    max_block_txs: int
    max_block_bytes: int
    operator_quorum: int

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("timeout_propose_ms", _TIMEOUT),
        ("timeout_prevote_ms", _TIMEOUT),
        ("timeout_precommit_ms", _TIMEOUT),
        ("timeout_increase_ms", Int(0, 600_000)),
        ("max_block_txs", Int(1, MAX_TXS_PER_BLOCK)),
        ("max_block_bytes", Int(1024, MAX_BLOCK_SIZE)),
        ("operator_quorum", Int(1, 1000)),
    )


def put_params(state: Overlay, params: ChainParams) -> None:
    state.put(PARAMS_KEY, params.encode())


def get_params(state: StateReader) -> ChainParams:
    return ChainParams.decode(_required(state, PARAMS_KEY, "chain parameters"))


def put_validator_set(state: Overlay, validators: ValidatorSet) -> None:
    state.put(VALIDATORS_KEY, validators.encode())


def get_validator_set(state: StateReader) -> ValidatorSet:
    return ValidatorSet.decode(_required(state, VALIDATORS_KEY, "validator set"))


def _required(state: StateReader, key: bytes, what: str) -> bytes:
    data = state.get(key)
    if data is None:
        raise LedgerError(Code.STATE_NODE_MISSING, f"state has no {what} (was genesis applied?)")
    return data
