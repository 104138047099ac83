"""How many transactions a proposer puts in a block: as many as it can execute in time.

The proposer executes the block it builds before it can send the proposal,
and the other validators give up on a proposal after `timeout_propose_ms`
(they prevote nil and the round is lost). On a loaded machine a block of
`max_block_txs` can take longer than that to build, and then every round
fails the same way: the chain stalls exactly when it has the most to do.

So the proposer keeps the cost of building under a share of the propose
timeout: it learns its recent cost per transaction (an exponentially
weighted average of its builds) and reaps at most budget / cost. Which
transactions a proposer includes is its own choice, so this changes no
rule of the protocol: the other validators check the block, not its size.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The share of the propose timeout a build may take (1/3 leaves the rest for
#: sending the proposal and for the others to receive and decode it).
BUDGET_DIVISOR = 3
#: Never fewer than this (a block must make progress even on a slow machine).
MIN_TXS = 50
#: Builds smaller than this say too little about the cost per transaction.
MIN_SAMPLE_TXS = 20
#: Weight of the newest build in the average (1/2: adapts within a few blocks).
NEW_WEIGHT = 0.5


@dataclass(slots=True)
class BuildBudget:
    seconds_per_tx: float | None = None

    def limit(self, max_block_txs: int, timeout_propose_ms: int) -> int:
        """How many transactions the next build may take."""
        if self.seconds_per_tx is None or self.seconds_per_tx <= 0:
            return max_block_txs
        budget_s = timeout_propose_ms / 1000 / BUDGET_DIVISOR
        return max(min(MIN_TXS, max_block_txs), min(max_block_txs,
                                                   int(budget_s / self.seconds_per_tx)))

    def record(self, txs: int, seconds: float) -> None:
        """A build of `txs` transactions took `seconds`."""
        if txs < MIN_SAMPLE_TXS:
            return
        sample = seconds / txs
        self.seconds_per_tx = sample if self.seconds_per_tx is None else \
            NEW_WEIGHT * sample + (1 - NEW_WEIGHT) * self.seconds_per_tx
