"""The per-peer limits and the token bucket, with the clock as an argument."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import Code, LedgerError
from node.peers.limits import PeerLimits, TokenBucket
from node.peers.protocol import MAX_FRAME_SIZE


def test_the_defaults() -> None:
    limits = PeerLimits()
    assert limits.max_frame_bytes == MAX_FRAME_SIZE
    assert (limits.max_messages_per_s, limits.send_queue_frames) == (2000.0, 10_000)


@pytest.mark.parametrize(
    "changes",
    [
        {"max_frame_bytes": 0},
        {"handshake_timeout_s": -1.0},
        {"send_queue_frames": True},
        {"reconnect_min_s": 6.0, "reconnect_max_s": 5.0},
        {"max_bytes_per_s": 1000.0},  # a burst below one maximal frame
    ],
)
def test_nonsense_limits_are_a_configuration_error(changes: dict[str, object]) -> None:
    with pytest.raises(LedgerError) as raised:
        dataclasses.replace(PeerLimits(), **changes)
    assert raised.value.code is Code.CONFIG_INVALID


def test_a_bucket_allows_a_burst_of_twice_the_rate_then_refills() -> None:
    bucket = TokenBucket(rate=8, now=100.0)
    assert all(bucket.take(1, 100.0) for _ in range(16))
    assert not bucket.take(1, 100.0)
    assert bucket.take(1, 100.125)  # 1/8 s at 8/s is one token
    assert not bucket.take(1, 100.125)
    assert bucket.take(16, 200.0)  # refilled, but never above the burst
    assert not bucket.take(0.5, 200.0)


def test_a_refused_take_takes_nothing() -> None:
    bucket = TokenBucket(rate=5, now=0.0)
    assert not bucket.take(11, 0.0)
    assert bucket.take(10, 0.0)


def test_a_clock_going_backwards_gives_no_tokens() -> None:
    bucket = TokenBucket(rate=1, now=50.0)
    assert bucket.take(2, 50.0)
    assert not bucket.take(1, 10.0)
    assert not bucket.take(1, 50.5)
    assert bucket.take(1, 51.0)


@given(st.lists(st.tuples(st.floats(0, 10), st.floats(0, 50)), max_size=50))
def test_never_more_than_the_burst_plus_the_rate_over_time(steps: list[tuple[float, float]]) -> None:
    rate, now, taken = 10.0, 0.0, 0.0
    bucket = TokenBucket(rate, now)
    for advance, amount in steps:
        now += advance
        if bucket.take(amount, now):
            taken += amount
    assert taken <= 2 * rate + rate * now + 1e-6
