"""Chain archives: export, import with full re-verification, refusal of any damage."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genesis.document import parse_genesis
from ledger import archive, codec
from ledger.archive import export_chain, import_chain, read_header
from ledger.errors import Code, LedgerError
from ledger.store import LevelDBStore, MemoryStore
from ledger.store.chain import ChainStore
from tests.support.chain import REGISTRY, commit_block, example_genesis, note_tx

GENESIS = example_genesis()
HEIGHT = 20
MEMBERS = ["SUPPLIER-01", "BANK-A", "CORE-01"]
ARCHIVE_CODES = (Code.ARCHIVE_CORRUPTED, Code.ARCHIVE_MISMATCH)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainStore]:
    """20 blocks on LevelDB; block h holds h % 4 transactions (some blocks are empty)."""
    kv = LevelDBStore(tmp_path_factory.mktemp("source") / "db")
    chain = ChainStore(kv, GENESIS)
    for height in range(1, HEIGHT + 1):
        commit_block(chain, [note_tx(chain, MEMBERS[i % 3], key=f"k{height}", value=height * 10 + i)
                             for i in range(height % 4)])
    yield chain
    kv.close()


@pytest.fixture(scope="module")
def data(source: ChainStore) -> bytes:
    out = io.BytesIO()
    export_chain(source, out)
    return out.getvalue()


@pytest.fixture(scope="module")
def boundaries(data: bytes) -> list[int]:
    """The byte offset where each record starts, and the file's end."""
    offsets, at = [], 0
    while at < len(data):
        offsets.append(at)
        at += 4 + int.from_bytes(data[at:at + 4], "big")
    return offsets + [at]


def _fresh() -> ChainStore:
    return ChainStore(MemoryStore(), GENESIS)


def _import(data: bytes, chain: ChainStore) -> archive.ImportSummary:
    return import_chain(io.BytesIO(data), chain, REGISTRY)


def _refused(data: bytes, chain: ChainStore) -> LedgerError:
    with pytest.raises(LedgerError) as caught:
        _import(data, chain)
    return caught.value


def _reported_offset(error: LedgerError) -> int:
    match = re.search(r"at byte (\d+) \(record \d+, ", error.message)
    assert match, error.message
    return int(match.group(1))


def _assert_prefix_of(target: ChainStore, source: ChainStore) -> None:
    for height in range(1, target.height + 1):
        assert target.block(height).encode() == source.block(height).encode()
        assert target.commit(height) == source.commit(height)
        assert target.state_at(height).root == source.state_at(height).root


# -- round trips --------------------------------------------------------------


def test_export_then_import_into_an_empty_leveldb_store(source: ChainStore, data: bytes,
                                                        tmp_path: Path) -> None:
    out = io.BytesIO()
    exported = export_chain(source, out)
    assert out.getvalue() == data  # deterministic
    assert (exported.first_height, exported.last_height, exported.blocks) == (1, HEIGHT, HEIGHT)
    assert exported.txs == sum(h % 4 for h in range(1, HEIGHT + 1)) and exported.bytes == len(data)
    seen: list[tuple[int, int]] = []
    with LevelDBStore(tmp_path / "restored") as kv:
        target = ChainStore(kv, GENESIS)
        summary = import_chain(io.BytesIO(data), target, REGISTRY,
                               progress=lambda h, last: seen.append((h, last)))
        assert (summary.imported, summary.skipped, summary.txs) == (HEIGHT, 0, exported.txs)
        assert summary.bytes == len(data) and summary.height == HEIGHT == target.height
        assert seen == [(h, HEIGHT) for h in range(1, HEIGHT + 1)]
        assert target.tip() == source.tip()
        for height in range(HEIGHT + 1):
            assert target.block_hash(height) == source.block_hash(height)
            assert target.state_at(height).root == source.state_at(height).root
        for height in range(1, HEIGHT + 1):
            assert target.commit(height) == source.commit(height)
            assert target.receipts(height) == source.receipts(height)
            for index, tx in enumerate(target.block(height).txs):
                assert target.tx_location(tx.tx_id) == (height, index)
    with LevelDBStore(tmp_path / "restored") as kv:  # and it survives a reopen
        assert ChainStore(kv, GENESIS).height == HEIGHT


