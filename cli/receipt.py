"""`scf receipt`: electronic warehouse receipts (contracts/warehouse_receipts.py).

The warehouse `issue`s a receipt to the goods' owner (prints the receipt id,
WR-...); while it is not pledged, its owner may `transfer` it or take goods
out (`request-delivery`, then the warehouse's `confirm-delivery`, or either
side's `cancel-delivery`), and the warehouse may `appraise` it again. A
pledged receipt changes only through `scf pledge`. Unit values are typed as
decimals of the receipt's currency; quantities are whole units.
"""

from __future__ import annotations

import click

from cli.signing import Call, CreatedId, Signer, member_command, minor_units
from contracts.warehouse_receipts import WAREHOUSE_RECEIPTS, Receipt, receipt_key
from ledger.errors import Code, LedgerError

RECEIPT_ID = CreatedId("receipt_id", "receipt.issued", "receipt_id")

_receipt_option = click.option("--receipt", "receipt_id", required=True, metavar="WR-...",
                               help="The receipt id (printed by `scf receipt issue`).")
_reason_option = click.option("--reason", help="Why (at most 256 bytes), for the record.")


@click.group()
def receipt() -> None:
    """Warehouse receipts: issue, transfer, appraise, deliver goods."""


@receipt.command()
@member_command
@click.option("--owner", required=True, metavar="MEMBER", help="The member who owns the goods.")
@click.option("--goods", required=True, help="What is held, e.g. \"steel coil, grade Q235\".")
@click.option("--quantity", type=int, required=True, help="Units held (whole units).")
@click.option("--unit-value", required=True, metavar="DECIMAL",
              help="The appraised value of one unit, in --currency.")
@click.option("--currency", required=True, help="ISO 4217 code of the appraisal.")
def issue(signer: Signer, owner: str, goods: str, quantity: int, unit_value: str,
          currency: str) -> None:
    """Issue a receipt for goods you hold (a warehouse); prints the receipt id.

    \b
    Example:
      scf receipt issue --key keys/WAREHOUSE-01.json --owner SUPPLIER-01 \\
          --goods "steel coil" --quantity 1000 --unit-value 500.00 --currency CNY

    Exit codes: 0 issued; 1 the receipt failed (FORBIDDEN: not a warehouse,
    ...) or the node refused it; 3 bad input, nothing sent; 5 no node
    answered.
    """
    with signer.checking_input():
        args = {"owner": owner, "goods": goods, "quantity": quantity,
                "unit_value": minor_units(unit_value, currency, "--unit-value"),
                "currency": currency}
    signer.send(Call(WAREHOUSE_RECEIPTS, "issue", args, (RECEIPT_ID,)))


@receipt.command()
@member_command
@_receipt_option
@click.option("--to", "new_owner", required=True, metavar="MEMBER",
              help="The new owner (endorsement: the title to the goods moves).")
def transfer(signer: Signer, receipt_id: str, new_owner: str) -> None:
    """Transfer an unpledged receipt to another member (its owner).

    \b
    Example:
      scf receipt transfer --key keys/SUPPLIER-01.json --receipt WR-5d0e... --to CORE-01

    Exit codes: 0 transferred; 1 the receipt failed (ASSET_ENCUMBERED:
    pledged, RELEASE_PENDING, ...) or the node refused it; 3 bad input;
    5 no node answered.
    """
    signer.send(Call(WAREHOUSE_RECEIPTS, "transfer",
                     {"receipt_id": receipt_id, "new_owner": new_owner}))


@receipt.command()
@member_command
@_receipt_option
@click.option("--unit-value", required=True, metavar="DECIMAL",
              help="The new value of one unit, in the receipt's currency.")
def appraise(signer: Signer, receipt_id: str, unit_value: str) -> None:
    """Re-appraise the goods of an unpledged receipt (its warehouse).

    A pledged receipt is re-appraised with `scf pledge reappraise`.

    \b
    Example:
      scf receipt appraise --key keys/WAREHOUSE-01.json --receipt WR-5d0e... --unit-value 480.00

    Exit codes: 0 appraised; 1 the receipt failed (ASSET_ENCUMBERED,
    FORBIDDEN, ...) or the node refused it; 3 bad input or no such receipt;
    5 no node answered.
    """
    with signer.checking_input():
        currency = stored_receipt(signer, receipt_id).currency
        args = {"receipt_id": receipt_id,
                "unit_value": minor_units(unit_value, currency, "--unit-value")}
    signer.send(Call(WAREHOUSE_RECEIPTS, "appraise", args))


@receipt.command("request-delivery")
@member_command
@_receipt_option
@click.option("--quantity", type=int, required=True, help="Units to take out.")
def request_delivery(signer: Signer, receipt_id: str, quantity: int) -> None:
    """Ask the warehouse to deliver goods of an unpledged receipt (its owner).

    \b
    Example:
      scf receipt request-delivery --key keys/SUPPLIER-01.json --receipt WR-5d0e... \\
          --quantity 200

    Exit codes: 0 requested; 1 the receipt failed (QUANTITY_UNAVAILABLE,
    RELEASE_PENDING, ASSET_ENCUMBERED, ...) or the node refused it; 3 bad
    input; 5 no node answered.
    """
    signer.send(Call(WAREHOUSE_RECEIPTS, "request_delivery",
                     {"receipt_id": receipt_id, "quantity": quantity}))


@receipt.command("confirm-delivery")
@member_command
@_receipt_option
def confirm_delivery(signer: Signer, receipt_id: str) -> None:
    """Confirm the requested goods left the warehouse (its warehouse).

    \b
    Example:
      scf receipt confirm-delivery --key keys/WAREHOUSE-01.json --receipt WR-5d0e...

    Exit codes: 0 confirmed; 1 the receipt failed (RELEASE_NOT_FOUND,
    FORBIDDEN, ...) or the node refused it; 3 bad input; 5 no node answered.
    """
    signer.send(Call(WAREHOUSE_RECEIPTS, "confirm_delivery", {"receipt_id": receipt_id}))


@receipt.command("cancel-delivery")
@member_command
@_receipt_option
@_reason_option
def cancel_delivery(signer: Signer, receipt_id: str, reason: str | None) -> None:
    """Cancel an open delivery request (the receipt's owner or warehouse).

    \b
    Example:
      scf receipt cancel-delivery --key keys/SUPPLIER-01.json --receipt WR-5d0e... \\
          --reason "truck cancelled"

    Exit codes: 0 cancelled; 1 the receipt failed (RELEASE_NOT_FOUND, ...)
    or the node refused it; 3 bad input; 5 no node answered.
    """
    args = {"receipt_id": receipt_id, **({"reason": reason} if reason is not None else {})}
    signer.send(Call(WAREHOUSE_RECEIPTS, "cancel_delivery", args))


def stored(signer: Signer, key: bytes, missing: Code, message: str) -> bytes:
    """The value the node holds under state key `key`; `missing` if there is none."""
    value = signer.client.state(key)["values"]["key"]["value"]
    if value is None:
        raise LedgerError(missing, message)
    return bytes.fromhex(value)


def stored_receipt(signer: Signer, receipt_id: str) -> Receipt:
    """The receipt as the node reads it (for its currency)."""
    return Receipt.decode(stored(signer, receipt_key(receipt_id), Code.RECEIPT_NOT_FOUND,
                                 f"no warehouse receipt {receipt_id}"))
