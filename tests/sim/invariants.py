"""The safety invariants, checked at every commit and every piece of evidence.

* agreement: no two honest instances commit different blocks at a height;
* validity: every block an honest instance commits was proposed, is valid
  (never one of the blocks built invalid on purpose), and its Commit passes
  `ledger.certificates.validate_commit` against the validator set;
* no equivocation by honest validators: evidence recorded by any instance
  never names an honest validator (what the guarded signer guarantees);
* exact recovery: after a restart with the WAL kept, the rebuilt core is in
  exactly the state it was in when it crashed (`state_of`).

Liveness (every honest instance reaches the target height by GST + a bound)
is checked by the simulator at the end of a run.
"""

from __future__ import annotations

from ledger.types import Block, Commit
from node.consensus.core import Core
from node.consensus.evidence import Evidence, VoteEquivocation
from tests.sim.app import CommitChecker
from tests.sim.scenario import Scenario

Found = list[tuple[str, str]]  # (kind, detail)


class Invariants:
    def __init__(self, scenario: Scenario, keys: list[bytes], checker: CommitChecker) -> None:
        self.scenario = scenario
        self.checker = checker
        self.validator_of = {key: index for index, key in enumerate(keys)}
        self.proposed: set[bytes] = set()
        self.invalid_blocks: set[bytes] = set()
        self.decided: dict[int, tuple[bytes, int]] = {}
        self._equivocations: set[tuple[int, int, int, int]] = set()

    def check_commit(self, instance: int, block: Block, commit: Commit) -> Found:
        """The violations in an honest instance committing `block` with `commit`."""
        found: Found = []
        height = block.header.height
        first = self.decided.setdefault(height, (block.hash, instance))
        if first[0] != block.hash:
            found.append(("agreement", f"height {height}: instance {instance} committed "
                          f"{block.hash.hex()[:12]}, instance {first[1]} committed "
                          f"{first[0].hex()[:12]}"))
        if block.hash not in self.proposed:
            found.append(("validity", f"height {height}: committed block never proposed"))
        if block.hash in self.invalid_blocks:
            found.append(("validity", f"height {height}: committed an invalid block"))
        if not self.checker.is_valid(commit, height, block.hash):
            found.append(("validity", f"height {height}: commit does not verify "
                          "(validate_commit)"))
        return found

    def check_evidence(self, evidence: Evidence) -> Found:
        """A violation if `evidence` convicts an honest validator (reported once)."""
        offender = self.validator_of[evidence.offender]
        if self.scenario.role_of(offender) != "honest":
            return []
        if isinstance(evidence, VoteEquivocation):
            vote = evidence.first.vote
            where = (offender, vote.height, vote.round, vote.vote_type)
        else:
            where = (offender, evidence.first.height, evidence.first.round, 0)
        if where in self._equivocations:
            return []
        self._equivocations.add(where)
        return [("equivocation", f"honest validator v{offender} signed two different "
                 f"{'proposals' if where[3] == 0 else 'votes'} at height {where[1]} "
                 f"round {where[2]}")]


def state_of(core: Core) -> tuple[object, ...]:
    """What a WAL replay must rebuild exactly: the state of Algorithm 1 and the votes."""
    machine, keeper = core.machine, core.keeper
    if machine is None or keeper is None:
        return (core.height,)
    proposals = tuple((r, tuple(p.proposal.block_hash for p in ps))
                      for r, ps in sorted(machine.proposals.items()))
    return (core.height, machine.round, machine.step, machine.locked_round, machine.locked_hash,
            machine.valid_round, machine.valid_hash, machine.decided, proposals,
            tuple(sorted(machine.validity.items())), frozenset(machine.fired),
            frozenset(keeper.all_votes()))
