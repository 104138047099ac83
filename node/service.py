"""One member's node: the pieces wired together, started and stopped in order.

Start: open the home (config, genesis, keys: refuses exposed key files),
check that this code is the code genesis pins, open LevelDB, the WAL and the
sign store (each locked, so two processes cannot share a home), refuse to
go on if the next height runs contract code this node lacks (an upgrade's
module and hash, docs/upgrades.md; the same check stops the node when it
reaches such a height), then the
consensus driver (which first replays the WAL), the peer channel and the
HTTP server. Stop (SIGTERM/SIGINT): stop accepting requests and peers, let
the driver finish the input in hand (a commit is one synced LevelDB batch,
never half-written), close the WAL and the store, exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from contextlib import ExitStack
from dataclasses import dataclass

from aiohttp import web

from contracts.registry import CONTRACT_MODULES, CONTRACT_UPGRADES, default_registry
from genesis.contract_pins import (
    compute_node_pins,
    compute_version_pins,
    validate_contract_pins,
    validate_version_imports,
)
from ledger.accounts import member_of_signer
from ledger.errors import Code, LedgerError
from ledger.store import LevelDBStore
from ledger.store.chain import ChainStore
from ledger.system_state import get_params
from ledger.types import SignedTransaction
from node.consensus.core import Core
from node.consensus.messages import SignedProposal, SignedVote, encode_message
from node.consensus.safety import GuardedSigner
from node.consensus.timeouts import Timeouts
from node.home import NodeHome
from node.node_metrics import NodeMetrics
from node.peers.network import PeerNetwork
from node.peers.protocol import FrameKind
from node.runtime.admission import admit, decode_signed_tx
from node.runtime.application import CommittedBlock, LedgerApplication
from node.runtime.block_proofs import BlockProofs
from node.runtime.commit_feed import CommitFeed
from node.runtime.driver import ConsensusDriver, validate_wal_not_ahead
from node.runtime.gc_tuning import tune_garbage_collector
from node.runtime.mempool import Mempool, MempoolLimits
from node.runtime.peer_messages import PeerMessages
from node.runtime.sign_store import FileSignStore
from node.runtime.sync import BlockSync
from node.runtime.wal import WriteAheadLog

log = logging.getLogger("scf.node")

#: Transactions per TXS gossip frame.
GOSSIP_BATCH = 500
#: After this long at one height, the node re-sends that height's messages.
STUCK_RESEND_MS = 2_000


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Submitted:
    tx_id: bytes
    added: bool  # False: it was already pending or committed (idempotent)


class Node:
    def __init__(self, home: NodeHome) -> None:
        self.home = home
        self.config = home.config
        self.genesis = home.genesis
        self.started_ms = wall_ms()
        self.ready = False
        self._stack = ExitStack()
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self.failure: BaseException | None = None
        self._open_storage()

    # -- opening ----------------------------------------------------------------------

    def _open_storage(self) -> None:
        validate_contract_pins(self.genesis, compute_node_pins())
        validate_version_imports(CONTRACT_MODULES, CONTRACT_UPGRADES)
        if CONTRACT_UPGRADES:
            log.info("later contract versions carried: %s", ", ".join(
                f"{name} {sha}" for name, sha in compute_version_pins(CONTRACT_UPGRADES).items()))
        home = self.home
        try:
            home.data.mkdir(exist_ok=True, mode=0o700)
            kv = self._stack.enter_context(LevelDBStore(home.chain_dir))
            self.chain = ChainStore(kv, self.genesis, keep_versions=self.config.keep_versions)
            self.wal = self._stack.enter_context(WriteAheadLog.open(home.wal_dir))
            validate_wal_not_ahead(self.wal, self.chain.height)
            if home.validator_key is not None:
                # a damaged record that still decodes could let the validator sign twice
                FileSignStore(home.sign_state).load_checked(home.validator_key.public_key,
                                                            self.genesis.chain_id)
        except BaseException:
            self._stack.close()
            raise
        limits = self.config.mempool
        self.mempool = Mempool(MempoolLimits(limits.max_count, limits.max_bytes,
                                             limits.nonce_window))
        # a follower runs the same core with its member key, which no validator set holds:
        # it never signs, and decides from the validators' precommits
        validator_key = home.validator_key or home.member_key
        self.app = LedgerApplication(self.chain, default_registry(), self.mempool,
                                     validator_key.public_key)
        try:
            self.app.check_contract_code()
        except BaseException:
            self._stack.close()
            raise
        self.sign_store = FileSignStore(home.sign_state)
        params = get_params(self.chain.state())
        core = Core(self.genesis.chain_id, GuardedSigner(validator_key, self.sign_store),
                    Timeouts.from_params(params))
        self.feed = CommitFeed(self.config.api.max_streams)
        self.block_proofs = BlockProofs(self.chain)
        self.app.on_failure = self.feed.release
        self.sync = BlockSync()
        self.driver = ConsensusDriver(core, self.app, self.wal, self.sign_store,
                                      send=self._broadcast_consensus, on_commit=self._on_commit,
                                      on_bad_sync=self._on_bad_sync, now_ms=wall_ms,
                                      next_height_delay_ms=self._next_height_delay_ms)
        self.peer_messages = PeerMessages(self.app, self.driver, self.sync,
                                          lambda: self.network, wall_ms)
        self.network = PeerNetwork(
            chain_id=self.genesis.chain_id, genesis_hash=self.genesis.hash,
            identity=home.member_key, is_member=self._is_member, dial=self.config.peers,
            on_message=self.peer_messages.on_message, on_peer_down=self.sync.forget)
        self.metrics = NodeMetrics(self)

    def _next_height_delay_ms(self) -> int:
        if self.app.has_ready_transactions():
            return self.config.min_block_interval_ms
        return self.config.empty_block_interval_ms

    def _is_member(self, public_key: bytes) -> bool:
        member = member_of_signer(self.chain.state(), public_key)
        return member is not None and not member.frozen

    # -- running ----------------------------------------------------------------------

    async def start(self) -> None:
        from node.api.app import SERVER_SETTINGS, build_app  # the API imports this module's types

        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._run_driver(), name="consensus-driver"))
        app = build_app(self, self.network.routes())
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                     handler_cancellation=True, **SERVER_SETTINGS)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port,
                           shutdown_timeout=1.0)
        await site.start()
        await self.network.start()
        self._tasks.append(loop.create_task(self._gossip_loop(), name="gossip"))
        self._tasks.append(loop.create_task(self._status_loop(), name="status"))
        self.ready = True
        log.info("node %s listening on http://%s:%d, chain %s at height %d",
                 self.config.member_id, self.config.host, self.config.port,
                 self.genesis.chain_id, self.chain.height)

    async def run(self) -> bool:
        """Runs until SIGTERM/SIGINT (or `request_stop`), then stops cleanly.
        False if it stopped because a part of the node failed (see `failure`)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        tune_garbage_collector()
        await self._stopping.wait()
        await self.stop()
        return self.failure is None

    def request_stop(self) -> None:
        self._stopping.set()

    async def stop(self) -> None:
        log.info("node %s stopping", self.config.member_id)
        self.ready = False
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.network.close()
        self.driver.stop()
        for task in self._tasks:
            if task.get_name() != "consensus-driver":
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        height = self.app.height
        self._stack.close()
        log.info("node %s stopped at height %d", self.config.member_id, height)

    async def _run_driver(self) -> None:
        try:
            await self.driver.run()
        except Exception as error:
            if isinstance(error, LedgerError):
                log.error("consensus stopped: %s", error)
            else:
                log.exception("the consensus driver failed: stopping the node")
            self.failure = error
            self.request_stop()

    async def _gossip_loop(self) -> None:
        interval = self.config.gossip_interval_ms / 1000
        while True:
            await asyncio.sleep(interval)
            txs = self.mempool.take_new(GOSSIP_BATCH)
            if txs:
                self.network.broadcast(FrameKind.TXS, [tx.encode() for tx in txs])
            if self.driver.waiting_for_next_height and self.app.has_ready_transactions():
                self.driver.start_next_height_now()

    async def _status_loop(self) -> None:
        interval = self.config.status_interval_ms / 1000
        while True:
            await asyncio.sleep(interval)
            self._announce_height()
            self.peer_messages.request_blocks()
            if wall_ms() - self.driver.height_started_ms >= STUCK_RESEND_MS:
                for message in self.driver.stuck_messages():
                    self.network.broadcast(FrameKind.CONSENSUS, encode_message(message))

    # -- callbacks --------------------------------------------------------------------

    def _broadcast_consensus(self, message: SignedProposal | SignedVote) -> None:
        self.network.broadcast(FrameKind.CONSENSUS, encode_message(message))

    def _on_commit(self, committed: CommittedBlock) -> None:
        self.feed.publish(committed)
        self.metrics.on_commit(committed, wall_ms())
        self._announce_height()

    def _on_bad_sync(self, peer: bytes, reason: str) -> None:
        if self.app.halted is not None:  # this node lacks contract code: not the peer's fault
            self.failure = self.app.halted
            self.request_stop()
            return
        self.peer_messages.bad_sync(peer, reason)

    def _announce_height(self) -> None:
        self.network.broadcast(FrameKind.STATUS, {"height": self.app.height})

    # -- what the API calls -------------------------------------------------------------

    def submit(self, raw: bytes | SignedTransaction) -> Submitted:
        """Admits a signed transaction into the mempool (idempotent by tx id)."""
        if not self.ready:
            raise LedgerError(Code.NODE_UNAVAILABLE, "the node is starting or stopping")
        tx = decode_signed_tx(raw) if isinstance(raw, bytes) else raw
        tx_id = tx.tx_id
        if tx_id in self.mempool or self.chain.tx_location(tx_id) is not None:
            return Submitted(tx_id, False)
        admitted = admit(tx, chain_id=self.genesis.chain_id, state=self.chain.state(),
                         next_height=self.app.height + 1)
        self.mempool.add(admitted)
        self.app.failures.pop(tx_id, None)
        return Submitted(tx_id, True)
