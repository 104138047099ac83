"""Recording stand-ins for the peer network and the consensus driver, for tests
that feed `node.runtime.peer_messages.PeerMessages` directly."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ledger.errors import Code
from node.runtime.driver import SyncedBlocks


@dataclass
class RecordingNetwork:
    sent: list[tuple[bytes, int, Any]] = field(default_factory=list)
    dropped: list[tuple[bytes, Code, str]] = field(default_factory=list)

    def send(self, peer: bytes, kind: int, body: Any) -> bool:
        self.sent.append((peer, kind, body))
        return True

    def disconnect(self, peer: bytes, code: Code, reason: str) -> None:
        self.dropped.append((peer, code, reason))


@dataclass
class RecordingDriver:
    messages: list[Any] = field(default_factory=list)
    synced: list[SyncedBlocks] = field(default_factory=list)

    def deliver(self, message: Any) -> None:
        self.messages.append(message)

    def deliver_synced(self, synced: SyncedBlocks) -> None:
        self.synced.append(synced)
