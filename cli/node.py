"""`scf node init|start|reset-data`: set up, run and recover one member's node."""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from genesis.demo_keys import demo_key
from ledger.errors import LedgerError
from node.config import NodeConfig
from node.home import init_home, open_home, reset_data
from node.keyfile import read_key_file

EXIT_REFUSED = 2
EXIT_FAILED = 1


@click.group()
def node() -> None:
    """Run a member's node: `init` a home directory once, then `start` it."""


@node.command()
@click.option("--home", type=click.Path(path_type=Path), required=True,
              help="Directory to create for this node.")
@click.option("--genesis", "genesis_file", type=click.Path(exists=True, path_type=Path),
              required=True, help="The consortium's genesis JSON.")
@click.option("--member-id", required=True, help="This member's id in genesis.")
@click.option("--member-key", type=click.Path(exists=True, path_type=Path),
              help="The member's key file (scf-key/1).")
@click.option("--validator-key", type=click.Path(exists=True, path_type=Path),
              help="The validator key file; leave out for a follower node.")
@click.option("--demo-keys", is_flag=True,
              help="Use the public, INSECURE demo keys of genesis/demo_keys.py.")
@click.option("--port", type=int, default=26600, show_default=True, help="HTTP and peer port.")
@click.option("--peer", "peers", multiple=True, help="A peer's ws://HOST:PORT/v1/peer (repeat).")
def init(home: Path, genesis_file: Path, member_id: str, member_key: Path | None,
         validator_key: Path | None, demo_keys: bool, port: int, peers: tuple[str, ...]) -> None:
    """Create a node home: config, genesis copy, key files (0600), data directory.

    \b
    Example:
      scf node init --home ~/scf/bank-a --genesis genesis.json --member-id BANK-A \\
          --member-key bank-a.key.json --validator-key bank-a.validator.json \\
          --port 26601 --peer ws://core.example:26600/v1/peer
    """
    try:
        if demo_keys:
            member = demo_key(member_id)
            validator = demo_key(f"{member_id}/validator") if validator_key is None else \
                read_key_file(validator_key)
        else:
            if member_key is None:
                raise click.UsageError("give --member-key (or --demo-keys for a demo)")
            member = read_key_file(member_key)
            validator = read_key_file(validator_key) if validator_key is not None else None
        config = NodeConfig(member_id=member_id, validator=validator is not None, port=port,
                            peers=peers)
        init_home(home, config=config, genesis_file=genesis_file, member_key=member,
                  validator_key=validator)
    except LedgerError as error:
        click.echo(f"error: {error.code.value}: {error.message}", err=True)
        sys.exit(EXIT_REFUSED)
    click.echo(f"initialised node {member_id} in {home}; start it with: "
               f"scf node start --home {home}")


@node.command()
@click.option("--home", type=click.Path(path_type=Path), required=True,
              help="The node's home directory (from `scf node init`).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning"]), default="info",
              show_default=True)
def start(home: Path, log_level: str) -> None:
    """Run the node until SIGTERM or Ctrl-C; exits 0 after a clean stop.

    After a crash, start it again: it recovers from its store and WAL, then
    catches up from its peers.

    \b
    Example:
      scf node start --home ~/scf/bank-a
    """
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from node.service import Node

    try:
        instance = Node(open_home(home))
    except LedgerError as error:
        click.echo(f"error: {error.code.value}: {error.message}", err=True)
        sys.exit(EXIT_REFUSED)
    try:
        clean = asyncio.run(instance.run())
    except OSError as error:  # e.g. the port is taken
        click.echo(f"error: the node could not start: {error}", err=True)
        sys.exit(EXIT_REFUSED)
    if not clean:
        click.echo(f"error: the node stopped on a failure: {instance.failure}", err=True)
        sys.exit(EXIT_FAILED)


@node.command("reset-data")
@click.option("--home", type=click.Path(path_type=Path), required=True,
              help="The stopped node's home directory.")
def reset_data_command(home: Path) -> None:
    """Move the chain store and the WAL aside so the node re-syncs from its peers.

    For a node whose data/chain or data/wal is damaged (STORE_CORRUPTED,
    WAL_CORRUPTED, WAL_BAD_HEIGHT). Both move into data/reset-<UTC time>/;
    nothing is deleted. data/sign-state and keys/ stay: the last-signed record
    is what stops a validator from signing twice. Refused while the node runs.
    Then start the node: it builds its store from genesis and fetches every
    block from its peers, verifying each. See docs/operations.md, recovery.

    \b
    Example:
      scf node reset-data --home ~/scf/bank-a && scf node start --home ~/scf/bank-a
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    try:
        done = reset_data(home, stamp=stamp)
    except LedgerError as error:
        click.echo(f"error: {error.code.value}: {error.message}", err=True)
        sys.exit(EXIT_REFUSED)
    moved = " and ".join(f"data/{name}" for name in done.moved) or "nothing (no chain, no WAL)"
    click.echo(f"moved {moved} to {done.backup}")
    click.echo("kept data/sign-state (the double-sign guard) and keys/" if done.sign_state_kept
               else "kept keys/ (there is no data/sign-state: this node never signed)")
    click.echo(f"start the node to re-sync from its peers: scf node start --home {home}")