def test_the_header_says_what_the_archive_holds(data: bytes, boundaries: list[int]) -> None:
    header = read_header(io.BytesIO(data))
    assert (header.chain_id, header.first_height, header.last_height) == ("scf-demo", 1, HEIGHT)
    assert header.genesis.hash == GENESIS.hash
    value = codec.decode(data[4:4 + int.from_bytes(data[:4], "big")])
    assert value[:2] == [1, "scf-ledger-archive"] and value[3] == GENESIS.hash
    assert json.loads(value[4]) == GENESIS.document
    assert len(boundaries) == 1 + HEIGHT + 1 + 1  # header, blocks, trailer; the end
    block_record = codec.decode(data[boundaries[3] + 4:boundaries[4]])
    assert block_record[0] == 3 and len(block_record) == 3
    trailer = codec.decode(data[boundaries[-2] + 4:])
    assert trailer == ["end", HEIGHT, hashlib.sha256(b"scf/hash/archive/v1"
                                                     + data[:boundaries[-2]]).digest()]


def test_a_sub_range_continues_a_store_and_refuses_a_gap(source: ChainStore) -> None:
    parts = {}
    for first, last in ((1, 4), (5, 12), (13, HEIGHT)):
        out = io.BytesIO()
        summary = export_chain(source, out, first=first, last=last)
        assert summary.blocks == last - first + 1
        parts[first] = out.getvalue()
    error = _refused(parts[5], _fresh())
    assert error.code is Code.ARCHIVE_MISMATCH and "import 1..4 first" in error.message
    assert _reported_offset(error) == 0
    target = _fresh()
    for first, last in ((1, 4), (5, 12), (13, HEIGHT)):
        summary = _import(parts[first], target)
        assert (summary.imported, summary.skipped, summary.height) == (last - first + 1, 0, last)
    assert target.height == HEIGHT
    _assert_prefix_of(target, source)


def test_export_refuses_heights_the_store_does_not_hold(source: ChainStore) -> None:
    for first, last in ((0, 3), (5, HEIGHT + 1), (6, 4)):
        with pytest.raises(LedgerError) as caught:
            export_chain(source, io.BytesIO(), first=first, last=last)
        assert caught.value.code is Code.BLOCK_NOT_FOUND


def test_an_empty_range_is_a_valid_archive(source: ChainStore) -> None:
    out = io.BytesIO()
    assert export_chain(_fresh(), out).blocks == 0
    summary = _import(out.getvalue(), _fresh())
    assert (summary.imported, summary.height) == (0, 0)


def test_a_partial_import_leaves_a_prefix_and_a_rerun_continues(
        source: ChainStore, data: bytes, boundaries: list[int]) -> None:
    target = _fresh()
    cut = boundaries[10] + 50  # inside the record of height 10
    error = _refused(data[:cut], target)
    assert error.code is Code.ARCHIVE_CORRUPTED and "truncated" in error.message
    assert f"at byte {boundaries[10]} (record 10, height 10)" in error.message
    assert target.height == 9
    _assert_prefix_of(target, source)
    summary = _import(data, target)
    assert (summary.skipped, summary.imported, summary.height) == (9, HEIGHT - 9, HEIGHT)
    _assert_prefix_of(target, source)
    again = _import(data, target)  # a complete store: everything is checked, nothing added
    assert (again.skipped, again.imported) == (HEIGHT, 0)


