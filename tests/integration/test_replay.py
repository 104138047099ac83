"""Auditor replay: a good chain replays; any flipped stored byte is found."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.errors import LedgerError
from ledger.replay import RawEntry, replay, replay_chain
from ledger.smt import NodeKey, SparseMerkleTree
from ledger.smt_memory import MemoryNodeStore
from ledger.store import MemoryStore, schema
from ledger.store.chain import ChainStore
from tests.support.chain import REGISTRY, commit_block, example_genesis, note_tx

GENESIS = example_genesis()


def _build_chain(blocks: int = 6) -> ChainStore:
    chain = ChainStore(MemoryStore(), GENESIS)
    for height in range(blocks):
        bank_nonce = 2 * height
        commit_block(chain, [note_tx(chain, "SUPPLIER-01", key=f"k{height}", value=height),
                             note_tx(chain, "BANK-A", nonce=bank_nonce, key="total", value=height),
                             note_tx(chain, "BANK-A", "crash", nonce=bank_nonce + 1)])
    return chain


CHAIN = _build_chain()
ENTRIES = [CHAIN.raw_entry(h) for h in range(1, CHAIN.height + 1)]


def test_good_chain_replays() -> None:
    seen: list[tuple[int, int]] = []
    report = replay_chain(CHAIN, REGISTRY, window=2, progress=lambda h, n: seen.append((h, n)))
    assert report.ok, report.mismatch
    assert (report.blocks, report.transactions, report.final_height) == (6, 18, 6)
    assert report.final_state_root == CHAIN.block(6).header.state_root
    assert seen[-1] == (6, 18) and len(seen) == 3


def test_replay_with_a_process_pool_gives_the_same_report() -> None:
    with ProcessPoolExecutor(max_workers=2) as pool:
        pooled = replay(GENESIS, ENTRIES, REGISTRY, map_fn=pool.map, window=3)
    assert pooled == replay(GENESIS, ENTRIES, REGISTRY)


def test_missing_or_reordered_block_is_found() -> None:
    report = replay(GENESIS, ENTRIES[:2] + ENTRIES[3:], REGISTRY)
    assert not report.ok and report.mismatch is not None
    assert report.mismatch.height == 3 and report.final_height == 2
    swapped = [ENTRIES[1], ENTRIES[0]] + ENTRIES[2:]
    assert replay(GENESIS, swapped, REGISTRY).mismatch.height == 1  # type: ignore[union-attr]


def _flip(entry: RawEntry, part: int, position: int, xor: int) -> RawEntry:
    block, commit, receipts = entry
    parts = [block, commit, *receipts]
    target = bytearray(parts[part % len(parts)])
    target[position % len(target)] ^= xor
    parts[part % len(parts)] = bytes(target)
    return parts[0], parts[1], tuple(parts[2:])


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(ENTRIES) - 1), st.integers(0, 10), st.integers(0, 10**6),
       st.integers(1, 255))
def test_any_flipped_byte_of_a_block_commit_or_receipt_is_detected(
        index: int, part: int, position: int, xor: int) -> None:
    tampered = list(ENTRIES)
    tampered[index] = _flip(ENTRIES[index], part, position, xor)
    report = replay(GENESIS, tampered, REGISTRY)
    assert not report.ok
    assert report.mismatch is not None and report.mismatch.height <= index + 1
    assert report.mismatch.height >= index  # found at the damaged block or the one after


@pytest.mark.parametrize("part,field", [(0, "block"), (1, "commit"), (2, "receipts")])
def test_mismatch_names_height_and_field(part: int, field: str) -> None:
    tampered = list(ENTRIES)
    entry = ENTRIES[3]
    # change the last byte: inside a signature, a hash or a receipt's events
    tampered[3] = _flip(entry, part, len([entry[0], entry[1], *entry[2]][part]) - 1, 0x01)
    report = replay(GENESIS, tampered, REGISTRY)
    assert report.mismatch is not None and report.mismatch.height in (4, 5)
    assert report.mismatch.field in (field, "signature", "previous_hash", "last_commit_hash",
                                     "receipts_root", "state_root")


def test_the_scratch_store_holds_one_state_whatever_the_height() -> None:
    """Only the tip's tree nodes and latest values: no blocks, receipts or old versions."""
    scratch = MemoryStore()
    report = replay(GENESIS, ENTRIES, REGISTRY, store=scratch)
    assert report.ok and report.final_state_root == CHAIN.block(6).header.state_root
    prefixes = {key[:1] for key, _ in scratch.iterate(b"")}
    assert prefixes == {schema.STATE_NODE, schema.LATEST_STATE}
    tree = SparseMerkleTree(_Nodes(scratch))
    assert tree.root_at(6) == report.final_state_root
    versions = {schema.read_u64(key[1:9]) for key, _ in scratch.iterate(schema.STATE_NODE)}
    with pytest.raises(LedgerError):
        tree.root_at(5)  # pruned as block 6 was applied
    assert max(versions) == 6
    # every node left is reachable from the tip: as many as a fresh tree of the same state has
    latest = {key[1:]: value for key, value in scratch.iterate(schema.LATEST_STATE)}
    fresh = SparseMerkleTree(MemoryNodeStore()).apply(None, 0, latest)
    assert fresh.root == report.final_state_root
    assert len(versions) >= 1 and sum(1 for _ in scratch.iterate(schema.STATE_NODE)) == \
        len(fresh.new_nodes)


def test_a_scratch_store_must_be_empty() -> None:
    used = MemoryStore()
    used.put(b"x", b"y")
    with pytest.raises(ValueError):
        replay(GENESIS, ENTRIES, REGISTRY, store=used)


def test_replay_into_a_chain_store_keeps_every_verified_block() -> None:
    copy = ChainStore(MemoryStore(), GENESIS)
    report = replay(GENESIS, ENTRIES, REGISTRY, into=copy, window=4)
    assert report == replay(GENESIS, ENTRIES, REGISTRY)
    assert [copy.raw_entry(h) for h in range(1, 7)] == ENTRIES


def test_windows_close_at_a_byte_budget_and_any_lookahead_gives_the_same_report() -> None:
    seen: list[tuple[int, int]] = []
    small = replay(GENESIS, ENTRIES, REGISTRY, window_bytes=1, ahead=0,
                   progress=lambda h, n: seen.append((h, n)))
    assert [h for h, _ in seen] == [1, 2, 3, 4, 5, 6]  # one block per window
    assert small == replay(GENESIS, ENTRIES, REGISTRY, ahead=5)


def test_signature_checks_can_be_left_out_but_certificates_cannot() -> None:
    tampered = list(ENTRIES)
    block, commit, receipts = ENTRIES[2]
    tampered[2] = (block, _flip(ENTRIES[2], 1, len(commit) - 1, 1)[1], receipts)
    report = replay(GENESIS, tampered, REGISTRY, check_tx_signatures=False)
    assert report.mismatch is not None and report.mismatch.height == 3
    assert report.mismatch.field == "commit"


class _Nodes:
    def __init__(self, kv: MemoryStore) -> None:
        self._kv = kv

    def get_node(self, key: NodeKey) -> bytes | None:
        return self._kv.get(schema.state_node(key))
