"""`scf` imports a command group's module only when that group is used (cli/lazy_commands.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from cli.lazy_commands import LazyCommands
from cli.main import cli

ROOT = Path(__file__).resolve().parents[2]


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running `code`."""
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=ROOT, timeout=60, check=True)
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_every_lazy_entry_is_the_command_of_its_name() -> None:
    for name in list(cli.commands):
        command = cli.commands[name]
        assert isinstance(command, click.Command)
        assert command.name == name


def test_invoice_verify_is_reached_through_the_invoice_group() -> None:
    invoice = cli.commands["invoice"]
    assert isinstance(invoice, click.Group)
    assert invoice.commands["verify"].name == "verify"


def test_listing_names_imports_nothing() -> None:
    loaded = _modules_after("from cli.main import cli\nnames = sorted(cli.commands)")
    assert not {"cli.invoice", "cli.audit", "cli.node", "cli.verify"} & loaded


def test_invoice_verify_does_not_load_the_node_server_or_storage() -> None:
    loaded = _modules_after("from cli.main import cli\n"
                            "cli.commands['invoice'].commands['verify']")
    assert "cli.verify" in loaded
    assert not {"aiohttp", "plyvel", "asyncio", "cli.audit", "ledger.einvoice",
                "node.keyfile"} & loaded


def test_an_unknown_name_is_a_key_error_and_not_contained() -> None:
    commands = LazyCommands({"x": "cli.main:cli"})
    assert "y" not in commands
    with pytest.raises(KeyError):
        commands["y"]
    assert commands.get("y") is None


def test_a_spec_that_is_not_a_command_is_refused() -> None:
    commands = LazyCommands({"x": "cli.main:__doc__"})
    with pytest.raises(TypeError):
        commands["x"]
