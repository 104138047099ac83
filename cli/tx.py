"""`scf tx`: look inside signed transactions."""

from __future__ import annotations

import json
import sys

import click

from ledger.errors import LedgerError
from ledger.typed_json import to_json
from ledger.types import SignedTransaction

EXIT_VALID = 0
EXIT_BAD_SIGNATURE = 1
EXIT_UNDECODABLE = 3


@click.group()
def tx() -> None:
    """Inspect signed transactions."""


@tx.command()
@click.argument("signed_tx_hex", required=False)
@click.option("--chain-id", help="Also check that the transaction is for this chain.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (for scripts).")
def inspect(signed_tx_hex: str | None, chain_id: str | None, as_json: bool) -> None:
    """Decode a signed transaction (hex, or from stdin) and check its signature.

    \b
    Example:
      scf tx inspect 93019801a8...0d --chain-id scf-demo

    Exit codes: 0 decodes and the signature verifies; 1 signature (or chain
    id) check failed; 3 not a canonical signed transaction.
    """
    text = (signed_tx_hex if signed_tx_hex is not None else sys.stdin.read()).strip()
    try:
        signed = SignedTransaction.decode(bytes.fromhex(text))
    except ValueError:
        _fail("NOT_HEX", "input is not hexadecimal", as_json)
    except LedgerError as error:
        _fail(error.code.value, error.message, as_json)
    problem: LedgerError | None = None
    try:
        signed.validate(chain_id if chain_id is not None else signed.tx.chain_id)
    except LedgerError as error:
        problem = error
    tx_ = signed.tx
    report = {
        "tx_id": signed.tx_id.hex(),
        "valid": problem is None,
        "problem": None if problem is None else problem.to_dict(),
        "chain_id": tx_.chain_id,
        "sender": tx_.sender.hex(),
        "nonce": tx_.nonce,
        "contract": tx_.contract,
        "method": tx_.method,
        "args": to_json(tx_.args),
        "expiry_height": tx_.expiry_height,
    }
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
    else:
        for key, value in report.items():
            if key in ("problem", "valid"):
                continue
            shown = json.dumps(value, ensure_ascii=False) if key == "args" else value
            click.echo(f"{key:>14}: {shown}")
        verdict = "signature OK" if problem is None else f"INVALID: {problem}"
        click.echo(f"{'verdict':>14}: {verdict}")
    sys.exit(EXIT_VALID if problem is None else EXIT_BAD_SIGNATURE)


def _fail(code: str, message: str, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"valid": False, "problem": {"code": code, "message": message}}))
    else:
        click.echo(f"error: {code}: {message}", err=True)
    sys.exit(EXIT_UNDECODABLE)
