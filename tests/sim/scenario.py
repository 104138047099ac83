"""Seeded scenarios: who the validators are, what goes wrong, and when.

A scenario is fully determined by (mix, seed) (and the planted bugs, which
are off except in tests/sim/test_planted_bugs.py): `generate(mix, seed)` draws
everything from `random.Random(f"{mix}:{seed}")`, so a failing run is
replayed by its mix and seed alone.

Fault mixes (all faults stop at GST, after which the network is synchronous
and liveness is checked):

| mix        | what happens before GST |
|------------|-------------------------|
| none       | nothing: delays 5-40 ms |
| delay      | delays up to 400 ms, 10% up to 1.5 s: heavy reordering |
| drop       | 5-40% of messages lost |
| partition  | 1-3 partitions that heal |
| crash      | 1..n/2 validators crash and restart, the WAL replayed in full |
| torn       | as crash, but the WAL's last record is lost though its effects were sent |
| amnesia    | up to f power of validators restart having lost their whole WAL (a disk replaced, a corrupt WAL deleted): only the guarded signer's record survives |
| invalid    | proposers build invalid blocks (wrong state root) 30% of the time |
| equivocate | up to f power of proposers that send two proposals per round |
| vote_all   | up to f power of validators that prevote and precommit every proposal |
| twins      | up to f power of validators run as two instances with one key |
| mixed      | a random combination of the above |

Byzantine plus amnesiac power never exceeds f (3f < total power) in these
mixes: a node that lost its WAL has forgotten its lock, which the guarded
signer cannot restore in general, so it counts as faulty for safety (though
the signer still keeps it from equivocating). The planted-bug and "more than
f" scenarios (FAMILIES) build their own.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from node.consensus.bugs import NO_BUGS, Bugs
from node.consensus.timeouts import Timeouts

MIXES = ("none", "delay", "drop", "partition", "crash", "torn", "amnesia", "invalid",
         "equivocate", "vote_all", "twins", "mixed")
WAL_MODES = ("kept", "torn", "lost")
BYZANTINE_KINDS = ("equivocate", "vote_all", "twin")
SIM_TIMEOUTS = Timeouts(propose_ms=300, prevote_ms=200, precommit_ms=200, increase_ms=100)


@dataclass(frozen=True, slots=True)
class Partition:
    start_ms: int
    end_ms: int
    groups: tuple[frozenset[int], ...]  # instance indices; unlisted instances are isolated


@dataclass(frozen=True, slots=True)
class Crash:
    instance: int
    at_ms: int
    restart_ms: int
    wal: str  # "kept": replayed in full; "torn": its last record is lost; "lost": all of it


@dataclass(frozen=True, slots=True)
class Scenario:
    mix: str
    seed: int
    powers: tuple[int, ...]
    byzantine: tuple[tuple[int, str], ...] = ()  # (validator index, kind)
    gst_ms: int = 0
    delay_min_ms: int = 5
    delay_max_ms: int = 40
    slow_rate: float = 0.0  # share of messages delayed up to slow_max_ms before GST
    slow_max_ms: int = 1500
    drop_rate: float = 0.0
    partitions: tuple[Partition, ...] = ()
    crashes: tuple[Crash, ...] = ()
    invalid_rate: float = 0.0
    target_height: int = 4
    timeouts: Timeouts = SIM_TIMEOUTS
    bugs: Bugs = NO_BUGS
    liveness_bound_ms: int = 60_000
    fixed_delay_ms: int | None = None  # every message takes exactly this long (latency runs)
    gossip_ms: int = 250  # period of the anti-entropy gossip of each instance
    # before GST, an honest instance that has just sent a precommit crashes with this
    # probability and is down for 20-300 ms; it comes back with its WAL lost if it is
    # in `amnesiac`, else torn (last record lost)
    crash_on_precommit: float = 0.0
    amnesiac: tuple[int, ...] = ()  # instances whose restarts lose the WAL
    clock_skews: tuple[int, ...] = field(default=())

    @property
    def n(self) -> int:
        return len(self.powers)

    @property
    def instance_validators(self) -> tuple[int, ...]:
        """Validator index of each instance: one per validator, then the second twins."""
        twins = [v for v, kind in self.byzantine if kind == "twin"]
        return tuple(range(self.n)) + tuple(twins)

    def role_of(self, validator: int) -> str:
        for v, kind in self.byzantine:
            if v == validator:
                return kind
        return "honest"

    @property
    def byzantine_power(self) -> int:
        return sum(self.powers[v] for v, _ in self.byzantine)

    @property
    def max_faulty_power(self) -> int:
        """f: the most power with 3f < total."""
        return (sum(self.powers) - 1) // 3

    def describe(self) -> str:
        byz = ",".join(f"v{v}:{k}" for v, k in self.byzantine) or "-"
        return (f"mix={self.mix} seed={self.seed} n={self.n} powers={list(self.powers)} "
                f"byzantine={byz} gst={self.gst_ms}ms drops={self.drop_rate:.2f} "
                f"partitions={len(self.partitions)} crashes={len(self.crashes)} "
                f"amnesiac={list(self.amnesiac)} "
                f"invalid={self.invalid_rate:.2f} bugs={_bug_names(self.bugs) or '-'}")


def _bug_names(bugs: Bugs) -> str:
    return ",".join(name for name in ("ignore_lock", "inclusive_quorum", "forgetful_signer")
                    if getattr(bugs, name))


def parse_bugs(text: str) -> Bugs:
    names = [name for name in text.split(",") if name]
    return Bugs(**{name: True for name in names})


def generate(mix: str, seed: int, bugs: Bugs = NO_BUGS) -> Scenario:
    if mix not in MIXES:
        raise ValueError(f"unknown mix {mix!r}; known: {', '.join(MIXES)}")
    rng = random.Random(f"{mix}:{seed}")
    n = rng.choice((4, 7))
    powers = tuple(1 for _ in range(n)) if rng.random() < 0.8 else \
        tuple(rng.randint(1, 3) for _ in range(n))
    faults = {mix} if mix != "mixed" else set(rng.sample(MIXES[1:-1], rng.randint(2, 4)))
    scenario = Scenario(mix=mix, seed=seed, powers=powers, bugs=bugs,
                        target_height=rng.randint(3, 4))
    if mix == "none":
        return _with_skews(scenario, rng)
    scenario = replace(scenario, gst_ms=rng.randint(1000, 4000), delay_max_ms=150)
    kinds: list[str] = [k for k in ("equivocate", "vote_all") if k in faults]
    if "twins" in faults:
        kinds.append("twin")
    if kinds:
        scenario = replace(scenario, byzantine=_pick_byzantine(rng, powers, kinds))
    if "delay" in faults:
        scenario = replace(scenario, delay_max_ms=400, slow_rate=0.1)
    if "drop" in faults:
        scenario = replace(scenario, drop_rate=rng.uniform(0.05, 0.4))
    if "invalid" in faults:
        scenario = replace(scenario, invalid_rate=0.3)
    instances = len(scenario.instance_validators)
    partitions: list[Partition] = []
    if "partition" in faults:
        partitions += [_random_partition(rng, instances, scenario.gst_ms)
                       for _ in range(rng.randint(1, 3))]
    if "twins" in faults:
        partitions += [_twins_partition(rng, scenario) for _ in range(rng.randint(1, 2))]
    scenario = replace(scenario, partitions=tuple(partitions))
    honest = [i for i, v in enumerate(scenario.instance_validators)
              if scenario.role_of(v) == "honest"]
    crashes: list[Crash] = []
    for kind, wal in (("crash", "kept"), ("torn", "torn")):
        if kind in faults:
            for instance in rng.sample(honest, rng.randint(1, max(1, n // 2))):
                crashes.append(_random_crash(rng, instance, scenario.gst_ms, wal))
    amnesiac: list[int] = []
    if "amnesia" in faults:
        budget = scenario.max_faulty_power - scenario.byzantine_power
        for instance in rng.sample(honest, len(honest)):
            power = powers[scenario.instance_validators[instance]]
            if power <= budget:
                budget -= power
                amnesiac.append(instance)
                crashes += [_random_crash(rng, instance, scenario.gst_ms, "lost")
                            for _ in range(rng.randint(1, 3))]
    scenario = replace(scenario, crashes=tuple(crashes), amnesiac=tuple(amnesiac))
    return _with_skews(scenario, rng)


def _random_crash(rng: random.Random, instance: int, gst_ms: int, wal: str) -> Crash:
    at = rng.randint(0, gst_ms - 200)
    return Crash(instance, at, rng.randint(at + 100, gst_ms), wal)


#: Scenario families built to hunt one planted bug each (tests/sim/test_planted_bugs.py),
#: and the "more than f" family. Not part of the CI mixes: some exceed f on purpose.
FAMILIES = ("lock_hunt", "threshold_edge", "amnesia_hunt", "over_f")


def generate_family(family: str, seed: int, bugs: Bugs = NO_BUGS) -> Scenario:
    """The scenario of a bug-hunting family (see FAMILIES) for `seed`.

    * lock_hunt: 4 validators, one votes for everything and shows each vote
      to a random half of its peers (within f); 10% drops and slow gossip
      (3 s): split views, where locks are what keeps the honest ones safe.
    * threshold_edge: 3 validators, one of them twins, partitioned from the
      start into {twin, honest} and {twin, honest}: faulty power is exactly
      1/3, where "2/3 or more" and "more than 2/3" differ. The correct
      threshold needs all three validators, so it stays safe (and stalls
      until the partition heals).
    * amnesia_hunt: 4 honest validators; one of them, each time it has just
      sent a precommit, crashes half of the time and restarts with its WAL
      lost (only the sign store survives). One amnesiac is within f, so
      with the guarded signer this stays safe.
    * over_f: 4 validators, two of them twins (2 > f = 1), twins partitions.
    """
    rng = random.Random(f"{family}:{seed}")
    if family == "lock_hunt":
        scenario = Scenario(mix=family, seed=seed, powers=(1, 1, 1, 1), bugs=bugs,
                            byzantine=((rng.randrange(4), "vote_all"),),
                            gst_ms=rng.randint(4000, 8000), delay_max_ms=100,
                            drop_rate=0.1, gossip_ms=3000, target_height=5)
        return _with_skews(scenario, rng)
    if family == "threshold_edge":
        scenario = Scenario(mix=family, seed=seed, powers=(1, 1, 1), bugs=bugs,
                            byzantine=((rng.randrange(3), "twin"),),
                            gst_ms=rng.randint(2000, 5000), delay_max_ms=100, target_height=3)
        # instances 0-2 are the validators, 3 the twin's second instance: one twin and
        # one honest validator on each side, from the start
        twin = scenario.byzantine[0][0]
        honest = [v for v in range(3) if v != twin]
        split = Partition(0, rng.randint(500, scenario.gst_ms),
                          (frozenset({twin, honest[0]}), frozenset({3, honest[1]})))
        return _with_skews(replace(scenario, partitions=(split, _twins_partition(rng, scenario))),
                           rng)
    if family == "amnesia_hunt":
        amnesiac = rng.randrange(4)
        scenario = Scenario(mix=family, seed=seed, powers=(1, 1, 1, 1), bugs=bugs,
                            gst_ms=rng.randint(4000, 8000), delay_max_ms=100,
                            drop_rate=0.1, gossip_ms=1000, target_height=5,
                            crash_on_precommit=0.5, amnesiac=(amnesiac,))
        return _with_skews(scenario, rng)
    if family == "over_f":
        twins = tuple(sorted(rng.sample(range(4), 2)))
        scenario = Scenario(mix=family, seed=seed, powers=(1, 1, 1, 1), bugs=bugs,
                            byzantine=tuple((v, "twin") for v in twins),
                            gst_ms=rng.randint(2000, 5000), delay_max_ms=100, target_height=3)
        parts = tuple(_twins_partition(rng, scenario) for _ in range(2))
        return _with_skews(replace(scenario, partitions=parts), rng)
    raise ValueError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")


def scenario_for(name: str, seed: int, bugs: Bugs = NO_BUGS) -> Scenario:
    """A mix or a family by name (what SCF_SIM_SCENARIO holds)."""
    return generate_family(name, seed, bugs) if name in FAMILIES else generate(name, seed, bugs)


def _with_skews(scenario: Scenario, rng: random.Random) -> Scenario:
    skews = tuple(rng.randint(0, 50) for _ in scenario.instance_validators)
    return replace(scenario, clock_skews=skews)


def _pick_byzantine(rng: random.Random, powers: tuple[int, ...],
                    kinds: list[str]) -> tuple[tuple[int, str], ...]:
    f = (sum(powers) - 1) // 3
    chosen: list[tuple[int, str]] = []
    used = 0
    order = list(range(len(powers)))
    rng.shuffle(order)
    for validator in order:
        if used + powers[validator] <= f:
            chosen.append((validator, rng.choice(kinds)))
            used += powers[validator]
    return tuple(sorted(chosen))


def _random_partition(rng: random.Random, instances: int, gst_ms: int) -> Partition:
    start = rng.randint(0, gst_ms - 100)
    end = rng.randint(start + 50, gst_ms)
    members = list(range(instances))
    rng.shuffle(members)
    cut = rng.randint(1, instances - 1)
    return Partition(start, end, (frozenset(members[:cut]), frozenset(members[cut:])))


def _twins_partition(rng: random.Random, scenario: Scenario) -> Partition:
    """Twins apart, the other instances spread over both sides (Bano et al.)."""
    validators = scenario.instance_validators
    sides: tuple[set[int], set[int]] = (set(), set())
    seen: dict[int, int] = {}
    for instance, validator in enumerate(validators):
        if validator in seen:
            sides[1 - seen[validator]].add(instance)
        else:
            side = rng.randint(0, 1)
            seen[validator] = side
            sides[side].add(instance)
    start = rng.randint(0, scenario.gst_ms // 2)
    end = rng.randint(start + 200, scenario.gst_ms)
    return Partition(start, end, (frozenset(sides[0]), frozenset(sides[1])))
