"""`scf certificate`: payable certificates (contracts/payables.py), a command per method.

The core enterprise `issue`s a certificate against a confirmed invoice it
owes (prints the certificate id PC-... and the root part id PP-...); the
holder of a live part may `split` it, `transfer` it to a supplier, or sell
it (`request-discount`, then the financier's `fund-discount` the same day);
from maturity the issuer `pay`s each part's holder, who `acknowledge`s.
Commands on a part take `--part`, on a discount `--discount`. Amounts are
typed as decimals of the certificate's currency.
"""

from __future__ import annotations

from typing import Any

import click

from cli.receipt import stored
from cli.signing import Call, CreatedId, Signer, fingerprint_bytes, member_command, minor_units
from contracts.payables_records import (
    PAYABLES, Certificate, Part, certificate_key, part_key)
from ledger.errors import Code

CERTIFICATE_ID = CreatedId("certificate_id", "payables.issued", "certificate_id")
ROOT_PART_ID = CreatedId("part_id", "payables.issued", "part_id")
SPLIT_PARTS = CreatedId("parts", "payables.split", "parts")
TRANSFERRED_PART = CreatedId("new_part_id", "payables.transferred", "new_part_id")
DISCOUNT_ID = CreatedId("discount_id", "payables.discount_requested", "discount_id")
DISCOUNTED_PART = CreatedId("new_part_id", "payables.discounted", "new_part_id")

_part_option = click.option("--part", "part_id", required=True, metavar="PP-...",
                            help="The part id (printed by issue, split, transfer, "
                                 "fund-discount).")
_discount_option = click.option("--discount", "discount_id", required=True, metavar="PD-...",
                                help="The discount id (printed by `scf certificate "
                                     "request-discount`).")
_payment_ref_option = click.option("--payment-ref", required=True, metavar="REF",
                                   help="The payment reference (1..64 of [A-Za-z0-9._:/-]).")
_reason_option = click.option("--reason", help="Why (at most 256 bytes), for the record.")
_paid_part_option = click.option("--part", "part_id", metavar="PP-...",
                                 help="A maturity payment: the part paid.")
_paid_discount_option = click.option("--discount", "discount_id", metavar="PD-...",
                                     help="A discount's payment: the discount funded.")


@click.group()
def certificate() -> None:
    """Payable certificates: issue, split, transfer, discount, pay at maturity."""


@certificate.command()
@member_command
@click.option("--fingerprint", required=True, metavar="HEX",
              help="The confirmed invoice you owe (64 hex digits).")
@click.option("--amount", metavar="DECIMAL",
              help="The certificate's amount; default the invoice's amount due.")
@click.option("--grace-days", type=int, default=0, show_default=True,
              help="Days after maturity before a part may be marked overdue.")
@click.option("--penalty-rate-bps", type=int, default=0, show_default=True,
              help="Annual penalty interest on a defaulted part, basis points.")
@click.option("--basis", type=click.Choice(["365", "360"]), default="365", show_default=True,
              help="Day-count basis: ACT/365F or ACT/360.")
def issue(signer: Signer, fingerprint: str, amount: str | None, grace_days: int,
          penalty_rate_bps: int, basis: str) -> None:
    """Issue a certificate against a confirmed invoice you owe (its buyer).

    Prints the certificate id and the root part id, held by the seller; the
    certificate matures on the invoice's due date.

    \b
    Example:
      scf certificate issue --key keys/CORE-01.json --fingerprint 5ec5716a...e720cc76 \\
          --grace-days 5 --penalty-rate-bps 1800

    Exit codes: 0 issued; 1 the receipt failed (ASSET_ENCUMBERED,
    CERTIFICATE_MATURED, ...) or the node refused it; 3 bad input or no such
    invoice; 5 no node answered.
    """
    with signer.checking_input():
        value = fingerprint_bytes(fingerprint)
        args: dict[str, Any] = {"fingerprint": value, "grace_days": grace_days,
                                "penalty_rate_bps": penalty_rate_bps, "basis": int(basis)}
        if amount is not None:
            args["amount"] = minor_units(amount, signer.invoice_currency(value), "--amount")
    signer.send(Call(PAYABLES, "issue", args, (CERTIFICATE_ID, ROOT_PART_ID)))


@certificate.command()
@member_command
@_part_option
@click.option("--amount", "amounts", multiple=True, required=True, metavar="DECIMAL",
              help="A new part's amount; repeat 2 to 16 times, adding up to the part.")
