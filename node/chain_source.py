"""Where an auditor's chain comes from: a stopped node's home, a node's API, an archive.

A raw entry (ledger/replay.py) is what a replay checks for one height:
`(block bytes, commit bytes, (receipt bytes, ...))` as stored, nothing
decoded, nothing trusted. Each source fixes its `head` when it opens and
yields heights 1..head in order:

* `StoreSource`: a stopped node's home directory, HOME/data/chain (LevelDB,
  read through `ChainStore.raw_entry`). LevelDB admits one process: while
  the node runs it holds the lock, and opening fails with STORE_LOCKED.
* `NodeSource`: a node's `GET /v1/blocks/{height}/raw`, fetched by a few
  threads up to `ahead` heights in advance, so the network overlaps the
  verification of the blocks already fetched.
* `ArchiveSource`: an archive file (ledger/archive.py). An archive holds
  blocks and certificates but no receipts, so it cannot be replayed against
  stored receipts: it is verified by importing it into a scratch store
  (`ledger.archive.import_chain` re-executes and re-checks every block, then
  the trailer's digest), and its entries are then that store's, each of a
  verified block, with the receipts re-execution produced.

A height that cannot be read ends the iteration and is kept in `fault`, so
a replay still verifies everything before it and the caller says what went
wrong at which height. Opening a source raises `LedgerError` (CHAIN_MISMATCH
for another chain, STORE_LOCKED, ...) or, for a node, `ApiError`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Self

from genesis.document import Genesis
from ledger.archive import import_chain, read_header
from ledger.contract_api import Registry
from ledger.errors import Code, LedgerError
from ledger.replay import Mismatch, RawEntry, ReplayReport
from ledger.store import LevelDBStore, MemoryStore
from ledger.store.chain import ChainStore
from node.client import ApiError, NodeClient
from node.config import load_config

CHAIN_DIR = "chain"
DEFAULT_AHEAD = 128   # two replay windows of 64 blocks
DEFAULT_FETCHERS = 4


class FaultKind(StrEnum):
    UNREACHABLE = "unreachable"  # the node did not answer
    REFUSED = "refused"          # the source answered with an error, or cannot read its store
    MALFORMED = "malformed"      # what came back is not an entry at all


@dataclass(frozen=True, slots=True)
class SourceFault:
    """Why a source stopped before its head: heights below `height` were delivered."""

    height: int
    kind: FaultKind
    code: str
    message: str

    def __str__(self) -> str:
        return f"height {self.height}: {self.code}: {self.message}"


class _Source:
    """What every source has: a head, a fault, and a close (also on `with` exit)."""

    head: int = 0
    fault: SourceFault | None = None
    description: str = ""

    def entries(self) -> Iterator[RawEntry]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


# -- a stopped node's home ----------------------------------------------------------------

def home_genesis_file(home: Path) -> Path:
    """The genesis file a node home was initialised with (HOME/genesis.json by default)."""
    return home / load_config(home).genesis_file


def home_chain_dir(home: Path) -> Path:
    return home / load_config(home).data_dir / CHAIN_DIR


def open_home_chain(home: Path, genesis: Genesis) -> tuple[LevelDBStore, ChainStore]:
    """Opens a stopped node's chain store (the caller closes the LevelDBStore)."""
    path = home_chain_dir(home)
    try:
        kv = LevelDBStore(path, create=False)
    except LedgerError as error:
        if error.code is Code.STORE_LOCKED:
            raise LedgerError(Code.STORE_LOCKED,
                              f"the store {path} is locked by another process: is the node "
                              "running? --home reads a STOPPED node's store; stop the node "
                              "first, or replay from the running node with --node URL") from None
        raise
    try:
        return kv, ChainStore(kv, genesis)
    except BaseException:
        kv.close()
        raise


class StoreSource(_Source):
    def __init__(self, home: Path, genesis: Genesis) -> None:
        self._kv, self.chain = open_home_chain(home, genesis)
        self.head = self.chain.height
        self.description = f"the store of the stopped node in {home}"

    def entries(self) -> Iterator[RawEntry]:
        for height in range(1, self.head + 1):
            try:
                entry = self.chain.raw_entry(height)
            except LedgerError as error:
                self.fault = SourceFault(height, FaultKind.REFUSED, error.code.value,
                                         error.message)
                return
            yield entry

    def close(self) -> None:
        self._kv.close()


# -- a node, over HTTP ---------------------------------------------------------------------

