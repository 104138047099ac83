"""What commands that talk to nodes share: the options, and how answers print.

`--node URL` (repeatable; default `$SCF_NODE`, else http://127.0.0.1:26600),
`--key FILE` (default `$SCF_KEY`; a key file of node/keyfile.py, with
`--passphrase` or `$SCF_PASSPHRASE` if it is encrypted), `--json`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from cli.exits import Exit
from ledger.errors import LedgerError

if TYPE_CHECKING:  # imported where used: a command that signs nothing does not load them
    from ledger.crypto import SigningKey
    from node.client import ApiError, NodeClient

DEFAULT_NODE = "http://127.0.0.1:26600"
F = TypeVar("F", bound=Callable[..., Any])


def node_option(multiple: bool = False) -> Callable[[F], F]:
    default = os.environ.get("SCF_NODE", DEFAULT_NODE)
    help_text = "Node URL" + (" (repeat to ask several and compare)" if multiple else "") + \
        f"; default $SCF_NODE or {DEFAULT_NODE}."
    return click.option("--node", "nodes" if multiple else "node", multiple=multiple,
                        default=(default,) if multiple else default, show_default=False,
                        help=help_text)


def key_options(function: F) -> F:
    function = click.option("--passphrase", envvar="SCF_PASSPHRASE", default=None,
                            help="Passphrase of an encrypted key file ($SCF_PASSPHRASE).")(function)
    return click.option("--key", "key_file", envvar="SCF_KEY", required=True,
                        type=click.Path(path_type=Path),
                        help="The signing member's key file ($SCF_KEY).")(function)


json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print one JSON object (for scripts).")


def load_key(key_file: Path, passphrase: str | None, as_json: bool) -> SigningKey:
    from node.keyfile import read_key_file

    try:
        return read_key_file(key_file, passphrase=passphrase)
    except LedgerError as error:
        fail(error.code.value, error.message, as_json, Exit.REFUSED)


def client_for(url: str) -> NodeClient:
    from node.client import NodeClient

    return NodeClient(url)


def fail(code: str, message: str, as_json: bool, exit_code: Exit) -> NoReturn:
    if as_json:
        click.echo(json.dumps({"ok": False, "code": code, "message": message}))
    else:
        click.echo(f"error: {code}: {message}", err=True)
    sys.exit(int(exit_code))


def fail_api(error: ApiError, as_json: bool) -> NoReturn:
    """A node's error answer: unreachable, or the node refused the request."""
    exit_code = Exit.NODE_UNREACHABLE if error.status == 0 else Exit.FAILED
    fail(error.code, error.message, as_json, exit_code)


def emit(result: dict[str, Any], as_json: bool, human: Callable[[dict[str, Any]], None],
         exit_code: Exit = Exit.OK) -> NoReturn:
    if as_json:
        click.echo(json.dumps(result, indent=2, sort_keys=True))
    else:
        human(result)
    sys.exit(int(exit_code))
