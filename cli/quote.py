"""`scf quote`: preview financing terms before anyone signs.

Thin over `contracts.terms`, the one home of the formulas, so a bank's desk
sees exactly what the contracts will compute. Amounts are given in minor
units; the human output shows them as decimals of `--currency`, `--json`
keeps minor units.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from contracts.terms import dynamic_discount, factoring_terms
from ledger.money import format_amount
from ledger.errors import LedgerError

EXIT_REFUSED = 3

_currency = click.option("--currency", default="CNY", show_default=True,
                         help="ISO 4217 code, for showing decimal amounts.")
_as_json = click.option("--json", "as_json", is_flag=True, help="One JSON object, minor units.")
_basis = click.option("--basis", type=click.Choice(["360", "365"]), required=True,
                      help="Day-count basis: ACT/360 or ACT/365F.")


@click.group()
def quote() -> None:
    """Compute financing terms exactly as the contracts will."""


@quote.command("factoring")
@click.option("--face", type=int, required=True, help="Invoice amount, minor units.")
@click.option("--advance-bps", type=int, required=True, help="Advance rate, basis points of face.")
@click.option("--rate-bps", type=int, required=True, help="Annual discount rate, basis points.")
@click.option("--days", type=int, required=True, help="Tenor: days from funding to due date.")
@_basis
@click.option("--fee", type=int, default=0, show_default=True, help="Fee, minor units.")
@_currency
@_as_json
def factoring(face: int, advance_bps: int, rate_bps: int, days: int, basis: str, fee: int,
              currency: str, as_json: bool) -> None:
    """Invoice discounting: advance, discount, amount paid out, reserve.

    \b
    Example (the domain guide's worked example):
      scf quote factoring --face 100000000 --advance-bps 8000 --rate-bps 600 \\
          --days 90 --basis 365
    """
    inputs = {"face": face, "advance_bps": advance_bps, "rate_bps": rate_bps, "days": days,
              "basis": int(basis), "fee": fee}
    try:
        terms = factoring_terms(face, advance_bps, rate_bps, days, int(basis), fee)
    except LedgerError as error:
        _refuse(error, as_json)
    _show(inputs, {"advance": terms.advance, "discount": terms.discount, "fee": fee,
                   "paid_out": terms.paid_out, "reserve": terms.reserve}, currency, as_json)


@quote.command("discount")
@click.option("--face", type=int, required=True, help="Invoice amount, minor units.")
@click.option("--rate-bps", type=int, required=True, help="Annual discount rate, basis points.")
@click.option("--days-early", type=int, required=True, help="Days before the due date.")
@_basis
@_currency
@_as_json
def discount(face: int, rate_bps: int, days_early: int, basis: str, currency: str,
             as_json: bool) -> None:
    """Dynamic discounting: the buyer pays early, less a discount.

    \b
    Example:
      scf quote discount --face 100000000 --rate-bps 800 --days-early 30 --basis 365
    """
    inputs = {"face": face, "rate_bps": rate_bps, "days_early": days_early, "basis": int(basis)}
    try:
        terms = dynamic_discount(face, rate_bps, days_early, int(basis))
    except LedgerError as error:
        _refuse(error, as_json)
    _show(inputs, {"discount": terms.discount, "paid": terms.paid}, currency, as_json)


def _show(inputs: dict[str, int], results: dict[str, int], currency: str, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"inputs": inputs, "currency": currency, **results}))
        return
    try:
        amounts = {name: f"{format_amount(value, currency)} {currency}"
                   for name, value in results.items()}
    except LedgerError as error:
        _refuse(error, as_json)
    for name, shown in amounts.items():
        click.echo(f"{name:>10}: {shown:>24}   ({results[name]} minor units)")


def _refuse(error: LedgerError, as_json: bool) -> Any:
    if as_json:
        click.echo(json.dumps({"error": error.to_dict()}))
    else:
        click.echo(f"error: {error.code.value}: {error.message}", err=True)
    sys.exit(EXIT_REFUSED)
