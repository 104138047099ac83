"""What the state transition needs from contracts, and what it gives them.

The contract engine (contracts/, issue "Contracts I") implements `Registry`;
the transition calls a method with a `CallContext` and the decoded args. A
method validates its arguments, reads and writes its own namespace, emits
events, and raises `LedgerError` to fail the transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ledger.accounts import Member
from ledger.state import Namespace, StateReader
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
    events: list[Event] = field(default_factory=list)

    def emit(self, kind: str, attributes: dict[str, Any]) -> None:
        self.events.append(Event(kind, attributes))


Method = Callable[[CallContext, dict[str, Any]], None]


class Registry(Protocol):
    def has_contract(self, contract: str) -> bool: ...

    def method(self, contract: str, name: str) -> Method | None: ...


def contract_prefix(contract: str) -> bytes:
    """The state namespace of a contract (system records live under sys/)."""
    return b"c/" + contract.encode() + b"/"
