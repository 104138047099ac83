"""`scf pledge`: loans against warehouse receipts (contracts/pledge.py), a command per method.

The worked path of docs/products.md, each step signed by its member:

    apply (the receipt's owner) -> fund (financier) -> acknowledge the funding
    (borrower) -> repay (borrower) -> acknowledge (financier) ...
    release: request-release (borrower) -> approve-release (financier)
    -> confirm-release (warehouse)

`apply` prints the deal id (PL-...); every other command takes `--deal`.
Amounts are typed as decimals of the receipt's currency; quantities are
whole units.
"""

from __future__ import annotations

from typing import Any

import click

from cli.receipt import stored, stored_receipt
from cli.signing import Call, CreatedId, Signer, member_command, minor_units
from contracts.pledge_records import PLEDGE, PledgeDeal, deal_key
from ledger.errors import Code

DEAL_ID = CreatedId("deal_id", "pledge.applied", "deal_id")

_deal_option = click.option("--deal", "deal_id", required=True, metavar="PL-...",
                            help="The deal id (printed by `scf pledge apply`).")
_payment_ref_option = click.option("--payment-ref", required=True, metavar="REF",
                                   help="The payment reference (1..64 of [A-Za-z0-9._:/-]), "
                                        "once per deal.")
_reason_option = click.option("--reason", help="Why (at most 256 bytes), for the record.")


@click.group()
def pledge() -> None:
    """Pledge financing: loans against warehouse receipts, repayment, release of goods."""


@pledge.command()
@member_command
@click.option("--receipt", "receipt_id", required=True, metavar="WR-...",
              help="The receipt to pledge (you own it, it is not pledged).")
@click.option("--financier", required=True, metavar="MEMBER", help="The lending financier.")
@click.option("--principal", required=True, metavar="DECIMAL",
              help="The loan, in the receipt's currency; at most units x unit value x LTV.")
@click.option("--tenor-days", type=int, required=True,
              help="Days from funding to the due date.")
@click.option("--ltv-bps", type=int, required=True,
              help="Loan-to-value limit, basis points of the goods' value (6000 = 60 %).")
@click.option("--rate-bps", type=int, required=True,
              help="Annual interest on the outstanding principal, basis points.")
@click.option("--maintenance-bps", type=int, required=True,
              help="Margin call above this loan-to-value, basis points (>= --ltv-bps).")
@click.option("--basis", type=click.Choice(["365", "360"]), default="365", show_default=True,
              help="Day-count basis: ACT/365F or ACT/360.")
@click.option("--cure-days", type=int, default=0, show_default=True,
              help="Days to cure a margin call.")
@click.option("--grace-days", type=int, default=0, show_default=True,
              help="Days after the due date before a default.")
@click.option("--penalty-rate-bps", type=int, default=0, show_default=True,
              help="Annual penalty interest on what is owed at default, basis points.")
def apply(signer: Signer, receipt_id: str, financier: str, principal: str, tenor_days: int,
          ltv_bps: int, rate_bps: int, maintenance_bps: int, basis: str, cure_days: int,
          grace_days: int, penalty_rate_bps: int) -> None:
    """Pledge a receipt you own to a financier for a loan; prints the deal id.

    The receipt is pledged at once (the financier's lien) until the deal is
    funded, cancelled or repaid.

    \b
    Example:
      scf pledge apply --key keys/SUPPLIER-01.json --receipt WR-5d0e... \\
          --financier BANK-B --principal 300000.00 --tenor-days 90 --ltv-bps 6000 \\
          --rate-bps 550 --maintenance-bps 8000 --cure-days 5 --grace-days 5 \\
          --penalty-rate-bps 1800

    Exit codes: 0 applied; 1 the receipt failed (LOAN_ABOVE_LTV,
    ASSET_ENCUMBERED, ...) or the node refused it; 3 bad input or no such
    receipt; 5 no node answered.
    """
    with signer.checking_input():
        currency = stored_receipt(signer, receipt_id).currency
        args: dict[str, Any] = {
            "receipt_id": receipt_id, "financier": financier,
            "principal": minor_units(principal, currency, "--principal"),
            "tenor_days": tenor_days, "ltv_bps": ltv_bps, "rate_bps": rate_bps,
            "basis": int(basis), "maintenance_bps": maintenance_bps, "cure_days": cure_days,
            "grace_days": grace_days, "penalty_rate_bps": penalty_rate_bps,
        }
    signer.send(Call(PLEDGE, "apply", args, (DEAL_ID,)))


