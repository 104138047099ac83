"""Liens: at most one active lien per asset, one register for every product.

Financing places a lien on the asset it relies on (an invoice, a payable
certificate, a warehouse receipt); settlement or release removes it. Every
product keeps its liens in this one register, under the state namespace of
the reserved contract name `liens` (no contract of that name exists; the
records are written only through these functions, from inside a product's
transaction), so an invoice financed by factoring cannot also be pledged,
discounted or certified by another product: `place_lien` refuses with
ASSET_ENCUMBERED naming the holder and deal of the lien already there.

Asset ids are "<kind>:<id>", kind one of invoice, certificate, receipt; an
invoice's id is "invoice:" + the fingerprint in lowercase hex, the same
string the event index uses as a subject.

An invoice's assignment (contracts.invoices.mark_assigned) places an
*assignment* lien: the receivable now belongs to the holder, so only the
invoice's settlement (`mark_settled`) releases it; `release_lien` refuses
with INVALID_STATE_TRANSITION. Otherwise an assigned invoice could lose its
lien and be pledged or certified a second time.

State (namespace c/liens/):   lien/<asset id utf-8>  ->  Lien
A released lien is deleted (its history is in the events and the product's
records), so "no active lien" is provable as the absence of the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ledger.accounts import MEMBER_ID
from ledger.contract_api import CallContext, contract_prefix
from ledger.errors import Code, LedgerError
from ledger.state import StateReader
from ledger.structure import Bool, Field, Int, Str, Structure
from ledger.types import HASH

LIENS = "liens"
ASSET_KINDS = ("invoice", "certificate", "receipt")
ASSET_ID = Str(max_bytes=160,
               pattern=r"(invoice|certificate|receipt):[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
DEAL_ID = Str(max_bytes=128, pattern=r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")


@dataclass(frozen=True, slots=True)
class Lien(Structure):
    """An active lien: who holds the asset as security, for which deal."""

    asset: str
    holder: str
    deal_id: str
    placed_tx: bytes
    placed_height: int
    assignment: bool   # an invoice's assignment: released only by its settlement

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("asset", ASSET_ID),
        ("holder", MEMBER_ID),
        ("deal_id", DEAL_ID),
        ("placed_tx", HASH),
        ("placed_height", Int(0)),
        ("assignment", Bool()),
    )


def invoice_asset(fingerprint: bytes) -> str:
    """The asset id (and event subject) of an invoice."""
    return "invoice:" + fingerprint.hex()


def lien_key(asset: str) -> bytes:
    """The full state key of an asset's lien (for reads and proofs)."""
    return contract_prefix(LIENS) + _local_key(asset)


def active_lien(reader: StateReader, asset: str) -> Lien | None:
    """The asset's active lien, or None. `reader` is full state (keys with prefixes):
    a chain's state, a proof-backed view, or `ctx.scratch` inside a transaction."""
    data = reader.get(lien_key(_checked_asset(asset)))
    return None if data is None else Lien.decode(data)


def validate_unencumbered(reader: StateReader, asset: str) -> None:
    """Raises ASSET_ENCUMBERED if the asset carries an active lien."""
    lien = active_lien(reader, asset)
    if lien is not None:
        raise _encumbered(lien)


def place_lien(ctx: CallContext, asset: str, holder_member_id: str, deal_id: str, *,
               assignment: bool = False) -> Lien:
    """Places the asset's lien for `deal_id`, held by `holder_member_id`.

    ASSET_ENCUMBERED if any lien is active on the asset (even the same
    holder's, for the same deal: a lien is placed once). Emits `lien.placed`.
    `assignment` is for contracts.invoices.mark_assigned only.
    """
    asset = _checked_asset(asset)
    holder = _checked(MEMBER_ID, holder_member_id, "holder")
    deal_id = _checked(DEAL_ID, deal_id, "deal_id")
    validate_unencumbered(ctx.scratch, asset)
    lien = Lien(asset, holder, deal_id, ctx.tx_id, ctx.height, assignment)
    ctx.namespace(LIENS).put(_local_key(asset), lien.encode())
    ctx.emit("lien.placed", {"asset": asset, "holder": holder, "deal_id": deal_id,
                             "subjects": [asset, "member:" + holder]})
    return lien


def release_lien(ctx: CallContext, asset: str, deal_id: str, *,
                 settlement: bool = False) -> Lien:
    """Releases the asset's active lien of `deal_id`; returns it. Emits `lien.released`.

    LIEN_NOT_FOUND if no lien is active on the asset, or the active one
    belongs to another deal (the message names it). An assignment lien is
    released only with `settlement` (by contracts.invoices.mark_settled):
    INVALID_STATE_TRANSITION otherwise.
    """
    asset = _checked_asset(asset)
    deal_id = _checked(DEAL_ID, deal_id, "deal_id")
    lien = active_lien(ctx.scratch, asset)
    if lien is None:
        raise LedgerError(Code.LIEN_NOT_FOUND, f"{asset} carries no active lien")
    if lien.deal_id != deal_id:
        raise LedgerError(Code.LIEN_NOT_FOUND,
                          f"{asset} carries no lien of deal {deal_id}; its active lien is "
                          f"deal {lien.deal_id} held by {lien.holder}")
    if lien.assignment and not settlement:
        raise LedgerError(Code.INVALID_STATE_TRANSITION,
                          f"{asset} is assigned to {lien.holder} under deal {deal_id}: its lien "
                          f"is released by settling the invoice, not directly")
    ctx.namespace(LIENS).delete(_local_key(asset))
    ctx.emit("lien.released", {"asset": asset, "holder": lien.holder, "deal_id": deal_id,
                               "subjects": [asset, "member:" + lien.holder]})
    return lien


def _local_key(asset: str) -> bytes:
    return b"lien/" + asset.encode("utf-8")


def _checked_asset(asset: str) -> str:
    return _checked(ASSET_ID, asset, "asset")


def _checked(kind: Str, value: str, name: str) -> str:
    try:
        return kind.load(value, name)
    except LedgerError as error:
        raise LedgerError(Code.INVALID_ARGUMENT, error.message) from None


def _encumbered(lien: Lien) -> LedgerError:
    return LedgerError(Code.ASSET_ENCUMBERED,
                       f"{lien.asset} is under an active lien held by {lien.holder} for deal "
                       f"{lien.deal_id} (placed at height {lien.placed_height}, "
                       f"tx {lien.placed_tx.hex()})")
