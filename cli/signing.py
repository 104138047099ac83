"""What the member commands share: options in, a signed transaction out, the receipt shown.

Every product command (`scf invoice register`, `scf factoring fund`, ...) is
the same steps, written once here:

1. build the contract arguments from the options: amounts as people write
   them ("1250000.00") become minor units of the currency exactly, and more
   fraction digits than the currency has are refused, never rounded;
2. check them against the contract's own declared argument kinds
   (`MethodSpec.check_args`), so a typo is refused here (exit 3) instead of
   costing a nonce in a failed receipt;
3. sign with the member's key file and the next nonce the node reports;
4. post to the node and wait for the commit;
5. print the receipt decoded from its canonical bytes (`receipt.raw`), not
   from the readable copy: its code, each event with its amounts in the
   currency, and the ids the next command needs (offer, deal, fingerprint).

`scf tx send` and `scf tx status` use steps 4 and 5 for transactions signed
elsewhere. Exit codes (cli/exits.py): 0 committed with receipt OK (or
accepted, pending, without waiting); 1 committed with a failed receipt, or
the node refused the transaction or it was not committed within the wait;
3 input refused before sending; 5 no node answered; 6 the node's answer
does not hold together (a receipt for another transaction).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click

from cli.exits import Exit
from cli.session import emit, fail, fail_api, json_option, key_options, load_key, node_option
from contracts.calendar import parse_date
from contracts.engine import ContractRegistry, MethodSpec
from contracts.registry import default_registry
from ledger.errors import Code, LedgerError
from ledger.money import format_amount, minor_unit_exponent, parse_amount
from ledger.types import STATUS_OK, Receipt, SignedTransaction, Transaction
from node.client import ApiError, NodeClient

#: How long a command waits for its transaction to commit.
COMMIT_TIMEOUT_S = 30
#: Event attributes that are money, in minor units of the event's currency.
MONEY_ATTRIBUTES = frozenset({
    "amount", "face_amount", "advance", "discount", "fee", "paid_out", "reserve", "paid",
    "buyer_paid", "financier_collected", "supplier_share", "uncovered", "penalty",
    "recourse_claim", "financier_loss", "reserve_forfeited",
    # pledge, warehouse receipts, payable certificates
    "principal", "unit_value", "previous_unit_value", "collateral_value", "outstanding",
    "title_value", "part_amount", "to_interest", "to_principal",
})
#: Shown in --json, left out of the human output (the index's business, not the reader's).
QUIET_ATTRIBUTES = frozenset({"subjects"})


@dataclass(frozen=True, slots=True)
class CreatedId:
    """An id a receipt creates that the next command needs: `event`'s `attribute`."""

    label: str
    event: str
    attribute: str


@dataclass(frozen=True, slots=True)
class Call:
    """One contract method to call, and the ids its receipt should show."""

    contract: str
    method: str
    args: dict[str, Any]
    created: tuple[CreatedId, ...] = ()


# -- turning options into contract arguments ------------------------------------------

def minor_units(text: str, currency: str, option: str, *, allow_zero: bool = False) -> int:
    """A decimal amount as typed ("1250000.00") in minor units of `currency`, exactly.

    Refuses (INVALID_ARGUMENT naming `option`) more fraction digits than the
    currency has, even zeros: a person who typed them meant something else.
    """
    shown = text.strip()
    try:
        exponent = minor_unit_exponent(currency)
    except LedgerError as error:
        raise LedgerError(Code.INVALID_ARGUMENT, f"--currency: {error.message}") from None
    fraction = shown.partition(".")[2]
    if len(fraction) > exponent:
        raise LedgerError(Code.INVALID_ARGUMENT,
                          f"{option}: {shown} has {len(fraction)} decimals; {currency} has "
                          f"{exponent}")
    if allow_zero and re.fullmatch(r"0+(\.0*)?|\.0+", shown):
        return 0
    try:
        return parse_amount(shown, currency)
    except LedgerError as error:
        detail = error.message.removeprefix("amount: ")
        raise LedgerError(Code.INVALID_ARGUMENT, f"{option}: {detail}") from None


def show_amount(amount_minor: int, currency: str | None) -> str:
    """"1250000.00 CNY"; the bare minor units if the currency is unknown."""
    if currency is None:
        return f"{amount_minor} (minor units)"
    try:
        return f"{format_amount(amount_minor, currency)} {currency}"
    except LedgerError:
        return f"{amount_minor} (minor units of {currency})"


def iso_date(text: str, option: str) -> str:
    """A calendar date "YYYY-MM-DD", as the contracts take it."""
    parse_date(text, option)
    return text


