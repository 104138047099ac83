"""`scf factoring`: factoring and reverse factoring (contracts/factoring.py), a command per method.

The worked example of docs/products.md, each step signed by its member:

    offer (financier) -> accept (supplier) -> fund (financier, same UTC day)
    -> acknowledge the funding payment (supplier) -> pay (buyer)
    -> acknowledge (financier) ... -> release-reserve (financier)
    -> acknowledge (supplier)

`offer` prints the offer id (FO-...), `accept` the deal id (FD-...) and its
terms; every other command takes `--deal`. Amounts are typed as decimals of
the deal's currency.
"""

from __future__ import annotations

from typing import Any

import click

from cli.signing import (
    Call,
    CreatedId,
    Signer,
    fingerprint_bytes,
    iso_date,
    member_command,
    minor_units,
)
from contracts.factoring_records import FACTORING, Deal, deal_key
from ledger.errors import Code, LedgerError

OFFER_ID = CreatedId("offer_id", "factoring.offered", "offer_id")
DEAL_ID = CreatedId("deal_id", "factoring.accepted", "deal_id")

_deal_option = click.option("--deal", "deal_id", required=True, metavar="FD-...",
                            help="The deal id (printed by `scf factoring accept`).")
_offer_option = click.option("--offer", "offer_id", required=True, metavar="FO-...",
                             help="The offer id (printed by `scf factoring offer`).")
_payment_ref_option = click.option("--payment-ref", required=True, metavar="REF",
                                   help="The bank's payment reference (1..64 of "
                                        "[A-Za-z0-9._:/-]), once per deal.")
_reason_option = click.option("--reason", help="Why (at most 256 bytes), for the record.")


@click.group()
def factoring() -> None:
    """Factoring and reverse factoring: offers, deals, funding, repayment."""


@factoring.command()
@member_command
@click.option("--currency", required=True, help="ISO 4217 code of the invoices financed.")
@click.option("--advance-bps", type=int, required=True,
              help="Advance rate, basis points of the amount due (8000 = 80 %).")
@click.option("--rate-bps", type=int, required=True,
              help="Annual discount rate, basis points (600 = 6 %).")
@click.option("--expiry", required=True, metavar="YYYY-MM-DD",
              help="Last day the offer may be accepted (UTC).")
@click.option("--recourse/--no-recourse", default=None,
              help="Whether the supplier owes the uncovered advance on default (required).")
@click.option("--basis", type=click.Choice(["365", "360"]), default="365", show_default=True,
              help="Day-count basis: ACT/365F or ACT/360.")
@click.option("--fee", default="0", show_default=True, metavar="DECIMAL",
              help="Flat fee per deal, in the currency.")
@click.option("--grace-days", type=int, default=0, show_default=True,
              help="Days after the due date before the deal may be marked overdue.")
@click.option("--penalty-rate-bps", type=int, default=0, show_default=True,
              help="Annual penalty interest on a default with recourse, basis points.")
@click.option("--supplier", metavar="MEMBER", help="Only this supplier's invoices.")
@click.option("--fingerprint", metavar="HEX", help="Only this invoice.")
@click.option("--buyer", metavar="MEMBER",
              help="Only invoices owed by this buyer (required with --reverse).")
@click.option("--reverse", is_flag=True,
              help="Reverse factoring: a programme on --buyer's credit, for its suppliers.")
def offer(signer: Signer, currency: str, advance_bps: int, rate_bps: int, expiry: str,
          recourse: bool | None, basis: str, fee: str, grace_days: int, penalty_rate_bps: int,
          supplier: str | None, fingerprint: str | None, buyer: str | None,
          reverse: bool) -> None:
    """Publish a factoring offer as a financier; prints the offer id.

    A plain offer names --supplier or --fingerprint; a --reverse one names
    --buyer. It serves any number of invoices until --expiry.

    \b
    Example:
      scf factoring offer --key keys/BANK-A.json --supplier SUPPLIER-01 \\
          --currency CNY --advance-bps 8000 --rate-bps 600 --recourse \\
          --grace-days 5 --penalty-rate-bps 1800 --expiry 2027-06-30

    Exit codes: 0 published; 1 the receipt failed or the node refused it;
    2 usage error (e.g. neither --recourse nor --no-recourse); 3 bad input,
    nothing sent; 5 no node answered.
    """
    if recourse is None:
        raise click.UsageError("say --recourse or --no-recourse: who bears a default is part "
                               "of the offer")
    with signer.checking_input():
        args: dict[str, Any] = {
            "currency": currency, "advance_bps": advance_bps, "rate_bps": rate_bps,
            "basis": int(basis), "fee": minor_units(fee, currency, "--fee", allow_zero=True),
            "recourse": recourse, "grace_days": grace_days,
            "penalty_rate_bps": penalty_rate_bps, "expiry_date": iso_date(expiry, "--expiry"),
        }
        if supplier is not None:
            args["supplier"] = supplier
        if fingerprint is not None:
            args["fingerprint"] = fingerprint_bytes(fingerprint)
        if buyer is not None:
            args["buyer"] = buyer
        if reverse:
            args["reverse"] = True
    signer.send(Call(FACTORING, "offer", args, (OFFER_ID,)))


