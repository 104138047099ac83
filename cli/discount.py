"""`scf discount`: dynamic discounting (contracts/dynamic_discounting.py).

The buyer publishes an offer (one rate or a sliding table), the supplier
accepts it for a confirmed invoice on the day it chooses, which settles the
invoice at the discounted price; the buyer then records its payment and the
supplier acknowledges it:

    offer (buyer) -> accept (supplier) -> pay (buyer) -> acknowledge (supplier)

`offer` prints the offer id (DO-...), `accept` the acceptance id (DA-...).
"""

from __future__ import annotations

import re
from typing import Any

import click

from cli.signing import Call, CreatedId, Signer, fingerprint_bytes, iso_date, member_command
from contracts.dynamic_discounting import DYNAMIC_DISCOUNTING
from ledger.errors import Code, LedgerError

OFFER_ID = CreatedId("offer_id", "dynamic_discounting.offer_published", "offer_id")
ACCEPTANCE_ID = CreatedId("acceptance_id", "dynamic_discounting.accepted", "acceptance_id")
_BAND = re.compile(r"\s*([0-9]{1,5})\s*:\s*([0-9]{1,5})\s*")

_acceptance_option = click.option("--acceptance", "acceptance_id", required=True,
                                  metavar="DA-...",
                                  help="The acceptance id (printed by `scf discount accept`).")
_payment_ref_option = click.option("--payment-ref", required=True, metavar="REF",
                                   help="The bank's payment reference (1..64 of "
                                        "[A-Za-z0-9._:/-]).")


@click.group()
def discount() -> None:
    """Dynamic discounting: the buyer pays early for a discount."""


@discount.command()
@member_command
@click.option("--rate-bps", type=int, help="One annual discount rate, basis points.")
@click.option("--table", metavar="DAYS:BPS,...",
              help='A sliding table instead: from DAYS early on, rate BPS, e.g. '
                   '"10:800,30:1000,60:1200".')
@click.option("--expiry", required=True, metavar="YYYY-MM-DD",
              help="Last day the offer may be accepted (UTC).")
@click.option("--basis", type=click.Choice(["365", "360"]), default="365", show_default=True,
              help="Day-count basis: ACT/365F or ACT/360.")
@click.option("--min-days-early", type=int, help="Refuse acceptances fewer days early.")
@click.option("--supplier", metavar="MEMBER", help="Only this supplier may accept.")
@click.option("--currency", help="Only invoices in this currency.")
def offer(signer: Signer, rate_bps: int | None, table: str | None, expiry: str, basis: str,
          min_days_early: int | None, supplier: str | None, currency: str | None) -> None:
    """Publish an early-payment offer as a buyer; prints the offer id.

    \b
    Example:
      scf discount offer --key keys/CORE-01.json --rate-bps 1200 --min-days-early 10 \\
          --expiry 2027-01-31
      scf discount offer --key keys/CORE-01.json --table 10:800,30:1000,60:1200 \\
          --basis 360 --expiry 2027-01-31

    Exit codes: 0 published; 1 the receipt failed or the node refused it;
    2 usage error (both or neither of --rate-bps and --table); 3 bad input,
    nothing sent; 5 no node answered.
    """
    if (rate_bps is None) == (table is None):
        raise click.UsageError("give either --rate-bps or --table")
    with signer.checking_input():
        args: dict[str, Any] = {"expiry_date": iso_date(expiry, "--expiry"),
                                "basis": int(basis)}
        if rate_bps is not None:
            args["rate_bps"] = rate_bps
        if table is not None:
            args["table"] = parse_table(table)
        for name, value in (("min_days_early", min_days_early), ("supplier", supplier),
                            ("currency", currency)):
            if value is not None:
                args[name] = value
    signer.send(Call(DYNAMIC_DISCOUNTING, "publish_offer", args, (OFFER_ID,)))


@discount.command()
@member_command
@click.option("--offer", "offer_id", required=True, metavar="DO-...", help="The offer id.")
def withdraw(signer: Signer, offer_id: str) -> None:
    """Withdraw an offer as its buyer (acceptances made before stay).

    \b
    Example:
      scf discount withdraw --key keys/CORE-01.json --offer DO-7d0a...

    Exit codes: 0 withdrawn; 1 the receipt failed or the node refused it;
    3 bad input; 5 no node answered.
    """
    signer.send(Call(DYNAMIC_DISCOUNTING, "withdraw_offer", {"offer_id": offer_id}))


