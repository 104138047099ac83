"""Running contracts through real blocks: ChainStore + MemoryStore, build, re-validate, commit.

`ContractChain` drives the example consortium (SUPPLIER-01 supplier,
CORE-01 core enterprise, BANK-A / BANK-B financiers, WAREHOUSE-01,
AUDITOR-01; plus SUPPLIER-02 and CORE-02 here, to test "only the buyer" and
"by anyone") exactly as tests/support/chain.py does, with a registry of real
contracts: the proposer builds the block, a validator re-executes it from
scratch with `apply_block`, then it is committed with a certificate.

`testfin` is a stand-in financing product for tests only: it calls the
functions real products call (invoice status changes, liens) from inside a
signed transaction, so they are exercised through the real transition.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from dataclasses import dataclass
from typing import Any

from contracts import invoices, liens
from contracts.engine import Contract, ContractRegistry, MethodSpec
from contracts.fingerprint import compute_fingerprint
from genesis.demo_keys import demo_key
from ledger.accounts import Role, next_nonce
from ledger.block_builder import build_block
from ledger.certificates import make_commit
from ledger.contract_api import CallContext
from ledger.state import StateReader
from ledger.store import MemoryStore
from ledger.store.chain import ChainStore
from ledger.structure import Bytes, Optional, Str
from ledger.transition import apply_block
from ledger.types import Receipt, SignedTransaction, Transaction
from genesis.document import Genesis, parse_genesis
from genesis.examples.make_consortium import document
from tests.support.chain import VALIDATOR_KEYS

EXTRA_MEMBERS = [("SUPPLIER-02", "Second Supplier Ltd.", ["supplier"]),
                 ("CORE-02", "Second Core Enterprise", ["core_enterprise"])]


def contracts_genesis() -> Genesis:
    """The example consortium plus a second supplier and a second core enterprise."""
    doc = document()
    doc["members"] += [{"id": member_id, "name": name, "roles": roles,
                        "keys": [demo_key(member_id).public_key.hex()]}
                       for member_id, name, roles in EXTRA_MEMBERS]
    return parse_genesis(json.dumps(doc))


GENESIS = contracts_genesis()
DAY_MS = 86_400_000
_FP = ("fingerprint", Bytes(size=32))
_DEAL = ("deal_id", liens.DEAL_ID)
_FINANCIER = frozenset({Role.FINANCIER})


def _assign(ctx: CallContext, args: dict[str, Any]) -> None:
    invoices.mark_assigned(ctx, args["fingerprint"], ctx.sender.member_id, args["deal_id"])


def _settle(ctx: CallContext, args: dict[str, Any]) -> None:
    invoices.mark_settled(ctx, args["fingerprint"], args.get("deal_id"))


def _overdue(ctx: CallContext, args: dict[str, Any]) -> None:
    invoices.mark_overdue(ctx, args["fingerprint"])


def _default(ctx: CallContext, args: dict[str, Any]) -> None:
    invoices.mark_defaulted(ctx, args["fingerprint"])


def _place(ctx: CallContext, args: dict[str, Any]) -> None:
    liens.place_lien(ctx, args["asset"], ctx.sender.member_id, args["deal_id"])


def _release(ctx: CallContext, args: dict[str, Any]) -> None:
    liens.release_lien(ctx, args["asset"], args["deal_id"])


_ASSET = ("asset", Str(max_bytes=200))
TESTFIN = Contract("testfin", 1, (
    MethodSpec("assign", _assign, args=(_FP, _DEAL), roles=_FINANCIER),
    MethodSpec("settle", _settle, args=(_FP, ("deal_id", Optional(Str(max_bytes=200)))),
               optional=frozenset({"deal_id"})),
    MethodSpec("overdue", _overdue, args=(_FP,), roles=_FINANCIER),
    MethodSpec("default", _default, args=(_FP,), roles=_FINANCIER),
    MethodSpec("place_lien", _place, args=(_ASSET, ("deal_id", Str(max_bytes=200))),
               roles=_FINANCIER),
    MethodSpec("release_lien", _release, args=(_ASSET, ("deal_id", Str(max_bytes=200))),
               roles=_FINANCIER),
))
REGISTRY = ContractRegistry([invoices.CONTRACT, TESTFIN])


@dataclass(frozen=True)
class Call:
    """One transaction to sign: who, which contract method, which args."""

    member: str
    method: str
    args: dict[str, Any]
    contract: str = "invoices"


class ContractChain:
    """A fresh in-memory chain of the example consortium running `registry`
    (REGISTRY here; subclasses set their own)."""

    registry: ContractRegistry = REGISTRY

    def __init__(self) -> None:
        self.store = ChainStore(MemoryStore(), GENESIS)
        self.last_changes: dict[bytes, bytes | None] = {}

    @property
    def state(self) -> StateReader:
        return self.store.state()

    @property
    def root(self) -> bytes:
        return self.store.state_at(self.store.height).root

    def run(self, calls: list[Call], *, step_ms: int = 1000) -> list[Receipt]:
        """Signs the calls (nonces in order), commits them as one block, returns receipts."""
        nonces: dict[str, int] = {}
        txs: list[SignedTransaction] = []
        for call in calls:
            key = demo_key(call.member)
            nonce = nonces.get(call.member, next_nonce(self.state, key.public_key))
            nonces[call.member] = nonce + 1
            txs.append(Transaction(GENESIS.chain_id, key.public_key, nonce, call.contract,
                                   call.method, call.args).sign(key))
        tip = self.store.tip()
        built, left_out = build_block(
            self.store, tip, txs, time_ms=tip.time_ms + step_ms,
            proposer=VALIDATOR_KEYS[tip.height % 4].public_key,
            last_commit=None if tip.height == 0 else self.store.commit(tip.height),
            registry=self.registry, max_txs=1000)
        if left_out:
            raise AssertionError(f"transactions left out of the block: {left_out}")
        validated = apply_block(self.store, tip, built.block, self.registry)
        commit = make_commit(chain_id=GENESIS.chain_id, height=built.block.header.height,
                             round=0, block_hash=built.block.hash, signers=VALIDATOR_KEYS[:3])
        self.store.append(validated, commit)
        self.last_changes = dict(validated.changes)
        return list(validated.receipts)

    def call(self, member: str, method: str, contract: str = "invoices", *,
             step_ms: int = 1000, **args: Any) -> Receipt:
        return self.run([Call(member, method, args, contract)], step_ms=step_ms)[0]


def invoice_args(number: str = "INV-2026-001", *, amount: int = 100_000_000,
                 issue_date: str = "2026-11-20", due_date: str = "2027-02-18",
                 buyer: str = "CORE-01", currency: str = "CNY",
                 seller_tax_id: str = "91440300SUP0001", buyer_tax_id: str = "91110000CORE001",
                 document: bytes | None = None) -> dict[str, Any]:
    """Arguments of invoices.register; the document hash defaults to one per number."""
    return {
        "invoice_number": number, "seller_tax_id": seller_tax_id, "buyer_tax_id": buyer_tax_id,
        "buyer": buyer, "issue_date": issue_date, "due_date": due_date, "currency": currency,
        "face_amount": amount,
        "document_sha256": document or hashlib.sha256(b"document " + number.encode()).digest(),
    }


def fingerprint_of(args: dict[str, Any]) -> bytes:
    return compute_fingerprint(args["seller_tax_id"], args["buyer_tax_id"], args["invoice_number"],
                               args["issue_date"], args["currency"], args["face_amount"])


def contract_changes(changes: dict[bytes, bytes | None]) -> list[bytes]:
    """The changed keys other than nonces (a failed transaction must leave none)."""
    return sorted(key for key in changes if not key.startswith(b"sys/nonce/"))


def scenario_digest() -> str:
    """Runs a fixed mixed scenario and returns the final state root and block hashes (hex).

    Used by the determinism test, under several PYTHONHASHSEED values: the
    same blocks must give the same state root in every process.
    """
    chain = ContractChain()
    first, near, same_doc = (invoice_args("D-1"), invoice_args("D-2", issue_date="2026-11-22"),
                             invoice_args("D-3", buyer="CORE-02",
                                          document=invoice_args("D-1")["document_sha256"]))
    fp1, fp2, fp3 = (fingerprint_of(args) for args in (first, near, same_doc))
    chain.run([Call("SUPPLIER-01", "register", first), Call("SUPPLIER-01", "register", near),
               Call("SUPPLIER-02", "register", same_doc), Call("SUPPLIER-02", "register", first)])
    chain.run([Call("CORE-01", "confirm", {"fingerprint": fp1}),
               Call("CORE-01", "dispute", {"fingerprint": fp2, "reason": "quality"}),
               Call("CORE-02", "confirm", {"fingerprint": fp3, "amount": 5})])
    chain.run([Call("BANK-A", "assign", {"fingerprint": fp1, "deal_id": "F-1"}, "testfin"),
               Call("BANK-B", "assign", {"fingerprint": fp1, "deal_id": "F-2"}, "testfin"),
               Call("BANK-B", "place_lien", {"asset": "receipt:R-1", "deal_id": "P-1"}, "testfin"),
               Call("SUPPLIER-01", "cancel", {"fingerprint": fp2})], step_ms=DAY_MS)
    chain.run([Call("BANK-A", "overdue", {"fingerprint": fp1}, "testfin"),
               Call("CORE-02", "consent_cancel", {"fingerprint": fp3}),
               Call("SUPPLIER-02", "cancel", {"fingerprint": fp3})], step_ms=90 * DAY_MS)
    hashes = [chain.store.block_hash(h).hex() for h in range(1, chain.store.height + 1)]
    return " ".join([chain.root.hex(), *hashes])


def digest_under_hash_seed(module: str, seed: str) -> str:
    """`module.scenario_digest()` computed in a fresh interpreter with PYTHONHASHSEED=seed
    (the determinism tests compare it with the digest of this process)."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(root)}
    result = subprocess.run(
        [sys.executable, "-c", f"from {module} import scenario_digest; print(scenario_digest())"],
        cwd=root, env=env, capture_output=True, text=True, timeout=120, check=True)
    return result.stdout.strip()
