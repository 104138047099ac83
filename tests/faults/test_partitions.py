"""Partitions: 4 validators as hosts in network namespaces; links cut, split, impaired under load.

Each validator runs in its own network namespace (tests/faults/netns.py)
and reaches the others through delay relays on the bridge; the test
process posts load and watches every node over the bridge. A schedule of
phases, each followed by a heal:

* isolate: one validator (any, or the proposer of the height being
  decided) loses its links to the other three, by packet drops (it stays
  observable: its height must not move) or with its link down. The three
  must commit at least two more blocks; after the heal the one catches up.
* split: 2 | 2. No side has more than 2/3 of the power, so no node's height
  may pass the highest height reached when the split settled; after the
  heal commits resume.
* impair: every node-to-node link gets latency with jitter, packet loss
  and reordering; commits must go on (two blocks at least).

The load (tests/faults/load.py) posts only to nodes that can commit: during
an isolation, the three. At the end every acknowledged transaction must be
committed exactly once on every node, every node has the same block hashes
and state roots, and each node's chain passes the auditor replay
(tests/faults/checker.py). `SCF_FAULTS_SEED=<n>` replays the schedule's
choices (victims, groups, lengths, impairments), not the cluster's timing.
"""

from __future__ import annotations

import dataclasses
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from node import localnet
from node.client import NodeClient
from node.config import load_config
from node.localnet import LocalNode
from tests.faults.checker import Report, check, drain
from tests.faults.conftest import long_runs_enabled
from tests.faults.load import (SENDER, ChainFollower, History, LoadClient, configure_for_load,
                               presign)
from tests.faults.netns import Impairment, Network, network, unavailable_reason
from tests.support.localnet import current_proposer, logs

pytestmark = [pytest.mark.faults, pytest.mark.slow]

SETTLE_S = 1.0            # after a fault, for messages already sent to arrive
PROGRESS_BLOCKS = 2       # what "keeps committing" means
PROGRESS_TIMEOUT_S = 40.0
RECOVERY_TIMEOUT_S = 60.0
START_TIMEOUT_S = 60.0
POLL_S = 0.25
RATE_PER_S = 20.0


@dataclass(frozen=True, slots=True)
class NetnsNode(LocalNode):
    """A localnet node that lives in a namespace: its API is at its own address."""

    address: str

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"


@dataclass(frozen=True, slots=True)
class Isolate:
    who: str          # "any" or "proposer"
    how: str          # "drop" (packets dropped, still observable) or "link" (veth down)
    seconds: float


@dataclass(frozen=True, slots=True)
class Split:
    seconds: float


@dataclass(frozen=True, slots=True)
class Impair:
    impairment: Impairment
    seconds: float


Phase = Isolate | Split | Impair


@dataclass(slots=True)
class PhaseResult:
    name: str
    at_fault: int = 0         # highest height when the fault settled
    at_heal: int = 0          # highest height when it was healed
    converged_at: int = 0     # the height every node reached after the heal
    recovery_s: float = 0.0   # heal -> every node at the height of the heal (or the next)
    dropped: int = 0          # packets the kernel dropped (impairment / partition)
    slowed: int = 0           # packets through the slow lane (reordered)

    def line(self) -> str:
        return (f"{self.name}: committed {self.at_heal - self.at_fault} blocks during the fault "
                f"(height {self.at_fault} -> {self.at_heal}), all nodes at {self.converged_at} "
                f"{self.recovery_s:.1f} s after the heal"
                + (f", {self.dropped} packets dropped, {self.slowed} reordered"
                   if self.dropped or self.slowed else ""))


@dataclass(frozen=True, slots=True)
class Size:
    name: str
    drain_timeout_s: float


SHORT = Size("short", drain_timeout_s=60)
LONG = Size("long", drain_timeout_s=180)