def check_node_chain(client: NodeClient, genesis: Genesis) -> int:
    """The node's height, once its chain id and genesis hash are `genesis`'s (CHAIN_MISMATCH)."""
    status = client.status()
    if status.get("chain_id") != genesis.chain_id:
        raise LedgerError(Code.CHAIN_MISMATCH, f"{client.url} serves chain "
                          f"{status.get('chain_id')!r}; the genesis given is of chain "
                          f"{genesis.chain_id!r}")
    if status.get("genesis_hash") != genesis.hash.hex():
        raise LedgerError(Code.CHAIN_MISMATCH, f"{client.url} serves chain {genesis.chain_id!r} "
                          f"from another genesis (its genesis hash "
                          f"{str(status.get('genesis_hash'))[:16]}…, the trusted one "
                          f"{genesis.hash.hex()[:16]}…)")
    height = status.get("height")
    if type(height) is not int or height < 0:
        raise LedgerError(Code.CHAIN_MISMATCH, f"{client.url}: status has no height")
    return height


class NodeSource(_Source):
    def __init__(self, url: str, genesis: Genesis, *, ahead: int = DEFAULT_AHEAD,
                 fetchers: int = DEFAULT_FETCHERS, timeout_s: float = 30.0) -> None:
        self.client = NodeClient(url, timeout_s=timeout_s)
        self.head = check_node_chain(self.client, genesis)
        self.description = f"the node at {self.client.url}"
        self._ahead = max(1, ahead)
        self._pool = ThreadPoolExecutor(max_workers=max(1, fetchers),
                                        thread_name_prefix="raw-entry")

    def entries(self) -> Iterator[RawEntry]:
        pending: deque[tuple[int, Future[RawEntry]]] = deque()
        next_height = 1
        try:
            while True:
                while next_height <= self.head and len(pending) < self._ahead:
                    pending.append((next_height,
                                    self._pool.submit(self.client.raw_entry, next_height)))
                    next_height += 1
                if not pending:
                    return
                height, future = pending.popleft()
                try:
                    entry = future.result()
                except ApiError as error:
                    kind = (FaultKind.UNREACHABLE if error.status == 0 else
                            FaultKind.MALFORMED if error.code == "BAD_ANSWER" else
                            FaultKind.REFUSED)
                    self.fault = SourceFault(height, kind, error.code, error.message)
                    return
                except LedgerError as error:  # the answer is not canonical msgpack
                    self.fault = SourceFault(height, FaultKind.MALFORMED, error.code.value,
                                             f"the node's answer does not decode: {error.message}")
                    return
                yield entry
        finally:
            for _, future in pending:
                future.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


# -- an archive file -----------------------------------------------------------------------

class ArchiveSource(_Source):
    """An archive verified by import into a scratch store (see the module docstring):
    call `verify` first; `entries` then yields the verified heights."""

    def __init__(self, path: Path, genesis: Genesis) -> None:
        self.path = path
        self.genesis = genesis
        try:
            with open(path, "rb") as source:
                header = read_header(source)
        except OSError as error:
            raise LedgerError(Code.STORE_IO_ERROR, f"cannot read {path}: {error}") from None
        if header.genesis.hash != genesis.hash:
            raise LedgerError(Code.ARCHIVE_MISMATCH,
                              f"{path} was made from another genesis (chain "
                              f"{header.chain_id!r}, genesis hash "
                              f"{header.genesis.hash.hex()[:16]}…) than the trusted one (chain "
                              f"{genesis.chain_id!r}, {genesis.hash.hex()[:16]}…)")
        if header.first_height != 1:
            raise LedgerError(Code.ARCHIVE_MISMATCH,
                              f"{path} holds blocks {header.first_height}..{header.last_height}; "
                              "a replay from genesis needs an archive that starts at block 1")
        self.head = header.last_height
        self.description = f"the archive {path}"
        self.chain = ChainStore(MemoryStore(), genesis)

    def verify(self, registry: Registry, *,
               progress: Callable[[int, int], None] | None = None) -> ReplayReport:
        """Imports the archive; a block record that fails is a `Mismatch` at its height.

        Damage outside the block records (the header, the trailer and its
        digest, bytes after it) and an archive that does not fit the genesis
        raise their ARCHIVE_* `LedgerError`: that is an unreadable file, not
        a bad block.
        """
        transactions = 0
        mismatch: Mismatch | None = None

        def imported(height: int, _last: int) -> None:
            nonlocal transactions
            transactions += len(self.chain.raw_entry(height)[2])  # one receipt per transaction
            if progress is not None:
                progress(height, transactions)

        try:
            with open(self.path, "rb") as source:
                import_chain(source, self.chain, registry, progress=imported)
        except OSError as error:
            raise LedgerError(Code.STORE_IO_ERROR, f"cannot read {self.path}: {error}") from None
        except LedgerError as error:
            if error.code is not Code.ARCHIVE_CORRUPTED or self.chain.height >= self.head:
                raise
            mismatch = Mismatch(self.chain.height + 1, "archive", error.message)
        height = self.chain.height
        return ReplayReport(height, transactions, height, self.chain.state_at(height).root,
                            mismatch)

    def entries(self) -> Iterator[RawEntry]:
        for height in range(1, self.chain.height + 1):
            yield self.chain.raw_entry(height)


ChainSource = StoreSource | NodeSource | ArchiveSource
