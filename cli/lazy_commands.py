"""A click group's subcommands, each imported on first use.

`scf` starts a fresh interpreter per command, so importing every command
module (and, through them, aiohttp, LevelDB, the contracts, cryptography)
for `scf invoice verify` costs more than the verification itself. A group
built with `commands=LazyCommands({"name": "module:attribute"})` imports a
command's module only when click asks for that command by name; listing the
names (completion, "no such command" suggestions) imports nothing, and
`--help` of the group imports them all, as it must to show their help.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping

import click


class LazyCommands(MutableMapping[str, click.Command]):
    """Commands by name: a `"module:attribute"` spec until first looked up."""

    def __init__(self, specs: Mapping[str, str]) -> None:
        self._entries: dict[str, str | click.Command] = dict(specs)

    def __getitem__(self, name: str) -> click.Command:
        entry = self._entries[name]
        if isinstance(entry, str):
            module, _, attribute = entry.partition(":")
            entry = getattr(importlib.import_module(module), attribute)
            if not isinstance(entry, click.Command):
                raise TypeError(f"{module}:{attribute} is not a click command")
            self._entries[name] = entry
        return entry

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._entries[name] = command

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
