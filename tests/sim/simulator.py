"""A deterministic discrete-event simulation of a validator network.

Theory of operation. Simulated time is an integer number of milliseconds. A
heap orders pending events by (time, sequence number); the sequence number
makes ties deterministic. There are five kinds of event: a message arriving
at an instance, a timer firing, a gossip tick, a crash, a restart. Each
instance (tests/sim/node.py) runs the real `node.consensus.core.Core`; the
simulation is its shell: it writes each input to the instance's WAL, calls
`core.handle(input, now)`, and carries out the effects (sending messages
through the simulated network, scheduling timers, asking the tiny
application of tests/sim/app.py to build, execute and commit blocks, which it
answers at once).

The network is seeded: `random.Random(f"net:{mix}:{seed}")` draws every delay
and every drop, so a run is a pure function of its scenario. Before GST it
delays (and so reorders), drops and partitions messages as the scenario
says; from GST on every message arrives within 5-40 ms. Gossip stands in for
the node's peer layer: every `gossip_ms` (250 ms) each instance sends each
peer what that peer lacks of the current height (proposals and votes it has
seen) and, to a peer at a lower height, the certified block of that height
(catch-up). Messages of the next height that arrive early are held by the
instance and fed to its core (and so written to its WAL) once it gets there.

Invariants (tests/sim/invariants.py) are checked at every commit and every
piece of evidence: agreement, validity, no equivocation by honest validators,
and exact recovery after a restart; liveness is checked at the end: every
honest instance reaches the target height by GST + `liveness_bound_ms`.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from genesis.demo_keys import demo_key
from ledger.crypto import verify_signature
from ledger.types import Block, Commit, VoteType
from ledger.validators import Validator, ValidatorSet
from node.consensus.effects import (
    Broadcast,
    BuildBlock,
    CommitBlock,
    Effect,
    ExecuteBlock,
    RecordEvidence,
    ScheduleTimeout,
)
from node.consensus.evidence import Evidence
from node.consensus.input_codec import decode_input, encode_input
from node.consensus.inputs import (
    BlockBuilt,
    BlockExecuted,
    CertifiedBlockReceived,
    HeightStarted,
    Input,
    ProposalReceived,
    ReplayFinished,
    TimeoutFired,
    VoteReceived,
)
from node.consensus.messages import CertifiedBlock, SignedProposal, SignedVote
from node.consensus.safety import MemorySignStore
from tests.sim import byzantine
from tests.sim.app import CommitChecker, SimApp
from tests.sim.invariants import Invariants, state_of
from tests.sim.node import SimNode, message_height, new_core
from tests.sim.scenario import Crash, Scenario

MAX_EVENTS = 300_000
MAX_PENDING = 10_000
_DELIVER, _TIMER, _GOSSIP, _CRASH, _RESTART = range(5)


@dataclass(frozen=True, slots=True)
class Violation:
    kind: str  # "agreement", "validity", "equivocation", "replay" (safety) or "liveness"
    time_ms: int
    detail: str


@dataclass(frozen=True, slots=True)
class CommitRecord:
    instance: int
    honest: bool
    height: int
    round: int
    block_hash: bytes
    time_ms: int
    proposer: int  # validator index of the block's proposer


@dataclass(slots=True)
class RunResult:
    scenario: Scenario
    violations: list[Violation] = field(default_factory=list)
    commits: list[CommitRecord] = field(default_factory=list)
    events: int = 0
    end_ms: int = 0
    messages: int = 0
    evidence: int = 0
    started_at: dict[tuple[int, int], int] = field(default_factory=dict)

    @property
    def safety_violations(self) -> list[Violation]:
        return [v for v in self.violations if v.kind != "liveness"]

    def replay_command(self) -> str:
        bugs = ",".join(name for name in ("ignore_lock", "inclusive_quorum", "forgetful_signer")
                        if getattr(self.scenario.bugs, name))
        extra = f" SCF_SIM_BUGS={bugs}" if bugs else ""
        return (f"SCF_SIM_SCENARIO={self.scenario.mix} SCF_SIM_SEED={self.scenario.seed}{extra}"
                " .venv/bin/pytest tests/sim -k replay -s")

    def report(self) -> str:
        lines = [self.scenario.describe(),
                 f"replay: {self.replay_command()}"]
        lines += [f"  {v.kind} at {v.time_ms} ms: {v.detail}" for v in self.violations]
        return "\n".join(lines)


def run(scenario: Scenario, *, stop_at_violation: bool = True) -> RunResult:
    """Run `scenario`; by default stop at its first safety violation."""
    return Simulation(scenario, stop_at_violation=stop_at_violation).run()


class Simulation:
    def __init__(self, scenario: Scenario, *, stop_at_violation: bool = True) -> None:
        self.scenario = scenario
        self.stop_at_violation = stop_at_violation
        self.rng = random.Random(f"net:{scenario.mix}:{scenario.seed}")
        self.keys = [demo_key(f"sim-validator-{i}") for i in range(scenario.n)]
        self.validators = ValidatorSet.of(
            [Validator(k.public_key, p) for k, p in zip(self.keys, scenario.powers)])
        self.checker = CommitChecker(self.validators)
        self.invariants = Invariants(scenario, [k.public_key for k in self.keys], self.checker)
        self._verified: dict[tuple[bytes, bytes, bytes], bool] = {}
        self.result = RunResult(scenario)
        self.heap: list[tuple[int, int, int, Any]] = []
        self._seq = 0
        self.now = 0
        self.done = False
        skews = scenario.clock_skews + (0,) * len(scenario.instance_validators)
        self.nodes: list[SimNode] = []
        for index, validator in enumerate(scenario.instance_validators):
            key = self.keys[validator]
            store = MemorySignStore()
            app = SimApp(self.validators, key.public_key, self.checker, skews[index],
                         self._is_invalid_build)
            self.nodes.append(SimNode(index, validator, scenario.role_of(validator), key, app,
                                      store, new_core(scenario, key, store, self.verify)))
        self.honest = [node for node in self.nodes if node.honest]

    # -- plumbing ------------------------------------------------------------------

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        """verify_signature, once per distinct (key, message, signature) per run."""
        key = (public_key, message, signature)
        verdict = self._verified.get(key)
        if verdict is None:
            verdict = verify_signature(public_key, message, signature)
            self._verified[key] = verdict
        return verdict

    def _push(self, time_ms: int, kind: int, data: Any) -> None:
        self._seq += 1
        heapq.heappush(self.heap, (time_ms, self._seq, kind, data))

    def _is_invalid_build(self, height: int, round: int) -> bool:
        rate = self.scenario.invalid_rate
        return rate > 0 and self.now < self.scenario.gst_ms and self.rng.random() < rate

    # -- the run -----------------------------------------------------------------------

    def run(self) -> RunResult:
        scenario = self.scenario
        for node in self.nodes:
            self._feed(node, HeightStarted(1, self.validators))
            self._push(scenario.gossip_ms + node.index, _GOSSIP, node.index)
        for crash in scenario.crashes:
            self._push(crash.at_ms, _CRASH, crash)
            self._push(crash.restart_ms, _RESTART, crash)
        deadline = scenario.gst_ms + scenario.liveness_bound_ms
        result = self.result
        while self.heap and not self.done:
            time_ms, _, kind, data = heapq.heappop(self.heap)
            if time_ms > deadline:
                break
            self.now = time_ms
            result.events += 1
            if result.events > MAX_EVENTS:
                result.violations.append(Violation("liveness", self.now, "event budget spent"))
                break
            if kind == _DELIVER:
                self._deliver(self.nodes[data[0]], data[1])
            elif kind == _TIMER:
                node = self.nodes[data[0]]
                if not node.down and node.epoch == data[1]:
                    self._feed(node, data[2])
            elif kind == _GOSSIP:
                self._gossip(self.nodes[data])
                self._push(self.now + self.scenario.gossip_ms, _GOSSIP, data)
            elif kind == _CRASH:
                self._crash(self.nodes[data.instance])
            else:
                self._restart(self.nodes[data.instance], data.wal)
        result.end_ms = self.now
        if result.safety_violations and self.stop_at_violation:
            return result
        for node in self.honest:
            if node.app.height < scenario.target_height:
                result.violations.append(Violation(
                    "liveness", self.now,
                    f"instance {node.index} at height {node.app.height} (round {node.core.round})"
                    f", target {scenario.target_height}"))
        return result

    # -- an instance handles inputs ---------------------------------------------------

    def _feed(self, node: SimNode, event: Input) -> None:
        queue: deque[Input] = deque([event])
        while queue and not node.down:
            self._handle(node, queue.popleft(), self.now, queue, None)

    def _handle(self, node: SimNode, event: Input, now: int, queue: deque[Input],
                deferred: list[Effect] | None) -> None:
        if isinstance(event, HeightStarted):
            node.wal = []
            node.started_at.setdefault(event.height, self.now)
            self.result.started_at.setdefault((node.index, event.height), self.now)
            node.forget_below(event.height)
            early, node.pending = node.pending, []
            queue.extend(ProposalReceived(m) if isinstance(m, SignedProposal) else VoteReceived(m)
                         for m in early if message_height(m) == event.height)
        else:
            node.wal.append((event, now))  # the WAL is written before the effects
        for effect in node.core.handle(event, now):
            if deferred is not None and isinstance(effect, (ExecuteBlock, BuildBlock)):
                deferred.append(effect)
            else:
                self._carry_out(node, effect, queue)

    def _carry_out(self, node: SimNode, effect: Effect, queue: deque[Input]) -> None:
        if isinstance(effect, Broadcast):
            message = effect.message
            self._broadcast(node, message)
            # a broadcast reaches this instance too, as an input written to its WAL
            queue.append(ProposalReceived(message) if isinstance(message, SignedProposal)
                         else VoteReceived(message))
        elif isinstance(effect, ScheduleTimeout):
            timeout = TimeoutFired(effect.height, effect.round, effect.step)
            self._push(self.now + effect.delay_ms, _TIMER, (node.index, node.epoch, timeout))
        elif isinstance(effect, ExecuteBlock):
            block = effect.block
            queue.append(BlockExecuted(effect.height, effect.round, block.hash,
                                       node.app.execute(block)))
        elif isinstance(effect, BuildBlock):
            block = node.app.build(effect.height, effect.round, self.now)
            if not node.app.execute(block):
                self.invariants.invalid_blocks.add(block.hash)
            queue.append(BlockBuilt(effect.height, effect.round, block))
        elif isinstance(effect, CommitBlock):
            node.app.commit(effect.block, effect.commit)
            self._on_commit(node, effect.block, effect.commit)
            queue.append(HeightStarted(effect.block.header.height + 1, self.validators))
        elif isinstance(effect, RecordEvidence):
            self._on_evidence(effect.evidence)

    # -- network ---------------------------------------------------------------------

    def _broadcast(self, node: SimNode, message: SignedProposal | SignedVote) -> None:
        rate = self.scenario.crash_on_precommit
        if (rate and isinstance(message, SignedVote) and node.honest
                and message.vote.vote_type == VoteType.PRECOMMIT
                and self.now < self.scenario.gst_ms and self.rng.random() < rate):
            wal = "lost" if node.index in self.scenario.amnesiac else "torn"
            crash = Crash(node.index, self.now, self.now + self.rng.randint(20, 300), wal)
            self._push(crash.at_ms, _CRASH, crash)
            self._push(crash.restart_ms, _RESTART, crash)
        if isinstance(message, SignedProposal):
            self.invariants.proposed.add(message.proposal.block_hash)
            if node.role == "equivocate":
                self._equivocate(node, message)
                return
        self._send_all(node, message)

    def _send_all(self, node: SimNode, message: SignedProposal | SignedVote) -> None:
        node.remember(message)
        for peer in self.nodes:
            if peer is not node:
                self._send(node, peer, message)

    def _send(self, src: SimNode, dst: SimNode,
              message: SignedProposal | SignedVote | CertifiedBlock) -> None:
        scenario = self.scenario
        rng = self.rng
        if scenario.fixed_delay_ms is not None:
            delay = scenario.fixed_delay_ms
        elif self.now < scenario.gst_ms:
            if scenario.drop_rate and rng.random() < scenario.drop_rate:
                return
            if scenario.partitions and self._partitioned(src.index, dst.index):
                return
            if scenario.slow_rate and rng.random() < scenario.slow_rate:
                delay = rng.randint(scenario.delay_max_ms, scenario.slow_max_ms)
            else:
                delay = rng.randint(scenario.delay_min_ms, scenario.delay_max_ms)
        else:
            delay = rng.randint(5, 40)
        self.result.messages += 1
        self._push(self.now + delay, _DELIVER, (dst.index, message))

    def _partitioned(self, a: int, b: int) -> bool:
        for partition in self.scenario.partitions:
            if partition.start_ms <= self.now < partition.end_ms and not any(
                    a in group and b in group for group in partition.groups):
                return True
        return False

    def _deliver(self, node: SimNode, message: SignedProposal | SignedVote | CertifiedBlock
                 ) -> None:
        if node.down:
            return
        if isinstance(message, CertifiedBlock):
            if message.block.header.height == node.height:
                self._feed(node, CertifiedBlockReceived(message))
            return
        if not node.remember(message):
            return
        if message_height(message) > node.height:
            if message_height(message) == node.height + 1 and len(node.pending) < MAX_PENDING:
                node.pending.append(message)
            return
        if isinstance(message, SignedVote):
            self._feed(node, VoteReceived(message))
            return
        if node.role == "vote_all":
            self._vote_for_everything(node, message)
        self._feed(node, ProposalReceived(message))

    def _gossip(self, node: SimNode) -> None:
        if node.down:
            return
        height = node.height
        for peer in self.nodes:
            if peer is node or peer.down:
                continue
            if peer.height < height and 1 <= peer.height <= node.app.height:
                index = peer.height - 1
                self._send(node, peer, CertifiedBlock(node.app.blocks[index],
                                                      node.app.commits[index]))
            elif peer.height == height:
                have = peer.delivered.get(height, set())
                for key, message in node.log.get(height, {}).items():
                    if key not in have:
                        self._send(node, peer, message)

    # -- crashes -------------------------------------------------------------------------

    def _crash(self, node: SimNode) -> None:
        if node.down:
            return
        node.snapshot = state_of(node.core)
        node.down = True
        node.epoch += 1

    def _restart(self, node: SimNode, wal_mode: str) -> None:
        """A new core from HeightStarted + the WAL; then the signer's record."""
        if not node.down:
            return
        node.down = False
        if self.scenario.bugs.forgetful_signer:
            node.store = MemorySignStore()  # planted bug (c): the record is lost
        kept = {"kept": node.wal, "torn": node.wal[:-1], "lost": []}[wal_mode]
        # what the WAL holds on disk is each input's canonical encoding
        wal = [(decode_input(encode_input(event)), at) for event, at in kept]
        node.core = new_core(self.scenario, node.key, node.store, self.verify)
        node.log, node.delivered, node.pending = {}, {}, []
        queue: deque[Input] = deque()
        deferred: list[Effect] = []
        self._handle(node, HeightStarted(node.app.height + 1, self.validators), self.now,
                     queue, deferred)
        for event, at in wal:
            if isinstance(event, ProposalReceived):
                node.remember(event.proposal)
            elif isinstance(event, VoteReceived):
                node.remember(event.vote)
            self._handle(node, event, at, queue, deferred)
        self._handle(node, ReplayFinished(node.store.load()), self.now, queue, deferred)
        if wal_mode == "kept" and state_of(node.core) != node.snapshot:
            self._violation("replay", f"instance {node.index}: the WAL replay did not rebuild "
                            f"the state before the crash: {node.snapshot} != {state_of(node.core)}")
        for effect in deferred:
            self._carry_out(node, effect, queue)
        while queue and not node.down:
            self._handle(node, queue.popleft(), self.now, queue, None)

    # -- Byzantine behaviour (tests/sim/byzantine.py) ----------------------------------

    def _equivocate(self, node: SimNode, first: SignedProposal) -> None:
        for peer, message in byzantine.equivocating_proposals(node, first, self.rng,
                                                              self.now, self.nodes):
            if message.proposal.block_hash not in self.invariants.proposed:
                self.invariants.proposed.add(message.proposal.block_hash)
                if not node.app.execute(message.block):
                    self.invariants.invalid_blocks.add(message.block.hash)
            self._send(node, peer, message)

    def _vote_for_everything(self, node: SimNode, proposal: SignedProposal) -> None:
        for peer, vote in byzantine.votes_for_everything(node, proposal, self.rng, self.nodes):
            self._send(node, peer, vote)

    # -- invariants (tests/sim/invariants.py) -------------------------------------------

    def _violation(self, kind: str, detail: str) -> None:
        self.result.violations.append(Violation(kind, self.now, detail))
        if self.stop_at_violation:
            self.done = True

    def _on_evidence(self, evidence: Evidence) -> None:
        self.result.evidence += 1
        for kind, detail in self.invariants.check_evidence(evidence):
            self._violation(kind, detail)

    def _on_commit(self, node: SimNode, block: Block, commit: Commit) -> None:
        height = block.header.height
        proposer = self.invariants.validator_of[block.header.proposer]
        self.result.commits.append(CommitRecord(node.index, node.honest, height, commit.round,
                                                block.hash, self.now, proposer))
        if not node.honest:
            return
        for kind, detail in self.invariants.check_commit(node.index, block, commit):
            self._violation(kind, detail)
        if all(n.app.height >= self.scenario.target_height for n in self.honest):
            self.done = True
