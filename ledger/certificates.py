"""Verifying a commit certificate: more than 2/3 of the power signed a block.

Used by the state transition (the last commit carried in each block), by
auditor replay and by light clients, so there is exactly one definition of
"this block is final".
"""

from __future__ import annotations

from collections.abc import Iterable

from ledger.crypto import SigningKey, verify_signature
from ledger.errors import Code, LedgerError
from ledger.types import Commit, CommitSignature
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


def make_commit(*, chain_id: str, height: int, round: int, block_hash: bytes,
                signers: Iterable[SigningKey]) -> Commit:
    """A commit signed by `signers` directly (simulation, tests, benchmarks).

    A validator node never signs this way: its precommits go through the
    guarded signer of the consensus, which refuses to sign twice.
    """
    signatures = []
    for key in signers:
        vote = Commit(height, round, block_hash, ()).vote_for(chain_id, key.public_key)
        signatures.append(CommitSignature(key.public_key, key.sign(vote.signing_bytes())))
    signatures.sort(key=lambda s: s.validator)
    return Commit(height, round, block_hash, tuple(signatures))


def _invalid(message: str) -> LedgerError:
    return LedgerError(Code.INVALID_BLOCK, message)
