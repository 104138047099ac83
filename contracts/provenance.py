"""Provenance: the ordered, provable history of an invoice.

Every transition of an invoice (registration, confirmation, dispute,
consent, cancellation, assignment, settlement, overdue, default) appends one
entry here, in the same transaction, so the history lives in state and each
entry is provable against a certified state root — a bank can check "who
signed what, when" without trusting the node it asks. The tx id in an entry
lets the client also fetch the transaction and its inclusion proof.

State (namespace c/invoices/, beside the invoice records):
    prov/<fp 32 bytes>/n                 -> int, number of entries
    prov/<fp 32 bytes>/<index u32 BE>    -> ProvenanceEntry, index 0..n-1
Entries are only ever appended; an index is never rewritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from contracts.stored_int import int_or_zero
from ledger import codec
from ledger.accounts import MEMBER_ID
from ledger.contract_api import CallContext, contract_prefix
from ledger.errors import Code, LedgerError
from ledger.state import StateReader
from ledger.structure import Field, Int, Str, Structure
from ledger.types import HASH

OWNER = "invoices"  # provenance is kept in the invoices contract's namespace
MAX_ENTRIES = 2**32 - 1
ACTION = Str(max_bytes=64, pattern=r"[a-z][a-z0-9_.]{0,63}")
_ONE = codec.encode(1)  # the count after the first entry


@dataclass(frozen=True, slots=True)
class ProvenanceEntry(Structure):
    """One signed step in an invoice's life: which tx, when, who, what, result."""

    tx_id: bytes
    height: int
    time_ms: int
    signer: str   # member id of the transaction's sender
    action: str   # e.g. "register", "confirm", "assign"
    status: str   # the invoice's status after this step
    detail: str   # a short human note (amount confirmed, deal id, reason)

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("tx_id", HASH),
        ("height", Int(1)),
        ("time_ms", Int(0)),
        ("signer", MEMBER_ID),
        ("action", ACTION),
        ("status", Str(max_bytes=32, pattern=r"[a-z_]{1,32}")),
        ("detail", Str(max_bytes=512)),
    )


def count_key(fingerprint: bytes) -> bytes:
    """Full state key of the number of entries (for reads and proofs)."""
    return contract_prefix(OWNER) + _count_local(fingerprint)


def entry_key(fingerprint: bytes, index: int) -> bytes:
    """Full state key of entry `index` (for reads and proofs)."""
    return contract_prefix(OWNER) + _entry_local(fingerprint, index)


def append_entry(ctx: CallContext, fingerprint: bytes, action: str, status: str,
                 detail: str = "") -> ProvenanceEntry:
    """Appends the current transaction as the invoice's next entry."""
    count = provenance_count(ctx.scratch, fingerprint)
    if count >= MAX_ENTRIES:
        raise LedgerError(Code.INVALID_STATE_TRANSITION, "the invoice's history is full")
    entry = ProvenanceEntry(ctx.tx_id, ctx.height, ctx.time_ms, ctx.sender.member_id,
                            action, status, detail)
    namespace = ctx.namespace(OWNER)
    namespace.put(_entry_local(fingerprint, count), entry.encode())
    namespace.put(_count_local(fingerprint), codec.encode(count + 1))
    return entry


def start_provenance(ctx: CallContext, fingerprint: bytes, action: str, status: str,
                     detail: str = "") -> ProvenanceEntry:
    """`append_entry` for the invoice created in this very transaction:
    entry 0 and a count of 1, written without reading the count. Only for
    invoices.register, which has just found no record under `fingerprint`:
    entries are appended to registered invoices only, so it has no history."""
    entry = ProvenanceEntry(ctx.tx_id, ctx.height, ctx.time_ms, ctx.sender.member_id,
                            action, status, detail)
    namespace = ctx.namespace(OWNER)
    namespace.put(_entry_local(fingerprint, 0), entry.encode())
    namespace.put(_count_local(fingerprint), _ONE)
    return entry


def provenance_count(reader: StateReader, fingerprint: bytes) -> int:
    """How many entries the invoice's history has (0 if it was never registered)."""
    return int_or_zero(reader.get(count_key(fingerprint)), "a provenance count")


def get_provenance(reader: StateReader, fingerprint: bytes) -> list[ProvenanceEntry]:
    """The invoice's history, oldest first. `reader` is full state (prefixed keys)."""
    entries: list[ProvenanceEntry] = []
    for index in range(provenance_count(reader, fingerprint)):
        data = reader.get(entry_key(fingerprint, index))
        if data is None:
            raise LedgerError(Code.STATE_NODE_MISSING,
                              f"provenance entry {index} of {fingerprint.hex()} is missing")
        entries.append(ProvenanceEntry.decode(data))
    return entries


def _count_local(fingerprint: bytes) -> bytes:
    return b"prov/" + _checked_fp(fingerprint) + b"/n"


def _entry_local(fingerprint: bytes, index: int) -> bytes:
    return b"prov/" + _checked_fp(fingerprint) + b"/" + index.to_bytes(4, "big")


def _checked_fp(fingerprint: bytes) -> bytes:
    if type(fingerprint) is not bytes or len(fingerprint) != 32:
        raise LedgerError(Code.INVALID_ARGUMENT, "fingerprint: expected 32 bytes")
    return fingerprint
