"""A token bucket per client, with a clock passed in and bounded memory.

Each client (an address, a key: whatever string the API layer chooses) has a
bucket of at most `burst` tokens that refills at `rate_per_s` tokens a
second. A request takes one token; with none left, `check` says how long
until the next one, which the HTTP layer turns into `429` with
`Retry-After: ceil(seconds)`.

Guarantees:

* Deterministic: `check` never reads a clock; `now` is an argument (seconds
  on any monotonic scale, e.g. `time.monotonic()`). A `now` earlier than the
  client's last one counts as no time passing: the bucket never refills
  from a clock that went backwards.
* For one client that stays tracked, the requests allowed in any window
  `[t0, t1]` number at most `burst + rate_per_s * (t1 - t0)`.
* Memory is bounded: at most `max_clients` buckets are kept. Beyond that the
  least recently seen client is forgotten, and if it comes back it starts
  with a full bucket. That is the price of bounded memory: whoever can
  present more than `max_clients` distinct identities can push its own
  bucket out and get a fresh burst each time. The API layer should key
  clients by something costly to multiply (a source address, not a header
  the client picks) and keep `max_clients` well above the number of clients
  seen in one refill period.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    last_seen: float


class RateLimiter:
    """Per-client token buckets; see the module docstring."""

    __slots__ = ("_rate", "_burst", "_max_clients", "_buckets")

    def __init__(self, rate_per_s: float, burst: int, max_clients: int = 10_000) -> None:
        if not (math.isfinite(rate_per_s) and rate_per_s > 0):
            raise ValueError(f"rate_per_s must be a finite number > 0, got {rate_per_s!r}")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError(f"burst must be an int >= 1, got {burst!r}")
        if isinstance(max_clients, bool) or not isinstance(max_clients, int) or max_clients < 1:
            raise ValueError(f"max_clients must be an int >= 1, got {max_clients!r}")
        self._rate = float(rate_per_s)
        self._burst = burst
        self._max_clients = max_clients
        # Least recently seen first: eviction pops from the front.
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    @property
    def rate_per_s(self) -> float:
        return self._rate

    @property
    def burst(self) -> int:
        return self._burst

    @property
    def max_clients(self) -> int:
        return self._max_clients

    def __len__(self) -> int:
        """How many clients are tracked now (never more than `max_clients`)."""
        return len(self._buckets)

    def __contains__(self, client: object) -> bool:
        return client in self._buckets

    def check(self, client: str, now: float) -> float | None:
        """Takes a token for `client`: None if allowed, else seconds until one is available."""
        bucket = self._touch(client, now)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / self._rate

    def _touch(self, client: str, now: float) -> _Bucket:
        """The client's bucket refilled up to `now`, marked most recently seen."""
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = self._buckets[client] = _Bucket(tokens=float(self._burst), last_seen=now)
            if len(self._buckets) > self._max_clients:
                self._buckets.popitem(last=False)
            return bucket
        self._buckets.move_to_end(client)
        if now > bucket.last_seen:
            refilled = bucket.tokens + (now - bucket.last_seen) * self._rate
            bucket.tokens = min(float(self._burst), refilled)
            bucket.last_seen = now
        return bucket
