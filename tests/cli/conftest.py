"""One real 1-validator localnet for the CLI tests (a node process on loopback).

Session-scoped: starting a node costs about a second, and every test that
signs asks the node for its next nonce, so tests sharing the chain do not
step on each other. `scf` runs as a subprocess (`run_scf`) the way users run
it, or through click's runner for speed where the process boundary does not
matter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from node.localnet import LocalNode
from tests.support.localnet import running_localnet


@dataclass(frozen=True)
class Localnet:
    directory: Path
    node: LocalNode

    @property
    def url(self) -> str:
        return self.node.url

    @property
    def genesis(self) -> Path:
        return self.directory / "genesis.json"

    def key(self, member_id: str) -> Path:
        return self.directory / "keys" / f"{member_id}.json"


@pytest.fixture(scope="session")
def localnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Localnet]:
    directory = tmp_path_factory.mktemp("cli-localnet")
    with running_localnet(directory, validators=1) as nodes:
        yield Localnet(directory, nodes[0])


def run_scf(*args: str, env: dict[str, str] | None = None, timeout: float = 60
            ) -> subprocess.CompletedProcess[str]:
    """`scf ARGS...` in a subprocess; returns the completed process (text)."""
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})
