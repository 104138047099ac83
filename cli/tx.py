"""`scf tx`: look inside signed transactions, post them, follow them.

`send` is for integrators who build and sign transactions themselves; the
member commands (`scf invoice`, `scf factoring`, ...) sign for you. Posting
and the receipt report are cli/signing.py's, the same for both.
"""

from __future__ import annotations

import json
import re
import sys
from typing import BinaryIO

import click

from cli.exits import Exit
from cli.session import fail, fail_api, json_option, node_option
from cli.signing import post, report
from ledger.errors import Code, LedgerError
from ledger.typed_json import to_json
from ledger.types import MAX_TX_SIZE, SignedTransaction
from node.client import ApiError, NodeClient

EXIT_VALID = 0
EXIT_BAD_SIGNATURE = 1
EXIT_UNDECODABLE = 3


#: A hex or JSON form of the largest transaction, with room for whitespace.
MAX_INPUT_BYTES = 2 * MAX_TX_SIZE + 1024
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")
_TX_ID = re.compile(r"[0-9a-fA-F]{64}")
_wait_timeout = click.option("--timeout", "timeout_s", type=click.IntRange(1, 600), default=30,
                             show_default=True, help="Seconds to wait for the commit.")


@click.group()
def tx() -> None:
    """Inspect, send and follow signed transactions."""


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


@tx.command()
@click.argument("file", type=click.File("rb"))
@node_option()
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait until the transaction is committed.")
@_wait_timeout
@json_option
def send(file: BinaryIO, node: str, wait: bool, timeout_s: int, as_json: bool) -> None:
    """Post a transaction you signed yourself, from FILE ("-" for stdin).

    FILE holds one signed transaction as its canonical msgpack bytes, as hex
    text, or as JSON {"tx": "<hex>"} (the form is detected). Its signature is
    checked here first. Prints its id, status, height and receipt code.

    \b
    Example:
      scf tx send signed.msgpack --node http://127.0.0.1:26600
      echo '{"tx": "9201..."}' | scf tx send - --no-wait --json

    Exit codes: 0 committed with receipt OK (with --no-wait: accepted);
    1 committed with a failed receipt, or refused by the node (its code is
    printed), or not committed within --timeout; 3 not a signed transaction
    or a bad signature, nothing sent; 5 no node answered.
    """
    try:
        signed = read_signed_transaction(file.read(MAX_INPUT_BYTES + 1))
        signed.validate(signed.tx.chain_id)  # the signature; the node checks the chain id
    except LedgerError as error:
        fail(error.code.value, error.message, as_json, Exit.REFUSED)
    post(NodeClient(node), signed, wait=wait, timeout_s=timeout_s, as_json=as_json)


@tx.command()
@click.argument("tx_id")
@node_option()
@click.option("--wait", is_flag=True, help="Wait until it is committed (up to --timeout).")
@_wait_timeout
@json_option
def status(tx_id: str, node: str, wait: bool, timeout_s: int, as_json: bool) -> None:
    """Show a transaction's status: pending, or committed with its receipt.

    \b
    Example:
      scf tx status 3f9a...c2 --wait --node http://127.0.0.1:26600

    Exit codes: 0 committed with receipt OK, or pending (without --wait);
    1 committed with a failed receipt, failed, unknown to the node
    (TX_NOT_FOUND) or still pending after --timeout (WAIT_TIMEOUT); 3 not a
    transaction id (64 hex digits); 5 no node answered.
    """
    if _TX_ID.fullmatch(tx_id) is None:
        fail(Code.BAD_REQUEST.value, f"{tx_id!r} is not a transaction id (64 hex digits)",
             as_json, Exit.REFUSED)
    client = NodeClient(node)
    try:
        answer = client.tx(tx_id.lower(), wait=wait, timeout_s=timeout_s)
    except ApiError as error:
        fail_api(error, as_json)
    report(client, answer, as_json=as_json, tx_id=tx_id.lower())


def read_signed_transaction(data: bytes) -> SignedTransaction:
    """A signed transaction from canonical msgpack bytes, hex text or JSON {"tx": hex}.

    A signed transaction's encoding starts with a msgpack array byte (0x92),
    never ASCII, so text and binary cannot be confused.
    """
    if len(data) > MAX_INPUT_BYTES:
        raise LedgerError(Code.CODEC_TOO_LARGE, f"more than {MAX_INPUT_BYTES} bytes: not one "
                          "transaction")
    try:
        text: str | None = data.decode("ascii").strip()
    except UnicodeDecodeError:
        text = None
    if text is None:
        return SignedTransaction.decode(data)
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError as error:
            raise LedgerError(Code.SCHEMA_MISMATCH, f"not JSON: {error}") from None
        if not isinstance(document, dict) or set(document) != {"tx"} \
                or not isinstance(document["tx"], str):
            raise LedgerError(Code.SCHEMA_MISMATCH, 'the JSON form is {"tx": "<hex>"}')
        text = document["tx"].strip()
    if _HEX.fullmatch(text) is None:
        raise LedgerError(Code.SCHEMA_MISMATCH, "neither msgpack bytes nor hex text nor JSON "
                          '{"tx": "<hex>"}')
    return SignedTransaction.decode(bytes.fromhex(text))
