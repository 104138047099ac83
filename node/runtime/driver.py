"""The one task that owns the consensus core: inputs in, effects out, WAL first.

Everything that happens to consensus (a peer's proposal or vote, a timer, a
block fetched by sync) is put on the driver's queue; one asyncio task takes
items off it and, for each input, writes it to the WAL and only then lets
the core handle it and carries out the effects, in order (docs/wal.md). The
core's own broadcasts come back to it as inputs, so they are in the WAL too,
and a restart re-feeds the WAL of the current height exactly as
tests/sim/simulator.py does (`_restart`), which the simulation checks across
thousands of seeded crashes: HeightStarted, the height's WAL records, then
ReplayFinished with the sign store's last record; the effects that ask the
application to build or execute a block wait until the replay is over.

What must be on disk when (docs/wal.md, "When records are synced"): a
record is appended without fsync, and the log is fsynced before anything
this node signed leaves the process (a Broadcast). The log is one sequential
file per height, so that fsync makes every earlier record durable: whatever
led this node to a proposal or a vote (the prevotes that locked it, say) is
on disk before a peer can see that proposal or vote, which is what a replay
needs to come back to the same locks. Records after the last signed message
may be lost with the machine's power; losing them is losing messages that
peers re-send and timeouts that fire again. (CometBFT's WAL makes the same
split: peer messages written, its own messages written and synced.) One
fsync per message sent instead of one per input (every peer's vote) is the
difference under load.

Messages of the next height are held (bounded) and fed once that height
starts, so they reach the WAL after HeightStarted as the core requires.
Blocks fetched by block sync are verified and committed by the application
between two inputs, and the core then starts the height after them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ledger.errors import Code, LedgerError
from ledger.types import Block, Commit
from node.consensus.core import Core
from node.consensus.effects import (
    Broadcast,
    BuildBlock,
    CommitBlock,
    Effect,
    ExecuteBlock,
    RecordEvidence,
    ScheduleTimeout,
)
from node.consensus.evidence import Evidence, describe_evidence
from node.consensus.input_codec import decode_input, encode_input
from node.consensus.inputs import (
    BlockBuilt,
    BlockExecuted,
    HeightStarted,
    Input,
    ProposalReceived,
    ReplayFinished,
    TimeoutFired,
    VoteReceived,
)
from node.consensus.messages import SignedProposal, SignedVote
from node.consensus.safety import SignStore
from node.runtime.application import CommittedBlock, LedgerApplication
from node.runtime.wal import WriteAheadLog

Message = SignedProposal | SignedVote

#: Early messages of the next height held until it starts.
MAX_PENDING = 2_000
#: Messages of the current height kept to re-send when the height is stuck.
MAX_HEIGHT_LOG = 10_000
#: WAL segments kept below the current height (older ones are deleted).
WAL_KEEP_HEIGHTS = 2
#: Equivocation evidence kept in memory, newest last (`evidence_total` counts all):
#: a validator equivocating without pause must not grow the node without bound.
MAX_EVIDENCE = 1_000

log = logging.getLogger("scf.node.driver")


def message_height(message: Message) -> int:
    return message.vote.height if isinstance(message, SignedVote) else message.proposal.height


def as_input(message: Message) -> Input:
    return ProposalReceived(message) if isinstance(message, SignedProposal) else VoteReceived(message)


@dataclass(frozen=True, slots=True)
class SyncedBlocks:
    """Blocks with certificates fetched from `peer`, ascending from the next height."""

    peer: bytes
    entries: tuple[tuple[Block, Commit], ...]


@dataclass(frozen=True, slots=True)
class _Stop:
    pass


QueueItem = Input | SyncedBlocks | _Stop


class ConsensusDriver:
    def __init__(self, core: Core, app: LedgerApplication, wal: WriteAheadLog,
                 sign_store: SignStore, *, send: Callable[[Message], None],
                 on_commit: Callable[[CommittedBlock], None],
                 on_bad_sync: Callable[[bytes, str], None],
                 now_ms: Callable[[], int],
                 next_height_delay_ms: Callable[[], int] = lambda: 0) -> None:
        """`next_height_delay_ms`: how long to wait after a commit before the
        next height starts (the node waits longer when it has nothing to
        propose, so an idle chain does not spin out empty blocks)."""
        self.core = core
        self.app = app
        self.wal = wal
        self.sign_store = sign_store
        self._send = send
        self._on_commit = on_commit
        self._on_bad_sync = on_bad_sync
        self._now_ms = now_ms
        self._queue: asyncio.Queue[QueueItem] = asyncio.Queue()
        self._pending: list[Message] = []
        self.height_log: dict[bytes, Message] = {}
        self.evidence: deque[Evidence] = deque(maxlen=MAX_EVIDENCE)
        self.evidence_total = 0
        self.height_started_ms = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next_height_delay_ms = next_height_delay_ms
        self._delayed: tuple[HeightStarted, asyncio.TimerHandle] | None = None
        self._wal_unsynced = False

    # -- what the rest of the node calls ---------------------------------------------

    @property
    def height(self) -> int:
        """The height consensus is running for (the last committed + 1)."""
        return self.core.height

    def deliver(self, message: Message) -> None:
        """A proposal or vote from a peer."""
        self._queue.put_nowait(as_input(message))

    def deliver_synced(self, synced: SyncedBlocks) -> None:
        self._queue.put_nowait(synced)

    @property
    def waiting_for_next_height(self) -> bool:
        return self._delayed is not None

    def start_next_height_now(self) -> None:
        """Ends the wait after a commit (the node calls it when transactions arrive)."""
        if self._delayed is not None:
            event, handle = self._delayed
            handle.cancel()
            self._delayed = None
            self._queue.put_nowait(event)

    def stop(self) -> None:
        """Finishes the item in hand, then `run` returns."""
        self._queue.put_nowait(_Stop())

    def stuck_messages(self) -> list[Message]:
        """This height's messages, to re-send to peers that may have missed them."""
        return list(self.height_log.values())

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._recover()
        while True:
            item = await self._queue.get()
            if isinstance(item, _Stop):
                self._sync_wal()
                return
            if isinstance(item, SyncedBlocks):
                self._apply_synced(item)
            else:
                self._process(item)

    # -- recovery (the order of tests/sim/simulator.py `_restart`) ----------------------

    def _recover(self) -> None:
        height = self.app.height + 1
        wal_height = self.wal.height
        records: list[bytes] = []
        validate_wal_not_ahead(self.wal, self.app.height)
        if wal_height == height:
            records = list(self.wal.records(height))
        queue: deque[Input] = deque()
        deferred: list[Effect] = []
        self._start(HeightStarted(height, self.app.validators()), queue, deferred,
                    new_segment=wal_height != height)
        for payload in records:
            event = decode_input(payload)
            self._remember(event)
            self._handle(event, queue, deferred, write=False)
        self._handle(ReplayFinished(self.sign_store.load()), queue, deferred, write=True)
        if records:
            log.info("recovered height %d from %d WAL records", height, len(records))
        for effect in deferred:
            self._carry_out(effect, queue)
        self._drain(queue)

    # -- handling inputs ------------------------------------------------------------------

    def _process(self, event: Input) -> None:
        if isinstance(event, HeightStarted):
            if self._delayed is not None and self._delayed[0] is event:
                self._delayed = None
            if event.height <= self.core.height:
                return  # block sync got there first
        elif isinstance(event, (ProposalReceived, VoteReceived)):
            message = event.proposal if isinstance(event, ProposalReceived) else event.vote
            height = message_height(message)
            if height == self.core.height + 1:
                if len(self._pending) < MAX_PENDING:
                    self._pending.append(message)
                return
            if height != self.core.height or _key(message) in self.height_log:
                return
        elif isinstance(event, TimeoutFired) and event.height != self.core.height:
            return
        self._drain(deque([event]))

    def _drain(self, queue: deque[Input]) -> None:
        while queue:
            event = queue.popleft()
            if isinstance(event, HeightStarted):
                self._start(event, queue, None, new_segment=True)
            else:
                self._remember(event)
                self._handle(event, queue, None, write=True)

    def _start(self, event: HeightStarted, queue: deque[Input], deferred: list[Effect] | None,
               *, new_segment: bool) -> None:
        if new_segment:
            self.wal.start_height(event.height)
            self.wal.prune_below(max(1, event.height - WAL_KEEP_HEIGHTS))
        self.height_log = {}
        self.height_started_ms = self._now_ms()
        early, self._pending = self._pending, []
        queue.extend(as_input(m) for m in early if message_height(m) == event.height)
        self._handle(event, queue, deferred, write=False)

    def _handle(self, event: Input, queue: deque[Input], deferred: list[Effect] | None, *,
                write: bool) -> None:
        if write:
            # written before the effects; synced before any of them leaves the process
            self.wal.append(encode_input(event), sync=False)
            self._wal_unsynced = True
        for effect in self.core.handle(event, self._now_ms()):
            if deferred is not None and isinstance(effect, (ExecuteBlock, BuildBlock)):
                deferred.append(effect)
            else:
                self._carry_out(effect, queue)

    def _remember(self, event: Input) -> None:
        if isinstance(event, (ProposalReceived, VoteReceived)) and \
                len(self.height_log) < MAX_HEIGHT_LOG:
            message = event.proposal if isinstance(event, ProposalReceived) else event.vote
            self.height_log[_key(message)] = message

    def _carry_out(self, effect: Effect, queue: deque[Input]) -> None:
        if isinstance(effect, Broadcast):
            self._sync_wal()
            self._send(effect.message)
            queue.append(as_input(effect.message))
        elif isinstance(effect, ScheduleTimeout):
            assert self._loop is not None
            timeout = TimeoutFired(effect.height, effect.round, effect.step)
            self._loop.call_later(effect.delay_ms / 1000, self._queue.put_nowait, timeout)
        elif isinstance(effect, ExecuteBlock):
            valid = self.app.execute(effect.block)
            if not valid:
                log.warning("height %d round %d: proposed block %s is invalid: %s",
                            effect.height, effect.round, effect.block.hash.hex()[:16],
                            self.app.invalid_reason(effect.block.hash))
            queue.append(BlockExecuted(effect.height, effect.round, effect.block.hash, valid))
        elif isinstance(effect, BuildBlock):
            block = self.app.build(effect.height, self._now_ms())
            queue.append(BlockBuilt(effect.height, effect.round, block))
        elif isinstance(effect, CommitBlock):
            committed = self.app.commit(effect.block, effect.commit)
            self._on_commit(committed)
            following = HeightStarted(effect.block.header.height + 1, self.app.validators())
            delay_ms = self._next_height_delay_ms()
            if delay_ms <= 0 or self._loop is None:
                # through the asyncio queue, never in this drain: the loop must get
                # to serve requests and signals between two heights (a lone
                # validator decides a height without waiting for anyone)
                self._queue.put_nowait(following)
            else:
                handle = self._loop.call_later(delay_ms / 1000, self._queue.put_nowait, following)
                self._delayed = (following, handle)
        elif isinstance(effect, RecordEvidence):
            self.evidence.append(effect.evidence)
            self.evidence_total += 1
            log.warning("equivocation evidence recorded: %s", describe_evidence(effect.evidence))

    def _sync_wal(self) -> None:
        if self._wal_unsynced:
            self.wal.sync()
            self._wal_unsynced = False

    # -- block sync ---------------------------------------------------------------------

    def _apply_synced(self, synced: SyncedBlocks) -> None:
        applied = 0
        for block, commit in synced.entries:
            if block.header.height <= self.app.height:
                continue  # consensus got there first
            try:
                committed = self.app.apply_synced(block, commit)
            except Exception as error:  # noqa: BLE001 - a peer's bad block, whatever failed
                self._on_bad_sync(synced.peer, f"block {block.header.height}: {error}")
                break
            applied += 1
            self._on_commit(committed)
        if applied and self.app.height + 1 > self.core.height:
            if self._delayed is not None:
                self._delayed[1].cancel()
                self._delayed = None
            self._drain(deque([HeightStarted(self.app.height + 1, self.app.validators())]))


def validate_wal_not_ahead(wal: WriteAheadLog, store_height: int) -> None:
    """WAL_BAD_HEIGHT if the WAL is past the height after the store's head:
    the store lost committed blocks (a damaged LevelDB log, an old backup)."""
    wal_height = wal.height
    if wal_height is not None and wal_height > store_height + 1:
        raise LedgerError(Code.WAL_BAD_HEIGHT,
                          f"the WAL in {wal.directory} is at height {wal_height} but the store's "
                          f"next height is {store_height + 1}: the store lost blocks (a damaged "
                          "LevelDB log, an old copy); stop the node and run `scf node "
                          "reset-data` to re-sync from peers (docs/operations.md, recovery)")


def _key(message: Message) -> bytes:
    """Identifies a signed message by what is signed and the signature (not the
    block, which the proposal names by hash): cheap, and a forged copy with a
    bad signature cannot shadow the real one."""
    signed = message.vote if isinstance(message, SignedVote) else message.proposal
    return signed.encode() + message.signature
