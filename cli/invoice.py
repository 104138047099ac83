"""`scf invoice`: register invoices (typed in, or imported from UBL 2.1 / Peppol BIS
Billing 3.0 / UN/CEFACT CII e-invoices), confirm, dispute and cancel them.

Signing and posting go through cli/signing.py, like every member command.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

import click

from cli.lazy_commands import LazyCommands
from cli.session import node_option
from cli.signing import (
    Call,
    CreatedId,
    Signer,
    file_sha256,
    fingerprint_bytes,
    iso_date,
    member_command,
    minor_units,
)
from contracts.invoices import INVOICES
from ledger import codec
from ledger.accounts import MEMBER_ID
from ledger.errors import LedgerError

EXIT_OK = 0
EXIT_NOT_IMPORTABLE = 3
EXIT_NEEDS_NODE = 4

#: The CLI-level code for "posting needs a node" (not a ledger error: nothing was refused).
NODE_REQUIRED = "NODE_REQUIRED"


#: What a registration's receipt creates: the invoice's ledger-wide id.
FINGERPRINT_ID = CreatedId("fingerprint", "invoice.registered", "fingerprint")


@click.group(commands=LazyCommands({"verify": "cli.verify:verify"}))
def invoice() -> None:
    """Register invoices on the ledger and move them through their life cycle."""


def _member_id(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and re.fullmatch(MEMBER_ID.pattern or "", value) is None:
        raise click.BadParameter(f"{value!r} is not a member id (e.g. CORE-01)")
    return value


@invoice.command("import")
@click.argument("file", type=click.File("rb"))
@click.option("--buyer", metavar="MEMBER", callback=_member_id,
              help="Ledger member id of the buyer (e.g. CORE-01); the document only knows "
                   "its tax id. Needed to register; with --dry-run it also shows the "
                   "registration arguments.")
@click.option("--dry-run", is_flag=True,
              help="Only read the file and print what would be registered; contact no node.")
@node_option()
@click.option("--key", "key_file", envvar="SCF_KEY", type=click.Path(path_type=Path),
              help="The seller's key file ($SCF_KEY): sign and post the registration.")
@click.option("--passphrase", envvar="SCF_PASSPHRASE", default=None,
              help="Passphrase of an encrypted key file ($SCF_PASSPHRASE).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (for scripts).")
def import_(file: BinaryIO, buyer: str | None, dry_run: bool, node: str, key_file: Path | None,
            passphrase: str | None, as_json: bool) -> None:
    """Read a UBL or CII e-invoice FILE ("-" for stdin) and register it.

    Prints the invoice number, issue and due dates, currency, payable amount
    (in minor units with --json, as a decimal otherwise), seller and buyer
    ids, the SHA-256 of the file and the invoice fingerprint. Credit notes,
    negative amounts and invoices without a due date are refused.

    With --key (and --buyer) it signs `invoices.register` as the seller,
    posts it to --node, waits for the commit and prints the receipt, as
    `scf invoice register` does. With --dry-run nothing is sent.

    \b
    Example:
      scf invoice import invoice.xml --dry-run --json
      scf invoice import invoice.xml --buyer CORE-01 --key keys/SUPPLIER-01.json \\
          --node http://127.0.0.1:26600

    Exit codes: 0 importable (dry run) or registered; 1 the receipt failed
    (e.g. DUPLICATE_INVOICE) or the node refused the transaction; 2 usage
    error (no such file, bad --buyer); 3 not importable (credit note,
    missing or invalid field, malformed XML, no --buyer to register, ...);
    4 neither --dry-run nor --key (posting needs a key and a node); 5 no
    node answered.
    """
    if not dry_run and key_file is None:
        _fail(NODE_REQUIRED, "registering needs the seller's key and a node: give --key FILE "
              "(and --node URL), or use --dry-run to check the file", as_json, EXIT_NEEDS_NODE)
    from ledger.einvoice import (  # XML parsing: loaded only by the command that needs it
        MAX_DOCUMENT_BYTES,
        parse_einvoice,
        registration_args,
        require_registrable,
    )

    data = file.read(MAX_DOCUMENT_BYTES + 1)
    try:
        parsed = parse_einvoice(data)
        require_registrable(parsed)
        args = registration_args(parsed, buyer) if buyer is not None else None
    except LedgerError as error:
        _fail(error.code.value, error.message, as_json, EXIT_NOT_IMPORTABLE)
    if not dry_run and key_file is not None:
        if args is None:
            _fail("INVALID_ARGUMENT", "buyer: give --buyer MEMBER to register (the document "
                  "knows only the buyer's tax id)", as_json, EXIT_NOT_IMPORTABLE)
        signer = Signer(node, key_file, passphrase, as_json)
        signer.send(Call(INVOICES, "register", args, (FINGERPRINT_ID,)))
    report = parsed.to_json()
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
    else:
        _print_human(report, args)
    sys.exit(EXIT_OK)


@invoice.command()
@member_command
@click.option("--number", "invoice_number", required=True, help="The invoice number.")
@click.option("--buyer", required=True, metavar="MEMBER",
              help="Ledger member id of the buyer (a core enterprise), e.g. CORE-01.")
@click.option("--amount", required=True, metavar="DECIMAL",
              help='Face amount as written on the invoice, e.g. "1250000.00".')
@click.option("--currency", required=True, help="ISO 4217 code, e.g. CNY.")
@click.option("--issue-date", required=True, metavar="YYYY-MM-DD")
@click.option("--due-date", required=True, metavar="YYYY-MM-DD")
@click.option("--seller-tax-id", required=True, help="The seller's tax id on the invoice.")
@click.option("--buyer-tax-id", required=True, help="The buyer's tax id on the invoice.")
@click.option("--document", type=click.Path(dir_okay=False, path_type=Path),
              help="The invoice document: its SHA-256 is recorded.")
@click.option("--document-sha256", metavar="HEX",
              help="The document's SHA-256, if the file is not at hand.")
def register(signer: Signer, invoice_number: str, buyer: str, amount: str, currency: str,
             issue_date: str, due_date: str, seller_tax_id: str, buyer_tax_id: str,
             document: Path | None, document_sha256: str | None) -> None:
    """Register an invoice as its seller (signs `invoices.register`).

    Prints the receipt and the invoice's fingerprint, its id everywhere on
    the ledger (the next commands take it). Without --document or
    --document-sha256 the recorded document hash is the SHA-256 of the
    canonical msgpack map of the other registered fields, so anyone can
    recompute it from the invoice record.

    \b
    Example:
      scf invoice register --key keys/SUPPLIER-01.json --number INV-2026-001 \\
          --buyer CORE-01 --amount 1250000.00 --currency CNY \\
          --issue-date 2026-11-20 --due-date 2027-02-18 \\
          --seller-tax-id 91440300SUP0001 --buyer-tax-id 91110000CORE001 \\
          --document INV-2026-001.pdf

    Exit codes: 0 registered; 1 the receipt failed (DUPLICATE_INVOICE, ...)
    or the node refused it; 3 bad input (amount with too many decimals, bad
    date, ...), nothing sent; 5 no node answered.
    """
    if document is not None and document_sha256 is not None:
        raise click.UsageError("give --document or --document-sha256, not both")
    with signer.checking_input():
        args: dict[str, Any] = {
            "invoice_number": invoice_number, "seller_tax_id": seller_tax_id,
            "buyer_tax_id": buyer_tax_id, "buyer": buyer,
            "issue_date": iso_date(issue_date, "--issue-date"),
            "due_date": iso_date(due_date, "--due-date"), "currency": currency,
            "face_amount": minor_units(amount, currency, "--amount"),
        }
        if document is not None:
            args["document_sha256"] = file_sha256(document)
        elif document_sha256 is not None:
            args["document_sha256"] = fingerprint_bytes(document_sha256, "--document-sha256")
        else:
            args["document_sha256"] = hashlib.sha256(codec.encode(args)).digest()
    signer.send(Call(INVOICES, "register", args, (FINGERPRINT_ID,)))


_fingerprint_option = click.option("--fingerprint", required=True, metavar="HEX",
                                   help="The invoice's fingerprint (64 hex digits).")
_reason_option = click.option("--reason", help="Why (at most 256 bytes), for the record.")


@invoice.command()
@member_command
@_fingerprint_option
@click.option("--amount", metavar="DECIMAL",
              help="Confirm less than the face amount (in the invoice's currency).")
def confirm(signer: Signer, fingerprint: str, amount: str | None) -> None:
    """Confirm an invoice as its buyer: it owes the amount, on the due date.

    The confirmation is what a financier relies on; only a confirmed invoice
    can be financed.

    \b
    Example:
      scf invoice confirm --key keys/CORE-01.json --fingerprint 5ec5716a...e720cc76
      scf invoice confirm --key keys/CORE-01.json --fingerprint 5ec5... --amount 1200000.00

    Exit codes: 0 confirmed; 1 the receipt failed (FORBIDDEN: not its buyer,
    INVALID_STATE_TRANSITION, ...) or the node refused it; 3 bad input or no
    such invoice, nothing sent; 5 no node answered.
    """
    with signer.checking_input():
        fp = fingerprint_bytes(fingerprint)
        args: dict[str, Any] = {"fingerprint": fp}
        if amount is not None:
            args["amount"] = minor_units(amount, signer.invoice_currency(fp), "--amount")
    signer.send(Call(INVOICES, "confirm", args))


@invoice.command()
@member_command
@_fingerprint_option
@_reason_option
def dispute(signer: Signer, fingerprint: str, reason: str | None) -> None:
    """Dispute an invoice as its buyer (before it is financed).

    \b
    Example:
      scf invoice dispute --key keys/CORE-01.json --fingerprint 5ec5... \\
          --reason "goods not received"

    Exit codes: 0 disputed; 1 the receipt failed or the node refused it;
    3 bad input; 5 no node answered.
    """
    _send_simple(signer, "dispute", fingerprint, reason)


@invoice.command("consent-cancel")
@member_command
@_fingerprint_option
def consent_cancel(signer: Signer, fingerprint: str) -> None:
    """Consent, as the buyer, to the seller cancelling a confirmed invoice.

    \b
    Example:
      scf invoice consent-cancel --key keys/CORE-01.json --fingerprint 5ec5...

    Exit codes: 0 recorded; 1 the receipt failed or the node refused it;
    3 bad input; 5 no node answered.
    """
    _send_simple(signer, "consent_cancel", fingerprint, None)


@invoice.command()
@member_command
@_fingerprint_option
@_reason_option
def cancel(signer: Signer, fingerprint: str, reason: str | None) -> None:
    """Cancel an invoice as its seller.

    A confirmed invoice needs the buyer's `scf invoice consent-cancel`
    first; a financed one cannot be cancelled.

    \b
    Example:
      scf invoice cancel --key keys/SUPPLIER-01.json --fingerprint 5ec5... \\
          --reason "issued twice"

    Exit codes: 0 cancelled; 1 the receipt failed (CANCEL_CONSENT_REQUIRED,
    ASSET_ENCUMBERED, ...) or the node refused it; 3 bad input; 5 no node
    answered.
    """
    _send_simple(signer, "cancel", fingerprint, reason)


def _send_simple(signer: Signer, method: str, fingerprint: str, reason: str | None) -> None:
    with signer.checking_input():
        args: dict[str, Any] = {"fingerprint": fingerprint_bytes(fingerprint)}
    if reason is not None:
        args["reason"] = reason
    signer.send(Call(INVOICES, method, args))


def _print_human(report: dict[str, Any], args: dict[str, Any] | None) -> None:
    from ledger.einvoice import format_amount

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
