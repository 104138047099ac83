"""Entry point of the `scf` command: one click group, one module per command group.

Each group's module is imported only when that group is used
(cli/lazy_commands.py): a command pays for its own imports, not for all of them.
"""

from __future__ import annotations

import click

from cli.lazy_commands import LazyCommands

COMMANDS = LazyCommands({
    "tx": "cli.tx:tx",
    "invoice": "cli.invoice:invoice",   # its `verify` is cli.verify:verify
    "quote": "cli.quote:quote",
    "node": "cli.node:node",
    "localnet": "cli.localnet:localnet_group",
    "keys": "cli.keys:keys",
    "factoring": "cli.factoring:factoring",
    "discount": "cli.discount:discount",
    "proof": "cli.verify:proof",
    "audit": "cli.audit:audit",
    "receipt": "cli.receipt:receipt",
    "pledge": "cli.pledge:pledge",
    "certificate": "cli.certificate:certificate",
})


@click.group(commands=COMMANDS)
@click.version_option(package_name="scf-ledger", prog_name="scf")
def cli() -> None:
    """scf-ledger: a permissioned BFT ledger for supply chain finance."""


if __name__ == "__main__":
    cli()
