"""The history checker: what must hold on every node once the faults have stopped.

Given the localnet (every node restarted) and the load's history:

1. drain: the load keeps re-posting until every acknowledged transaction is
   committed, or the drain timeout passes (what is left is *lost*);
2. every node reaches the same height H (the highest any node has then);
3. for every node and every height 1..H: the header hash and state root
   (a *fork* is a height where two nodes differ), and the committed tx ids;
   an id twice in one node's chain is a *duplicate*; an acknowledged id
   absent from a node's chain is *lost*;
4. an auditor replay (ledger/replay.py) of each node's raw entries over
   HTTP: every node's stored blocks, certificates and receipts, not one
   node's compared by root only, since certificates and receipts are stored
   per node;
5. no "Traceback" in any node's log.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from contracts.registry import default_registry
from genesis.document import load_genesis
from ledger.replay import replay
from node import localnet
from node.client import ApiError, NodeClient
from node.localnet import LocalNode
from tests.faults.load import ChainFollower, History

TRACEBACK = re.compile(r"^Traceback \(most recent call last\):", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class NodeChain:
    member_id: str
    headers: tuple[tuple[str, str], ...]     # (block hash, state root) of heights 1..H
    tx_ids: tuple[str, ...]                  # every committed tx id, in chain order


@dataclass(slots=True)
class Report:
    seed: int
    kills: int = 0
    restarts: int = 0
    sent: int = 0
    acknowledged: int = 0
    unreachable: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    reposted: int = 0
    committed: int = 0
    height: int = 0
    lost: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    forks: list[str] = field(default_factory=list)
    replays: list[str] = field(default_factory=list)
    tracebacks: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"seed={self.seed} kills={self.kills} restarts={self.restarts} "
                f"height={self.height} sent={self.sent} acknowledged={self.acknowledged} "
                f"unreachable={self.unreachable} refused={self.refused} "
                f"reposted={self.reposted} committed={self.committed} lost={len(self.lost)} "
                f"duplicates={len(self.duplicates)} forks={len(self.forks)} "
                f"tracebacks={len(self.tracebacks)} seconds={self.seconds:.0f}")


def drain(follower: ChainFollower, history: History, timeout_s: float) -> set[str]:
    """Waits (the load re-posts meanwhile) until every acknowledged id is committed;
    returns those that are not."""
    deadline = time.monotonic() + timeout_s
    while True:
        missing = history.acknowledged_ids() - follower.committed_ids()
        if not missing or time.monotonic() > deadline:
            return missing
        time.sleep(0.5)


def common_height(nodes: list[LocalNode], timeout_s: float) -> tuple[int, list[str]]:
    """The highest height any node has, once all have it; else (lowest, the laggards)."""
    target = max((localnet.status(n) or {}).get("height", 0) for n in nodes)
    if localnet.wait_until(nodes, target, timeout_s):
        return target, []
    heights = {n.member_id: (localnet.status(n) or {}).get("height", -1) for n in nodes}
    return min(heights.values()), [f"{m} at {h} < {target}" for m, h in heights.items()
                                   if h < target]


def read_chain(node: LocalNode, height: int) -> NodeChain:
    client = NodeClient(node.url, timeout_s=30)
    headers, tx_ids = [], []
    for h in range(1, height + 1):
        block = client.block(h)
        headers.append((block["header"]["hash"], block["header"]["state_root"]))
        tx_ids.extend(tx["id"] for tx in block["txs"])
    return NodeChain(node.member_id, tuple(headers), tuple(tx_ids))


def compare(chains: list[NodeChain], acknowledged: set[str], report: Report) -> None:
    reference = chains[0]
    for h in range(1, len(reference.headers) + 1):
        seen = {c.member_id: c.headers[h - 1] for c in chains}
        if len(set(seen.values())) != 1:
            report.forks.append(f"height {h}: {seen}")
    for chain in chains:
        ids = set(chain.tx_ids)
        if len(ids) != len(chain.tx_ids):
            counted: dict[str, int] = {}
            for tx_id in chain.tx_ids:
                counted[tx_id] = counted.get(tx_id, 0) + 1
            report.duplicates += [f"{chain.member_id}: {t} x{n}" for t, n in counted.items()
                                  if n > 1]
        report.lost += [f"{chain.member_id}: {t}" for t in sorted(acknowledged - ids)]
    report.committed = len(set(reference.tx_ids))


def replay_node(genesis_file: Path, node: LocalNode, height: int) -> str | None:
    """None if the auditor replay of the node's chain up to `height` passes, else why not."""
    client = NodeClient(node.url, timeout_s=30)
    try:
        entries = [client.raw_entry(h) for h in range(1, height + 1)]
    except ApiError as error:
        return f"{node.member_id}: raw entries: {error}"
    result = replay(load_genesis(genesis_file), entries, default_registry())
    if not result.ok:
        return f"{node.member_id}: {result.mismatch}"
    if result.final_height != height:
        return f"{node.member_id}: replayed to {result.final_height}, not {height}"
    return None


def tracebacks(nodes: list[LocalNode]) -> list[str]:
    """The last line of every traceback in the nodes' logs (the exception itself)."""
    found = []
    for node in nodes:
        text = node.log_file.read_text(errors="replace") if node.log_file.exists() else ""
        for match in TRACEBACK.finditer(text):
            rest = text[match.end():].splitlines()
            last = next((line for line in rest if line and not line.startswith(" ")), "?")
            found.append(f"{node.member_id}: {last}")
    return found


def check(directory: Path, nodes: list[LocalNode], history: History, report: Report,
          *, settle_timeout_s: float) -> Report:
    """Steps 2 to 5 (the caller drained first); fills `report`, its `failures` say what broke."""
    acknowledged = history.acknowledged_ids()
    report.sent = len({a.tx_id for a in history.attempts if not a.repost})
    report.acknowledged = len(acknowledged)
    report.unreachable = history.count("unreachable")
    report.refused = history.refusals()
    report.reposted = len(history.reposted_ids())
    height, laggards = common_height(nodes, settle_timeout_s)
    report.height = height
    if laggards:
        report.failures.append(f"nodes did not catch up: {laggards}")
    chains = [read_chain(node, height) for node in nodes]
    compare(chains, acknowledged, report)
    for node in nodes:
        problem = replay_node(directory / "genesis.json", node, height)
        if problem:
            report.replays.append(problem)
    report.tracebacks = tracebacks(nodes)
    for name, items in (("lost acknowledged transactions", report.lost),
                        ("duplicate transactions", report.duplicates),
                        ("forks", report.forks), ("failed replays", report.replays),
                        ("tracebacks in node logs", report.tracebacks)):
        if items:
            shown = "\n  ".join(items[:10]) + ("\n  ..." if len(items) > 10 else "")
            report.failures.append(f"{len(items)} {name}:\n  {shown}")
    return report
