"""How long a round step waits before giving up: timeouts that grow per round.

Algorithm 1 needs the timeouts to grow with the round so that, after the
network becomes synchronous (GST), some round is long enough for every
correct validator to hear every other. Linear growth, as in Tendermint:

    timeout_propose(r)   = timeout_propose_ms   + r * timeout_increase_ms
    timeout_prevote(r)   = timeout_prevote_ms   + r * timeout_increase_ms
    timeout_precommit(r) = timeout_precommit_ms + r * timeout_increase_ms

The base values come from the chain parameters in state
(ledger.system_state.ChainParams), so every validator uses the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.system_state import ChainParams
from node.consensus.safety import Step


@dataclass(frozen=True, slots=True)
class Timeouts:
    propose_ms: int
    prevote_ms: int
    precommit_ms: int
    increase_ms: int

    @classmethod
    def from_params(cls, params: ChainParams) -> Timeouts:
        return cls(params.timeout_propose_ms, params.timeout_prevote_ms,
                   params.timeout_precommit_ms, params.timeout_increase_ms)

    def delay_ms(self, step: Step, round: int) -> int:
        base = {Step.PROPOSE: self.propose_ms, Step.PREVOTE: self.prevote_ms,
                Step.PRECOMMIT: self.precommit_ms}[step]
        return base + round * self.increase_ms
