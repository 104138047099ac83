"""Hosts on one machine: a network namespace per validator on a bridge, links cut and impaired.

Topology of one run (every name carries the run's random prefix P, the
subnet 10.A.B.0/24 is drawn per run, so parallel runs never collide):

    root namespace          bridge Pbr: 10.A.B.254 (the test process: load, checks)
                                        10.A.B.253 (the delay relays, delay_relay.py)
      veth Pv<i> ---------- eth0 in namespace Pn<i>: 10.A.B.<i+1> (host i, one validator)

Node-to-node traffic goes host -> relay (10.A.B.253, one port per ordered
pair) -> host, so latency can be added without `sch_netem`, which this
kernel lacks; the test process talks to the nodes straight over the bridge.

Faults, all undone by `heal()`:

* `cut(i)`: the root end of host i's veth goes down: host i is off the
  network, for the test process too.
* `partition(groups)`: hosts in different groups drop each other's packets;
  each group still reaches the test process (so a minority can be watched
  not committing).
* `impair(Impairment)`: relay latency with jitter, plus packet loss and
  reordering on every node-to-node packet, both legs of every relay.

Drops and reordering are tc on each host's egress (and on the root end of
each veth, for the relay-to-host leg): one HTB qdisc with three classes,
rebuilt from the desired state on every change:

    1:10  default, untouched
    1:20  black hole (a `pfifo limit 0` leaf drops all it gets)
    1:30  slow lane (a 64 kbit/s class with a 4-packet queue): a packet sent
          there falls behind the packets sent after it, i.e. is reordered

and u32 filters that choose the class: the destination address and port of
a partitioned peer -> 1:20; for "random" loss and reordering, the low four
bits of the IP identification field (it counts the packets of each socket,
and a retransmission gets a new one), k of 16 values -> 1:20 or 1:30.
Value 0 is never used: SYNs and SYN-ACKs are sent with identification 0,
and a "random" loss that drops every SYN would be a partition. This kernel
has no tc actions and no netem, but it has HTB, pfifo and u32.

`network()` is the context manager: it builds the topology and always
removes it, killing whatever still runs in the namespaces, even if the
test failed; a marker in /tmp/scf-netns lets a later run remove what a
killed run left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.faults.delay_relay import DelayRelay

COMMAND_TIMEOUT_S = 10.0
MARKERS = Path("/tmp/scf-netns")
TEST_HOST_OCTET = 254
RELAY_OCTET = 253
#: IP identification values (low four bits) are split into 16 buckets
BUCKETS = 16


@dataclass(frozen=True, slots=True)
class Host:
    index: int
    namespace: str
    veth: str          # the root end, on the bridge; eth0 is the end in the namespace
    address: str


@dataclass(frozen=True, slots=True)
class Impairment:
    """What `impair` does to every node-to-node link."""

    delay_ms: tuple[int, int] = (0, 0)   # one way, uniform in [low, high], through the relays
    loss_percent: int = 0                # rounded to sixteenths (6.25 % steps)
    reorder_percent: int = 0             # likewise

    @property
    def loss_buckets(self) -> int:
        return round(self.loss_percent * BUCKETS / 100)

    @property
    def reorder_buckets(self) -> int:
        return round(self.reorder_percent * BUCKETS / 100)

    def describe(self) -> str:
        low, high = self.delay_ms
        return (f"delay {low}-{high} ms, loss {100 * self.loss_buckets / BUCKETS:.1f} %, "
                f"reorder {100 * self.reorder_buckets / BUCKETS:.1f} %")

    def __post_init__(self) -> None:
        if self.loss_buckets + self.reorder_buckets > BUCKETS - 1:
            raise ValueError("loss and reorder add up to more than 15/16")


NO_IMPAIRMENT = Impairment()


class NetnsError(RuntimeError):
    """An `ip` or `tc` command failed; the message holds the command and its stderr."""


def unavailable_reason() -> str | None:
    """Why namespaces cannot be used here (None if they can): the test's skip reason."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add), and this is not root"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"iproute2's `{tool}` is not installed"
    probe = f"scfprobe{secrets.token_hex(3)}"
    try:
        _run("ip", "netns", "add", probe)
    except NetnsError as error:
        return f"`ip netns add` is not permitted here: {error}"
    try:
        _run("ip", "-n", probe, "link", "add", "p0", "type", "veth", "peer", "name", "p1")
        _run("tc", "-n", probe, "qdisc", "add", "dev", "p0", "root", "handle", "1:", "htb")
    except NetnsError as error:
        return f"veth or tc htb is not available here: {error}"
    finally:
        with contextlib.suppress(NetnsError):
            _run("ip", "netns", "del", probe)
    return None


