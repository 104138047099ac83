"""What the state transition needs from contracts, and what it gives them.

The contract engine (contracts/engine.py) implements `Registry`; the
transition calls a method with a `CallContext` and the args. A method reads
and writes its own namespace (`ctx.state`), may reach another contract's
namespace through `ctx.namespace(name)` (contracts are trusted code pinned in
genesis; products that share an asset, such as an invoice's lien, coordinate
through the owning module's functions), emits events, and raises
`LedgerError` to fail the transaction. Every write lands in the
transaction's scratch overlay, so a failure undoes all of them.

System records (`sys/`: members, keys, validators, parameters) are readable
by all through `ctx.system`; only privileged contracts (governance) get
`ctx.system_writer`.

Contracts are versioned (docs/adr/0004): state says which version of a
contract runs (ledger/contract_upgrades.py), the registry supplies the code
of each version it carries. `method(contract, name)` without a version is the
genesis code; `code` and `migration` are asked only once state schedules an
upgrade, so a registry that never runs one may leave them out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ledger.accounts import Member
from ledger.state import Namespace, Overlay, StateReader
from ledger.types import Event


@dataclass(frozen=True)
class CallContext:
    chain_id: str
    height: int
    time_ms: int
    tx_id: bytes
    sender: Member
    sender_key: bytes
    state: Namespace
    system: StateReader
    scratch: Overlay = field(repr=False)
    system_writer: Overlay | None = field(default=None, repr=False)
    events: list[Event] = field(default_factory=list)

    def emit(self, kind: str, attributes: dict[str, Any]) -> None:
        self.events.append(Event(kind, attributes))

    def namespace(self, contract: str) -> Namespace:
        """Another contract's namespace, in this transaction's scratch overlay."""
        return Namespace(self.scratch, contract_prefix(contract))


Method = Callable[[CallContext, dict[str, Any]], None]


@dataclass(frozen=True)
class MigrationContext:
    """What a migration gets: the block it runs in and the upgraded contract's
    namespace. It runs before the block's transactions, in a scratch overlay
    dropped if it fails; it emits no events (there is no transaction)."""

    chain_id: str
    height: int
    time_ms: int
    contract: str
    version: int
    state: Namespace
    system: StateReader
    scratch: Overlay = field(repr=False)

    def namespace(self, contract: str) -> Namespace:
        return Namespace(self.scratch, contract_prefix(contract))


Migration = Callable[[MigrationContext], None]


@dataclass(frozen=True, slots=True)
class CodeId:
    """The code of one contract version: its module and the SHA-256 (hex) of
    the module's source file."""

    module: str
    source_sha256: str


class Registry(Protocol):
    def has_contract(self, contract: str) -> bool: ...

    def method(self, contract: str, name: str, version: int | None = None) -> Method | None:
        """`version` None: the genesis code."""

    def is_privileged(self, contract: str) -> bool: ...

    def code(self, contract: str, version: int) -> CodeId | None:
        """The code this registry runs for a later version, or None if it lacks it."""

    def migration(self, contract: str, version: int, migration_id: str) -> Migration | None:
        """A migration declared by that version's code."""


def contract_prefix(contract: str) -> bytes:
    """The state namespace of a contract (system records live under sys/)."""
    return b"c/" + contract.encode() + b"/"