def fingerprint_bytes(text: str, option: str = "--fingerprint") -> bytes:
    """A 32-byte fingerprint from its 64 hex digits."""
    try:
        value = bytes.fromhex(text.strip())
    except ValueError:
        value = b""
    if len(value) != 32:
        raise LedgerError(Code.INVALID_ARGUMENT, f"{option}: expected 64 hex digits (32 bytes)")
    return value


def file_sha256(path: Path) -> bytes:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as file:
            for chunk in iter(lambda: file.read(1 << 16), b""):
                digest.update(chunk)
    except OSError as error:
        raise LedgerError(Code.INVALID_ARGUMENT, f"--document: cannot read {path}: "
                                                 f"{error.strerror or error}") from None
    return digest.digest()


@functools.cache
def _registry() -> ContractRegistry:
    return default_registry()


def check_args(call: Call) -> None:
    """The contract's own argument checks, before anything is signed (INVALID_ARGUMENT)."""
    method = _registry().method(call.contract, call.method)
    if not isinstance(method, MethodSpec):
        raise LedgerError(Code.UNKNOWN_METHOD, f"{call.contract}.{call.method} is not a method "
                                               "of this version's contracts")
    method.check_args(call.args)


# -- the member who signs ---------------------------------------------------------------

class Signer:
    """The member a command signs for: its node, its key file, and how to print."""

    def __init__(self, node: str, key_file: Path, passphrase: str | None, as_json: bool) -> None:
        self.client = NodeClient(node)
        self.key_file = key_file
        self.passphrase = passphrase
        self.as_json = as_json

    @contextmanager
    def checking_input(self) -> Iterator[None]:
        """Refusals while building the arguments exit 3; a node's error answer 1 or 5."""
        try:
            yield
        except LedgerError as error:
            fail(error.code.value, error.message, self.as_json, Exit.REFUSED)
        except ApiError as error:
            fail_api(error, self.as_json)

    def invoice_currency(self, fingerprint: bytes) -> str:
        """The currency of a registered invoice, as this node reads it."""
        currency: str = self.client.invoice(fingerprint)["invoice"]["currency"]
        return currency

    def send(self, call: Call) -> NoReturn:
        """Checks, signs, posts and waits for `call`; prints the receipt and exits."""
        with self.checking_input():
            check_args(call)
        key = load_key(self.key_file, self.passphrase, self.as_json)
        with self.checking_input():
            chain_id = self.client.chain_id()
            nonce = self.client.nonce(key.public_key)
            signed = Transaction(chain_id, key.public_key, nonce, call.contract, call.method,
                                 call.args).sign(key)
        post(self.client, signed, wait=True, timeout_s=COMMIT_TIMEOUT_S, as_json=self.as_json,
             created=call.created)


def member_command(function: Callable[..., None]) -> Callable[..., None]:
    """Adds --node, --key, --passphrase and --json; the command gets them as one `Signer`."""

    @functools.wraps(function)
    def command(node: str, key_file: Path, passphrase: str | None, as_json: bool,
                **options: Any) -> None:
        function(Signer(node, key_file, passphrase, as_json), **options)

    def shared() -> None:
        """Only carries the shared options."""

    node_option()(key_options(json_option(shared)))
    # click lists options in the reverse order of this list: the command's own come first.
    command.__click_params__ = [*shared.__click_params__,  # type: ignore[attr-defined]
                                *getattr(function, "__click_params__", [])]
    return command


# -- posting and reporting ------------------------------------------------------------

def post(client: NodeClient, signed: SignedTransaction, *, wait: bool, timeout_s: int,
         as_json: bool, created: tuple[CreatedId, ...] = ()) -> NoReturn:
    """Posts `signed` (waiting for the commit if `wait`) and reports the outcome."""
    try:
        status = client.submit(signed, wait=wait, timeout_s=timeout_s)
    except ApiError as error:
        refused(error, signed.tx_id.hex(), as_json)
    report(client, status, as_json=as_json, created=created, tx_id=signed.tx_id.hex())


def refused(error: ApiError, tx_id: str, as_json: bool) -> NoReturn:
    """The node refused (or could not be reached for) transaction `tx_id`."""
    exit_code = Exit.NODE_UNREACHABLE if error.status == 0 else Exit.FAILED
    if as_json:
        click.echo(json.dumps({"ok": False, "code": error.code, "message": error.message,
                               "tx_id": tx_id}))
    else:
        click.echo(f"error: {error.code}: {error.message} (tx {tx_id})", err=True)
    sys.exit(int(exit_code))