@factoring.command()
@member_command
@_offer_option
def withdraw(signer: Signer, offer_id: str) -> None:
    """Withdraw an offer as its financier (deals already accepted stay).

    \b
    Example:
      scf factoring withdraw --key keys/BANK-A.json --offer FO-3b1f...

    Exit codes: 0 withdrawn; 1 the receipt failed or the node refused it;
    3 bad input; 5 no node answered.
    """
    signer.send(Call(FACTORING, "withdraw_offer", {"offer_id": offer_id}))


@factoring.command()
@member_command
@_offer_option
@click.option("--fingerprint", required=True, metavar="HEX",
              help="The confirmed invoice to finance (64 hex digits).")
def accept(signer: Signer, offer_id: str, fingerprint: str) -> None:
    """Accept an offer for a confirmed invoice as its seller; prints the deal id and terms.

    The terms (advance, discount, amount paid out, reserve) are fixed today;
    the financier must fund the deal the same UTC day.

    \b
    Example:
      scf factoring accept --key keys/SUPPLIER-01.json --offer FO-3b1f... \\
          --fingerprint 5ec5716a...e720cc76

    Exit codes: 0 accepted; 1 the receipt failed (OFFER_EXPIRED,
    INVALID_STATE_TRANSITION, ASSET_ENCUMBERED, DEAL_ALREADY_OPEN, ...) or
    the node refused it; 3 bad input; 5 no node answered.
    """
    with signer.checking_input():
        args = {"offer_id": offer_id, "fingerprint": fingerprint_bytes(fingerprint)}
    signer.send(Call(FACTORING, "accept", args, (DEAL_ID,)))


@factoring.command()
@member_command
@_deal_option
@_reason_option
def cancel(signer: Signer, deal_id: str, reason: str | None) -> None:
    """Cancel an accepted, unfunded deal (its supplier or financier).

    \b
    Example:
      scf factoring cancel --key keys/SUPPLIER-01.json --deal FD-9c2e... --reason "wrong offer"

    Exit codes: 0 cancelled; 1 the receipt failed or the node refused it;
    3 bad input; 5 no node answered.
    """
    args = {"deal_id": deal_id, **({"reason": reason} if reason is not None else {})}
    signer.send(Call(FACTORING, "cancel_acceptance", args))


@factoring.command()
@member_command
@_deal_option
@_payment_ref_option
def fund(signer: Signer, deal_id: str, payment_ref: str) -> None:
    """Fund an accepted deal as its financier, on the acceptance day.

    The invoice is assigned to you (its lien is placed), the payment of the
    amount paid out to the supplier is recorded under --payment-ref, and the
    buyer is notified to pay you.

    \b
    Example:
      scf factoring fund --key keys/BANK-A.json --deal FD-9c2e... --payment-ref BANKA-TT-0001

    Exit codes: 0 funded; 1 the receipt failed (FORBIDDEN: not your deal,
    ACCEPTANCE_LAPSED, ...) or the node refused it; 3 bad input; 5 no node
    answered.
    """
    signer.send(Call(FACTORING, "fund", {"deal_id": deal_id, "payment_ref": payment_ref}))


@factoring.command()
@member_command
@_deal_option
@click.option("--amount", required=True, metavar="DECIMAL",
              help='What you paid, in the deal\'s currency, e.g. "600000.00".')
