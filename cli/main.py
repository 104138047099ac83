"""Entry point of the `scf` command."""

from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="scf-ledger", prog_name="scf")
def cli() -> None:
    """scf-ledger: a permissioned BFT ledger for supply chain finance."""
