"""Verifying a commit certificate: more than 2/3 of the power signed a block.

Used by the state transition (the last commit carried in each block), by
auditor replay and by light clients, so there is exactly one definition of
"this block is final".
"""

from __future__ import annotations

from ledger.crypto import verify_signature
from ledger.errors import Code, LedgerError
from ledger.types import Commit
from ledger.validators import ValidatorSet


def validate_commit(commit: Commit, *, chain_id: str, height: int, block_hash: bytes,
                    validators: ValidatorSet) -> None:
    """Raises INVALID_BLOCK unless `commit` certifies `block_hash` at `height`."""
    if commit.height != height:
        raise _invalid(f"commit is for height {commit.height}, expected {height}")
    if commit.block_hash != block_hash:
        raise _invalid(f"commit is for block {commit.block_hash.hex()[:16]}…, "
                       f"expected {block_hash.hex()[:16]}…")
    power = 0
    for entry in commit.signatures:
        weight = validators.power_of(entry.validator)
        if weight == 0:
            raise _invalid(f"commit signed by {entry.validator.hex()[:16]}…, not a validator")
        vote = commit.vote_for(chain_id, entry.validator)
        if not verify_signature(entry.validator, vote.signing_bytes(), entry.signature):
            raise _invalid(f"commit signature of {entry.validator.hex()[:16]}… does not verify")
        power += weight
    if not validators.has_quorum(power):
        raise _invalid(f"commit has {power} of {validators.total_power} voting power, "
                       "needs more than 2/3")


def _invalid(message: str) -> LedgerError:
    return LedgerError(Code.INVALID_BLOCK, message)
