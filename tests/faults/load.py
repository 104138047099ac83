"""Load clients for fault tests: pre-signed transactions posted at a fixed rate, with a history.

One sender (SUPPLIER-01, the only member allowed `invoices.register`) signs
every transaction in advance with consecutive nonces; `LoadClient` posts
them open-loop (a slow or dead node does not slow the schedule) to a random
node each, and `History` records every attempt: acknowledged (202 with the
id), refused (the node's error code) or unreachable (refused connection,
reset or timeout, as when the node was just SIGKILLed). Only an
acknowledged transaction counts; it must end up committed exactly once.

A 202 means "in this node's mempool", and mempools are not durable: a node
SIGKILLed before it gossiped a transaction forgets it, and every later nonce
of the sender then waits for the gap. The client does what
docs/integrators.md tells integrators to do: it re-posts the same signed
bytes of an acknowledged transaction that is not committed after a while
(never re-signs). `ChainFollower` reads the committed blocks to know which.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ledger.types import SignedTransaction, Transaction
from node import localnet
from node.client import ApiError, NodeClient
from node.localnet import LocalNode

SENDER = "SUPPLIER-01"
REQUEST_TIMEOUT_S = 5.0
#: node settings for load: no per-client rate limit, the sender may run far ahead
LOAD_CONFIG = {"api": {"rate_per_s": 1_000_000, "burst": 1_000_000, "max_batch": 1_000},
               "mempool": {"nonce_window": 1_000_000, "max_count": 200_000}}
REPOST_AFTER_S = 4.0
REPOST_EVERY_S = 2.0
REPOST_MAX = 200


def configure_for_load(nodes: list[LocalNode]) -> None:
    """Raises the API rate limit and the nonce window in each (stopped) node's config.json."""
    for node in nodes:
        path = node.home / "config.json"
        config = json.loads(path.read_text(encoding="utf-8"))
        for section, values in LOAD_CONFIG.items():
            config[section] = {**config.get(section, {}), **values}
        path.write_text(json.dumps(config, indent=2), encoding="utf-8")


def registration_args(number: str, amount: int) -> dict[str, object]:
    return {"invoice_number": number, "buyer": "CORE-01", "seller_tax_id": "91440300TAX0001",
            "buyer_tax_id": "91310000TAX0002", "issue_date": "2026-11-20",
            "due_date": "2027-02-18", "currency": "CNY", "face_amount": amount,
            "document_sha256": hashlib.sha256(number.encode()).digest()}


def presign(directory: Path, chain_id: str, count: int, tag: str, first_nonce: int
            ) -> list[SignedTransaction]:
    """`count` invoice registrations by SENDER with nonces first_nonce, first_nonce + 1, ..."""
    key = localnet.member_key(directory, SENDER)
    return [Transaction(chain_id, key.public_key, first_nonce + i, "invoices", "register",
                        registration_args(f"{tag}-{i:06d}", 1_000_000 + i)).sign(key)
            for i in range(count)]


@dataclass(frozen=True, slots=True)
class Attempt:
    tx_id: str
    node: str
    at: float          # time.monotonic()
    outcome: str       # "acknowledged", "unreachable" or the node's error code
    repost: bool


@dataclass(slots=True)
class History:
    """Every POST of the load, thread-safe; the checker reads it at the end."""

    attempts: list[Attempt] = field(default_factory=list)
    acknowledged: dict[str, float] = field(default_factory=dict)   # tx id -> first 202
    posted: dict[str, float] = field(default_factory=dict)         # tx id -> first attempt
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, attempt: Attempt) -> None:
        with self._lock:
            self.attempts.append(attempt)
            self.posted.setdefault(attempt.tx_id, attempt.at)
            if attempt.outcome == "acknowledged":
                self.acknowledged.setdefault(attempt.tx_id, attempt.at)

    def acknowledged_ids(self) -> set[str]:
        with self._lock:
            return set(self.acknowledged)

    def count(self, outcome: str, *, repost: bool = False) -> int:
        with self._lock:
            return sum(1 for a in self.attempts if a.outcome == outcome and a.repost == repost)

    def refusals(self) -> dict[str, int]:
        with self._lock:
            codes: dict[str, int] = {}
            for a in self.attempts:
                if a.outcome not in ("acknowledged", "unreachable"):
                    codes[a.outcome] = codes.get(a.outcome, 0) + 1
            return codes

    def unconfirmed(self, committed: set[str], older_than_s: float) -> list[str]:
        """Ids not in `committed` first posted more than `older_than_s` ago,
        acknowledged or not: one that no node acknowledged (each node tried
        was down) leaves a nonce gap that holds back every later one."""
        now = time.monotonic()
        with self._lock:
            return [tx_id for tx_id, at in self.posted.items()
                    if tx_id not in committed and now - at > older_than_s]

    def reposted_ids(self) -> set[str]:
        with self._lock:
            return {a.tx_id for a in self.attempts if a.repost}