def split(signer: Signer, part_id: str, amounts: tuple[str, ...]) -> None:
    """Split a live part you hold into 2..16 parts; prints their ids.

    \b
    Example:
      scf certificate split --key keys/SUPPLIER-01.json --part PP-77c0...-0 \\
          --amount 600000.00 --amount 400000.00

    Exit codes: 0 split; 1 the receipt failed (SPLIT_SUM_MISMATCH,
    PART_SPENT, ...) or the node refused it; 3 bad input or no such part;
    5 no node answered.
    """
    with signer.checking_input():
        currency = _currency_of_part(signer, part_id)
        args = {"part_id": part_id,
                "amounts": [minor_units(amount, currency, "--amount") for amount in amounts]}
    signer.send(Call(PAYABLES, "split", args, (SPLIT_PARTS,)))


@certificate.command()
@member_command
@_part_option
@click.option("--to", required=True, metavar="MEMBER", help="The supplier who gets the part.")
def transfer(signer: Signer, part_id: str, to: str) -> None:
    """Transfer a live part you hold, whole, to a supplier; prints the new part id.

    \b
    Example:
      scf certificate transfer --key keys/SUPPLIER-01.json --part PP-77c0...-1 --to SUPPLIER-02

    Exit codes: 0 transferred; 1 the receipt failed (PART_SPENT, FORBIDDEN,
    ...) or the node refused it; 3 bad input; 5 no node answered.
    """
    signer.send(Call(PAYABLES, "transfer", {"part_id": part_id, "to": to},
                     (TRANSFERRED_PART,)))


@certificate.command("request-discount")
@member_command
@_part_option
@click.option("--financier", required=True, metavar="MEMBER", help="The financier to sell to.")
@click.option("--rate-bps", type=int, required=True,
              help="Annual discount rate, basis points (500 = 5 %).")
@click.option("--basis", type=click.Choice(["365", "360"]), default="365", show_default=True,
              help="Day-count basis: ACT/365F or ACT/360.")
@click.option("--fee", default="0", show_default=True, metavar="DECIMAL",
              help="Flat fee, in the certificate's currency.")
def request_discount(signer: Signer, part_id: str, financier: str, rate_bps: int, basis: str,
                     fee: str) -> None:
    """Offer a live part you hold to a financier at today's terms; prints the discount id.

    The financier must fund it the same UTC day.

    \b
    Example:
      scf certificate request-discount --key keys/SUPPLIER-01.json --part PP-77c0...-1 \\
          --financier BANK-A --rate-bps 500

    Exit codes: 0 requested; 1 the receipt failed (PART_SPENT,
    CERTIFICATE_MATURED, ...) or the node refused it; 3 bad input or no
    such part; 5 no node answered.
    """
    with signer.checking_input():
        currency = _currency_of_part(signer, part_id)
        args = {"part_id": part_id, "financier": financier, "rate_bps": rate_bps,
                "basis": int(basis), "fee": minor_units(fee, currency, "--fee", allow_zero=True)}
    signer.send(Call(PAYABLES, "request_discount", args, (DISCOUNT_ID,)))


@certificate.command("withdraw-discount")
@member_command
@_discount_option
def withdraw_discount(signer: Signer, discount_id: str) -> None:
    """Withdraw a discount request not yet funded (its seller).

    \b
    Example:
      scf certificate withdraw-discount --key keys/SUPPLIER-01.json --discount PD-1a9b...

    Exit codes: 0 withdrawn; 1 the receipt failed or the node refused it;
    3 bad input; 5 no node answered.
    """
    signer.send(Call(PAYABLES, "withdraw_discount", {"discount_id": discount_id}))


@certificate.command("fund-discount")
@member_command
@_discount_option
@_payment_ref_option
def fund_discount(signer: Signer, discount_id: str, payment_ref: str) -> None:
    """Buy the part of a discount request (its financier), the day it was requested.

    The payment of the amount paid out to the seller is recorded; you hold
    a discounted part (its id is printed).

    \b
    Example:
      scf certificate fund-discount --key keys/BANK-A.json --discount PD-1a9b... \\
          --payment-ref BANKA-TT-7

    Exit codes: 0 funded; 1 the receipt failed (ACCEPTANCE_LAPSED,
    PART_SPENT, ...) or the node refused it; 3 bad input; 5 no node answered.
    """
    signer.send(Call(PAYABLES, "fund_discount",
                     {"discount_id": discount_id, "payment_ref": payment_ref},
                     (DISCOUNTED_PART,)))


