"""node/api/rate_limit.py: token buckets per client, on a clock the test drives."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.api.rate_limit import RateLimiter


def _allowed(limiter: RateLimiter, client: str, now: float, times: int) -> list[float | None]:
    return [limiter.check(client, now) for _ in range(times)]


def test_burst_then_limited() -> None:
    limiter = RateLimiter(rate_per_s=1, burst=3)
    assert _allowed(limiter, "a", 0.0, 3) == [None, None, None]
    assert limiter.check("a", 0.0) == 1.0
    assert limiter.check("a", 0.0) == 1.0  # a refused request takes nothing


def test_refill_over_time_up_to_burst_only() -> None:
    limiter = RateLimiter(rate_per_s=2, burst=2)
    assert _allowed(limiter, "a", 0.0, 2) == [None, None]
    assert limiter.check("a", 0.25) == 0.25  # half a token back, half to go at 2/s
    assert limiter.check("a", 0.5) is None
    assert limiter.check("a", 0.5) == 0.5
    assert _allowed(limiter, "a", 100.0, 3) == [None, None, 0.5]  # full is 2, not 200


@pytest.mark.parametrize(
    ("rate", "burst", "now", "expected"),
    [
        (4.0, 2, 0.0, 0.25),
        (4.0, 2, 0.125, 0.125),
        (0.5, 1, 0.0, 2.0),
        (0.5, 1, 1.5, 0.5),
        (10.0, 5, 0.0, 0.1),
    ],
)
def test_retry_after_is_exact(rate: float, burst: int, now: float, expected: float) -> None:
    limiter = RateLimiter(rate_per_s=rate, burst=burst)
    assert _allowed(limiter, "a", 0.0, burst) == [None] * burst
    assert limiter.check("a", now) == expected
    assert limiter.check("a", now + expected) is None


def test_clients_are_independent() -> None:
    limiter = RateLimiter(rate_per_s=1, burst=1)
    assert limiter.check("a", 0.0) is None
    assert limiter.check("a", 0.0) == 1.0
    assert limiter.check("b", 0.0) is None


def test_a_clock_going_backwards_refills_nothing() -> None:
    limiter = RateLimiter(rate_per_s=1, burst=1)
    assert limiter.check("a", 10.0) is None
    assert limiter.check("a", 5.0) == 1.0
    assert limiter.check("a", 10.5) == 0.5  # measured from 10.0, the latest time seen


def test_memory_is_bounded_by_evicting_the_least_recently_seen() -> None:
    limiter = RateLimiter(rate_per_s=1, burst=1, max_clients=3)
    for client in ("a", "b", "c"):
        assert limiter.check(client, 0.0) is None
    assert limiter.check("a", 0.0) == 1.0  # a is now the most recently seen
    assert limiter.check("d", 0.0) is None
    assert len(limiter) == 3
    assert "b" not in limiter and "a" in limiter
    for index in range(1000):
        limiter.check(f"client-{index}", 0.0)
    assert len(limiter) == 3


def test_an_evicted_client_comes_back_with_a_full_bucket() -> None:
    # The documented price of bounded memory.
    limiter = RateLimiter(rate_per_s=1, burst=2, max_clients=1)
    assert _allowed(limiter, "a", 0.0, 3) == [None, None, 1.0]
    assert limiter.check("b", 0.0) is None  # evicts a
    assert _allowed(limiter, "a", 0.0, 2) == [None, None]


@pytest.mark.parametrize(
    "arguments",
    [
        {"rate_per_s": 0, "burst": 1},
        {"rate_per_s": -1, "burst": 1},
        {"rate_per_s": math.inf, "burst": 1},
        {"rate_per_s": math.nan, "burst": 1},
        {"rate_per_s": 1, "burst": 0},
        {"rate_per_s": 1, "burst": 1.5},
        {"rate_per_s": 1, "burst": True},
        {"rate_per_s": 1, "burst": 1, "max_clients": 0},
    ],
)
def test_bad_parameters_refused(arguments: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RateLimiter(**arguments)  # type: ignore[arg-type]


# -- the bound, as a property ---------------------------------------------------

CLIENTS = ("a", "b", "c")


def _run(limiter: RateLimiter, steps: list[tuple[str, float]]) -> dict[str, list[float]]:
    """Feeds (client, time elapsed since the previous call) steps; allowed times per client."""
    allowed: dict[str, list[float]] = {client: [] for client in CLIENTS}
    now = 0.0
    for client, elapsed in steps:
        now += elapsed
        if limiter.check(client, now) is None:
            allowed[client].append(now)
    return allowed


def _worst_excess(allowed: dict[str, list[float]], rate: float, burst: int) -> float:
    """Max over clients and windows [t0, t1] of: allowed in it - (burst + rate * (t1 - t0)).

    The worst windows start and end at allowed calls: the allowed calls in any
    window are a contiguous run of the sorted list, and shrinking the window
    to that run's first and last times only lowers the bound.
    """
    worst = -math.inf
    for times in allowed.values():
        for first in range(len(times)):
            for last in range(first, len(times)):
                count = last - first + 1
                worst = max(worst, count - (burst + rate * (times[last] - times[first])))
    return worst


# Dyadic rates and time steps (multiples of 1/8 and 1/64) keep every sum and
# product exact in binary floating point, so the bound is checked exactly.
# Half the steps take no time (bursts), the others up to a minute (refills).
ELAPSED = st.one_of(st.just(0.0), st.integers(1, 64 * 60).map(lambda k: k / 64))


@given(
    rate=st.integers(1, 64).map(lambda eighths: eighths / 8),
    burst=st.integers(1, 5),
    steps=st.lists(st.tuples(st.sampled_from(CLIENTS), ELAPSED), max_size=60),
)
def test_allowed_in_any_window_is_at_most_burst_plus_rate_times_length(
    rate: float, burst: int, steps: list[tuple[str, float]]
) -> None:
    limiter = RateLimiter(rate_per_s=rate, burst=burst, max_clients=len(CLIENTS))
    assert _worst_excess(_run(limiter, steps), rate, burst) <= 0


# With arbitrary floats, rounding may move a refill by a few ulps, never by a
# meaningful fraction of a token.
@given(
    rate=st.floats(0.01, 1000),
    burst=st.integers(1, 10),
    steps=st.lists(
        st.tuples(st.sampled_from(CLIENTS), st.one_of(st.just(0.0), st.floats(0, 60))), max_size=60
    ),
)
def test_the_bound_holds_up_to_rounding_for_any_floats(
    rate: float, burst: int, steps: list[tuple[str, float]]
) -> None:
    limiter = RateLimiter(rate_per_s=rate, burst=burst, max_clients=len(CLIENTS))
    assert _worst_excess(_run(limiter, steps), rate, burst) <= 1e-6


@given(
    rate=st.floats(0.01, 1000),
    burst=st.integers(1, 5),
    steps=st.lists(st.floats(0, 10), min_size=1, max_size=40),
)
def test_retry_after_is_never_a_lie(rate: float, burst: int, steps: list[float]) -> None:
    """A refused client is allowed once the delay it was given has passed (up to rounding)."""
    limiter = RateLimiter(rate_per_s=rate, burst=burst)
    now = 0.0
    for elapsed in steps:
        now += elapsed
        retry_after = limiter.check("a", now)
        if retry_after is not None:
            assert 0 < retry_after <= 1 / rate
            now += retry_after * (1 + 1e-9) + 1e-9
            assert limiter.check("a", now) is None