def test_a_rerun_on_a_store_that_prunes_state(source: ChainStore, data: bytes,
                                              boundaries: list[int]) -> None:
    target = ChainStore(MemoryStore(), GENESIS, keep_versions=2)
    _refused(data[:boundaries[15]], target)
    assert target.height == 14 and target.pruned_below == 13
    summary = _import(data, target)
    assert (summary.skipped, summary.imported, target.height) == (14, HEIGHT - 14, HEIGHT)
    assert target.state_at(HEIGHT).root == source.state_at(HEIGHT).root


def test_another_genesis_is_refused(data: bytes, tmp_path: Path) -> None:
    other = parse_genesis(json.dumps(dict(GENESIS.document,
                                          genesis_time_ms=GENESIS.genesis_time_ms + 1)))
    renamed = parse_genesis(json.dumps(dict(GENESIS.document, chain_id="scf-other")))
    for genesis, fragment in ((other, "another genesis"), (renamed, "'scf-other'")):
        with LevelDBStore(tmp_path / genesis.hash.hex()[:8]) as kv:
            target = ChainStore(kv, genesis)
            error = _refused(data, target)
            assert error.code is Code.ARCHIVE_MISMATCH and fragment in error.message
            assert error.message.startswith("archive does not fit the store at byte 0 (record 0,")
            assert target.height == 0


def test_a_store_holding_other_blocks_is_refused(source: ChainStore, data: bytes,
                                                 boundaries: list[int]) -> None:
    forked = _fresh()
    first_block = io.BytesIO()
    export_chain(source, first_block, last=1)
    _import(first_block.getvalue(), forked)  # the same block 1, then another block 2
    commit_block(forked, [note_tx(forked, "BANK-B", key="fork", value=1)])
    error = _refused(data, forked)
    assert error.code is Code.ARCHIVE_MISMATCH and "another block" in error.message
    assert f"at byte {boundaries[2]} (record 2, height 2)" in error.message
    assert forked.height == 2


def test_damage_to_a_block_the_store_already_holds_is_damage(
        source: ChainStore, data: bytes, boundaries: list[int]) -> None:
    target = _fresh()
    _import(data, target)
    start, end = boundaries[3], boundaries[4]
    for position in range(start, end, 5):
        damaged = data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1:]
        error = _refused(damaged, target)
        assert error.code is Code.ARCHIVE_CORRUPTED, (position, error)
        assert _reported_offset(error) == start, (position, error)
    assert target.height == HEIGHT


# -- damage ------------------------------------------------------------------


def _record(data: bytes, boundaries: list[int], index: int) -> bytes:
    return data[boundaries[index]:boundaries[index + 1]]


def _trailer_for(body: bytes, count: int) -> bytes:
    """A correct trailer for `body`, so that a test reaches a check before the digest."""
    digest = hashlib.sha256(archive.DIGEST_TAG + body).digest()
    payload = codec.encode(["end", count, digest])
    return len(payload).to_bytes(4, "big") + payload


@pytest.mark.parametrize("damage", [
    "empty file", "not an archive", "length prefix zero", "length prefix huge",
    "length past the end", "cut at a record boundary", "records swapped", "record missing",
    "digest", "count", "trailing garbage", "trailing trailer", "bad header digest"])