def report(client: NodeClient, status: dict[str, Any], *, as_json: bool, tx_id: str,
           created: tuple[CreatedId, ...] = ()) -> NoReturn:
    """Prints a transaction's status answer (POST /v1/txs or GET /v1/txs/ID) and exits."""
    if status.get("id") != tx_id:
        fail(Code.ANSWER_MISMATCH.value, f"asked about tx {tx_id}, the node answered about "
             f"{status.get('id')!r}", as_json, Exit.NODE_LIED)
    state = status.get("status")
    if state == "committed":
        receipt = _receipt_of(status, tx_id, as_json)
        ok = receipt.code == STATUS_OK
        events = [{"kind": event.kind, "attributes": _plain(event.attributes)}
                  for event in receipt.events]
        result = {"ok": ok, "tx_id": tx_id, "status": "committed", "height": status["height"],
                  "code": receipt.code, "message": receipt.message, "events": events,
                  "ids": _created_ids(events, created) if ok else {}}
        emit(result, as_json, lambda shown: _print_committed(client, shown),
             Exit.OK if ok else Exit.FAILED)
    if state == "pending":
        emit({"ok": True, "tx_id": tx_id, "status": "pending"}, as_json,
             lambda shown: click.echo(f"tx_id:   {tx_id}\nstatus:  pending (not committed yet; "
                                      f"`scf tx status {tx_id} --wait`)"))
    code = str(status.get("code", "TX_NOT_FOUND"))
    message = str(status.get("message", f"the node's status for it is {state!r}"))
    emit({"ok": False, "tx_id": tx_id, "status": state, "code": code, "message": message},
         as_json, _print_refusal, Exit.FAILED)


def _receipt_of(status: dict[str, Any], tx_id: str, as_json: bool) -> Receipt:
    try:
        receipt = Receipt.decode(bytes.fromhex(status["receipt"]["raw"]))
    except (KeyError, TypeError, ValueError, LedgerError) as error:
        fail(Code.ANSWER_MISMATCH.value, f"the node's receipt for tx {tx_id} does not decode "
             f"({error})", as_json, Exit.NODE_LIED)
    if receipt.tx_id.hex() != tx_id:
        fail(Code.ANSWER_MISMATCH.value, f"the node's receipt for tx {tx_id} is the receipt of "
             f"tx {receipt.tx_id.hex()}", as_json, Exit.NODE_LIED)
    return receipt


def _created_ids(events: list[dict[str, Any]], created: tuple[CreatedId, ...]) -> dict[str, Any]:
    ids: dict[str, Any] = {}
    for wanted in created:
        for event in events:
            if event["kind"] == wanted.event and wanted.attribute in event["attributes"]:
                ids[wanted.label] = event["attributes"][wanted.attribute]
                break
    return ids


def _plain(value: Any) -> Any:
    """Codec values as JSON: bytes in hex."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


# -- human output ---------------------------------------------------------------------

def _print_committed(client: NodeClient, result: dict[str, Any]) -> None:
    click.echo(f"tx_id:   {result['tx_id']}")
    click.echo(f"status:  committed at height {result['height']}")
    if not result["ok"]:
        click.echo(f"receipt: {result['code']}: {result['message']}")
        click.echo(f"error: {result['code']}: {result['message']}", err=True)
        return
    click.echo(f"receipt: {result['code']}")
    currencies = _CurrencyLookup(client)
    for event in result["events"]:
        attributes = event["attributes"]
        currency = currencies.of(attributes)
        click.echo(f"  {event['kind']}")
        for name, value in attributes.items():
            if name not in QUIET_ATTRIBUTES:
                click.echo(f"    {name + ':':<21} {_shown(name, value, currency)}")
    for label, value in result["ids"].items():
        click.echo(f"{label}: {value}")


def _print_refusal(result: dict[str, Any]) -> None:
    click.echo(f"tx_id:   {result['tx_id']}")
    click.echo(f"status:  {result['status']}")
    click.echo(f"error: {result['code']}: {result['message']}", err=True)


def _shown(name: str, value: Any, currency: str | None) -> str:
    if value is None or value == "":
        return "-"
    if name in MONEY_ATTRIBUTES and type(value) is int:
        return show_amount(value, currency)
    if isinstance(value, dict):
        return ", ".join(f"{key}={_shown(key, item, currency)}" for key, item in value.items())
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


class _CurrencyLookup:
    """The currency of an event: its own `currency`, else its invoice's (asked once)."""

    def __init__(self, client: NodeClient) -> None:
        self._client = client
        self._by_invoice: dict[str, str | None] = {}

    def of(self, attributes: dict[str, Any]) -> str | None:
        currency = attributes.get("currency")
        if isinstance(currency, str):
            return currency
        fingerprint = attributes.get("fingerprint")
        if not isinstance(fingerprint, str) or not any(
                name in MONEY_ATTRIBUTES for name in attributes):
            return None
        if fingerprint not in self._by_invoice:
            try:
                self._by_invoice[fingerprint] = str(
                    self._client.invoice(fingerprint)["invoice"]["currency"])
            except (ApiError, KeyError, TypeError):
                self._by_invoice[fingerprint] = None
        return self._by_invoice[fingerprint]
