"""Contract upgrades by governance: the two proposal actions and what they record.

An upgrade is a governance proposal (contracts/governance.py: operators
propose, it executes at the operator quorum, no financier or auditor
co-approval) with one of two actions:

* `upgrade` (contract, version, module, source_sha256, activation_height,
  migration?) — from `activation_height` on, `contract` runs `version`, whose
  code is `module` with that source SHA-256 (hex); if `migration` is given,
  that migration of the new code runs once, first thing in the block at
  `activation_height` (ledger/contract_upgrades.py).
* `cancel_upgrade` (contract, version, reason) — takes a scheduled upgrade
  back before it activates (the way out of an upgrade nobody can run).

Checked at proposal and again when the quorum executes it, in this order:

1. `upgrade`: activation_height >= the current height + MIN_ACTIVATION_DELAY
   -> else UPGRADE_TOO_SOON (nodes need the notice to install the code);
2. no upgrade of that contract is pending -> else UPGRADE_PENDING;
3. version is above the version the contract runs (its genesis code is
   version 1) and was never scheduled before -> else UPGRADE_VERSION_INVALID;
* `cancel_upgrade`: the upgrade exists and is still scheduled -> else
  UPGRADE_NOT_FOUND.

Governance cannot see the registry, so it cannot check that the named code
exists: a node lacking it warns as soon as the upgrade is scheduled and stops
at the activation height, naming module and hash (docs/upgrades.md).

Records live under `sys/` (ledger/contract_upgrades.py), so a client proves
them like any state. Events: `governance.upgrade_scheduled` and
`governance.upgrade_cancelled`, with subjects ["contract:<name>",
"proposal:<n>"]. Activation happens in no transaction, hence no event: the
record turns `active` (or `failed`, with the migration's code) at that height.
"""

from __future__ import annotations

from typing import Any

from ledger.contract_api import CallContext
from ledger.contract_upgrades import (
    CONTRACT_NAME,
    MIGRATION_ID,
    MODULE,
    SCHEDULED,
    SOURCE_SHA256,
    UpgradeRecord,
    cancel_upgrade,
    get_index,
    get_upgrade,
    schedule_upgrade,
)
from ledger.errors import Code, LedgerError
from ledger.state import Overlay, StateReader
from ledger.structure import Field, Int, Str

#: Blocks between the height an upgrade is approved at and its activation height.
MIN_ACTIVATION_DELAY = 100
#: The version of every contract's genesis code.
GENESIS_VERSION = 1

UPGRADE_VERSION = Int(GENESIS_VERSION + 1, 1 << 31)
ACTIONS: dict[str, tuple[tuple[str, Field], ...]] = {
    "upgrade": (("contract", CONTRACT_NAME), ("version", UPGRADE_VERSION), ("module", MODULE),
                ("source_sha256", SOURCE_SHA256), ("activation_height", Int(1)),
                ("migration", MIGRATION_ID)),
    "cancel_upgrade": (("contract", CONTRACT_NAME), ("version", UPGRADE_VERSION),
                       ("reason", Str(max_bytes=256))),
}
OPTIONAL = frozenset({"migration"})


def load_params(action: str, params: dict[str, Any], where: str = "params.") -> dict[str, Any]:
    """Checks `params` against the action's layout (INVALID_ARGUMENT naming the param)."""
    layout = ACTIONS[action]
    unknown = sorted(set(params) - {name for name, _ in layout})
    if unknown:
        raise LedgerError(Code.INVALID_ARGUMENT, f"{where}{unknown[0]}: not a param of {action}")
    loaded: dict[str, Any] = {}
    for name, kind in layout:
        if name not in params:
            if name in OPTIONAL:
                continue
            raise LedgerError(Code.INVALID_ARGUMENT, f"{where}{name}: required")
        try:
            loaded[name] = kind.load(params[name], where + name)
        except LedgerError as error:
            raise LedgerError(Code.INVALID_ARGUMENT, error.message) from None
    return loaded


def validate(state: StateReader, height: int, action: str, params: dict[str, Any]) -> None:
    """Raises unless `action` can be carried out at `height` (the order above)."""
    contract, version = params["contract"], params["version"]
    if action == "cancel_upgrade":
        _scheduled(state, contract, version)
        return
    earliest = height + MIN_ACTIVATION_DELAY
    if params["activation_height"] < earliest:
        raise LedgerError(Code.UPGRADE_TOO_SOON,
                          f"activation_height {params['activation_height']} is less than "
                          f"{MIN_ACTIVATION_DELAY} blocks after height {height}: choose "
                          f"{earliest} or later")
    index = get_index(state)
    pending = index.pending_for(contract)
    if pending is not None:
        raise LedgerError(Code.UPGRADE_PENDING,
                          f"{contract} already has version {pending.version} scheduled for "
                          f"height {pending.activation_height}; cancel it first")
    active = index.active_code(contract)
    running = GENESIS_VERSION if active is None else active.version
    if version <= running:
        raise LedgerError(Code.UPGRADE_VERSION_INVALID,
                          f"{contract} runs version {running}; an upgrade must be above it")
    earlier = get_upgrade(state, contract, version)
    if earlier is not None:
        raise LedgerError(Code.UPGRADE_VERSION_INVALID,
                          f"version {version} of {contract} was already scheduled (by "
                          f"{earlier.scheduled_by}, now {earlier.status}): use a new number")


def execute(ctx: CallContext, writer: Overlay, action: str, params: dict[str, Any], *,
            by: str, subjects: list[str]) -> None:
    """Carries out an executed proposal: records or cancels the upgrade."""
    validate(writer, ctx.height, action, params)
    contract, version = params["contract"], params["version"]
    if action == "cancel_upgrade":
        record = _scheduled(writer, contract, version)
        cancel_upgrade(writer, record, ctx.height, f"{by}: {params['reason']}")
        ctx.emit("governance.upgrade_cancelled", {
            "contract": contract, "version": version, "reason": params["reason"], "by": by,
            "activation_height": record.activation_height, "subjects": subjects})
        return
    record = UpgradeRecord(contract, version, params["module"], params["source_sha256"],
                           params["activation_height"], params.get("migration"), by,
                           ctx.height)
    schedule_upgrade(writer, record)
    ctx.emit("governance.upgrade_scheduled", {
        "contract": contract, "version": version, "module": record.module,
        "source_sha256": record.source_sha256, "activation_height": record.activation_height,
        "migration": record.migration, "by": by, "subjects": subjects})


def subjects(params: dict[str, Any]) -> list[str]:
    """The event subjects of an upgrade proposal."""
    return [f"contract:{params['contract']}"]


def about(params: dict[str, Any]) -> dict[str, Any]:
    """What every governance event on an upgrade proposal names."""
    return {"contract": params["contract"], "version": params["version"]}


def _scheduled(state: StateReader, contract: str, version: int) -> UpgradeRecord:
    record = get_upgrade(state, contract, version)
    if record is None:
        raise LedgerError(Code.UPGRADE_NOT_FOUND, f"no upgrade of {contract} to version {version}")
    if record.status != SCHEDULED:
        raise LedgerError(Code.UPGRADE_NOT_FOUND,
                          f"the upgrade of {contract} to version {version} is {record.status} "
                          f"(at height {record.closed_at})")
    return record
