"""The factoring mix of bench/cluster.py: whole financing workflows, closed loop.

Each workflow is one invoice going through the six steps of factoring, each
a transaction that waits for the previous one's block (the next step needs
its id or its state): the supplier registers, the buyer confirms, the bank
offers, the supplier accepts, the bank funds, the supplier acknowledges the
funds. `concurrency` workflows run at once, in threads of this process
posting with `?wait=commit` to the nodes in turn. Reported: workflows and
operations committed per second, latency per operation kind (POST to commit),
and any refusal by code.
"""

from __future__ import annotations

import datetime
import hashlib
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts.fingerprint import compute_fingerprint
from ledger.crypto import SigningKey
from ledger.typed_json import from_json
from ledger.types import SignedTransaction, Transaction
from node import localnet
from node.client import ApiError, NodeClient

STEPS = ("register", "confirm", "offer", "accept", "fund", "acknowledge")
TERMS: dict[str, Any] = {"currency": "CNY", "advance_bps": 8000, "rate_bps": 600, "basis": 365,
                         "fee": 0, "recourse": True, "grace_days": 5, "penalty_rate_bps": 1800}


class Sender:
    """A member signing from several threads: nonces handed out in order."""

    def __init__(self, key: SigningKey, chain_id: str, first_nonce: int) -> None:
        self.key = key
        self.chain_id = chain_id
        self._nonce = first_nonce
        self._lock = threading.Lock()

    def sign(self, contract: str, method: str, args: dict[str, Any]) -> SignedTransaction:
        with self._lock:
            nonce, self._nonce = self._nonce, self._nonce + 1
        return Transaction(self.chain_id, self.key.public_key, nonce, contract, method,
                           args).sign(self.key)


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    refused: Counter[str] = field(default_factory=Counter)
    workflows: int = 0
    #: a transaction the node refused never took its nonce, so every later one
    #: of that sender would wait behind the gap: the run stops
    aborted: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def run(directory: Path, nodes: list[localnet.LocalNode], workflows: int,
        concurrency: int) -> dict[str, Any]:
    clients = [NodeClient(node.url, timeout_s=60) for node in nodes]
    chain_id = clients[0].chain_id()
    senders = {}
    for member in ("SUPPLIER-01", "CORE-01", "BANK-A"):
        key = localnet.member_key(directory, member)
        senders[member] = Sender(key, chain_id, clients[0].nonce(key.public_key))
    today = datetime.date.today()
    tally = Tally()
    tag = f"MIX{int(time.time())}"

    def one(index: int) -> None:
        client = clients[index % len(clients)]
        _workflow(index, tag, today, senders, client.submit, tally)

    start = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(workflows)))
    seconds = time.monotonic() - start
    operations = sum(len(v) for v in tally.latencies.values())
    return {"workflows": tally.workflows, "operations": operations, "seconds": seconds,
            "workflows_s": tally.workflows / seconds, "ops_s": operations / seconds,
            "latencies": {step: sorted(values) for step, values in tally.latencies.items()},
            "refused": dict(tally.refused), "aborted": tally.aborted}


def _workflow(index: int, tag: str, today: datetime.date, senders: dict[str, Sender],
              submit: Callable[..., dict[str, Any]], tally: Tally) -> None:
    number = f"{tag}-{index:06d}"
    invoice = {"invoice_number": number, "buyer": "CORE-01", "seller_tax_id": "TAX-SUPPLIER-01",
               "buyer_tax_id": "91110000CORE001",
               "issue_date": (today - datetime.timedelta(days=3)).isoformat(),
               "due_date": (today + datetime.timedelta(days=87)).isoformat(), "currency": "CNY",
               "face_amount": 5_000_000 + index,
               "document_sha256": hashlib.sha256(number.encode()).digest()}
    fingerprint = compute_fingerprint(invoice["seller_tax_id"], invoice["buyer_tax_id"], number,
                                      invoice["issue_date"], invoice["currency"],
                                      invoice["face_amount"])
    expiry = (today + datetime.timedelta(days=30)).isoformat()
    plan: list[tuple[str, str, str, str, Callable[[dict[str, Any]], dict[str, Any]]]] = [
        ("register", "SUPPLIER-01", "invoices", "register", lambda e: invoice),
        ("confirm", "CORE-01", "invoices", "confirm", lambda e: {"fingerprint": fingerprint}),
        ("offer", "BANK-A", "factoring", "offer",
         lambda e: {**TERMS, "expiry_date": expiry, "fingerprint": fingerprint}),
        ("accept", "SUPPLIER-01", "factoring", "accept",
         lambda e: {"offer_id": e["factoring.offered"]["offer_id"], "fingerprint": fingerprint}),
        ("fund", "BANK-A", "factoring", "fund",
         lambda e: {"deal_id": e["factoring.accepted"]["deal_id"],
                    "payment_ref": f"{number}-TT"}),
        ("acknowledge", "SUPPLIER-01", "factoring", "acknowledge_payment",
         lambda e: {"deal_id": e["factoring.funded"]["deal_id"], "payment_ref": f"{number}-TT"}),
    ]
    events: dict[str, dict[str, Any]] = {}
    for step, member, contract, method, make_args in plan:
        if tally.aborted is not None:
            return
        signed = senders[member].sign(contract, method, make_args(events))
        sent = time.monotonic()
        try:
            status = submit(signed, wait=True, timeout_s=60)
        except ApiError as error:
            with tally.lock:
                tally.refused[f"{step}: {error.code}"] += 1
                tally.aborted = tally.aborted or f"{step} of {number}: {error}"
            return
        receipt = status.get("receipt") or {}
        if status.get("status") != "committed" or receipt.get("code") != "OK":
            with tally.lock:
                tally.refused[f"{step}: {receipt.get('code', status.get('status'))}"] += 1
            return
        with tally.lock:
            tally.latencies[step].append(time.monotonic() - sent)
        events = {event["kind"]: from_json(event["attributes"]) for event in receipt["events"]}
    with tally.lock:
        tally.workflows += 1
