"""Planted bugs, for tests only: proof that the simulation can fail.

A simulation that never reports a violation proves nothing unless it is
shown to catch real mistakes. Each flag below plants one classic consensus
bug; tests/sim searches seeds until the invariants catch it. Production code
constructs the core with `NO_BUGS` (the default) and nothing else.

* `ignore_lock`: L23 and L29 prevote for any valid proposal, forgetting
  lockedValue/lockedRound.
* `inclusive_quorum`: "2/3 or more" instead of "more than 2/3" of the voting
  power counts as a quorum (only differs when 3 divides the total power).
* `forgetful_signer`: read by the node shell, not the core: on restart the
  guarded signer's last-signed record is lost (a fresh, empty sign store).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bugs:
    ignore_lock: bool = False
    inclusive_quorum: bool = False
    forgetful_signer: bool = False


NO_BUGS = Bugs()