@_payment_ref_option
def pay(signer: Signer, deal_id: str, amount: str, payment_ref: str) -> None:
    """Record a payment to the financier as the deal's buyer (partial payments allowed).

    It counts once the financier acknowledges it.

    \b
    Example:
      scf factoring pay --key keys/CORE-01.json --deal FD-9c2e... --amount 600000.00 \\
          --payment-ref CORE-P-1

    Exit codes: 0 recorded; 1 the receipt failed (OVERPAYMENT,
    DUPLICATE_PAYMENT, ...) or the node refused it; 3 bad input or no such
    deal; 5 no node answered.
    """
    with signer.checking_input():
        currency = _deal(signer, deal_id).currency
        args = {"deal_id": deal_id, "amount": minor_units(amount, currency, "--amount"),
                "payment_ref": payment_ref}
    signer.send(Call(FACTORING, "pay", args))


@factoring.command()
@member_command
@_deal_option
@_payment_ref_option
def acknowledge(signer: Signer, deal_id: str, payment_ref: str) -> None:
    """Acknowledge a payment you received (its payee): only then does it count.

    The supplier acknowledges the funding and reserve payments, the
    financier the buyer's; the buyer payment that completes the amount due
    settles the invoice and the deal.

    \b
    Example:
      scf factoring acknowledge --key keys/SUPPLIER-01.json --deal FD-9c2e... \\
          --payment-ref BANKA-TT-0001

    Exit codes: 0 acknowledged; 1 the receipt failed (PAYMENT_NOT_FOUND,
    FORBIDDEN: not its payee, ...) or the node refused it; 3 bad input;
    5 no node answered.
    """
    signer.send(Call(FACTORING, "acknowledge_payment",
                     {"deal_id": deal_id, "payment_ref": payment_ref}))


@factoring.command()
@member_command
@_deal_option
@_payment_ref_option
@_reason_option
def reject(signer: Signer, deal_id: str, payment_ref: str, reason: str | None) -> None:
    """Reject a payment you did not receive (its payee); it never counts.

    \b
    Example:
      scf factoring reject --key keys/BANK-A.json --deal FD-9c2e... --payment-ref CORE-P-1 \\
          --reason "no such transfer"

    Exit codes: 0 rejected; 1 the receipt failed or the node refused it;
    3 bad input; 5 no node answered.
    """
    args = {"deal_id": deal_id, "payment_ref": payment_ref,
            **({"reason": reason} if reason is not None else {})}
    signer.send(Call(FACTORING, "reject_payment", args))


@factoring.command("release-reserve")
@member_command
@_deal_option
@_payment_ref_option
def release_reserve(signer: Signer, deal_id: str, payment_ref: str) -> None:
    """Pay the supplier all of the reserve releasable now (the deal's financier).

    \b
    Example:
      scf factoring release-reserve --key keys/BANK-A.json --deal FD-9c2e... \\
          --payment-ref REL-1

    Exit codes: 0 recorded; 1 the receipt failed (NOTHING_TO_RELEASE, ...)
    or the node refused it; 3 bad input; 5 no node answered.
    """
    signer.send(Call(FACTORING, "release_reserve",
                     {"deal_id": deal_id, "payment_ref": payment_ref}))


@factoring.command("mark-overdue")
@member_command
@_deal_option
def mark_overdue(signer: Signer, deal_id: str) -> None:
    """Mark a funded deal overdue (its financier), after the due date plus the grace days.

    \b
    Example:
      scf factoring mark-overdue --key keys/BANK-A.json --deal FD-9c2e...

    Exit codes: 0 overdue; 1 the receipt failed (NOT_IN_ARREARS, ...) or the
    node refused it; 3 bad input; 5 no node answered.
    """
    signer.send(Call(FACTORING, "mark_overdue", {"deal_id": deal_id}))


@factoring.command("declare-default")
@member_command
@_deal_option
def declare_default(signer: Signer, deal_id: str) -> None:
    """Declare an overdue deal in default (its financier): the claim or loss is recorded.

    \b
    Example:
      scf factoring declare-default --key keys/BANK-A.json --deal FD-9c2e...

    Exit codes: 0 defaulted; 1 the receipt failed (PAYMENT_PENDING,
    NOT_IN_ARREARS, ...) or the node refused it; 3 bad input; 5 no node
    answered.
    """
    signer.send(Call(FACTORING, "declare_default", {"deal_id": deal_id}))


def _deal(signer: Signer, deal_id: str) -> Deal:
    """The deal as the node reads it (for its currency); DEAL_NOT_FOUND if there is none."""
    value = signer.client.state(deal_key(deal_id))["values"]["key"]["value"]
    if value is None:
        raise LedgerError(Code.DEAL_NOT_FOUND, f"no factoring deal {deal_id}")
    return Deal.decode(bytes.fromhex(value))
