"""docs/cli*.md is checked against the real command tree: every command and option documented.

Walks `scf`'s click tree; each leaf command must appear in the docs as
`scf <group> <command>` (or as a `| `command` |` row under `scf <group>`), each of its long options must be mentioned, and its
`--help` must carry an example. A new option without docs fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from cli.main import cli

DOCS = Path(__file__).resolve().parents[2] / "docs"
UNDOCUMENTED_OPTIONS = {"--help", "--version"}


def leaf_commands(group: click.Group, prefix: tuple[str, ...] = ()
                  ) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name in sorted(group.commands):
        command = group.commands[name]
        path = prefix + (name,)
        if isinstance(command, click.Group):
            yield from leaf_commands(command, path)
        else:
            yield path, command


def docs_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(DOCS.glob("cli*.md")))


COMMANDS = list(leaf_commands(cli))


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_and_option_is_documented(path: tuple[str, ...],
                                                command: click.Command) -> None:
    text = docs_text()
    group, name = " ".join(path[:-1]), path[-1]
    in_group_table = bool(group) and f"`scf {group}`" in text and f"| `{name}` |" in text
    assert f"scf {' '.join(path)}" in text or in_group_table, \
        f"`scf {' '.join(path)}` is not in docs/cli*.md"
    missing = [option for param in command.params if isinstance(param, click.Option)
               for option in param.opts
               if option.startswith("--") and option not in UNDOCUMENTED_OPTIONS
               and option not in text]
    assert not missing, f"scf {' '.join(path)}: options not in docs/cli*.md: {missing}"


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_help_has_an_example(path: tuple[str, ...], command: click.Command) -> None:
    assert command.help and "Example" in command.help, \
        f"scf {' '.join(path)} --help has no example"
