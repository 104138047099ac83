"""Keeping one outbound link alive: dial a URL, hand the socket over, back off, redial.

The dialer does not run the connection itself: the network does (the same
code path as an inbound peer) and reports how it ended. What the dialer adds:

* exponential backoff with jitter between attempts (a failed dial or a
  refused handshake doubles the delay up to `reconnect_max_s`; a session that
  authenticated resets it to `reconnect_min_s`), so a restarted node is found
  again quickly and a dead one costs little;
* no duplicate: once the URL is known to reach a given key, the dialer does
  not dial while that key is connected some other way (for example because
  the peer dialed us and its connection was kept); it dials again once that
  peer is gone;
* a URL that turns out to be this node itself is dialed no more.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from node.peers.limits import PeerLimits

CONNECTION_ERRORS = (ConnectionError, OSError, aiohttp.ClientError)


@dataclass(frozen=True, slots=True)
class SessionEnd:
    """How one connection ended."""

    claimed_key: bytes | None  # the key the peer's HELLO named, if it sent one
    authenticated: bool


class DialTarget(Protocol):
    """What a dialer needs from the network it dials for."""

    @property
    def closed(self) -> bool: ...

    async def run_outbound(self, ws: aiohttp.ClientWebSocketResponse, url: str) -> SessionEnd: ...

    async def wait_until_gone(self, key: bytes) -> None: ...


class Dialer:
    def __init__(
        self, url: str, *, target: DialTarget, session: aiohttp.ClientSession, own_key: bytes,
        limits: PeerLimits, log: logging.Logger, rng: random.Random,
    ) -> None:
        self.url = url
        self._target = target
        self._session = session
        self._own_key = own_key
        self._limits = limits
        self._log = log
        self._rng = rng

    async def run_forever(self) -> None:
        known_key: bytes | None = None  # whom this URL reached last time
        failures = 0
        while not self._target.closed:
            if known_key is not None:
                await self._target.wait_until_gone(known_key)
                if self._target.closed:
                    return
            end = await self._dial_once()
            if end is not None and end.claimed_key == self._own_key:
                self._log.warning("not dialing %s again: it is this node itself", self.url)
                return
            if end is not None and end.authenticated:
                known_key, failures = end.claimed_key, 0
            else:
                failures += 1
            await asyncio.sleep(self.backoff(failures))

    def backoff(self, failures: int) -> float:
        """Seconds before the next dial: doubling per failure, capped, jittered down to half."""
        ceiling = min(
            self._limits.reconnect_max_s, self._limits.reconnect_min_s * 2 ** min(failures, 32)
        )
        return ceiling * (0.5 + 0.5 * self._rng.random())

    async def _dial_once(self) -> SessionEnd | None:
        try:
            async with asyncio.timeout(self._limits.handshake_timeout_s):
                ws = await self._session.ws_connect(
                    self.url,
                    heartbeat=self._limits.heartbeat_s,
                    compress=0,
                    max_msg_size=self._limits.max_frame_bytes,
                    timeout=aiohttp.ClientWSTimeout(ws_close=self._limits.close_timeout_s),
                )
        except (TimeoutError, *CONNECTION_ERRORS) as exc:
            self._log.debug("dialing %s failed: %r", self.url, exc)
            return None
        return await self._target.run_outbound(ws, self.url)