@dataclass(slots=True)
class Cluster:
    directory: Path
    net: Network
    nodes: list[NetnsNode]
    results: list[PhaseResult] = field(default_factory=list)


# --- the cluster -------------------------------------------------------------------------

def create_nodes(directory: Path, net: Network) -> list[NetnsNode]:
    """A localnet whose node i listens on host i's address and dials the others via relays."""
    created = localnet.create(directory, validators=len(net.hosts))
    nodes = [NetnsNode(n.member_id, n.home, n.port, host.address)
             for n, host in zip(created, net.hosts)]
    for node, host in zip(nodes, net.hosts):
        peers = tuple(net.link_url(host.index, other.index, nodes[other.index].port, "/v1/peer")
                      for other in net.hosts if other != host)
        config = dataclasses.replace(load_config(node.home), host=host.address, peers=peers)
        (node.home / "config.json").write_text(config.to_json(), encoding="utf-8")
    configure_for_load(list(nodes))
    return nodes


def start(net: Network, index: int, node: NetnsNode) -> None:
    """`scf node start` inside host `index` (`ip netns exec` execs, so the pid is the node's)."""
    argv = [sys.executable, "-m", "cli.main", "node", "start", "--home", str(node.home)]
    with open(node.log_file, "ab") as log:
        process = subprocess.Popen(net.exec_argv(index, argv), stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, cwd=Path(__file__).parents[2])
    node.pid_file.write_text(f"{process.pid}\n", encoding="utf-8")


@pytest.fixture
def cluster(tmp_path: Path, fault_seed: int) -> Iterator[Cluster]:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with network(4, seed=fault_seed + 2) as net:
        nodes = create_nodes(tmp_path / "localnet", net)
        try:
            for index, node in enumerate(nodes):
                start(net, index, node)
            if not localnet.wait_until(list(nodes), 1, timeout_s=START_TIMEOUT_S):
                raise AssertionError(f"the namespaced localnet did not commit block 1 within "
                                     f"{START_TIMEOUT_S:.0f} s:\n" + logs(list(nodes)))
            yield Cluster(tmp_path / "localnet", net, nodes)
        finally:
            for node in nodes:
                localnet.stop(node, grace_s=10)


# --- observing ---------------------------------------------------------------------------

def heights(nodes: list[NetnsNode]) -> dict[str, int | None]:
    """Each node's committed height, None if it does not answer."""
    return {n.member_id: (localnet.status(n, timeout_s=1.0) or {}).get("height") for n in nodes}


def highest(nodes: list[NetnsNode]) -> int:
    return max((h for h in heights(nodes).values() if h is not None), default=0)


def proposer_index(nodes: list[NetnsNode]) -> int | None:
    """The index of the proposer of the height and round a live node is deciding now."""
    member = current_proposer(nodes)
    return next((i for i, n in enumerate(nodes) if n.member_id == member), None)


def wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(POLL_S)
    return False


def point_load(targets: list[LocalNode], reachable: list[NetnsNode]) -> None:
    """Repoints the load's fixed-length target list at `reachable` (slot by slot: the
    load thread picks from it concurrently, and its length never changes)."""
    for slot in range(len(targets)):
        targets[slot] = reachable[slot % len(reachable)]


# --- the phases --------------------------------------------------------------------------

class PhaseFailure(AssertionError):
    pass


def run_phase(cluster: Cluster, phase: Phase, rng: random.Random,
              targets: list[LocalNode]) -> PhaseResult:
    nodes, net = cluster.nodes, cluster.net
    if isinstance(phase, Isolate):
        return _isolate(nodes, net, phase, rng, targets)
    if isinstance(phase, Split):
        return _split(nodes, net, phase, rng)
    return _impair(nodes, net, phase)


