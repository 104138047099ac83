"""`scf invoice verify` and `scf proof check`: the bank's check before funding.

Thin over node/verify_invoice.py (asking nodes, verifying from genesis) and
ledger/proof_bundle.py (the facts, the verdict, the offline bundle). The
verdict is the exit code, so a funding script can branch on it:

    FREE TO FINANCE 0, ALREADY FINANCED 10, NOT CONFIRMED 11, UNKNOWN 12;
    a node failed verification 6, nodes gave conflicting certified answers 7,
    no node answered 5 (cli/exits.py).
"""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import click

from cli.exits import Exit
from cli.session import emit, fail, json_option, node_option
from contracts.fingerprint import compute_fingerprint
from genesis.document import Genesis, load_genesis
from ledger.errors import LedgerError
from ledger.money import format_amount
from ledger.proof_bundle import MAX_BUNDLE_SIZE, InvoiceFacts, ProofBundle, Verdict, check_bundle
from node.client import NodeClient
from node.verify_invoice import (
    NodeReport,
    NodeAnswerSource,
    Outcome,
    Verification,
    readable,
    verify_invoice,
    wall_clock_ms,
)

NODE_TIMEOUT_S = 15.0
EXIT_OF_VERDICT = {
    Verdict.FREE_TO_FINANCE: Exit.OK,
    Verdict.ALREADY_FINANCED: Exit.ALREADY_FINANCED,
    Verdict.NOT_CONFIRMED: Exit.NOT_CONFIRMED,
    Verdict.UNKNOWN: Exit.UNKNOWN_INVOICE,
}
INVOICE_FIELDS = ("seller_tax_id", "buyer_tax_id", "number", "issue_date", "currency", "amount")
_genesis_option = click.option(
    "--genesis", "genesis_path", required=True, metavar="GENESIS.json",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The consortium's genesis document: the only thing trusted.")


@click.command("verify")
@click.option("--fingerprint", "fingerprint_hex", metavar="FP",
              help="The invoice fingerprint (64 hex digits); or give the six invoice fields.")
@click.option("--seller-tax-id", metavar="T", help="Seller's tax id, as registered.")
@click.option("--buyer-tax-id", metavar="T", help="Buyer's tax id, as registered.")
@click.option("--number", metavar="N", help="Invoice number (normalized like the ledger does).")
@click.option("--issue-date", metavar="YYYY-MM-DD", help="Issue date.")
@click.option("--currency", metavar="C", help="ISO 4217 code.")
@click.option("--amount", type=click.IntRange(min=1), metavar="A",
              help="Face amount in minor units.")
@_genesis_option
@node_option(multiple=True)
@click.option("--max-age", "max_age_s", type=click.IntRange(min=1), default=120,
              show_default=True, metavar="SECONDS",
              help="Refuse answers whose certified header is older than this.")
@click.option("--tolerate-liars", is_flag=True,
              help="Use the honest nodes' answer even if another node failed verification "
                   "(it is still reported).")
@click.option("--bundle", "bundle_path", metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="Write an offline proof bundle of the answer (`scf proof check`).")
@json_option
def verify(fingerprint_hex: str | None, seller_tax_id: str | None, buyer_tax_id: str | None,
           number: str | None, issue_date: str | None, currency: str | None,
           amount: int | None, genesis_path: Path, nodes: tuple[str, ...], max_age_s: int,
           tolerate_liars: bool, bundle_path: Path | None, as_json: bool) -> None:
    """Check, from genesis alone, whether an invoice is free to finance.

    Asks each node for the invoice, its lien and its provenance with proofs,
    and believes only what verifies: the header's certificate (following
    validator-set changes from genesis), its age, and every value under the
    keys computed here from the fingerprint. A lien must be proved absent.

    \b
    Example:
      scf invoice verify --fingerprint 3f1c...e9 --genesis genesis.json \\
          --node http://node-a:26600 --node http://node-b:26600 --bundle inv.scfproof
      scf invoice verify --seller-tax-id 91440300SUP0001 --buyer-tax-id 91110000CORE001 \\
          --number INV-2026-001 --issue-date 2026-11-20 --currency CNY \\
          --amount 100000000 --genesis genesis.json

    \b
    Exit codes: 0 FREE TO FINANCE; 10 ALREADY FINANCED; 11 NOT CONFIRMED;
    12 UNKNOWN (proved absent); 6 a node failed verification (unless
    --tolerate-liars); 7 nodes gave conflicting certified answers; 5 no node
    answered; 3 unreadable genesis; 2 usage error.
    """
    fingerprint = _fingerprint(fingerprint_hex, {
        "seller_tax_id": seller_tax_id, "buyer_tax_id": buyer_tax_id, "number": number,
        "issue_date": issue_date, "currency": currency, "amount": amount})
    genesis = _load_genesis(genesis_path, as_json)
    sources = [NodeAnswerSource(NodeClient(url, timeout_s=NODE_TIMEOUT_S)) for url in nodes]
    verification = verify_invoice(genesis, fingerprint, sources, max_age_ms=max_age_s * 1000)
    facts = settle(verification, tolerate_liars, as_json)
    if bundle_path is not None and verification.bundle is not None:
        _write_bundle(bundle_path, verification.bundle, as_json)
    result = {"ok": True, **facts_json(facts, genesis),
              "nodes": [_report_json(r) for r in verification.reports],
              "bundle": None if bundle_path is None else str(bundle_path)}
    now_ms = wall_clock_ms()

    def human(_: dict[str, Any]) -> None:
        for report in verification.liars + verification.silent:
            _warn(report)
        age_s = max(0, now_ms - facts.trusted.header.time_ms) // 1000
        print_facts(facts, header_note=f"{age_s} s old")
        for report in verification.reports:
            click.echo(f"{'node':<12} {report.source}  {_report_line(report)}")
        click.echo(f"{'verdict':<12} {verdict_text(facts)}")

    emit(result, as_json, human, EXIT_OF_VERDICT[facts.verdict])


@click.group("proof")
def proof() -> None:
    """Offline proof bundles written by `scf invoice verify --bundle`."""


@proof.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_genesis_option
@json_option
def check(file: Path, genesis_path: Path, as_json: bool) -> None:
    """Re-verify a proof bundle FILE with the genesis document and no node.

    Checks everything the bundle holds (certificates, validator-set changes,
    every proof, the verdict) and prints the same verdict with the same exit
    code as `scf invoice verify` did. Freshness cannot be checked after the
    fact: the header's time and the time of the original check are shown.

    \b
    Example:
      scf proof check inv.scfproof --genesis genesis.json

    \b
    Exit codes: 0 FREE TO FINANCE; 10 ALREADY FINANCED; 11 NOT CONFIRMED;
    12 UNKNOWN; 6 the bundle does not verify (tampered, corrupted, or for
    another genesis: the reason is printed); 3 unreadable genesis.
    """
    genesis = _load_genesis(genesis_path, as_json)
    try:
        with file.open("rb") as stream:
            data = stream.read(MAX_BUNDLE_SIZE + 1)
    except OSError as error:
        fail("BUNDLE_UNREADABLE", f"{file}: {error.strerror}", as_json, Exit.USAGE)
    try:
        bundle, facts = check_bundle(data, genesis)
    except LedgerError as error:
        fail(error.code.value, f"{file}: {error.message}", as_json, Exit.NODE_LIED)
    result = {"ok": True, **facts_json(facts, genesis), "checked_at_ms": bundle.checked_at_ms,
              "nodes": list(bundle.nodes)}

    def human(_: dict[str, Any]) -> None:
        print_facts(facts, header_note=f"freshness not checked; the bundle was made "
                                       f"{_utc(bundle.checked_at_ms)}")
        for url in bundle.nodes:
            click.echo(f"{'asked':<12} {url}")
        click.echo(f"{'verdict':<12} {verdict_text(facts)}")

    emit(result, as_json, human, EXIT_OF_VERDICT[facts.verdict])


# -- the outcome ---------------------------------------------------------------------


def settle(verification: Verification, tolerate_liars: bool, as_json: bool) -> InvoiceFacts:
    """The facts to report, or the failing exit: liars 6 (unless tolerated),
    disagreement 7, nobody answered 5."""
    liars = verification.liars
    if liars and (not tolerate_liars or verification.facts is None):
        names = "; ".join(f"{r.source}: {r.code}: {r.message}" for r in liars)
        _fail_nodes("NODE_LIED", f"{len(liars)} node(s) failed verification — {names}",
                     verification, as_json, Exit.NODE_LIED)
    if verification.disagreement is not None:
        _fail_nodes("NODES_DISAGREE", verification.disagreement, verification, as_json,
                    Exit.NODES_DISAGREE)
    if verification.facts is None:
        names = "; ".join(f"{r.source}: {r.code}: {r.message}" for r in verification.silent)
        _fail_nodes("NODE_UNREACHABLE", f"no node answered — {names}", verification, as_json,
                    Exit.NODE_UNREACHABLE)
    return verification.facts


def _fail_nodes(code: str, message: str, verification: Verification, as_json: bool,
                exit_code: Exit) -> NoReturn:
    if as_json:
        click.echo(json.dumps({"ok": False, "code": code, "message": message,
                               "nodes": [_report_json(r) for r in verification.reports]},
                              indent=2, sort_keys=True))
        sys.exit(int(exit_code))
    for report in verification.reports:
        if report.outcome == Outcome.LIED and code == "NODE_LIED":
            click.echo(f"error: NODE_LIED: node {report.source} lied or is broken: "
                       f"{report.code}: {report.message}", err=True)
        elif report.outcome != Outcome.VERIFIED:
            _warn(report)
    if code != "NODE_LIED":
        click.echo(f"error: {code}: {message}", err=True)
    sys.exit(int(exit_code))


def _warn(report: NodeReport) -> None:
    if report.outcome == Outcome.LIED:
        click.echo(f"warning: node {report.source} failed verification and was ignored "
                   f"(--tolerate-liars): {report.code}: {report.message}", err=True)
    else:
        click.echo(f"warning: node {report.source} did not answer: {report.code}: "
                   f"{report.message}", err=True)


def _report_line(report: NodeReport) -> str:
    if report.facts is not None:
        return f"verified at height {report.facts.height}"
    return f"{report.outcome.value}: {report.code}"


def _report_json(report: NodeReport) -> dict[str, Any]:
    return {"url": report.source, "outcome": report.outcome.value, "code": report.code,
            "message": report.message,
            "height": None if report.facts is None else report.facts.height}


# -- showing facts -------------------------------------------------------------------


def verdict_text(facts: InvoiceFacts) -> str:
    verdict = facts.verdict
    if verdict == Verdict.ALREADY_FINANCED and facts.lien is not None:
        return f"ALREADY FINANCED by {facts.lien.holder} (deal {facts.lien.deal_id})"
    if verdict == Verdict.NOT_CONFIRMED and facts.invoice is not None:
        return f"NOT CONFIRMED (status {facts.invoice.status})"
    if verdict == Verdict.UNKNOWN:
        return "UNKNOWN (no invoice with this fingerprint: proved absent)"
    return "FREE TO FINANCE"


def facts_json(facts: InvoiceFacts, genesis: Genesis) -> dict[str, Any]:
    header, cert = facts.trusted.header, facts.certification
    return {
        "verdict": facts.verdict.value, "verdict_text": verdict_text(facts),
        "fingerprint": facts.fingerprint.hex(), "genesis_hash": genesis.hash.hex(),
        "invoice": readable(facts.invoice), "lien": readable(facts.lien),
        "provenance": [readable(entry) for entry in facts.provenance],
        "header": {"height": header.height, "time_ms": header.time_ms,
                   "hash": header.hash.hex(), "state_root": header.state_root.hex()},
        "certified": {"signers": cert.signers, "validators": cert.validators,
                      "power": cert.power, "total_power": cert.total_power},
    }


def print_facts(facts: InvoiceFacts, *, header_note: str) -> None:
    def line(label: str, text: str) -> None:
        click.echo(f"{label:<12} {text}")

    line("fingerprint", facts.fingerprint.hex())
    invoice, lien = facts.invoice, facts.lien
    if invoice is None:
        line("invoice", "none: the ledger holds no invoice with this fingerprint (proved absent)")
    else:
        line("invoice", f"{invoice.invoice_number} from {invoice.seller} (tax id "
                        f"{invoice.seller_tax_id}) to {invoice.buyer} (tax id "
                        f"{invoice.buyer_tax_id})")
        line("issued", f"{invoice.issue_date}, due {invoice.due_date}")
        confirmed = "" if invoice.confirmed_amount is None else \
            f", confirmed {_money(invoice.confirmed_amount, invoice.currency)}"
        line("amount", f"face {_money(invoice.face_amount, invoice.currency)}{confirmed}")
        line("status", invoice.status)
        line("lien", "no lien (proved absent)" if lien is None else
             f"held by {lien.holder} for deal {lien.deal_id} (placed at height "
             f"{lien.placed_height}, tx {lien.placed_tx.hex()[:12]})")
        line("provenance", f"{len(facts.provenance)} step(s)")
        for entry in facts.provenance:
            detail = f"  ({entry.detail})" if entry.detail else ""
            click.echo(f"  {_utc(entry.time_ms)}  height {entry.height}  {entry.signer}  "
                       f"{entry.action} -> {entry.status}  tx {entry.tx_id.hex()[:12]}{detail}")
    header, cert = facts.trusted.header, facts.certification
    line("header", f"height {header.height}, {_utc(header.time_ms)} ({header_note})")
    line("certified", f"by {cert.signers} of {cert.validators} validators (power "
                      f"{cert.power}/{cert.total_power})")


def _money(amount: int, currency: str) -> str:
    try:
        return f"{format_amount(amount, currency)} {currency}"
    except LedgerError:  # a currency without a known minor unit: show minor units
        return f"{amount} {currency} minor units"


def _utc(time_ms: int) -> str:
    return datetime.fromtimestamp(time_ms // 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# -- inputs and outputs --------------------------------------------------------------


def _fingerprint(fingerprint_hex: str | None, fields: dict[str, Any]) -> bytes:
    given = [name for name in INVOICE_FIELDS if fields[name] is not None]
    if fingerprint_hex is not None:
        if given:
            raise click.UsageError("give either --fingerprint or the invoice fields, not both")
        if re.fullmatch(r"[0-9a-fA-F]{64}", fingerprint_hex) is None:
            raise click.BadParameter("expected 64 hex digits", param_hint="--fingerprint")
        return bytes.fromhex(fingerprint_hex)
    missing = [name for name in INVOICE_FIELDS if fields[name] is None]
    if missing:
        options = ", ".join("--" + name.replace("_", "-") for name in missing)
        raise click.UsageError(f"give --fingerprint, or all invoice fields (missing {options})")
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", fields["issue_date"]) is None:
        raise click.BadParameter("expected YYYY-MM-DD", param_hint="--issue-date")
    if re.fullmatch(r"[A-Z]{3}", fields["currency"]) is None:
        raise click.BadParameter("expected an ISO 4217 code such as CNY", param_hint="--currency")
    return compute_fingerprint(fields["seller_tax_id"], fields["buyer_tax_id"], fields["number"],
                               fields["issue_date"], fields["currency"], fields["amount"])


def _load_genesis(path: Path, as_json: bool) -> Genesis:
    try:
        return load_genesis(path)
    except LedgerError as error:
        fail(error.code.value, error.message, as_json, Exit.REFUSED)


def _write_bundle(path: Path, bundle: ProofBundle, as_json: bool) -> None:
    """Written whole or not at all (temporary file, then rename)."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.write_bytes(bundle.encode())
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        fail("BUNDLE_NOT_WRITTEN", f"{path}: {error.strerror}", as_json, Exit.FAILED)