class ChainFollower(threading.Thread):
    """Reads each new committed block from any reachable node: the set of committed tx ids."""

    def __init__(self, nodes: list[LocalNode], stop: threading.Event) -> None:
        super().__init__(name="chain-follower", daemon=True)
        self.nodes = nodes
        self.stop_event = stop
        self.committed: set[str] = set()
        self.height = 0
        self._lock = threading.Lock()

    def committed_ids(self) -> set[str]:
        with self._lock:
            return set(self.committed)

    def run(self) -> None:
        while not self.stop_event.is_set():
            if not self.poll_once():
                self.stop_event.wait(0.3)

    def poll_once(self) -> bool:
        """Reads the next block if some node has it; True if it did."""
        for node in random.sample(self.nodes, len(self.nodes)):
            client = NodeClient(node.url, timeout_s=REQUEST_TIMEOUT_S)
            try:
                block = client.block(self.height + 1)
            except ApiError:
                continue
            with self._lock:
                self.committed.update(tx["id"] for tx in block["txs"])
                self.height += 1
            return True
        return False


class LoadClient(threading.Thread):
    """Posts `txs` at `rate_per_s` to random nodes, then keeps re-posting until stopped.

    Each transaction goes to a random node; if that node is unreachable, to
    one other random node (both attempts recorded). Every REPOST_EVERY_S the
    transactions not committed REPOST_AFTER_S after they were first posted
    (acknowledged or not) are re-posted (lowest nonces first, same bytes) as
    one batch, as docs/integrators.md tells a client to."""

    def __init__(self, nodes: list[LocalNode], txs: list[SignedTransaction], rate_per_s: float,
                 history: History, follower: ChainFollower, stop: threading.Event,
                 rng: random.Random) -> None:
        super().__init__(name="load-client", daemon=True)
        self.nodes = nodes
        self.txs = txs
        self.rate_per_s = rate_per_s
        self.history = history
        self.follower = follower
        self.stop_event = stop
        self.rng = rng
        self.posted = 0
        self.posting_done = threading.Event()
        self._by_id = {tx.tx_id.hex(): tx for tx in txs}

    def run(self) -> None:
        start = time.monotonic()
        next_repost = start + REPOST_EVERY_S
        for index, tx in enumerate(self.txs):
            if self.stop_event.is_set():
                break
            due = start + index / self.rate_per_s
            delay = due - time.monotonic()
            if delay > 0:
                self.stop_event.wait(delay)
            self._post(tx)
            self.posted += 1
            if time.monotonic() >= next_repost:
                self.repost_pending()
                next_repost = time.monotonic() + REPOST_EVERY_S
        self.posting_done.set()
        while not self.stop_event.wait(REPOST_EVERY_S):
            self.repost_pending()

    def _post(self, tx: SignedTransaction) -> None:
        first = self.rng.choice(self.nodes)
        others = [n for n in self.nodes if n != first]
        for node in (first, self.rng.choice(others)):
            outcome = self._submit(node, tx)
            self.history.record(Attempt(tx.tx_id.hex(), node.member_id, time.monotonic(),
                                        outcome, repost=False))
            if outcome != "unreachable":
                return

    @staticmethod
    def _submit(node: LocalNode, tx: SignedTransaction) -> str:
        try:
            answer = NodeClient(node.url, timeout_s=REQUEST_TIMEOUT_S).submit(tx)
        except ApiError as error:
            return "unreachable" if error.status == 0 else error.code
        return "acknowledged" if answer.get("id") == tx.tx_id.hex() else "BAD_ANSWER"

    def repost_pending(self) -> int:
        """Re-posts acknowledged, not yet committed, old enough transactions; returns how many."""
        stale = self.history.unconfirmed(self.follower.committed_ids(), REPOST_AFTER_S)
        now = time.monotonic()
        if not stale:
            return 0
        batch = sorted((self._by_id[i] for i in stale), key=lambda tx: tx.tx.nonce)[:REPOST_MAX]
        node = self.rng.choice(self.nodes)
        try:
            answer = NodeClient(node.url, timeout_s=REQUEST_TIMEOUT_S).submit_batch(batch)
        except ApiError as error:
            outcome = "unreachable" if error.status == 0 else error.code
            for tx in batch:
                self.history.record(Attempt(tx.tx_id.hex(), node.member_id, now, outcome, True))
            return 0
        for tx, result in zip(batch, answer.get("results", [])):
            outcome = "acknowledged" if result.get("status") == 202 else str(result.get("code"))
            self.history.record(Attempt(tx.tx_id.hex(), node.member_id, now, outcome, True))
        return len(batch)