@pledge.command()
@member_command
@_deal_option
@_reason_option
def cancel(signer: Signer, deal_id: str, reason: str | None) -> None:
    """Cancel an unfunded deal (its borrower or financier): the pledge ends.

    \b
    Example:
      scf pledge cancel --key keys/SUPPLIER-01.json --deal PL-8a41... --reason "wrong bank"

    Exit codes: 0 cancelled; 1 the receipt failed or the node refused it;
    3 bad input; 5 no node answered.
    """
    signer.send(Call(PLEDGE, "cancel", _with_reason({"deal_id": deal_id}, reason)))


@pledge.command()
@member_command
@_deal_option
@_payment_ref_option
def fund(signer: Signer, deal_id: str, payment_ref: str) -> None:
    """Fund an applied deal (its financier): the principal's payment is recorded.

    The due date is today plus the tenor; the borrower acknowledges the payment.

    \b
    Example:
      scf pledge fund --key keys/BANK-B.json --deal PL-8a41... --payment-ref BANKB-PL-1

    Exit codes: 0 funded; 1 the receipt failed (LOAN_ABOVE_LTV after a
    re-appraisal, FORBIDDEN, ...) or the node refused it; 3 bad input; 5 no
    node answered.
    """
    signer.send(Call(PLEDGE, "fund", {"deal_id": deal_id, "payment_ref": payment_ref}))


@pledge.command()
@member_command
@_deal_option
@click.option("--amount", required=True, metavar="DECIMAL",
              help='What you paid, in the deal\'s currency, e.g. "150000.00".')
@_payment_ref_option
def repay(signer: Signer, deal_id: str, amount: str, payment_ref: str) -> None:
    """Record a repayment to the financier (the borrower); interest due is paid first.

    It counts once the financier acknowledges it; the one that repays the
    principal ends the pledge.

    \b
    Example:
      scf pledge repay --key keys/SUPPLIER-01.json --deal PL-8a41... --amount 150000.00 \\
          --payment-ref SUP-PL-1

    Exit codes: 0 recorded; 1 the receipt failed (OVERPAYMENT,
    DUPLICATE_PAYMENT, ...) or the node refused it; 3 bad input or no such
    deal; 5 no node answered.
    """
    with signer.checking_input():
        currency = stored_deal(signer, deal_id).currency
        args = {"deal_id": deal_id, "amount": minor_units(amount, currency, "--amount"),
                "payment_ref": payment_ref}
    signer.send(Call(PLEDGE, "repay", args))


@pledge.command()
@member_command
@_deal_option
@_payment_ref_option
def acknowledge(signer: Signer, deal_id: str, payment_ref: str) -> None:
    """Acknowledge a payment you received (its payee): only then does it count.

    The borrower acknowledges the funding, the financier each repayment.

    \b
    Example:
      scf pledge acknowledge --key keys/BANK-B.json --deal PL-8a41... --payment-ref SUP-PL-1

    Exit codes: 0 acknowledged; 1 the receipt failed (PAYMENT_NOT_FOUND,
    FORBIDDEN, ...) or the node refused it; 3 bad input; 5 no node answered.
    """
    signer.send(Call(PLEDGE, "acknowledge_payment",
                     {"deal_id": deal_id, "payment_ref": payment_ref}))


@pledge.command()
@member_command
@_deal_option
@_payment_ref_option
@_reason_option
def reject(signer: Signer, deal_id: str, payment_ref: str, reason: str | None) -> None:
    """Reject a payment you did not receive (its payee); it never counts.

    \b
    Example:
      scf pledge reject --key keys/BANK-B.json --deal PL-8a41... --payment-ref SUP-PL-1 \\
          --reason "no such transfer"

    Exit codes: 0 rejected; 1 the receipt failed or the node refused it;
    3 bad input; 5 no node answered.
    """
    signer.send(Call(PLEDGE, "reject_payment",
                     _with_reason({"deal_id": deal_id, "payment_ref": payment_ref}, reason)))


@pledge.command("request-release")
@member_command
@_deal_option
@click.option("--quantity", type=int, required=True, help="Units to take out.")
def request_release(signer: Signer, deal_id: str, quantity: int) -> None:
    """Ask to take pledged goods out (the borrower), at most the repaid share.

    Releasable now: min(units x repaid // principal - released, what keeps
    the maintenance ratio).

    \b
    Example:
      scf pledge request-release --key keys/SUPPLIER-01.json --deal PL-8a41... --quantity 500

    Exit codes: 0 requested; 1 the receipt failed (RELEASE_ABOVE_LIMIT,
    RELEASE_PENDING, ...) or the node refused it; 3 bad input; 5 no node
    answered.
    """
    signer.send(Call(PLEDGE, "request_release", {"deal_id": deal_id, "quantity": quantity}))


