"""The event index of the chain store: events by subject, in chain order, paginated."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.accounts import next_nonce
from ledger.block_builder import build_block
from ledger.contract_api import CallContext, Method
from ledger.errors import Code, LedgerError
from ledger.store import LevelDBStore, MemoryStore, schema
from ledger.store.chain import ChainStore, IndexedEvent
from ledger.store.kv import WriteBatch
from ledger.transition import BlockExecution, apply_block
from ledger.types import SignedTransaction, Transaction
from tests.support.chain import (VALIDATOR_KEYS, certify, example_genesis, last_commit_for,
                                 member_key)

GENESIS = example_genesis()


def _tag(ctx: CallContext, args: dict[str, Any]) -> None:
    """Emits one event per entry of `events` (a list of subject lists)."""
    for number, subjects in enumerate(args["events"]):
        ctx.emit("tags.tagged", {"n": number, "subjects": subjects})


def _tag_then_fail(ctx: CallContext, args: dict[str, Any]) -> None:
    _tag(ctx, args)
    raise LedgerError(Code.INVALID_ARGUMENT, "refused after emitting")


class TagsRegistry:
    METHODS: dict[str, Method] = {"tag": _tag, "tag_then_fail": _tag_then_fail}

    def has_contract(self, contract: str) -> bool:
        return contract == "tags"

    def method(self, contract: str, name: str) -> Method | None:
        return self.METHODS.get(name) if contract == "tags" else None

    def is_privileged(self, contract: str) -> bool:
        return False


REGISTRY = TagsRegistry()


@pytest.fixture(params=["memory", "leveldb"])
def chain(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ChainStore]:
    kv = MemoryStore() if request.param == "memory" else LevelDBStore(tmp_path / "db")
    yield ChainStore(kv, GENESIS)
    kv.close()


def tag(chain: ChainStore, *events: list[Any], method: str = "tag",
        nonce: int = 0) -> SignedTransaction:
    key = member_key("SUPPLIER-01")
    return Transaction(GENESIS.chain_id, key.public_key, chain_nonce(chain) + nonce, "tags",
                       method, {"events": list(events)}).sign(key)


def chain_nonce(chain: ChainStore) -> int:
    return next_nonce(chain.state(), member_key("SUPPLIER-01").public_key)


def commit(chain: ChainStore, txs: list[SignedTransaction]) -> BlockExecution:
    tip = chain.tip()
    built, left_out = build_block(chain, tip, txs, time_ms=tip.time_ms + 1000,
                                  proposer=VALIDATOR_KEYS[tip.height % 4].public_key,
                                  last_commit=last_commit_for(chain), registry=REGISTRY,
                                  max_txs=100)
    assert not left_out
    validated = apply_block(chain, tip, built.block, REGISTRY)
    chain.append(validated, certify(chain, built.block))
    return validated


def positions(events: list[IndexedEvent]) -> list[tuple[int, int, int]]:
    return [e.position for e in events]


def test_events_are_listed_by_subject_in_chain_order(chain: ChainStore) -> None:
    first = commit(chain, [
        tag(chain, ["member:A", "invoice:ff"], ["member:AB"], []),
        tag(chain, ["member:A"], nonce=1),
    ])
    second = commit(chain, [tag(chain, ["invoice:ff", "member:A"])])
    found = chain.events_for("member:A")
    assert positions(found) == [(1, 0, 0), (1, 1, 0), (2, 0, 0)]
    assert [e.tx_id for e in found] == [first.block.txs[0].tx_id, first.block.txs[1].tx_id,
                                        second.block.txs[0].tx_id]
    assert found[0].event == first.receipts[0].events[0]
    assert found[0].event.attributes == {"n": 0, "subjects": ["member:A", "invoice:ff"]}
    # the length prefix keeps "member:A" and "member:AB" apart
    assert positions(chain.events_for("member:AB")) == [(1, 0, 1)]
    assert positions(chain.events_for("invoice:ff")) == [(1, 0, 0), (2, 0, 0)]
    assert chain.events_for("member:nobody") == []


def test_pagination_walks_every_event_once(chain: ChainStore) -> None:
    for _ in range(3):
        commit(chain, [tag(chain, ["member:P"], ["member:P"], ["member:Q"]),
                       tag(chain, ["member:P"], nonce=1)])
    everything = positions(chain.events_for("member:P", limit=1000))
    assert len(everything) == 9
    pages, after = [], None
    while True:
        page = chain.events_for("member:P", after=after, limit=4)
        if not page:
            break
        pages.append(positions(page))
        after = page[-1].position
    assert [len(p) for p in pages] == [4, 4, 1]
    assert [p for page in pages for p in page] == everything
    assert positions(chain.events_for("member:P", after=(2, 0, 0), limit=2)) == [(2, 0, 1),
                                                                                  (2, 1, 0)]
    assert chain.events_for("member:P", after=(99, 0, 0)) == []


def test_failed_receipts_are_not_indexed(chain: ChainStore) -> None:
    execution = commit(chain, [tag(chain, ["member:F"], method="tag_then_fail"),
                               tag(chain, ["member:F"], nonce=1)])
    assert [r.code for r in execution.receipts] == ["INVALID_ARGUMENT", "OK"]
    assert positions(chain.events_for("member:F")) == [(1, 1, 0)]


def test_malformed_subjects_are_not_indexed(chain: ChainStore) -> None:
    long = "x" * (schema.MAX_SUBJECT_BYTES + 1)
    commit(chain, [tag(chain, ["", long, "ok:1"], "not-a-list")])
    assert positions(chain.events_for("ok:1")) == [(1, 0, 0)]
    entries = list(chain._kv.iterate(schema.EVENT_INDEX))  # noqa: SLF001
    assert len(entries) == 1


@pytest.mark.parametrize("kwargs,fragment", [
    ({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"subject": ""}, "subject"),
])
def test_bad_queries_are_refused(chain: ChainStore, kwargs: dict[str, Any], fragment: str) -> None:
    subject = kwargs.get("subject", "member:A")
    limit = kwargs.get("limit", 100)
    with pytest.raises(LedgerError) as caught:
        chain.events_for(subject, limit=limit)
    assert caught.value.code is Code.INVALID_ARGUMENT and fragment in caught.value.message


def test_the_index_is_written_in_the_block_batch() -> None:
    class CountingStore(MemoryStore):
        batches: list[WriteBatch] = []

        def write(self, batch: WriteBatch, *, sync: bool = True) -> None:
            self.batches.append(batch)
            super().write(batch, sync=sync)

    kv = CountingStore()
    chain = ChainStore(kv, GENESIS)
    CountingStore.batches.clear()
    commit(chain, [tag(chain, ["member:B"])])
    [batch] = CountingStore.batches
    keys = [key for key, _ in batch.ops]
    assert schema.event_index("member:B", 1, 0, 0) in keys and schema.HEAD in keys


def test_the_index_survives_a_reopen(tmp_path: Path) -> None:
    with LevelDBStore(tmp_path / "db") as kv:
        chain = ChainStore(kv, GENESIS)
        commit(chain, [tag(chain, ["member:R"])])
    with LevelDBStore(tmp_path / "db") as kv:
        chain = ChainStore(kv, GENESIS)
        assert positions(chain.events_for("member:R")) == [(1, 0, 0)]
        commit(chain, [tag(chain, ["member:R"])])
        assert positions(chain.events_for("member:R")) == [(1, 0, 0), (2, 0, 0)]