def _isolate(nodes: list[NetnsNode], net: Network, phase: Isolate, rng: random.Random,
             targets: list[LocalNode]) -> PhaseResult:
    anyone = rng.randrange(len(nodes))
    victim = (proposer_index(nodes) if phase.who == "proposer" else None)
    victim = anyone if victim is None else victim
    others = [i for i in range(len(nodes)) if i != victim]
    majority = [nodes[i] for i in others]
    result = PhaseResult(f"isolate {phase.who} {nodes[victim].member_id} ({phase.how}) "
                         f"{phase.seconds:.0f} s")
    point_load(targets, majority)
    if phase.how == "link":
        net.cut(victim)
    else:
        net.partition([[victim], others])
    time.sleep(SETTLE_S)
    frozen = heights([nodes[victim]])[nodes[victim].member_id]
    result.at_fault = highest(majority)
    began = time.monotonic()
    moved = wait_for(lambda: time.monotonic() - began >= phase.seconds
                     and highest(majority) >= result.at_fault + PROGRESS_BLOCKS,
                     phase.seconds + PROGRESS_TIMEOUT_S)
    result.at_heal = highest(majority)
    alone = heights([nodes[victim]])[nodes[victim].member_id]
    _heal(nodes, net, targets, result)
    if not moved:
        raise PhaseFailure(f"{result.name}: the other three went from {result.at_fault} only "
                           f"to {result.at_heal}")
    if frozen is not None and alone is not None and alone > frozen:
        raise PhaseFailure(f"{result.name}: the isolated validator went from {frozen} "
                           f"to {alone}")
    return result


def _split(nodes: list[NetnsNode], net: Network, phase: Split,
           rng: random.Random) -> PhaseResult:
    order = rng.sample(range(len(nodes)), len(nodes))
    groups = [sorted(order[:2]), sorted(order[2:])]
    names = [[nodes[i].member_id for i in g] for g in groups]
    result = PhaseResult(f"split {names[0]} | {names[1]} {phase.seconds:.0f} s")
    net.partition(groups)
    time.sleep(SETTLE_S)
    result.at_fault = highest(nodes)
    began, beyond = time.monotonic(), {}
    while time.monotonic() - began < phase.seconds and not beyond:
        beyond = {m: h for m, h in heights(nodes).items()
                  if h is not None and h > result.at_fault}
        time.sleep(POLL_S)
    result.at_heal = highest(nodes)
    _heal(nodes, net, [], result, at_least=result.at_fault + 1)
    if beyond:
        raise PhaseFailure(f"{result.name}: committed without a quorum: {beyond} "
                           f"> {result.at_fault}")
    return result


def _impair(nodes: list[NetnsNode], net: Network, phase: Impair) -> PhaseResult:
    result = PhaseResult(f"impair all links ({phase.impairment.describe()}) "
                         f"{phase.seconds:.0f} s")
    net.impair(phase.impairment)
    result.at_fault = highest(nodes)
    began = time.monotonic()
    moved = wait_for(lambda: time.monotonic() - began >= phase.seconds
                     and highest(nodes) >= result.at_fault + PROGRESS_BLOCKS,
                     phase.seconds + PROGRESS_TIMEOUT_S)
    result.at_heal = highest(nodes)
    result.dropped, result.slowed = net.dropped_and_slowed()
    _heal(nodes, net, [], result)
    if not moved:
        raise PhaseFailure(f"{result.name}: commits stalled at {result.at_heal} "
                           f"(from {result.at_fault})")
    return result


def _heal(nodes: list[NetnsNode], net: Network, targets: list[LocalNode],
          result: PhaseResult, *, at_least: int = 0) -> None:
    """Heals, points the load at everyone, waits until every node has the height of the heal."""
    if not result.dropped and not result.slowed:
        result.dropped, result.slowed = net.dropped_and_slowed()
    net.heal()
    if targets:
        point_load(targets, nodes)
    healed = time.monotonic()
    goal = max(result.at_heal, at_least)
    if not localnet.wait_until(list(nodes), goal, RECOVERY_TIMEOUT_S):
        raise PhaseFailure(f"{result.name}: after the heal not every node reached {goal} "
                           f"within {RECOVERY_TIMEOUT_S:.0f} s: {heights(nodes)}")
    result.recovery_s = time.monotonic() - healed
    result.converged_at = goal


