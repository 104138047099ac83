"""The genesis document: the consortium's founding facts, and their hash.

Genesis is JSON, for people to read and review, with one canonical form for
machines: the parsed document as a codec value (maps key-sorted), hashed as
SHA-256("scf/hash/genesis/v1" || canonical bytes). Block 1 names that hash as
its previous hash, so a chain cannot be replayed against another genesis.

The loader refuses anything doubtful with INVALID_GENESIS and a message that
names the field: unknown fields (a typo must not silently become a default),
duplicate members or keys, validators of unknown members, a quorum larger
than the operators who could reach it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger import codec
from ledger.accounts import Member, Role, put_member
from ledger.crypto import Tag, tagged_hash, validate_public_key
from ledger.errors import Code, LedgerError
from ledger.state import Overlay
from ledger.system_state import ChainParams, put_params, put_validator_set
from ledger.types import CHAIN_ID
from ledger.validators import Validator, ValidatorSet

FORMAT = 1
TOP_LEVEL = {"format", "chain_id", "genesis_time_ms", "consensus", "governance", "members",
             "validators", "contracts"}
CONSENSUS_DEFAULTS = {
    "timeout_propose_ms": 3000,
    "timeout_prevote_ms": 1000,
    "timeout_precommit_ms": 1000,
    "timeout_increase_ms": 500,
    "max_block_txs": 1000,
    "max_block_bytes": 4 * 1024 * 1024,
}


@dataclass(frozen=True)
class Genesis:
    chain_id: str
    genesis_time_ms: int
    params: ChainParams
    members: tuple[Member, ...]
    validators: ValidatorSet
    validator_members: dict[bytes, str]
    contracts: dict[str, str]
    hash: bytes
    document: dict[str, Any]

    def build_state(self, state: Overlay) -> None:
        """Writes the height-0 state: members, validator set, parameters."""
        for member in self.members:
            put_member(state, member)
        put_validator_set(state, self.validators)
        put_params(state, self.params)


def load_genesis(path: str | Path) -> Genesis:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise LedgerError(Code.INVALID_GENESIS, f"cannot read {path}: {exc.strerror}") from None
    return parse_genesis(text)


def parse_genesis(text: str) -> Genesis:
    try:
        document = json.loads(text, object_pairs_hook=_unique_keys)
    except ValueError as exc:
        if isinstance(exc, LedgerError):
            raise
        raise _invalid("$", f"not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise _invalid("$", "a JSON object")
    return _build(document)


def _build(doc: dict[str, Any]) -> Genesis:
    unknown = sorted(set(doc) - TOP_LEVEL)
    if unknown:
        raise _invalid("$", f"only known fields; unknown: {', '.join(unknown)}")
    if doc.get("format") != FORMAT:
        raise _invalid("format", f"{FORMAT}")
    canonical = codec.encode(doc)  # refuses floats, huge ints, bad UTF-8
    chain_id = _field(doc, "chain_id", str)
    consensus = {**CONSENSUS_DEFAULTS, **_field(doc, "consensus", dict, default={})}
    governance = _field(doc, "governance", dict)
    members = tuple(_member(entry, i) for i, entry in enumerate(_field(doc, "members", list)))
    _check_unique_members(members)
    validator_set, validator_members = _validators(_field(doc, "validators", list), members)
    params = _params(consensus, governance, members)
    contracts = _field(doc, "contracts", dict, default={})
    for name, digest in contracts.items():
        if not (isinstance(digest, str) and len(digest) == 64 and _is_hex(digest)):
            raise _invalid(f"contracts.{name}", "the SHA-256 of the contract source, 64 hex digits")
    try:
        CHAIN_ID.load(chain_id, "chain_id")
    except LedgerError as exc:
        raise _invalid("chain_id", exc.message) from None
    return Genesis(
        chain_id=chain_id,
        genesis_time_ms=_field(doc, "genesis_time_ms", int),
        params=params,
        members=members,
        validators=validator_set,
        validator_members=validator_members,
        contracts=dict(contracts),
        hash=tagged_hash(Tag.GENESIS, canonical),
        document=doc,
    )


def _member(entry: Any, index: int) -> Member:
    where = f"members[{index}]"
    if not isinstance(entry, dict) or set(entry) - {"id", "name", "roles", "keys"}:
        raise _invalid(where, "an object with id, name, roles, keys")
    roles = entry.get("roles", [])
    for role in roles:
        if role not in {r.value for r in Role}:
            raise _invalid(f"{where}.roles", f"roles from {sorted(r.value for r in Role)}; got {role!r}")
    keys = tuple(_public_key(k, f"{where}.keys") for k in entry.get("keys", []))
    try:
        return Member(entry.get("id"), entry.get("name", ""), tuple(sorted(set(roles))), keys)
    except LedgerError as exc:
        raise _invalid(where, exc.message) from None


def _check_unique_members(members: tuple[Member, ...]) -> None:
    seen_ids: set[str] = set()
    seen_keys: dict[bytes, str] = {}
    for member in members:
        if member.member_id in seen_ids:
            raise _invalid("members", f"member {member.member_id} appears twice")
        seen_ids.add(member.member_id)
        for key in member.keys:
            if key in seen_keys:
                raise _invalid("members", f"a key of {member.member_id} is also {seen_keys[key]}'s")
            seen_keys[key] = member.member_id


def _validators(entries: list[Any], members: tuple[Member, ...]) -> tuple[ValidatorSet, dict[bytes, str]]:
    known = {m.member_id for m in members}
    validators, owners = [], {}
    for i, entry in enumerate(entries):
        where = f"validators[{i}]"
        if not isinstance(entry, dict) or set(entry) != {"member", "public_key", "power"}:
            raise _invalid(where, "an object with member, public_key, power")
        if entry["member"] not in known:
            raise _invalid(f"{where}.member", f"a member id; {entry['member']!r} is not one")
        key = _public_key(entry["public_key"], f"{where}.public_key")
        if key in owners:
            raise _invalid(where, "each validator key once")
        try:
            validators.append(Validator(key, entry["power"]))
        except LedgerError as exc:
            raise _invalid(where, exc.message) from None
        owners[key] = entry["member"]
    try:
        return ValidatorSet.of(validators), owners
    except LedgerError as exc:
        raise _invalid("validators", exc.message) from None


def _params(consensus: dict[str, Any], governance: dict[str, Any],
            members: tuple[Member, ...]) -> ChainParams:
    unknown = sorted(set(consensus) - set(CONSENSUS_DEFAULTS))
    if unknown:
        raise _invalid("consensus", f"only known fields; unknown: {', '.join(unknown)}")
    if set(governance) != {"operator_quorum"}:
        raise _invalid("governance", "exactly one field, operator_quorum")
    operators = sum(1 for m in members if m.has_role(Role.OPERATOR))
    quorum = governance["operator_quorum"]
    if type(quorum) is not int or not 1 <= quorum <= operators:
        raise _invalid("governance.operator_quorum", f"an int from 1 to the {operators} operators")
    try:
        return ChainParams(operator_quorum=quorum, **consensus)
    except (LedgerError, TypeError) as exc:
        raise _invalid("consensus", str(exc)) from None


def _public_key(text: Any, where: str) -> bytes:
    if not (isinstance(text, str) and len(text) == 64 and _is_hex(text)):
        raise _invalid(where, "a 32-byte Ed25519 public key in 64 lowercase hex digits")
    key = bytes.fromhex(text)
    try:
        validate_public_key(key)
    except LedgerError as exc:
        raise _invalid(where, exc.message) from None
    return key


def _field(doc: dict[str, Any], name: str, kind: type, default: Any = None) -> Any:
    if name not in doc:
        if default is not None:
            return default
        raise _invalid(name, "present")
    value = doc[name]
    if type(value) is not kind:
        raise _invalid(name, f"a JSON {kind.__name__}")
    return value


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise _invalid("$", "no JSON object with the same key twice")
    return dict(pairs)


def _invalid(where: str, expected: str) -> LedgerError:
    return LedgerError(Code.INVALID_GENESIS, f"genesis {where}: expected {expected}")
