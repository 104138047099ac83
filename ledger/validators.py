"""The validator set: who votes, with what power, and what a quorum is.

Safety needs more than 2/3 of the voting power (f faulty of 3f+1); a
certificate for a block is only as good as the set it is checked against, so
the set has one canonical encoding and a hash that every header carries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ledger.crypto import Tag, tagged_hash, validate_public_key
from ledger.errors import Code, LedgerError
from ledger.structure import Field, Int, ListOf, Nested, Structure
from ledger.types import MAX_VALIDATORS, PUBLIC_KEY

#: Largest voting power of one validator; keeps total power far from int64 overflow.
MAX_POWER = 2**40


@dataclass(frozen=True, slots=True)
class Validator(Structure):
    public_key: bytes
    power: int

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("public_key", PUBLIC_KEY),
        ("power", Int(1, MAX_POWER)),
    )


@dataclass(frozen=True, slots=True)
class ValidatorSet(Structure):
    """Validators sorted by public key, each once, all with valid keys."""

    validators: tuple[Validator, ...]

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("validators", ListOf(Nested(Validator), MAX_VALIDATORS)),
    )

    def __post_init__(self) -> None:
        Structure.__post_init__(self)
        keys = [v.public_key for v in self.validators]
        if not keys:
            raise LedgerError(Code.INVALID_VALIDATOR_SET, "the validator set is empty")
        if any(a >= b for a, b in zip(keys, keys[1:])):
            raise LedgerError(
                Code.INVALID_VALIDATOR_SET, "validators must be sorted by public key, each once"
            )
        for key in keys:
            validate_public_key(key)

    @classmethod
    def of(cls, validators: list[Validator] | tuple[Validator, ...]) -> ValidatorSet:
        """A set from validators in any order (duplicates are still refused)."""
        return cls(tuple(sorted(validators, key=lambda v: v.public_key)))

    @property
    def hash(self) -> bytes:
        return tagged_hash(Tag.VALIDATOR_SET, self.encode())

    @property
    def total_power(self) -> int:
        return sum(v.power for v in self.validators)

    def power_of(self, public_key: bytes) -> int:
        """Voting power of `public_key`; 0 if it is not a validator."""
        for validator in self.validators:
            if validator.public_key == public_key:
                return validator.power
        return 0

    def is_member(self, public_key: bytes) -> bool:
        return self.power_of(public_key) > 0

    def has_quorum(self, power: int) -> bool:
        """More than 2/3 of the total power (integer arithmetic)."""
        return 3 * power > 2 * self.total_power

    def has_one_honest(self, power: int) -> bool:
        """More than 1/3: at least one honest validator is among them (f+1)."""
        return 3 * power > self.total_power