def test_damage_is_refused_with_its_position(damage: str, source: ChainStore, data: bytes,
                                             boundaries: list[int]) -> None:
    at = boundaries[5]
    body = data[:boundaries[-2]]
    trailer = data[boundaries[-2]:]
    record = (lambda i: _record(data, boundaries, i))
    cases: dict[str, tuple[bytes, int, str]] = {
        "empty file": (b"", 0, "truncated"),
        "not an archive": (b"\x00\x00\x00\x04\x93\x01\x02\x03" + data[8:], 0, "not an scf-ledger"),
        "length prefix zero": (data[:at] + bytes(4) + data[at + 4:], at, "record length 0"),
        "length prefix huge": (data[:at] + b"\xff" + data[at + 1:], at, "is not in 1.."),
        "length past the end": (data[:at] + b"\x00\x10" + data[at + 2:], at, "truncated"),
        "cut at a record boundary": (body, boundaries[-2], "truncated"),
        "records swapped": (data[:at] + record(6) + record(5) + data[boundaries[7]:], at,
                            "a record of height 6 where block 5 belongs"),
        "record missing": (data[:at] + data[boundaries[6]:], at, "where block 5 belongs"),
        "digest": (body + trailer[:-1] + bytes([trailer[-1] ^ 1]), boundaries[-2],
                   "the digest does not match"),
        "count": (body + _trailer_for(body, HEIGHT + 1), boundaries[-2], "counts 21 blocks"),
        "trailing garbage": (data + b"\x00", len(data), "data follows the trailer"),
        "trailing trailer": (data + trailer, len(data), "data follows the trailer"),
        "bad header digest": (data[:boundaries[1] - 1] + bytes([data[boundaries[1] - 1] ^ 0x80])
                              + data[boundaries[1]:], 0, "header_digest"),
    }
    damaged, offset, fragment = cases[damage]
    target = _fresh()
    error = _refused(damaged, target)
    assert error.code is Code.ARCHIVE_CORRUPTED, error.message
    assert f"at byte {offset} (record" in error.message and fragment in error.message, error.message
    _assert_prefix_of(target, source)


def test_a_block_that_fails_verification_is_refused_at_its_record(
        source: ChainStore, data: bytes, boundaries: list[int]) -> None:
    """A well-framed record whose block was altered (a forged archive, not a bit flip)."""
    block = source.block(7)
    forged = dataclasses.replace(block, header=dataclasses.replace(block.header, time_ms=1))
    payload = codec.encode([7, forged.encode(), source.commit(7).encode()])
    body = (data[:boundaries[7]] + len(payload).to_bytes(4, "big") + payload
            + data[boundaries[8]:boundaries[-2]])
    target = _fresh()
    error = _refused(body + _trailer_for(body, HEIGHT), target)
    assert error.code is Code.ARCHIVE_CORRUPTED and "INVALID_BLOCK: time_ms" in error.message
    assert f"at byte {boundaries[7]} (record 7, height 7)" in error.message
    assert target.height == 6


def test_every_byte_of_the_header_and_the_trailer_is_checked(
        source: ChainStore, data: bytes, boundaries: list[int]) -> None:
    """The records no signature covers: flip each of their bytes."""
    short = io.BytesIO()
    export_chain(source, short, last=2)  # the same trailer layout, cheaper to reach
    trailer_at = len(short.getvalue()) - len(data) + boundaries[-2]
    cases = [(data, range(0, boundaries[1])),
             (short.getvalue(), range(trailer_at, len(short.getvalue())))]
    empty = _fresh()  # a refused header writes nothing: one store serves them all
    for archive_bytes, positions in cases:
        for position in positions:
            damaged = (archive_bytes[:position] + bytes([archive_bytes[position] ^ 0x01])
                       + archive_bytes[position + 1:])
            target = empty if position < boundaries[1] else _fresh()
            with pytest.raises(LedgerError) as caught:
                _import(damaged, target)
            assert caught.value.code in ARCHIVE_CODES, (position, caught.value)
            assert _reported_offset(caught.value) <= position, (position, caught.value)
            assert target.height == (0 if target is empty else 2)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_flipped_byte_or_truncation_is_refused_where_it_is(
        source: ChainStore, data: bytes, choice: st.DataObject) -> None:
    position = choice.draw(st.integers(0, len(data) - 1), label="position")
    if choice.draw(st.booleans(), label="truncate"):
        damaged = data[:position]
    else:
        mask = choice.draw(st.integers(1, 255), label="xor mask")
        damaged = data[:position] + bytes([data[position] ^ mask]) + data[position + 1:]
    target = _fresh()
    with pytest.raises(LedgerError) as caught:
        _import(damaged, target)
    error = caught.value
    assert error.code in ARCHIVE_CODES, error
    assert _reported_offset(error) <= position, error
    _assert_prefix_of(target, source)
