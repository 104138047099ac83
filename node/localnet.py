"""A local consortium on loopback: genesis, keys and one process per validator.

    DIR/localnet.json          the nodes: member id, home, port (and pid while up)
    DIR/genesis.json           a fresh genesis (fresh keys, genesis time = creation)
    DIR/keys/<MEMBER>.json     every member's key (0600), for clients and the demo
    DIR/nodes/<MEMBER>/        each validator's node home (node/home.py)
    DIR/nodes/<MEMBER>/node.log  its log

The members are those of the example consortium (genesis/examples); the
first `validators` of CORE-01, BANK-A, BANK-B, AUDITOR-01 run validators,
and beyond four, members VALIDATOR-05, ... are added. Consensus timeouts are
shorter than production defaults, to suit one machine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genesis.builder import MemberSpec, ValidatorSpec, consortium_document, render
from genesis.examples.make_consortium import MEMBERS, VALIDATORS
from ledger.crypto import SigningKey
from ledger.errors import Code, LedgerError
from node.config import NodeConfig
from node.home import init_home
from node.keyfile import read_key_file, write_key_file

MANIFEST = "localnet.json"
CHAIN_ID = "scf-localnet"
LOCALNET_CONSENSUS = {"timeout_propose_ms": 1500, "timeout_prevote_ms": 500,
                      "timeout_precommit_ms": 500, "timeout_increase_ms": 250}
STOP_GRACE_S = 15.0


@dataclass(frozen=True, slots=True)
class LocalNode:
    member_id: str
    home: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.home / "node.log"

    @property
    def pid_file(self) -> Path:
        return self.home / "node.pid"


def create(directory: Path, *, validators: int = 4, base_port: int = 26600) -> list[LocalNode]:
    """Writes genesis, keys and node homes; HOME_EXISTS if `directory` holds a localnet."""
    if not 1 <= validators <= 20:
        raise LedgerError(Code.CONFIG_INVALID, "validators: from 1 to 20")
    if (directory / MANIFEST).exists():
        raise LedgerError(Code.HOME_EXISTS, f"{directory} already holds a localnet: "
                          f"`scf localnet up --home {directory}` starts it again")
    names = VALIDATORS[:validators] + [f"VALIDATOR-{i:02d}" for i in range(5, validators + 1)]
    members = list(MEMBERS) + [(name, f"Validator {name[-2:]}", ["operator"])
                               for name in names if name not in VALIDATORS]
    keys = {member_id: SigningKey(os.urandom(32)) for member_id, _, _ in members}
    validator_keys = {member_id: SigningKey(os.urandom(32)) for member_id in names}
    operators = sum(1 for _, _, roles in members if "operator" in roles)
    document = consortium_document(
        chain_id=CHAIN_ID, genesis_time_ms=time.time_ns() // 1_000_000,
        members=[MemberSpec(m, name, tuple(roles), keys[m].public_key)
                 for m, name, roles in members],
        validators=[ValidatorSpec(m, validator_keys[m].public_key) for m in names],
        operator_quorum=min(3, operators), consensus=LOCALNET_CONSENSUS)
    (directory / "keys").mkdir(parents=True, exist_ok=True, mode=0o700)
    genesis_file = directory / "genesis.json"
    genesis_file.write_text(render(document), encoding="utf-8")
    for member_id, key in keys.items():
        write_key_file(directory / "keys" / f"{member_id}.json", key)
    nodes = [LocalNode(m, directory / "nodes" / m, base_port + i) for i, m in enumerate(names)]
    for node in nodes:
        peers = tuple(f"ws://127.0.0.1:{other.port}/v1/peer" for other in nodes if other != node)
        config = NodeConfig(member_id=node.member_id, port=node.port, peers=peers)
        init_home(node.home, config=config, genesis_file=genesis_file,
                  member_key=keys[node.member_id], validator_key=validator_keys[node.member_id])
    manifest = {"chain_id": CHAIN_ID, "nodes": [
        {"member_id": n.member_id, "home": str(n.home.relative_to(directory)), "port": n.port}
        for n in nodes]}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return nodes


def load(directory: Path) -> list[LocalNode]:
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LedgerError(Code.HOME_NOT_INITIALISED, f"{directory} holds no localnet: "
                          f"run `scf localnet up --home {directory}`") from None
    return [LocalNode(n["member_id"], directory / n["home"], n["port"])
            for n in manifest["nodes"]]


def member_key(directory: Path, member_id: str) -> SigningKey:
    return read_key_file(directory / "keys" / f"{member_id}.json")


def start(node: LocalNode) -> int:
    """Starts the node's process (unless it runs); returns its pid."""
    running = pid_of(node)
    if running is not None:
        return running
    with open(node.log_file, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "node", "start", "--home", str(node.home)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=_project_root())
    node.pid_file.write_text(f"{process.pid}\n", encoding="utf-8")
    return process.pid


def stop(node: LocalNode, *, kill: bool = False, grace_s: float = STOP_GRACE_S) -> bool:
    """SIGTERM (or SIGKILL) and wait; True if it was running."""
    pid = pid_of(node)
    if pid is None:
        return False
    os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while _alive(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            _reap(pid)
            time.sleep(0.05)
    node.pid_file.unlink(missing_ok=True)
    return True


def pid_of(node: LocalNode) -> int | None:
    try:
        pid = int(node.pid_file.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    _reap(pid)
    return pid if _alive(pid) else None


def status(node: LocalNode, timeout_s: float = 2.0) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{node.url}/v1/status", timeout=timeout_s) as answer:
            result: dict[str, Any] = json.loads(answer.read())
            return result
    except (urllib.error.URLError, OSError, ValueError):
        return None


def wait_until(nodes: list[LocalNode], min_height: int, timeout_s: float) -> bool:
    """True once every node answers with at least `min_height`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        heights = [(status(n) or {}).get("height", -1) for n in nodes]
        if all(h >= min_height for h in heights):
            return True
        time.sleep(0.2)
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split(") ", 1)[1][:1] != "Z"
    except (FileNotFoundError, IndexError):
        return True


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _project_root() -> Path:
    return Path(__file__).resolve().parent.parent