@dataclass(slots=True)
class Network:
    """The hosts, the bridge and the relays of one run, and the faults now applied."""

    prefix: str
    subnet: str                                  # "10.A.B"
    hosts: list[Host]
    relay: DelayRelay
    relay_ports: dict[tuple[int, int], int] = field(default_factory=dict)
    blocked: set[frozenset[int]] = field(default_factory=set)   # host pairs that drop
    down: set[int] = field(default_factory=set)
    impairment: Impairment = NO_IMPAIRMENT

    @property
    def bridge(self) -> str:
        return f"{self.prefix}br"

    @property
    def test_address(self) -> str:
        return f"{self.subnet}.{TEST_HOST_OCTET}"

    @property
    def relay_address(self) -> str:
        return f"{self.subnet}.{RELAY_OCTET}"

    def exec_argv(self, index: int, argv: Sequence[str]) -> list[str]:
        """The command line that runs `argv` inside host `index`."""
        return ["ip", "netns", "exec", self.hosts[index].namespace, *argv]

    def link_url(self, source: int, target: int, port: int, path: str) -> str:
        """The ws:// URL host `source` dials to reach `port` on host `target` (through a relay)."""
        key = (source, target)
        if key not in self.relay_ports:
            self.relay_ports[key] = self.relay.add(self.hosts[target].address, port)
        return f"ws://{self.relay_address}:{self.relay_ports[key]}{path}"

    # --- faults --------------------------------------------------------------------------

    def cut(self, index: int) -> None:
        """Takes host `index` off the network (its veth goes down)."""
        _run("ip", "link", "set", self.hosts[index].veth, "down")
        self.down.add(index)

    def partition(self, groups: Sequence[Sequence[int]]) -> None:
        """Hosts in different groups drop each other's packets (replacing any partition)."""
        group_of = {host: g for g, members in enumerate(groups) for host in members}
        if sorted(group_of) != [h.index for h in self.hosts]:
            raise ValueError(f"groups {groups} must hold every host exactly once")
        self.blocked = {frozenset((a, b)) for a in group_of for b in group_of
                        if a < b and group_of[a] != group_of[b]}
        self._apply()

    def impair(self, impairment: Impairment) -> None:
        self.impairment = impairment
        self.relay.set_delay(*impairment.delay_ms)
        self._apply()

    def heal(self) -> None:
        """Every link up, no partition, no impairment."""
        for index in sorted(self.down):
            _run("ip", "link", "set", self.hosts[index].veth, "up")
        self.down.clear()
        self.blocked.clear()
        self.impair(NO_IMPAIRMENT)

    def dropped_and_slowed(self) -> tuple[int, int]:
        """Packets dropped (black hole) and sent through the slow lane under the current
        qdiscs (a change of faults rebuilds them, and their counts start again)."""
        dropped = slowed = 0
        for namespace, device in self._devices():
            out = _run("tc", *_in(namespace), "-s", "qdisc", "show", "dev", device,
                       check=False)
            dropped += _leaf_count(out, "20:", "dropped")
            slowed += _leaf_count(out, "30:", "pkt")
        return dropped, slowed

    def _devices(self) -> list[tuple[str | None, str]]:
        inside: list[tuple[str | None, str]] = [(h.namespace, "eth0") for h in self.hosts]
        return inside + [(None, h.veth) for h in self.hosts]

    def _apply(self) -> None:
        for host in self.hosts:
            self._shape(host.namespace, "eth0", self._egress_filters(host))
            self._shape(None, host.veth, self._relay_leg_filters())

    def _egress_filters(self, host: Host) -> list[list[str]]:
        """u32 filters on host's eth0: what it sends to a peer, directly or via the relays."""
        filters = []
        for other in self.hosts:
            if frozenset((host.index, other.index)) in self.blocked:
                filters.append(["match", "ip", "dst", f"{other.address}/32", "flowid", "1:20"])
                port = self.relay_ports.get((host.index, other.index))
                if port is not None:
                    filters.append(["match", "ip", "dst", f"{self.relay_address}/32",
                                    "match", "ip", "dport", str(port), "0xffff",
                                    "flowid", "1:20"])
        peers = [o.address for o in self.hosts if o != host] + [self.relay_address]
        for address in peers:
            filters += _bucket_filters(["match", "ip", "dst", f"{address}/32"], self.impairment)
        return filters

    def _relay_leg_filters(self) -> list[list[str]]:
        """u32 filters on a veth's root end: what the relays send to the host."""
        return _bucket_filters(["match", "ip", "src", f"{self.relay_address}/32"],
                               self.impairment)

    def _shape(self, namespace: str | None, device: str, filters: list[list[str]]) -> None:
        """Replaces `device`'s root qdisc: none without filters, else the three classes."""
        tc = ["tc", *_in(namespace)]
        _run(*tc, "qdisc", "del", "dev", device, "root", check=False)
        if not filters:
            return
        lines = [f"qdisc add dev {device} root handle 1: htb default 10"]
        for minor, rate in (("10", "10gbit"), ("20", "10gbit"), ("30", "64kbit")):
            lines.append(f"class add dev {device} parent 1: classid 1:{minor} "
                         f"htb rate {rate} ceil {rate} quantum 1514")
        lines.append(f"qdisc add dev {device} parent 1:20 handle 20: pfifo limit 0")
        lines.append(f"qdisc add dev {device} parent 1:30 handle 30: pfifo limit 4")
        lines += [f"filter add dev {device} parent 1: protocol ip prio {number} u32 "
                  + " ".join(spec) for number, spec in enumerate(filters, start=1)]
        _run(*tc, "-batch", "-", stdin="\n".join(lines) + "\n")

    # --- life cycle ----------------------------------------------------------------------

    def build(self) -> None:
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        _run("ip", "addr", "add", f"{self.test_address}/24", "dev", self.bridge)
        _run("ip", "addr", "add", f"{self.relay_address}/24", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")
        for host in self.hosts:
            _run("ip", "netns", "add", host.namespace)
            _run("ip", "link", "add", host.veth, "type", "veth", "peer", "name", "eth0",
                 "netns", host.namespace)
            _run("ip", "link", "set", host.veth, "master", self.bridge, "up")
            _run("ip", "-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", "eth0")
            _run("ip", "-n", host.namespace, "link", "set", "eth0", "up")
            _run("ip", "-n", host.namespace, "link", "set", "lo", "up")

    def destroy(self) -> None:
        """Kills what runs in the namespaces, deletes namespaces, veths and bridge."""
        self.relay.close()
        for host in self.hosts:
            _remove_namespace(host.namespace)
            _run("ip", "link", "del", host.veth, check=False)
        _run("ip", "link", "del", self.bridge, check=False)
        (MARKERS / f"{self.prefix}.json").unlink(missing_ok=True)


@contextlib.contextmanager
def network(size: int, seed: int) -> Iterator[Network]:
    """`size` hosts on a fresh bridge; removed on exit, whatever happened."""
    sweep_stale()
    prefix, subnet = _fresh_names()
    hosts = [Host(i, f"{prefix}n{i}", f"{prefix}v{i}", f"{subnet}.{i + 1}")
             for i in range(size)]
    _write_marker(prefix, hosts)
    net = Network(prefix, subnet, hosts, DelayRelay(f"{subnet}.{RELAY_OCTET}", seed))
    try:
        net.build()
        yield net
    finally:
        net.destroy()


def sweep_stale() -> None:
    """Removes what runs killed before their cleanup left (their owner pid is gone)."""
    if not MARKERS.is_dir():
        return
    for marker in MARKERS.glob("*.json"):
        try:
            record = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if _alive(record.get("pid", 0)):
            continue
        for namespace in record.get("namespaces", []):
            _remove_namespace(namespace)
        for link in record.get("links", []):
            _run("ip", "link", "del", link, check=False)
        marker.unlink(missing_ok=True)


def _fresh_names() -> tuple[str, str]:
    """A name prefix and a 10.A.B subnet no namespace, link or address uses yet."""
    taken_names = _run("ip", "netns", "list") + _run("ip", "-o", "link")
    taken_nets = _run("ip", "-4", "-o", "addr") + _run("ip", "-4", "route")
    rng = random.SystemRandom()
    for _ in range(100):
        prefix = f"scf{secrets.token_hex(3)[:5]}"
        subnet = f"10.{rng.randrange(100, 255)}.{rng.randrange(256)}"
        if prefix not in taken_names and f"{subnet}." not in taken_nets:
            return prefix, subnet
    raise NetnsError("no free name prefix and subnet after 100 draws")


def _write_marker(prefix: str, hosts: list[Host]) -> None:
    MARKERS.mkdir(mode=0o700, exist_ok=True)
    record = {"pid": os.getpid(), "namespaces": [h.namespace for h in hosts],
              "links": [h.veth for h in hosts] + [f"{prefix}br"]}
    (MARKERS / f"{prefix}.json").write_text(json.dumps(record), encoding="utf-8")


def _remove_namespace(namespace: str) -> None:
    """SIGKILLs the processes left in `namespace` (ours: nodes this run started), deletes it."""
    for pid in _run("ip", "netns", "pids", namespace, check=False).split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    _run("ip", "netns", "del", namespace, check=False)


def _bucket_filters(match: list[str], impairment: Impairment) -> list[list[str]]:
    """Filters sending k of 16 IP-identification buckets of `match` to the black hole
    (loss), the next ones to the slow lane (reorder); bucket 0 (handshakes) is spared."""
    filters = []
    for bucket in range(1, 1 + impairment.loss_buckets + impairment.reorder_buckets):
        lane = "1:20" if bucket <= impairment.loss_buckets else "1:30"
        filters.append([*match, "match", "u16", str(bucket), hex(BUCKETS - 1), "at", "4",
                        "flowid", lane])
    return filters


def _leaf_count(tc_output: str, handle: str, unit: str) -> int:
    """From `tc -s qdisc show`: the number before `unit` ("pkt" sent, "dropped" is
    followed by its number) in the statistics line under the leaf qdisc `handle`."""
    lines = tc_output.splitlines()
    for number, line in enumerate(lines):
        if line.startswith(f"qdisc pfifo {handle} ") and number + 1 < len(lines):
            words = lines[number + 1].replace(",", " ").replace("(", " ").split()
            with contextlib.suppress(ValueError, IndexError):
                if unit == "dropped":
                    return int(words[words.index("dropped") + 1])
                return int(words[words.index(unit) - 1])
    return 0


def _in(namespace: str | None) -> list[str]:
    return ["-n", namespace] if namespace else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def _run(*argv: str, check: bool = True, stdin: str | None = None) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, input=stdin,
                              timeout=COMMAND_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise NetnsError(f"`{' '.join(argv)}` did not finish in {COMMAND_TIMEOUT_S} s") from None
    if check and done.returncode != 0:
        raise NetnsError(f"`{' '.join(argv)}` failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout
