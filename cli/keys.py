"""`scf keys`: a member's Ed25519 key files (the format of node/keyfile.py).

The seed never prints: `show` and `export-public` read only the public key
(`public_key_of_file`, which works on encrypted files without the
passphrase). `new` writes through `write_key_file`: mode 0600, fsynced,
never over an existing file.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import click

from cli.exits import Exit
from cli.session import emit, fail, json_option
from ledger.crypto import SEED_SIZE, SigningKey
from ledger.errors import LedgerError
from node.keyfile import (
    FORBIDDEN_BITS,
    FORMAT,
    MAX_FILE_SIZE,
    EncryptedSeed,
    parse_key_document,
    public_key_of_file,
    write_key_file,
)

#: The CLI-level code for "a key file is already there" (nothing is overwritten).
KEY_FILE_EXISTS = "KEY_FILE_EXISTS"

_file_argument = click.argument("file", type=click.Path(dir_okay=False, path_type=Path))


@click.group()
def keys() -> None:
    """Create and read members' key files."""


@keys.command()
@_file_argument
@click.option("--passphrase-prompt", is_flag=True,
              help="Ask for a passphrase (twice) and encrypt the seed with it.")
@json_option
def new(file: Path, passphrase_prompt: bool, as_json: bool) -> None:
    """Write a new Ed25519 key to FILE (mode 0600) and print its public key.

    An existing FILE is never overwritten. The public key is what goes into
    the genesis document or a membership proposal; the file stays with the
    member (back it up: a lost key cannot be recovered).

    \b
    Example:
      scf keys new keys/SUPPLIER-01.json --passphrase-prompt

    Exit codes: 0 written; 3 FILE exists or cannot be written.
    """
    if file.exists() or file.is_symlink():
        fail(KEY_FILE_EXISTS, f"{file} exists; a key file is never overwritten (move it "
             "away first)", as_json, Exit.REFUSED)
    passphrase: str | None = None
    if passphrase_prompt:
        passphrase = click.prompt("Passphrase", hide_input=True, confirmation_prompt=True,
                                  err=True)
        if passphrase == "":
            fail("INVALID_ARGUMENT", "an empty passphrase protects nothing", as_json,
                 Exit.REFUSED)
    key = SigningKey(os.urandom(SEED_SIZE))
    try:
        write_key_file(file, key, passphrase=passphrase)
    except FileExistsError:
        fail(KEY_FILE_EXISTS, f"{file} exists; a key file is never overwritten", as_json,
             Exit.REFUSED)
    except OSError as error:
        fail("KEY_FILE_INVALID", f"cannot write {file}: {error.strerror or error}", as_json,
             Exit.REFUSED)
    result = {"ok": True, "file": str(file), "public_key": key.public_key.hex(),
              "encrypted": passphrase is not None}
    emit(result, as_json, lambda shown: click.echo(
        f"wrote {file} (mode 0600{', encrypted' if passphrase else ''})\n"
        f"public key: {shown['public_key']}"))


@keys.command()
@_file_argument
@json_option
def show(file: Path, as_json: bool) -> None:
    """Show a key file's public key, format, encryption and permissions (never the seed).

    \b
    Example:
      scf keys show keys/SUPPLIER-01.json

    Exit codes: 0 a well-formed key file; 3 not one (unreadable, bad
    format, public key not valid).
    """
    try:
        public_key = public_key_of_file(file)
        document = parse_key_document(_read(file), file)
        mode = stat.S_IMODE(os.lstat(file).st_mode)
    except LedgerError as error:
        fail(error.code.value, error.message, as_json, Exit.REFUSED)
    except OSError as error:
        fail("KEY_FILE_INVALID", f"key file {file}: {error.strerror or error}", as_json,
             Exit.REFUSED)
    secure = not mode & FORBIDDEN_BITS
    result: dict[str, Any] = {
        "file": str(file), "format": FORMAT, "kind": "ed25519", "public_key": public_key.hex(),
        "encrypted": isinstance(document.secret, EncryptedSeed), "mode": f"{mode:04o}",
        "secure": secure,
    }
    emit(result, as_json, _print_show)


@keys.command("export-public")
@_file_argument
@json_option
def export_public(file: Path, as_json: bool) -> None:
    """Print the public key of a key file, hex on one line (for genesis documents).

    \b
    Example:
      scf keys export-public keys/SUPPLIER-01.json

    Exit codes: 0 printed; 3 not a key file.
    """
    try:
        public_key = public_key_of_file(file)
    except LedgerError as error:
        fail(error.code.value, error.message, as_json, Exit.REFUSED)
    if as_json:
        click.echo(json.dumps({"public_key": public_key.hex()}))
    else:
        click.echo(public_key.hex())
    sys.exit(int(Exit.OK))


def _read(file: Path) -> bytes:
    """The file's bytes, bounded (`public_key_of_file` already refused non-regular files)."""
    with open(file, "rb") as handle:
        return handle.read(MAX_FILE_SIZE + 1)


def _print_show(result: dict[str, Any]) -> None:
    click.echo(f"file:        {result['file']}")
    click.echo(f"format:      {result['format']} ({result['kind']})")
    click.echo(f"public key:  {result['public_key']}")
    click.echo(f"encrypted:   {'yes (passphrase)' if result['encrypted'] else 'no'}")
    verdict = "ok" if result["secure"] else \
        f"INSECURE: group or others may access it; chmod 600 {result['file']}"
    click.echo(f"mode:        {result['mode']} ({verdict})")
