"""TCP relays that add a one-way latency with jitter: the delay half of a network impairment.

This machine's kernel has no `sch_netem` (`tc qdisc add ... netem` answers
"Specified qdisc kind is unknown"), so latency cannot come from the kernel.
Instead every node-to-node link runs through a relay in the test process:
host i dials `relay_address:port(i, j)`, the relay dials host j's peer port
and copies bytes both ways. Each chunk read is held until a due time drawn
from [low, high] ms after it arrived, never before the previous chunk's (a
TCP stream stays in order, as it would behind a slow link); a delay of
(0, 0) forwards at once. Packet loss and reordering stay in the kernel
(tests/faults/netns.py): they hit the TCP legs on both sides of the relay.

Each direction holds at most `MAX_CHUNKS_IN_FLIGHT` chunks: a side that
stops reading (a partitioned host) stalls the other, as a real network
would, instead of growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

CHUNK_BYTES = 64 * 1024
MAX_CHUNKS_IN_FLIGHT = 256
CONNECT_TIMEOUT_S = 5.0
START_TIMEOUT_S = 10.0


class DelayRelay:
    """Relays on `host`, one listening port per target; its own event loop in a daemon thread."""

    def __init__(self, host: str, seed: int) -> None:
        self.host = host
        self._rng = random.Random(seed)
        self._delay_s = (0.0, 0.0)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="delay-relay",
                                        daemon=True)
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.connections = 0
        self._thread.start()

    def add(self, target_host: str, target_port: int) -> int:
        """Starts a relay to (target_host, target_port); returns its port on `host`."""
        return self._call(self._listen(target_host, target_port))

    def set_delay(self, low_ms: int, high_ms: int) -> None:
        """From now on each chunk waits a uniform draw from [low_ms, high_ms]."""
        if not 0 <= low_ms <= high_ms:
            raise ValueError(f"delay: need 0 <= low <= high, got {low_ms}, {high_ms}")
        self._delay_s = (low_ms / 1000, high_ms / 1000)

    def close(self) -> None:
        """Closes every listener and relayed connection and stops the loop."""
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(START_TIMEOUT_S)
        if not self._thread.is_alive():
            self._loop.close()

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(START_TIMEOUT_S)

    async def _listen(self, target_host: str, target_port: int) -> int:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._spawn(self._relay(reader, writer, target_host, target_port))

        server = await asyncio.start_server(accept, self.host, 0)
        self._servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    async def _shutdown(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = self._loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _relay(self, client_reader: asyncio.StreamReader,
                     client_writer: asyncio.StreamWriter, target_host: str,
                     target_port: int) -> None:
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                server_reader, server_writer = await asyncio.open_connection(
                    target_host, target_port, local_addr=(self.host, 0))
        except (OSError, TimeoutError):
            client_writer.close()
            return
        self.connections += 1
        try:
            async with asyncio.TaskGroup() as pumps:
                pumps.create_task(self._pump(client_reader, server_writer))
                pumps.create_task(self._pump(server_reader, client_writer))
        except* OSError:
            pass  # a reset on either side ends the relayed connection
        finally:
            client_writer.close()
            server_writer.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copies one direction, each chunk at its due time; closes both ends when it stops."""
        chunks: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(MAX_CHUNKS_IN_FLIGHT)

        async def receive() -> None:
            last_due = 0.0
            while data := await reader.read(CHUNK_BYTES):
                low, high = self._delay_s
                last_due = max(last_due, self._loop.time() + self._rng.uniform(low, high))
                await chunks.put((last_due, data))
            await chunks.put((last_due, b""))

        async def send() -> None:
            while True:
                due, data = await chunks.get()
                wait = due - self._loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        receiving = asyncio.ensure_future(receive())
        try:
            await send()
            await receiving
        finally:
            receiving.cancel()
            writer.close()