@pledge.command("approve-release")
@member_command
@_deal_option
def approve_release(signer: Signer, deal_id: str) -> None:
    """Approve the open release request (the deal's financier).

    \b
    Example:
      scf pledge approve-release --key keys/BANK-B.json --deal PL-8a41...

    Exit codes: 0 approved; 1 the receipt failed (RELEASE_NOT_FOUND, ...) or
    the node refused it; 3 bad input; 5 no node answered.
    """
    signer.send(Call(PLEDGE, "approve_release", {"deal_id": deal_id}))


@pledge.command("confirm-release")
@member_command
@_deal_option
def confirm_release(signer: Signer, deal_id: str) -> None:
    """Confirm the approved units left the warehouse (the receipt's warehouse).

    \b
    Example:
      scf pledge confirm-release --key keys/WAREHOUSE-01.json --deal PL-8a41...

    Exit codes: 0 released; 1 the receipt failed (RELEASE_NOT_APPROVED,
    RELEASE_ABOVE_LIMIT, ...) or the node refused it; 3 bad input; 5 no node
    answered.
    """
    signer.send(Call(PLEDGE, "confirm_release", {"deal_id": deal_id}))


@pledge.command("cancel-release")
@member_command
@_deal_option
@_reason_option
def cancel_release(signer: Signer, deal_id: str, reason: str | None) -> None:
    """Cancel the open release request (borrower, financier or warehouse).

    \b
    Example:
      scf pledge cancel-release --key keys/BANK-B.json --deal PL-8a41... --reason "not yet"

    Exit codes: 0 cancelled; 1 the receipt failed (RELEASE_NOT_FOUND, ...)
    or the node refused it; 3 bad input; 5 no node answered.
    """
    signer.send(Call(PLEDGE, "cancel_release", _with_reason({"deal_id": deal_id}, reason)))


@pledge.command()
@member_command
@_deal_option
@click.option("--unit-value", required=True, metavar="DECIMAL",
              help="The new value of one unit, in the deal's currency.")
def reappraise(signer: Signer, deal_id: str, unit_value: str) -> None:
    """Re-appraise the pledged goods (the warehouse); may open or cure a margin call.

    \b
    Example:
      scf pledge reappraise --key keys/WAREHOUSE-01.json --deal PL-8a41... --unit-value 420.00

    Exit codes: 0 re-appraised; 1 the receipt failed (FORBIDDEN, ...) or the
    node refused it; 3 bad input or no such deal; 5 no node answered.
    """
    with signer.checking_input():
        currency = stored_deal(signer, deal_id).currency
        args = {"deal_id": deal_id,
                "unit_value": minor_units(unit_value, currency, "--unit-value")}
    signer.send(Call(PLEDGE, "reappraise", args))


@pledge.command("declare-default")
@member_command
@_deal_option
def declare_default(signer: Signer, deal_id: str) -> None:
    """Declare a funded deal in default (its financier), past due plus grace or an
    uncured margin call.

    \b
    Example:
      scf pledge declare-default --key keys/BANK-B.json --deal PL-8a41...

    Exit codes: 0 defaulted; 1 the receipt failed (NOT_IN_ARREARS,
    PAYMENT_PENDING, RELEASE_PENDING, ...) or the node refused it; 3 bad
    input; 5 no node answered.
    """
    signer.send(Call(PLEDGE, "declare_default", {"deal_id": deal_id}))


@pledge.command("take-title")
@member_command
@_deal_option
def take_title(signer: Signer, deal_id: str) -> None:
    """Take title to the goods left of a defaulted deal (its financier).

    \b
    Example:
      scf pledge take-title --key keys/BANK-B.json --deal PL-8a41...

    Exit codes: 0 title taken; 1 the receipt failed (INVALID_STATE_TRANSITION,
    ...) or the node refused it; 3 bad input; 5 no node answered.
    """
    signer.send(Call(PLEDGE, "take_title", {"deal_id": deal_id}))


def stored_deal(signer: Signer, deal_id: str) -> PledgeDeal:
    """The deal as the node reads it (for its currency)."""
    return PledgeDeal.decode(stored(signer, deal_key(deal_id), Code.DEAL_NOT_FOUND,
                                    f"no pledge deal {deal_id}"))


def _with_reason(args: dict[str, Any], reason: str | None) -> dict[str, Any]:
    return {**args, "reason": reason} if reason is not None else args
