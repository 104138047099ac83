"""Entry point of the `scf` command: one click group, one module per command group."""

from __future__ import annotations

import click

from cli.audit import audit
from cli.certificate import certificate
from cli.discount import discount
from cli.factoring import factoring
from cli.invoice import invoice
from cli.keys import keys
from cli.localnet import localnet_group
from cli.node import node
from cli.pledge import pledge
from cli.quote import quote
from cli.receipt import receipt
from cli.verify import proof, verify
from cli.tx import tx


@click.group()
@click.version_option(package_name="scf-ledger", prog_name="scf")
def cli() -> None:
    """scf-ledger: a permissioned BFT ledger for supply chain finance."""


cli.add_command(tx)
cli.add_command(invoice)
cli.add_command(quote)
cli.add_command(node)
cli.add_command(localnet_group)
cli.add_command(keys)
cli.add_command(factoring)
cli.add_command(discount)
cli.add_command(proof)
cli.add_command(audit)
cli.add_command(receipt)
cli.add_command(pledge)
cli.add_command(certificate)
invoice.add_command(verify)


if __name__ == "__main__":
    cli()
