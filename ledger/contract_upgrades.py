"""Contract versions in state: scheduled upgrades, the code each contract runs,
and the start-of-block step that switches code at an activation height.

Governance schedules an upgrade (contracts/upgrades.py, operator quorum);
from then on state alone decides which code runs at each height, so every
node, and every replay from genesis, switches at the same block
(docs/adr/0004-contract-upgrades.md). Records, all under `sys/`:

* `sys/upgrade/<contract>/<version, 8 bytes big-endian>` — `UpgradeRecord`:
  what was approved (module, source SHA-256, activation height, migration)
  and what became of it (scheduled, active, failed, cancelled). Kept forever.
* `sys/upgrades` — `UpgradeIndex`: the upgrades still pending, by activation
  height, and the version each upgraded contract runs. One key, so the
  start-of-block step and each transaction read one value (state has no key
  scans). A contract absent from `active` runs its genesis code.

`begin_block` runs first in every block (`ledger.transition.apply_block` and
the proposer's `ledger.block_builder.build_block`): it refuses to go on
(CONTRACT_CODE_MISSING, naming module and hash) if the registry lacks the
code of an active version or of an upgrade due at this height; then, for
each upgrade due, runs its migration once in a scratch overlay and makes the
version active. A migration that fails (deterministically, as all nodes run
the same pinned code) leaves the old version running and the upgrade
`failed`, with the code and message recorded: a migration bug never halts
the chain.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from ledger.contract_api import CodeId, MigrationContext, Registry, contract_prefix
from ledger.errors import Code, LedgerError
from ledger.state import Namespace, Overlay, StateReader
from ledger.structure import Field, Int, ListOf, Nested, Optional, Str, Structure

INDEX_KEY = b"sys/upgrades"
RECORD_PREFIX = b"sys/upgrade/"
SCHEDULED, ACTIVE, FAILED, CANCELLED = "scheduled", "active", "failed", "cancelled"
MAX_OUTCOME_BYTES = 1024

CONTRACT_NAME = Str(max_bytes=64, pattern=r"[a-z][a-z0-9_]{0,63}")
VERSION = Int(1, 1 << 31)
MODULE = Str(max_bytes=128, pattern=r"contracts(\.[a-z_][a-z0-9_]*)+")
SOURCE_SHA256 = Str(max_bytes=64, pattern=r"[0-9a-f]{64}")
MIGRATION_ID = Str(max_bytes=64, pattern=r"[a-z][a-z0-9_]{0,63}")
_HEIGHT = Int(0)


@dataclass(frozen=True, slots=True)
class UpgradeRecord(Structure):
    """One approved upgrade of one contract, and its outcome."""

    contract: str
    version: int
    module: str
    source_sha256: str
    activation_height: int
    migration: str | None
    scheduled_by: str
    scheduled_at: int
    status: str = SCHEDULED
    closed_at: int | None = None
    outcome: str | None = None

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("contract", CONTRACT_NAME),
        ("version", VERSION),
        ("module", MODULE),
        ("source_sha256", SOURCE_SHA256),
        ("activation_height", _HEIGHT),
        ("migration", Optional(MIGRATION_ID)),
        ("scheduled_by", Str(max_bytes=64)),
        ("scheduled_at", _HEIGHT),
        ("status", Str(max_bytes=16, pattern="|".join((SCHEDULED, ACTIVE, FAILED, CANCELLED)))),
        ("closed_at", Optional(_HEIGHT)),
        ("outcome", Optional(Str(max_bytes=MAX_OUTCOME_BYTES))),
    )

    @property
    def code_id(self) -> CodeId:
        return CodeId(self.module, self.source_sha256)


@dataclass(frozen=True, slots=True)
class PendingUpgrade(Structure):
    activation_height: int
    contract: str
    version: int

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("activation_height", _HEIGHT),
        ("contract", CONTRACT_NAME),
        ("version", VERSION),
    )


@dataclass(frozen=True, slots=True)
class ActiveCode(Structure):
    """The version an upgraded contract runs, and since which height."""

    contract: str
    version: int
    module: str
    source_sha256: str
    since_height: int

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("contract", CONTRACT_NAME),
        ("version", VERSION),
        ("module", MODULE),
        ("source_sha256", SOURCE_SHA256),
        ("since_height", _HEIGHT),
    )

    @property
    def code_id(self) -> CodeId:
        return CodeId(self.module, self.source_sha256)


@dataclass(frozen=True, slots=True)
class UpgradeIndex(Structure):
    """Pending upgrades sorted by (activation height, contract); active
    versions sorted by contract. At most one pending upgrade per contract."""

    pending: tuple[PendingUpgrade, ...] = ()
    active: tuple[ActiveCode, ...] = ()

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("pending", ListOf(Nested(PendingUpgrade))),
        ("active", ListOf(Nested(ActiveCode))),
    )

    def active_code(self, contract: str) -> ActiveCode | None:
        return next((a for a in self.active if a.contract == contract), None)

    def pending_for(self, contract: str) -> PendingUpgrade | None:
        return next((p for p in self.pending if p.contract == contract), None)


# -- reading and writing the records ---------------------------------------------

def upgrade_key(contract: str, version: int) -> bytes:
    return RECORD_PREFIX + contract.encode() + b"/" + version.to_bytes(8, "big")


def get_upgrade(state: StateReader, contract: str, version: int) -> UpgradeRecord | None:
    data = state.get(upgrade_key(contract, version))
    return None if data is None else UpgradeRecord.decode(data)


def put_upgrade(state: Overlay, record: UpgradeRecord) -> None:
    state.put(upgrade_key(record.contract, record.version), record.encode())


def get_index(state: StateReader) -> UpgradeIndex:
    data = state.get(INDEX_KEY)
    return UpgradeIndex() if data is None else UpgradeIndex.decode(data)


def put_index(state: Overlay, index: UpgradeIndex) -> None:
    pending = tuple(sorted(index.pending, key=lambda p: (p.activation_height, p.contract)))
    active = tuple(sorted(index.active, key=lambda a: a.contract))
    state.put(INDEX_KEY, UpgradeIndex(pending, active).encode())


def active_code(state: StateReader, contract: str) -> ActiveCode | None:
    """The upgraded version `contract` runs now, or None: its genesis code."""
    return get_index(state).active_code(contract)


def schedule_upgrade(state: Overlay, record: UpgradeRecord) -> None:
    """Records an approved upgrade and puts it in the pending index."""
    index = get_index(state)
    put_upgrade(state, record)
    pending = PendingUpgrade(record.activation_height, record.contract, record.version)
    put_index(state, replace(index, pending=index.pending + (pending,)))


def cancel_upgrade(state: Overlay, record: UpgradeRecord, height: int, reason: str) -> None:
    """Takes a scheduled upgrade out of the pending index, keeping its record."""
    index = get_index(state)
    put_upgrade(state, replace(record, status=CANCELLED, closed_at=height, outcome=reason))
    put_index(state, replace(index, pending=tuple(
        p for p in index.pending
        if (p.contract, p.version) != (record.contract, record.version))))


# -- the node's code against what state requires ---------------------------------------

def check_code(state: StateReader, registry: Registry, height: int) -> None:
    """Raises CONTRACT_CODE_MISSING unless `registry` carries the code of
    every version the chain runs at `height`: the active ones and the
    upgrades due by then."""
    index = get_index(state)
    for code in index.active:
        require_active_code(registry, code)
    for pending in index.pending:
        if pending.activation_height <= height:
            record = _record(state, pending)
            _require(registry, record.contract, record.version, record.code_id,
                     f"contract {record.contract} version {record.version} activates at "
                     f"height {record.activation_height}")


def require_active_code(registry: Registry, code: ActiveCode) -> None:
    """Raises CONTRACT_CODE_MISSING unless `registry` runs this active version."""
    _require(registry, code.contract, code.version, code.code_id,
             f"contract {code.contract} runs version {code.version} since height "
             f"{code.since_height}")


def missing_scheduled_code(state: StateReader, registry: Registry) -> list[LedgerError]:
    """For each pending upgrade whose code `registry` lacks, the error this
    node will stop with at its activation height (for early warnings)."""
    missing = []
    for pending in get_index(state).pending:
        record = _record(state, pending)
        try:
            _require(registry, record.contract, record.version, record.code_id,
                     f"contract {record.contract} version {record.version} activates at "
                     f"height {record.activation_height}")
        except LedgerError as error:
            missing.append(error)
    return missing


def _require(registry: Registry, contract: str, version: int, needed: CodeId,
             why: str) -> None:
    found = registry.code(contract, version)
    if found == needed:
        return
    has = ("lacks it" if found is None else
           f"carries module {found.module} with source sha256 {found.source_sha256} instead")
    raise LedgerError(Code.CONTRACT_CODE_MISSING,
                      f"{why}: it needs module {needed.module} with source sha256 "
                      f"{needed.source_sha256}; this node {has}. Install that code and "
                      "restart (docs/upgrades.md)")


def _record(state: StateReader, pending: PendingUpgrade) -> UpgradeRecord:
    record = get_upgrade(state, pending.contract, pending.version)
    if record is None:
        raise LedgerError(Code.STATE_NODE_MISSING,
                          f"state lists upgrade {pending.contract} v{pending.version} as "
                          "pending but holds no record of it")
    return record


# -- the start-of-block step --------------------------------------------------------------

def begin_block(state: Overlay, registry: Registry, *, chain_id: str, height: int,
                time_ms: int) -> None:
    """Checks the code, then activates the upgrades due at `height` (running
    each migration once). A chain that never scheduled one reads one key."""
    if state.get(INDEX_KEY) is None:
        return
    check_code(state, registry, height)
    index = get_index(state)
    due = [p for p in index.pending if p.activation_height <= height]
    if not due:
        return
    active = {code.contract: code for code in index.active}
    for pending in due:
        record = _record(state, pending)
        failure = _migrate(state, registry, record, chain_id=chain_id, height=height,
                           time_ms=time_ms)
        if failure is None:
            active[record.contract] = ActiveCode(record.contract, record.version, record.module,
                                                 record.source_sha256, height)
            record = replace(record, status=ACTIVE, closed_at=height)
        else:
            record = replace(record, status=FAILED, closed_at=height, outcome=failure)
        put_upgrade(state, record)
    put_index(state, UpgradeIndex(
        tuple(p for p in index.pending if p.activation_height > height),
        tuple(active[name] for name in sorted(active))))


def _migrate(state: Overlay, registry: Registry, record: UpgradeRecord, *, chain_id: str,
             height: int, time_ms: int) -> str | None:
    """Runs the upgrade's migration, if any; the failure ("CODE: message"), or None."""
    if record.migration is None:
        return None
    migration = registry.migration(record.contract, record.version, record.migration)
    if migration is None:
        return _clip(f"{Code.CONTRACT_BUG.value}: module {record.module} declares no "
                     f"migration {record.migration!r}")
    scratch = state.child()
    context = MigrationContext(chain_id, height, time_ms, record.contract, record.version,
                               Namespace(scratch, contract_prefix(record.contract)), scratch,
                               scratch)
    try:
        migration(context)
    except LedgerError as error:
        return _clip(f"{error.code.value}: {error.message}")
    except MemoryError:
        raise
    except Exception as error:  # a migration bug must not split or halt the network
        return f"{Code.CONTRACT_BUG.value}: {type(error).__name__}"
    scratch.merge_into(state)
    return None


def _clip(message: str) -> str:
    return message.encode("utf-8")[:MAX_OUTCOME_BYTES].decode("utf-8", errors="ignore")