@certificate.command()
@member_command
@_part_option
@_payment_ref_option
def pay(signer: Signer, part_id: str, payment_ref: str) -> None:
    """Pay a part's holder at or after maturity (the issuer); counts once acknowledged.

    \b
    Example:
      scf certificate pay --key keys/CORE-01.json --part PP-77c0...-0 --payment-ref CORE-M-1

    Exit codes: 0 recorded; 1 the receipt failed (CERTIFICATE_NOT_MATURE,
    PAYMENT_PENDING, ...) or the node refused it; 3 bad input; 5 no node
    answered.
    """
    signer.send(Call(PAYABLES, "pay", {"part_id": part_id, "payment_ref": payment_ref}))


@certificate.command()
@member_command
@_paid_part_option
@_paid_discount_option
@_payment_ref_option
def acknowledge(signer: Signer, part_id: str | None, discount_id: str | None,
                payment_ref: str) -> None:
    """Acknowledge a payment you received (its payee): only then does it count.

    A part's holder acknowledges the issuer's payment (--part); the seller of
    a discount the financier's (--discount). The last part paid settles the
    certificate and the invoice.

    \b
    Example:
      scf certificate acknowledge --key keys/SUPPLIER-01.json --part PP-77c0...-0 \\
          --payment-ref CORE-M-1

    Exit codes: 0 acknowledged; 1 the receipt failed (PAYMENT_NOT_FOUND,
    FORBIDDEN, ...) or the node refused it; 2 neither or both of --part and
    --discount; 3 bad input; 5 no node answered.
    """
    args = {"deal_id": _paid(part_id, discount_id), "payment_ref": payment_ref}
    signer.send(Call(PAYABLES, "acknowledge_payment", args))


@certificate.command()
@member_command
@_paid_part_option
@_paid_discount_option
@_payment_ref_option
@_reason_option
def reject(signer: Signer, part_id: str | None, discount_id: str | None, payment_ref: str,
           reason: str | None) -> None:
    """Reject a payment you did not receive (its payee); it never counts.

    \b
    Example:
      scf certificate reject --key keys/SUPPLIER-01.json --part PP-77c0...-0 \\
          --payment-ref CORE-M-1 --reason "no such transfer"

    Exit codes: 0 rejected; 1 the receipt failed or the node refused it;
    2 neither or both of --part and --discount; 3 bad input; 5 no node
    answered.
    """
    args = {"deal_id": _paid(part_id, discount_id), "payment_ref": payment_ref,
            **({"reason": reason} if reason is not None else {})}
    signer.send(Call(PAYABLES, "reject_payment", args))


@certificate.command("mark-overdue")
@member_command
@_part_option
def mark_overdue(signer: Signer, part_id: str) -> None:
    """Mark an unpaid part you hold overdue, after maturity plus the grace days.

    \b
    Example:
      scf certificate mark-overdue --key keys/BANK-A.json --part PP-3c5d...-0

    Exit codes: 0 overdue; 1 the receipt failed (NOT_IN_ARREARS, ...) or the
    node refused it; 3 bad input; 5 no node answered.
    """
    signer.send(Call(PAYABLES, "mark_overdue", {"part_id": part_id}))


@certificate.command("declare-default")
@member_command
@_part_option
def declare_default(signer: Signer, part_id: str) -> None:
    """Declare an overdue discounted part you hold in default (a financier).

    \b
    Example:
      scf certificate declare-default --key keys/BANK-A.json --part PP-3c5d...-0

    Exit codes: 0 defaulted; 1 the receipt failed (INVALID_STATE_TRANSITION,
    PAYMENT_PENDING, ...) or the node refused it; 3 bad input; 5 no node
    answered.
    """
    signer.send(Call(PAYABLES, "declare_default", {"part_id": part_id}))


def _paid(part_id: str | None, discount_id: str | None) -> str:
    """The record a payment belongs to: a part (maturity) or a discount (its funding)."""
    if (part_id is None) == (discount_id is None):
        raise click.UsageError("say which payment: --part PP-... (a maturity payment) or "
                               "--discount PD-... (a discount's payment), one of them")
    return part_id or discount_id or ""


def _currency_of_part(signer: Signer, part_id: str) -> str:
    """The currency of the certificate a part belongs to, as the node reads it."""
    part = Part.decode(stored(signer, part_key(part_id), Code.PART_NOT_FOUND,
                              f"no certificate part {part_id}"))
    found = Certificate.decode(stored(signer, certificate_key(part.certificate_id),
                                      Code.CERTIFICATE_NOT_FOUND,
                                      f"no certificate {part.certificate_id}"))
    return found.currency
