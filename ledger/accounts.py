"""Members, their roles and keys, and per-key nonces, as ledger state.

These are the system records every transaction is checked against before a
contract runs: who the sender is, whether it is frozen, and which nonce comes
next. They live in state (under `sys/`), so they are authenticated by the
state root like everything else and can be proved to a light client.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import ClassVar

from ledger import codec
from ledger.errors import Code, LedgerError
from ledger.state import Overlay, StateReader
from ledger.structure import Bool, Field, ListOf, Str, Structure
from ledger.types import PUBLIC_KEY

MEMBER_ID = Str(max_bytes=64, pattern=r"[A-Z0-9][A-Z0-9-]{0,63}")
MAX_KEYS_PER_MEMBER = 16


class Role(StrEnum):
    SUPPLIER = "supplier"
    CORE_ENTERPRISE = "core_enterprise"
    DISTRIBUTOR = "distributor"
    FINANCIER = "financier"
    WAREHOUSE = "warehouse"
    AUDITOR = "auditor"
    OPERATOR = "operator"


ROLE = Str(max_bytes=32, pattern="|".join(role.value for role in Role))


@dataclass(frozen=True, slots=True)
class Member(Structure):
    """A legal entity of the consortium, with one or more signing keys."""

    member_id: str
    name: str
    roles: tuple[str, ...]
    keys: tuple[bytes, ...]
    frozen: bool = False

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("member_id", MEMBER_ID),
        ("name", Str(max_bytes=256)),
        ("roles", ListOf(ROLE, len(Role))),
        ("keys", ListOf(PUBLIC_KEY, MAX_KEYS_PER_MEMBER)),
        ("frozen", Bool()),
    )

    def __post_init__(self) -> None:
        Structure.__post_init__(self)
        if list(self.roles) != sorted(set(self.roles)):
            raise LedgerError(Code.SCHEMA_MISMATCH, "Member.roles: sorted, each role once")
        if not self.keys or len(set(self.keys)) != len(self.keys):
            raise LedgerError(Code.SCHEMA_MISMATCH, "Member.keys: at least one key, each once")

    def has_role(self, role: Role) -> bool:
        return role.value in self.roles


def member_key(member_id: str) -> bytes:
    return b"sys/member/" + member_id.encode()


def signer_key(public_key: bytes) -> bytes:
    return b"sys/signer/" + public_key


def nonce_key(public_key: bytes) -> bytes:
    return b"sys/nonce/" + public_key


def get_member(state: StateReader, member_id: str) -> Member | None:
    data = state.get(member_key(member_id))
    return None if data is None else _decode_member(data)


@lru_cache(maxsize=1024)
def _decode_member(data: bytes) -> Member:
    """Every transaction looks up its sender (and contracts its parties), and
    a member record changes rarely: decoding is cached by the record's bytes,
    which is exact (one encoding, one frozen value) whatever the state."""
    return Member.decode(data)


def member_of_signer(state: StateReader, public_key: bytes) -> Member | None:
    member_id = state.get(signer_key(public_key))
    return None if member_id is None else get_member(state, member_id.decode())


def put_member(state: Overlay, member: Member) -> None:
    """Writes the member and indexes its keys; a key of another member is refused."""
    previous = get_member(state, member.member_id)
    for public_key in member.keys:
        owner = state.get(signer_key(public_key))
        if owner is not None and owner.decode() != member.member_id:
            raise LedgerError(
                Code.KEY_IN_USE, f"key {public_key.hex()[:16]}… belongs to member {owner.decode()}"
            )
    if previous is not None:
        for old_key in set(previous.keys) - set(member.keys):
            state.delete(signer_key(old_key))
    state.put(member_key(member.member_id), member.encode())
    for public_key in member.keys:
        state.put(signer_key(public_key), member.member_id.encode())


def next_nonce(state: StateReader, public_key: bytes) -> int:
    data = state.get(nonce_key(public_key))
    return 0 if data is None else _decode_int(data)


def consume_nonce(state: Overlay, public_key: bytes) -> None:
    state.put(nonce_key(public_key), codec.encode(next_nonce(state, public_key) + 1))


def _decode_int(data: bytes) -> int:
    value = codec.decode(data)
    if type(value) is not int:
        raise LedgerError(Code.SCHEMA_MISMATCH, "a nonce record is not an int")
    return value
