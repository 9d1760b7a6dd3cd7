"""Redis for code that runs on an event loop (the order hot path served by ``exchange.rsgi``).

One thing only: send a few commands in one write on a pooled connection and read their
replies (``pipelined``). It is not redis-py's asyncio client: on the hot path that client cost
the web tier about 90 µs of CPU more per order than this (its per-read timeouts, health checks
and retry wrappers; docs/decisions/0017). Replies are parsed by hiredis, the parser redis-py
itself uses; the URL is read by redis-py's own ``parse_url`` (``redis://``, ``unix://``, a user,
a password and a database number; ``rediss://`` is refused at start, not half-supported).

Connections belong to the event loop that opened them, so each loop has its own pool. A
connection is reused only after a clean exchange: one left with replies owed (an error, a
cancelled request, a timeout) is closed. Timeouts are enforced by one sweeper task per pool,
which looks at the connections in use every ``SWEEP_EVERY_S`` and fails those past their
deadline: a timer per request (``asyncio.timeout``) was ~8% of the event loop's Python time an
order.
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from collections import deque
from typing import Any

import hiredis
from django.conf import settings
from redis.connection import SSLConnection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

Command = tuple[Any, ...]
DEFAULT_TIMEOUT_S = 10.0
SWEEP_EVERY_S = 0.05  # a timeout is noticed at most this late


def pack(commands: tuple[Command, ...]) -> bytes:
    """Commands in RESP (arrays of bulk strings), as redis-py encodes them."""
    out: list[bytes] = []
    for command in commands:
        out.append(b"*%d\r\n" % len(command))
        for arg in command:
            if isinstance(arg, bytes):
                data = arg
            elif isinstance(arg, str):
                data = arg.encode()
            elif isinstance(arg, (int, float)):
                data = repr(arg).encode()
            else:
                raise TypeError(f"cannot send {type(arg).__name__} to Redis")
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class _Connection(asyncio.Protocol):
    """One connection: replies are matched to waiters in order (Redis answers in order)."""

    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.waiters: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.deadline = math.inf  # (monotonic) when the exchange in progress times out

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while True:
            reply = self.reader.gets()
            if reply is False:
                return
            if not self.waiters:  # a reply nobody asked for: the stream is out of step
                self.close()
                return
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(RedisConnectionError("Redis closed the connection"))

    def send(self, commands: tuple[Command, ...]) -> list[asyncio.Future[Any]]:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in commands]
        self.waiters.extend(futures)
        self.transport.write(pack(commands))
        return futures

    def close(self) -> None:
        self.lost = True
        if self.transport is not None:
            self.transport.close()

    def expire(self) -> None:
        """Past its deadline: the replies still owed fail with TimeoutError and the connection
        is closed (a late reply must not answer the next caller)."""
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(TimeoutError())
        self.close()


class Pool:
    """Idle connections of one event loop to the Redis at ``url``."""

    def __init__(self, url: str) -> None:
        options = parse_url(url)
        if options.get("connection_class") is SSLConnection:
            raise ValueError("the event-loop Redis client does not do TLS (rediss://)")
        self.path: str | None = options.get("path")
        self.host: str = options.get("host", "localhost")
        self.port: int = int(options.get("port", 6379))
        self.setup: list[Command] = []
        if options.get("password") is not None:
            username = options.get("username")
            self.setup.append(("AUTH", username, options["password"]) if username else ("AUTH", options["password"]))
        if int(options.get("db", 0)):
            self.setup.append(("SELECT", int(options["db"])))
        self.idle: list[_Connection] = []
        self.busy: set[_Connection] = set()  # in an exchange, watched by the sweeper
        self.sweeper: asyncio.Task[None] | None = None

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        if self.path is not None:
            _, connection = await loop.create_unix_connection(_Connection, self.path)
        else:
            _, connection = await loop.create_connection(_Connection, self.host, self.port)
        if self.setup:
            for reply in [await future for future in connection.send(tuple(self.setup))]:
                if isinstance(reply, hiredis.ReplyError):
                    connection.close()
                    raise ResponseError(str(reply))
        return connection

    async def pipelined(self, *commands: Command, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[Any]:
        """Send ``commands`` in one write and return their replies (raw bytes, ints, lists).
        An error reply raises redis-py's ResponseError, as the sync client does; no answer in
        ``timeout_s`` raises TimeoutError (redis-py's socket timeout)."""
        connection = None
        while self.idle and connection is None:
            candidate = self.idle.pop()
            if not candidate.lost:  # Redis may have closed it while it was idle
                connection = candidate
        if connection is None:
            connection = await self._open()
        connection.deadline = time.monotonic() + timeout_s
        self.busy.add(connection)
        if self.sweeper is None or self.sweeper.done():
            self.sweeper = asyncio.get_running_loop().create_task(self._sweep())
        try:
            replies = [await future for future in connection.send(commands)]
        except BaseException:  # an error, a timeout, or the request cancelled mid-wait: replies are owed
            connection.close()
            raise
        finally:
            self.busy.discard(connection)
        if not connection.lost:
            self.idle.append(connection)
        for reply in replies:
            if isinstance(reply, hiredis.ReplyError):
                raise ResponseError(str(reply))
        return replies

    async def _sweep(self) -> None:
        """Fail the exchanges past their deadline, until no connection is in use."""
        while self.busy:
            await asyncio.sleep(SWEEP_EVERY_S)
            now = time.monotonic()
            for connection in [c for c in self.busy if c.deadline <= now]:
                connection.expire()


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pool] = weakref.WeakKeyDictionary()


def pool() -> Pool:
    """The running loop's pool."""
    loop = asyncio.get_running_loop()
    found = _pools.get(loop)
    if found is None:
        found = _pools[loop] = Pool(settings.REDIS_URL)
    return found


async def pipelined(*commands: Command, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[Any]:
    """``Pool.pipelined`` on the running loop's pool."""
    return await pool().pipelined(*commands, timeout_s=timeout_s)