# --- schedules ---------------------------------------------------------------------------

def short_schedule() -> list[Phase]:
    """(d) and (a) at once, then (b) and (c): one of each kind, about 30 s of faults."""
    return [Isolate("proposer", "drop", 5), Split(4),
            Impair(Impairment(delay_ms=(100, 300), loss_percent=12, reorder_percent=12), 6)]


def long_schedule(rng: random.Random, count: int = 16) -> list[Phase]:
    """`count` phases, every kind at least twice, in a seeded order, with seeded lengths."""
    phases: list[Phase] = []
    for number in range(count):
        kind = number % 5 if number < 10 else rng.randrange(5)
        seconds = rng.uniform(5, 20)
        if kind == 0:
            phases.append(Isolate("any", "drop", seconds))
        elif kind == 1:
            phases.append(Isolate("proposer", rng.choice(("drop", "link")), seconds))
        elif kind == 2:
            phases.append(Isolate("any", "link", seconds))
        elif kind == 3:
            phases.append(Split(seconds))
        else:
            low = rng.randrange(50, 150)
            phases.append(Impair(Impairment(delay_ms=(low, rng.randrange(200, 301)),
                                            loss_percent=rng.randrange(10, 21),
                                            reorder_percent=rng.randrange(5, 16)), seconds))
    rng.shuffle(phases)
    return phases


# --- the run -----------------------------------------------------------------------------

def run_partitions(cluster: Cluster, seed: int, size: Size) -> Report:
    began = time.monotonic()
    rng = random.Random(seed)
    phases = short_schedule() if size is SHORT else long_schedule(rng)
    nodes = cluster.nodes
    client = NodeClient(nodes[0].url)
    key = localnet.member_key(cluster.directory, SENDER)
    fault_seconds = sum(p.seconds for p in phases)
    txs = presign(cluster.directory, client.chain_id(), int(fault_seconds * RATE_PER_S),
                  f"INV-PART-{seed}", client.nonce(key.public_key))
    history, stop_load = History(), threading.Event()
    targets: list[LocalNode] = list(nodes)
    follower = ChainFollower(list(nodes), stop_load)
    load = LoadClient(targets, txs, RATE_PER_S, history, follower, stop_load,
                      random.Random(seed + 1))
    report = Report(seed)
    try:
        follower.start()
        load.start()
        for phase in phases:
            try:
                cluster.results.append(run_phase(cluster, phase, rng, targets))
            except PhaseFailure as failure:
                report.failures.append(str(failure))
                break
        load.posting_done.wait(fault_seconds + 120)
        drain(follower, history, size.drain_timeout_s)
    finally:
        cluster.net.heal()
        stop_load.set()
        load.join(30)
        follower.join(30)
    check(cluster.directory, list(nodes), history, report, settle_timeout_s=60)
    report.seconds = time.monotonic() - began
    print(f"\n{size.name} partition run: {report.summary()}")
    for result in cluster.results:
        print(f"  {result.line()}")
    return report


def reproduce(seed: int, size: Size) -> str:
    env = "SCF_FAULTS=long " if size is LONG else ""
    return (f"reproduce: {env}SCF_FAULTS_SEED={seed} .venv/bin/pytest "
            f"tests/faults/test_partitions.py -k {size.name} -s")


def assert_clean(report: Report, cluster: Cluster, size: Size) -> None:
    if report.failures:
        raise AssertionError("\n".join([f"seed {report.seed}: {report.summary()}",
                                        *(r.line() for r in cluster.results),
                                        *report.failures, reproduce(report.seed, size),
                                        logs(list(cluster.nodes), lines=40)]))


