"""A real localnet for tests: node processes on free loopback ports, always stopped."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ledger.validators import Validator, ValidatorSet
from node import localnet
from node.consensus.proposer import compute_proposer
from node.localnet import LocalNode

PORT_SEARCH = range(20_000, 60_000, 97)


def free_base_port(count: int) -> int:
    """A base port with `count` consecutive free ports (checked by binding them).

    The search starts at a random place, so test runs sharing the machine
    rarely race for the same ports between the check and the nodes' bind."""
    start = random.randrange(len(PORT_SEARCH))
    for base in [*PORT_SEARCH[start:], *PORT_SEARCH[:start]]:
        sockets: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free port range on 127.0.0.1")


@contextmanager
def running_localnet(directory: Path, validators: int = 4) -> Iterator[list[LocalNode]]:
    """Creates and starts a localnet; stops every node (SIGKILL if need be) on exit."""
    nodes = localnet.create(directory, validators=validators,
                            base_port=free_base_port(validators))
    try:
        for node in nodes:
            localnet.start(node)
        if not localnet.wait_until(nodes, 1, timeout_s=60):
            raise AssertionError("the localnet did not commit block 1 within 60 s:\n"
                                 + logs(nodes))
        yield nodes
    finally:
        for node in nodes:
            localnet.stop(node, grace_s=10)


def logs(nodes: list[LocalNode], lines: int = 30) -> str:
    parts = []
    for node in nodes:
        text = node.log_file.read_text(errors="replace") if node.log_file.exists() else ""
        parts.append(f"--- {node.member_id} ---\n" + "\n".join(text.splitlines()[-lines:]))
    return "\n".join(parts)


def current_proposer(nodes: Sequence[LocalNode], timeout_s: float = 1.0) -> str | None:
    """The member id of the proposer of the height and round the first live
    node (of `nodes`) is deciding now; None if none answers."""
    for node in nodes:
        status = localnet.status(node, timeout_s=timeout_s)
        if status is None:
            continue
        validators = ValidatorSet.of([Validator(bytes.fromhex(v["public_key"]), v["power"])
                                      for v in status["validators"]])
        members = {v["public_key"]: v["member_id"] for v in status["validators"]}
        key = compute_proposer(validators, status["consensus"]["height"],
                               status["consensus"]["round"])
        return members.get(key.hex())
    return None
