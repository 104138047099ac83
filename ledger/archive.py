"""A portable chain archive: export a range of blocks; import it, re-verifying all.

File format, version 1 (also in docs/operations.md). A sequence of records,
each `length (4 bytes, big-endian, 1..MAX_RECORD_SIZE) || payload`, where the
payload is the canonical msgpack (ledger.codec) of one value:

* record 0, the header: `[1, "scf-ledger-archive", chain_id (str),
  genesis_hash (bytes 32), genesis_json (str), first_height (int >= 1),
  last_height (int >= first_height - 1), header_digest (bytes 32)]`.
  genesis_json is the genesis document as canonical JSON: Python's
  `json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`,
  UTF-8; it must load to a genesis of that hash and chain id. header_digest =
  SHA-256("scf/hash/archive-header/v1" || canonical encoding of the array of
  the first 7 items): no signature covers the header, so it checks itself.
* records 1..n, for h = first_height..last_height in order:
  `[h, block_bytes, commit_bytes]`, the canonical encodings of the Block and
  of the Commit (the certificate stored beside it) that finalised it.
* the trailer: `["end", n, digest]`, n = last_height - first_height + 1,
  digest = SHA-256("scf/hash/archive/v1" || every byte of the file before the
  trailer's length prefix). Nothing may follow it.

Import re-verifies each block as a validator would (`apply_block`: header,
txs root, signatures, last commit, receipts and state roots; `append`: the
certificate) and commits it before reading the next, so a refused or
interrupted import leaves a valid prefix; importing again continues, after
checking that the blocks already present are the archive's. Damage raises
ARCHIVE_CORRUPTED, an archive that does not fit the store ARCHIVE_MISMATCH,
with the offset of the record at fault: "archive damaged at byte 18342
(record 17, height 17): ...". The target store's own failures keep their
STORE_* codes. Nothing here opens a path: binary file objects come in, and one
record at a time is held in memory.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, NoReturn

from genesis.document import Genesis, parse_genesis
from ledger import codec
from ledger.certificates import validate_commit
from ledger.contract_api import Registry
from ledger.crypto import Tag
from ledger.errors import Code, LedgerError
from ledger.store.chain import ChainStore
from ledger.system_state import get_validator_set
from ledger.transition import apply_block
from ledger.types import MAX_BLOCK_SIZE, Block, Commit

VERSION = 1
MAGIC = "scf-ledger-archive"
TRAILER = "end"
HEADER_TAG = Tag.ARCHIVE_HEADER.value
DIGEST_TAG = Tag.ARCHIVE.value
#: A block (at most 15 MiB) plus its commit and the record's framing.
MAX_RECORD_SIZE = MAX_BLOCK_SIZE + 1024 * 1024
MISMATCH = Code.ARCHIVE_MISMATCH
#: Raised as they are during an import: failures of the target store, not of the archive.
_PASS_THROUGH = {code for code in Code if code.value.startswith(("STORE_", "ARCHIVE_"))} | {
    Code.STATE_NODE_MISSING, Code.STATE_VERSION_NOT_FOUND, Code.BLOCK_NOT_FOUND}


@dataclass(frozen=True)
class ArchiveHeader:
    chain_id: str
    genesis: Genesis
    first_height: int
    last_height: int


@dataclass(frozen=True)
class ExportSummary:
    chain_id: str
    first_height: int
    last_height: int
    blocks: int
    txs: int
    bytes: int
    digest: bytes


@dataclass(frozen=True)
class ImportSummary:
    first_height: int
    last_height: int
    imported: int  # blocks verified and committed
    skipped: int  # blocks already in the store, checked to be the same
    txs: int  # transactions in the imported blocks
    bytes: int
    height: int  # the store's head afterwards


def canonical_genesis_json(genesis: Genesis) -> str:
    return json.dumps(genesis.document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def compute_header_digest(fields: list[Any]) -> bytes:
    return hashlib.sha256(HEADER_TAG + codec.encode(fields)).digest()


def export_chain(chain: ChainStore, out: BinaryIO, *, first: int = 1,
                 last: int | None = None) -> ExportSummary:
    """Writes blocks `first`..`last` (default: the head) with their certificates."""
    last = chain.height if last is None else last
    if not 1 <= first <= last + 1 or last > chain.height:
        raise LedgerError(Code.BLOCK_NOT_FOUND,
                          f"cannot export {first}..{last}: the store holds 1..{chain.height}")
    genesis = chain.genesis
    fields = [VERSION, MAGIC, genesis.chain_id, genesis.hash, canonical_genesis_json(genesis),
              first, last]
    hasher = hashlib.sha256(DIGEST_TAG)
    size = _write_record(out, hasher, [*fields, compute_header_digest(fields)])
    txs = 0
    for height in range(first, last + 1):
        block = chain.block(height)
        txs += len(block.txs)
        size += _write_record(out, hasher, [height, block.encode(), chain.commit(height).encode()])
    digest = hasher.digest()
    size += _write_record(out, None, [TRAILER, last - first + 1, digest])
    return ExportSummary(genesis.chain_id, first, last, last - first + 1, txs, size, digest)


def _write_record(out: BinaryIO, hasher: Any, value: Any) -> int:
    payload = codec.encode(value, max_size=MAX_RECORD_SIZE)
    data = len(payload).to_bytes(4, "big") + payload
    if hasher is not None:
        hasher.update(data)
    out.write(data)
    return len(data)


class _Reader:
    """Reads records one at a time, knowing where each one starts."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self.offset = self.size = self.record = 0  # the current record: start, size, index
        self.where = "header"  # what the current record should be, for messages
        self.hasher = hashlib.sha256(DIGEST_TAG)

    def fail(self, text: str, code: Code = Code.ARCHIVE_CORRUPTED) -> NoReturn:
        kind = "damaged" if code is Code.ARCHIVE_CORRUPTED else "does not fit the store"
        raise LedgerError(code, f"archive {kind} at byte {self.offset} (record {self.record}, "
                                f"{self.where}): {text}")

    def next_value(self, where: str) -> Any:
        """Decodes the next record; `advance` moves past it once it is accepted."""
        self.where = where
        prefix = self.read(4)
        if len(prefix) < 4:
            self.fail(f"the file ends here{' inside a length prefix' if prefix else ''}: truncated")
        length = int.from_bytes(prefix, "big")
        if not 1 <= length <= MAX_RECORD_SIZE:
            self.fail(f"record length {length} is not in 1..{MAX_RECORD_SIZE}")
        payload = self.read(length)
        if len(payload) < length:
            self.fail(f"the file ends {len(payload)} bytes into a {length}-byte record: truncated")
        self.size = 4 + length
        self.hasher.update(prefix + payload)
        try:
            return codec.decode(payload, max_size=MAX_RECORD_SIZE)
        except LedgerError as error:
            self.fail(f"{error.code.value}: {error.message}")

    def advance(self) -> None:
        self.offset, self.size, self.record = self.offset + self.size, 0, self.record + 1

    def read(self, size: int) -> bytes:
        chunks, wanted = [], size
        while wanted and (chunk := self._source.read(wanted)):
            chunks.append(chunk)
            wanted -= len(chunk)
        return b"".join(chunks)