def test_partitions_short(cluster: Cluster, fault_seed: int) -> None:
    print(reproduce(fault_seed, SHORT))
    report = run_partitions(cluster, fault_seed, SHORT)
    assert_clean(report, cluster, SHORT)
    assert len(cluster.results) == len(short_schedule())


@pytest.mark.faults_long
@pytest.mark.skipif(not long_runs_enabled(), reason="a long run: set SCF_FAULTS=long")
def test_partitions_long(cluster: Cluster, fault_seed: int) -> None:
    print(reproduce(fault_seed, LONG))
    report = run_partitions(cluster, fault_seed, LONG)
    assert_clean(report, cluster, LONG)


# --- the harness itself ------------------------------------------------------------------

ECHO_SERVER = """
import socket
server = socket.create_server(("0.0.0.0", 7000))
while True:
    connection, _ = server.accept()
    with connection:
        while data := connection.recv(65536):
            connection.sendall(data)
"""
ROUND_TRIPS = """
import socket, sys
host, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
try:
    with socket.create_connection((host, port), timeout=timeout) as s:
        for _ in range(5):
            s.sendall(b"x" * 1000)
            got = 0
            while got < 1000:
                got += len(s.recv(65536))
    print("ok")
except OSError as error:
    print(type(error).__name__)
"""


def round_trips(net: Network, source: int, host: str, port: int, timeout_s: float) -> str:
    """From inside host `source`: five echo round trips to host:port, "ok" or the error's name."""
    done = subprocess.run(net.exec_argv(source, [sys.executable, "-c", ROUND_TRIPS, host,
                                                 str(port), str(timeout_s)]),
                          capture_output=True, text=True, timeout=timeout_s * 3 + 10)
    return done.stdout.strip()


def leftovers(prefix: str) -> list[str]:
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return [line for line in (names + links).splitlines() if prefix in line]


@pytest.fixture
def netns_ok() -> None:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)


@pytest.mark.usefixtures("netns_ok")
def test_network_partitions_impairs_and_heals() -> None:
    with network(3, seed=7) as net:
        subprocess.Popen(net.exec_argv(2, [sys.executable, "-c", ECHO_SERVER]),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        relayed = int(net.link_url(0, 2, 7000, "/").split(":")[-1].strip("/"))
        direct = net.hosts[2].address
        assert wait_for(lambda: round_trips(net, 0, direct, 7000, 5) == "ok", 10)

        net.partition([[0], [1, 2]])
        assert round_trips(net, 0, net.relay_address, relayed, 0.5) == "TimeoutError"
        assert round_trips(net, 1, direct, 7000, 5) == "ok"       # the other side still talks

        net.heal()
        net.impair(Impairment(delay_ms=(50, 100), loss_percent=12, reorder_percent=25))
        began = time.monotonic()
        assert round_trips(net, 0, net.relay_address, relayed, 10) == "ok"
        assert time.monotonic() - began >= 5 * 2 * 0.05       # each round trip: 2 relay hops
        dropped, slowed = net.dropped_and_slowed()
        assert dropped + slowed > 0

        net.heal()
        net.cut(0)
        assert round_trips(net, 0, direct, 7000, 0.5) == "TimeoutError"
        net.heal()
        assert wait_for(lambda: round_trips(net, 0, direct, 7000, 5) == "ok", 10)


@pytest.mark.usefixtures("netns_ok")
def test_network_removes_everything_even_when_the_test_fails() -> None:
    with pytest.raises(RuntimeError, match="the test failed"):
        with network(2, seed=1) as net:
            prefix = net.prefix
            sleeper = subprocess.Popen(net.exec_argv(1, ["sleep", "300"]))
            net.partition([[0], [1]])
            assert leftovers(prefix)
            raise RuntimeError("the test failed")
    assert sleeper.wait(timeout=10) == -9
    assert wait_for(lambda: not leftovers(prefix), 10), leftovers(prefix)