@discount.command()
@member_command
@click.option("--offer", "offer_id", required=True, metavar="DO-...",
              help="The offer id (printed by `scf discount offer`).")
@click.option("--fingerprint", required=True, metavar="HEX",
              help="Your confirmed invoice (64 hex digits).")
def accept(signer: Signer, offer_id: str, fingerprint: str) -> None:
    """Accept early payment as the invoice's seller; prints the acceptance id and amounts.

    Final: the invoice is settled at once for the discounted amount, which
    the buyer then owes you now.

    \b
    Example:
      scf discount accept --key keys/SUPPLIER-01.json --offer DO-7d0a... \\
          --fingerprint 5ec5716a...e720cc76

    Exit codes: 0 accepted; 1 the receipt failed (TOO_FEW_DAYS_EARLY,
    ASSET_ENCUMBERED, OFFER_EXPIRED, ...) or the node refused it; 3 bad
    input; 5 no node answered.
    """
    with signer.checking_input():
        args = {"offer_id": offer_id, "fingerprint": fingerprint_bytes(fingerprint)}
    signer.send(Call(DYNAMIC_DISCOUNTING, "accept", args, (ACCEPTANCE_ID,)))


@discount.command()
@member_command
@_acceptance_option
@_payment_ref_option
def pay(signer: Signer, acceptance_id: str, payment_ref: str) -> None:
    """Record your early payment to the supplier as the buyer (the amount is the acceptance's).

    \b
    Example:
      scf discount pay --key keys/CORE-01.json --acceptance DA-51e3... --payment-ref CORE-EP-1

    Exit codes: 0 recorded; 1 the receipt failed (PAYMENT_PENDING,
    DUPLICATE_PAYMENT, ...) or the node refused it; 3 bad input; 5 no node
    answered.
    """
    signer.send(Call(DYNAMIC_DISCOUNTING, "record_payment",
                     {"acceptance_id": acceptance_id, "payment_ref": payment_ref}))


@discount.command()
@member_command
@_acceptance_option
@_payment_ref_option
def acknowledge(signer: Signer, acceptance_id: str, payment_ref: str) -> None:
    """Acknowledge the buyer's early payment as the supplier: the acceptance is paid.

    \b
    Example:
      scf discount acknowledge --key keys/SUPPLIER-01.json --acceptance DA-51e3... \\
          --payment-ref CORE-EP-1

    Exit codes: 0 acknowledged; 1 the receipt failed or the node refused it;
    3 bad input; 5 no node answered.
    """
    signer.send(Call(DYNAMIC_DISCOUNTING, "acknowledge_payment",
                     {"acceptance_id": acceptance_id, "payment_ref": payment_ref}))


@discount.command()
@member_command
@_acceptance_option
@_payment_ref_option
@click.option("--reason", help="Why (at most 256 bytes), for the record.")
def reject(signer: Signer, acceptance_id: str, payment_ref: str, reason: str | None) -> None:
    """Reject a recorded early payment you did not receive (the supplier).

    The buyer then records the payment again under a new reference.

    \b
    Example:
      scf discount reject --key keys/SUPPLIER-01.json --acceptance DA-51e3... \\
          --payment-ref CORE-EP-1 --reason "not received"

    Exit codes: 0 rejected; 1 the receipt failed or the node refused it;
    3 bad input; 5 no node answered.
    """
    args = {"acceptance_id": acceptance_id, "payment_ref": payment_ref,
            **({"reason": reason} if reason is not None else {})}
    signer.send(Call(DYNAMIC_DISCOUNTING, "reject_payment", args))


def parse_table(text: str) -> list[list[int]]:
    """"10:800,30:1000" -> [[10, 800], [30, 1000]] (the contract checks the bands)."""
    bands: list[list[int]] = []
    for part in text.split(","):
        match = _BAND.fullmatch(part)
        if match is None:
            raise LedgerError(Code.INVALID_ARGUMENT,
                              f"--table: {part.strip()!r} is not DAYS:BPS (e.g. 30:1000)")
        bands.append([int(match.group(1)), int(match.group(2))])
    return bands