def read_header(source: BinaryIO) -> ArchiveHeader:
    """The header alone, checked (to show what an archive holds before a restore)."""
    return _read_header(_Reader(source), None)


def _read_header(reader: _Reader, chain: ChainStore | None) -> ArchiveHeader:
    value = reader.next_value("header")
    if not (isinstance(value, list) and len(value) >= 2 and value[1] == MAGIC):
        reader.fail("not an scf-ledger archive (no header)")
    intact = len(value) == 8 and value[7] == compute_header_digest(value[:7])
    if not (type(value[0]) is int and value[0] == VERSION) and (intact or len(value) != 8):
        reader.fail(f"archive format {value[0]!r}, this node reads {VERSION}", MISMATCH)
    if not intact:
        reader.fail("the header does not match its header_digest")
    _, _, chain_id, genesis_hash, text, first, last, _ = value
    if not (type(first) is int and type(last) is int and 1 <= first <= last + 1):
        reader.fail(f"the height range {first!r}..{last!r} is not valid")
    if type(text) is not str:
        reader.fail("genesis_json is not a str")
    try:
        genesis = parse_genesis(text)
    except LedgerError as error:
        reader.fail(f"genesis_json does not load: {error.message}")
    if canonical_genesis_json(genesis) != text:
        reader.fail("genesis_json is not in canonical form")
    if genesis.hash != genesis_hash or genesis.chain_id != chain_id:
        reader.fail("genesis_hash or chain_id is not that of genesis_json")
    if chain is not None:  # does the archive fit this store?
        if chain_id != chain.genesis.chain_id:
            reader.fail(f"the archive is of chain {chain_id!r}, the store of "
                        f"{chain.genesis.chain_id!r}", MISMATCH)
        if genesis_hash != chain.genesis.hash:
            reader.fail(f"the archive was made from another genesis of chain {chain_id!r} "
                        "than the store", MISMATCH)
        if first > chain.height + 1:
            reader.fail(f"the archive starts at block {first} but the store's head is "
                        f"{chain.height}: import {chain.height + 1}..{first - 1} first", MISMATCH)
    reader.advance()
    return ArchiveHeader(chain_id, genesis, first, last)


