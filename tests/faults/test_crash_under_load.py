"""Crash: SIGKILL validators of a real 4-node localnet under load, restart them, check the history.

The nemesis, driven by `random.Random(seed)`, waits 3-6 s, SIGKILLs one
validator, restarts it 1-3 s later, and again until the run's time is up.
Its victim is, in turn at random: any validator; the proposer of the height
being decided; a validator right after its height advanced (0-300 ms later:
in the middle of the next height's proposal, votes or block commit); or two
validators at once, which leaves 2 of 4 (no quorum: the chain halts until
they are back, and both recover from their own store and WAL). With one
down, the other three keep committing. Meanwhile a load client posts pre-signed
registrations at a fixed rate to random nodes. At the end every node is up;
tests/faults/checker.py checks the history.

The seed fixes the nemesis' choices (delays, modes, victims), not the
cluster's timing, so a seed replays the same schedule of faults, which
makes a failure likely but not certain to recur.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from node import localnet
from node.client import NodeClient
from node.localnet import LocalNode
from tests.faults.checker import Report, check, drain
from tests.faults.conftest import long_runs_enabled
from tests.faults.load import (SENDER, ChainFollower, History, LoadClient, configure_for_load,
                               presign)
from tests.support.localnet import current_proposer, free_base_port, logs

pytestmark = [pytest.mark.faults, pytest.mark.slow]

MODES = ("any", "proposer", "mid-commit", "two-at-once")


@dataclass(frozen=True, slots=True)
class Size:
    name: str
    seconds: float          # of faults under load
    rate_per_s: float       # offered load
    drain_timeout_s: float  # for every acknowledged transaction to commit afterwards


SHORT = Size("short", seconds=28, rate_per_s=30, drain_timeout_s=60)
LONG = Size("long", seconds=300, rate_per_s=30, drain_timeout_s=180)


@dataclass(frozen=True, slots=True)
class Kill:
    member_id: str
    mode: str
    height: int        # the victim's committed height when killed (-1: unknown)
    down_s: float


class Nemesis(threading.Thread):
    """SIGKILLs one validator (or two) every 3-6 s for `seconds`, restarting them 1-3 s later."""

    def __init__(self, nodes: list[LocalNode], seed: int, seconds: float,
                 stop: threading.Event) -> None:
        super().__init__(name="nemesis", daemon=True)
        self.nodes = nodes
        self.rng = random.Random(seed)
        self.seconds = seconds
        self.stop_event = stop
        self.kills: list[Kill] = []
        self.restarts = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as error:  # reported by the test, never lost in a thread
            self.error = error
        finally:
            for node in self.nodes:          # whatever happened, every node ends up running
                localnet.start(node)

    def _run(self) -> None:
        deadline = time.monotonic() + self.seconds
        while not self.stop_event.is_set():
            # every draw happens each round, so a seed gives the same schedule
            pause = self.rng.uniform(3, 6)
            mode = self.rng.choice(MODES)
            anyone = self.rng.choice(self.nodes)
            another = self.rng.choice([n for n in self.nodes if n is not anyone])
            lag = self.rng.uniform(0, 0.3)
            down_s = self.rng.uniform(1, 3)
            if time.monotonic() + pause > deadline or self.stop_event.wait(pause):
                return
            victims = [self._victim(mode, anyone, lag)]
            if mode == "two-at-once":
                victims.append(another)
            for victim in victims:
                height = (localnet.status(victim, timeout_s=0.5) or {}).get("height", -1)
                localnet.stop(victim, kill=True)
                self.kills.append(Kill(victim.member_id, mode, height, down_s))
            self.stop_event.wait(down_s)
            for victim in victims:
                localnet.start(victim)
                self.restarts += 1

    def _victim(self, mode: str, anyone: LocalNode, lag: float) -> LocalNode:
        if mode == "proposer":
            return self._proposer() or anyone
        if mode == "mid-commit":
            start = (localnet.status(anyone, timeout_s=0.5) or {}).get("height")
            deadline = time.monotonic() + 5
            while start is not None and time.monotonic() < deadline:
                now = (localnet.status(anyone, timeout_s=0.5) or {}).get("height")
                if now is not None and now > start:
                    time.sleep(lag)
                    break
                time.sleep(0.02)
        return anyone

    def _proposer(self) -> LocalNode | None:
        member = current_proposer(self.nodes, timeout_s=0.5)
        return next((n for n in self.nodes if n.member_id == member), None)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Path, list[LocalNode]]]:
    directory = tmp_path / "localnet"
    nodes = localnet.create(directory, validators=4, base_port=free_base_port(4))
    configure_for_load(nodes)
    try:
        for node in nodes:
            localnet.start(node)
        if not localnet.wait_until(nodes, 1, timeout_s=60):
            raise AssertionError("the localnet did not commit block 1 within 60 s:\n"
                                 + logs(nodes))
        yield directory, nodes
    finally:
        for node in nodes:
            localnet.stop(node, grace_s=10)


def run_crashes(directory: Path, nodes: list[LocalNode], seed: int, size: Size) -> Report:
    began = time.monotonic()
    client = NodeClient(nodes[0].url)
    key = localnet.member_key(directory, SENDER)
    txs = presign(directory, client.chain_id(), int(size.seconds * size.rate_per_s),
                  f"INV-FAULT-{seed}", client.nonce(key.public_key))
    history = History()
    stop_load, stop_faults = threading.Event(), threading.Event()
    follower = ChainFollower(nodes, stop_load)
    load = LoadClient(nodes, txs, size.rate_per_s, history, follower, stop_load,
                      random.Random(seed + 1))
    nemesis = Nemesis(nodes, seed, size.seconds, stop_faults)
    report = Report(seed)
    try:
        for thread in (follower, load, nemesis):
            thread.start()
        nemesis.join(size.seconds + 60)
        load.posting_done.wait(size.seconds + 60)
        drain(follower, history, size.drain_timeout_s)
    finally:
        stop_faults.set()
        nemesis.join(30)
        stop_load.set()
        load.join(30)
        follower.join(30)
    if nemesis.error is not None:
        report.failures.append(f"the nemesis failed: {nemesis.error!r}")
    report.kills, report.restarts = len(nemesis.kills), nemesis.restarts
    check(directory, nodes, history, report, settle_timeout_s=60)
    report.seconds = time.monotonic() - began
    print(f"\n{size.name} crash run: {report.summary()}")
    for kill in nemesis.kills:
        print(f"  killed {kill.member_id} ({kill.mode}) at height {kill.height}, "
              f"down {kill.down_s:.1f} s")
    return report


def reproduce(seed: int, size: Size) -> str:
    env = "SCF_FAULTS=long " if size is LONG else ""
    return (f"reproduce: {env}SCF_FAULTS_SEED={seed} .venv/bin/pytest tests/faults "
            f"-k 'crash and {size.name}' -s")


def assert_clean(report: Report, size: Size, nodes: list[LocalNode]) -> None:
    assert report.kills >= 1, "the nemesis killed nothing"
    if report.failures:
        raise AssertionError("\n".join([f"seed {report.seed}: {report.summary()}",
                                        *report.failures, reproduce(report.seed, size),
                                        logs(nodes, lines=40)]))


def test_crash_under_load_short(cluster: tuple[Path, list[LocalNode]], fault_seed: int) -> None:
    directory, nodes = cluster
    print(reproduce(fault_seed, SHORT))
    report = run_crashes(directory, nodes, fault_seed, SHORT)
    assert_clean(report, SHORT, nodes)


@pytest.mark.faults_long
@pytest.mark.skipif(not long_runs_enabled(), reason="a long run: set SCF_FAULTS=long")
def test_crash_under_load_long(cluster: tuple[Path, list[LocalNode]], fault_seed: int) -> None:
    directory, nodes = cluster
    print(reproduce(fault_seed, LONG))
    report = run_crashes(directory, nodes, fault_seed, LONG)
    assert_clean(report, LONG, nodes)
