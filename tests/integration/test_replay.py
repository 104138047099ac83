"""Auditor replay: a good chain replays; any flipped stored byte is found."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.replay import RawEntry, replay, replay_chain
from ledger.store import MemoryStore
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
