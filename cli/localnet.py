"""`scf localnet up|down|status|logs`: a local consortium of validators on loopback."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ledger.errors import LedgerError
from node import localnet

EXIT_NOT_READY = 3


@click.group(name="localnet")
def localnet_group() -> None:
    """A consortium of validator processes on this machine, for trying things out."""


_HOME = click.option("--home", type=click.Path(path_type=Path), default=Path(".localnet"),
                     show_default=True, help="The localnet directory.")


@localnet_group.command()
@_HOME
@click.option("--validators", type=click.IntRange(1, 20), default=4, show_default=True)
@click.option("--base-port", type=click.IntRange(1024, 65000), default=26600, show_default=True,
              help="Validator i listens on base-port + i.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait until every node has committed a block.")
def up(home: Path, validators: int, base_port: int, wait: bool) -> None:
    """Create the localnet (first time) and start every node that is not running.

    \b
    Example:
      scf localnet up --validators 4 --home /tmp/scf-localnet
    """
    try:
        nodes = localnet.load(home) if (home / localnet.MANIFEST).exists() else \
            localnet.create(home, validators=validators, base_port=base_port)
    except LedgerError as error:
        click.echo(f"error: {error.code.value}: {error.message}", err=True)
        sys.exit(2)
    for node in nodes:
        pid = localnet.start(node)
        click.echo(f"{node.member_id:<12} pid {pid:<7} {node.url}  log {node.log_file}")
    if wait and not localnet.wait_until(nodes, 1, timeout_s=60):
        click.echo("not every node committed a block within 60 s: see the logs", err=True)
        sys.exit(EXIT_NOT_READY)


@localnet_group.command()
@_HOME
@click.option("--kill", is_flag=True, help="SIGKILL instead of a graceful SIGTERM.")
def down(home: Path, kill: bool) -> None:
    """Stop every node (SIGTERM, then SIGKILL after 15 s). Data stays for the next `up`.

    \b
    Example:
      scf localnet down --home /tmp/scf-localnet
    """
    for node in localnet.load(home):
        was_running = localnet.stop(node, kill=kill)
        click.echo(f"{node.member_id:<12} {'stopped' if was_running else 'was not running'}")


@localnet_group.command()
@_HOME
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(home: Path, as_json: bool) -> None:
    """Each node's pid, height and peers (exit 3 if any node does not answer).

    \b
    Example:
      scf localnet status --home /tmp/scf-localnet --json
    """
    rows = []
    for node in localnet.load(home):
        answer = localnet.status(node)
        rows.append({"member_id": node.member_id, "url": node.url, "pid": localnet.pid_of(node),
                     "height": None if answer is None else answer["height"],
                     "peers": None if answer is None else len(answer["peers"]),
                     "sync": None if answer is None else answer["sync"]["state"]})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        for row in rows:
            state = "down" if row["height"] is None else \
                f"height {row['height']}, {row['peers']} peers, {row['sync']}"
            click.echo(f"{row['member_id']:<12} {row['url']}  {state}")
    if any(row["height"] is None for row in rows):
        sys.exit(EXIT_NOT_READY)


@localnet_group.command()
@_HOME
@click.argument("member_id")
@click.option("--lines", "-n", type=int, default=50, show_default=True)
def logs(home: Path, member_id: str, lines: int) -> None:
    """The last lines of one node's log.

    \b
    Example:
      scf localnet logs BANK-A --home /tmp/scf-localnet -n 100
    """
    for node in localnet.load(home):
        if node.member_id == member_id:
            text = node.log_file.read_text(encoding="utf-8", errors="replace") \
                if node.log_file.exists() else ""
            click.echo("\n".join(text.splitlines()[-lines:]))
            return
    raise click.BadParameter(f"no node {member_id!r} in this localnet")
