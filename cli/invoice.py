"""`scf invoice`: e-invoices (UBL 2.1 / Peppol BIS Billing 3.0, UN/CEFACT CII)."""

from __future__ import annotations

import json
import re
import sys
from typing import Any, BinaryIO, NoReturn

import click

from ledger.einvoice import (
    MAX_DOCUMENT_BYTES,
    format_amount,
    parse_einvoice,
    registration_args,
    require_registrable,
)
from ledger.accounts import MEMBER_ID
from ledger.errors import LedgerError

EXIT_OK = 0
EXIT_NOT_IMPORTABLE = 3
EXIT_NEEDS_NODE = 4

#: The CLI-level code for "posting needs a node" (not a ledger error: nothing was refused).
NODE_REQUIRED = "NODE_REQUIRED"


@click.group()
def invoice() -> None:
    """Import e-invoices for registration on the ledger."""


def _member_id(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and re.fullmatch(MEMBER_ID.pattern or "", value) is None:
        raise click.BadParameter(f"{value!r} is not a member id (e.g. CORE-01)")
    return value


@invoice.command("import")
@click.argument("file", type=click.File("rb"))
@click.option("--buyer", metavar="MEMBER", callback=_member_id,
              help="Ledger member id of the buyer (e.g. CORE-01); the document only knows "
                   "its tax id. With it the dry run also shows the registration arguments.")
@click.option("--dry-run", is_flag=True,
              help="Only read the file and print what would be registered; contact no node.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (for scripts).")
def import_(file: BinaryIO, buyer: str | None, dry_run: bool, as_json: bool) -> None:
    """Read a UBL or CII e-invoice FILE ("-" for stdin) and show what it registers.

    Prints the invoice number, issue and due dates, currency, payable amount
    (in minor units with --json, as a decimal otherwise), seller and buyer
    ids, the SHA-256 of the file and the invoice fingerprint. Credit notes,
    negative amounts and invoices without a due date are refused.

    \b
    Example:
      scf invoice import invoice.xml --dry-run --json

    Only --dry-run works for now: posting the registration needs a node,
    which arrives with the node issue.

    Exit codes: 0 importable; 2 usage error (no such file, bad --buyer);
    3 not importable (credit note, missing or invalid field, malformed XML,
    ...); 4 posting needs a node (no --dry-run).
    """
    if not dry_run:
        _fail(NODE_REQUIRED, "posting a registration needs a running node, which scf-ledger "
              "does not have yet (it arrives with the node issue); use --dry-run to check the "
              "file", as_json, EXIT_NEEDS_NODE)
    data = file.read(MAX_DOCUMENT_BYTES + 1)
    try:
        parsed = parse_einvoice(data)
        require_registrable(parsed)
        args = registration_args(parsed, buyer) if buyer is not None else None
    except LedgerError as error:
        _fail(error.code.value, error.message, as_json, EXIT_NOT_IMPORTABLE)
    report = parsed.to_json()
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
    else:
        _print_human(report, args)
    sys.exit(EXIT_OK)


def _print_human(report: dict[str, Any], args: dict[str, Any] | None) -> None:
    amount = format_amount(report["amount_minor"], report["currency"])
    shown = {**report, "amount": f"{amount} {report['currency']}"}
    order = ["syntax", "invoice_number", "issue_date", "due_date", "amount", "amount_minor",
             "seller_id", "buyer_id", "document_sha256", "fingerprint"]
    for key in order:
        click.echo(f"{key:>15}: {shown[key]}")
    if args is not None:
        printable = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in args.items()}
        click.echo(f"{'register args':>15}: {json.dumps(printable, ensure_ascii=False)}")
    click.echo(f"{'verdict':>15}: importable (dry run: nothing was sent)")


def _fail(code: str, message: str, as_json: bool, exit_code: int) -> NoReturn:
    if as_json:
        click.echo(json.dumps({"error": {"code": code, "message": message}}, ensure_ascii=False))
    else:
        click.echo(f"error: {code}: {message}", err=True)
    sys.exit(exit_code)