def import_chain(source: BinaryIO, chain: ChainStore, registry: Registry, *,
                 progress: Callable[[int, int], None] | None = None) -> ImportSummary:
    """Verifies the archive record by record, committing each new block to `chain`.

    `progress(height, last_height)` is called after each block, new or present.
    """
    reader = _Reader(source)
    header = _read_header(reader, chain)
    first, last = header.first_height, header.last_height
    imported = skipped = txs = 0
    for height in range(first, last + 1):
        block, commit = _read_block_record(reader, height)
        try:
            if height <= chain.height:
                _validate_present(reader, chain, block, commit)
                skipped += 1
            else:
                chain.append(apply_block(chain, chain.tip(), block, registry), commit)
                imported += 1
                txs += len(block.txs)
        except LedgerError as error:
            if error.code in _PASS_THROUGH:
                raise
            reader.fail(f"{error.code.value}: {error.message}")
        reader.advance()
        if progress is not None:
            progress(height, last)
    _read_trailer(reader, last - first + 1)
    return ImportSummary(first, last, imported, skipped, txs, reader.offset, chain.height)


def _read_block_record(reader: _Reader, height: int) -> tuple[Block, Commit]:
    value = reader.next_value(f"height {height}")
    if isinstance(value, list) and value[:1] == [TRAILER]:
        reader.fail(f"the trailer comes where block {height} belongs")
    if not (isinstance(value, list) and len(value) == 3 and type(value[0]) is int):
        reader.fail("not a block record [height, block, commit]")
    if value[0] != height:
        reader.fail(f"a record of height {value[0]} where block {height} belongs "
                    "(out of order, or a block is missing)")
    try:
        block, commit = Block.decode(value[1]), Commit.decode(value[2])
    except LedgerError as error:
        reader.fail(f"{error.code.value}: {error.message}")
    if block.header.height != height:
        reader.fail(f"the record of height {height} holds block {block.header.height}")
    return block, commit


def _validate_present(reader: _Reader, chain: ChainStore, block: Block, commit: Commit) -> None:
    """A block the store already holds: the archive's must be the same, and certified."""
    height = block.header.height
    stored = chain.block(height)
    if stored.encode() == block.encode() and commit == chain.commit(height):
        return
    if height - 1 >= chain.pruned_below:  # else the validators of `height` are pruned
        validate_commit(commit, chain_id=chain.genesis.chain_id, height=height,
                        block_hash=block.hash,
                        validators=get_validator_set(chain.state_at(height - 1)))
    if stored.hash != block.hash:
        reader.fail(f"the store holds another block at this height ({stored.hash.hex()[:16]}…, "
                    f"the archive's is {block.hash.hex()[:16]}…)", MISMATCH)
    if stored.encode() != block.encode():
        reader.fail("the block's body differs from the stored block's with the same header")


def _read_trailer(reader: _Reader, count: int) -> None:
    expected = reader.hasher.digest()  # of every byte before the trailer
    value = reader.next_value("trailer")
    if not (isinstance(value, list) and len(value) == 3 and value[0] == TRAILER):
        reader.fail("expected the trailer after the header's last block")
    if not (type(value[1]) is int and value[1] == count):
        reader.fail(f"the trailer counts {value[1]!r} blocks, the header {count}")
    if value[2] != expected:
        reader.fail("the digest does not match the archive's contents")
    reader.advance()
    reader.where = "after the trailer"
    if reader.read(1):
        reader.fail("data follows the trailer")
