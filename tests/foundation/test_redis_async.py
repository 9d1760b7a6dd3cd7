"""The event loop's Redis client (exchange.redis_async), against the tests' real Redis."""

from __future__ import annotations

import asyncio

import pytest
from django.conf import settings
from django_redis import get_redis_connection
from redis.exceptions import ResponseError

from exchange import redis_async


def run(coroutine):
    return asyncio.run(coroutine)


def test_commands_are_packed_as_redis_py_packs_them():
    from redis.connection import Connection

    commands = (("SET", "k", b"\x00v", 1.5), ("BLPOP", "r", 6), ("EVAL", "return 1", 0))
    assert redis_async.pack(commands) == b"".join(Connection().pack_commands(commands))


def test_replies_come_back_in_order_on_the_configured_database():
    key = f"{settings.REDIS_KEY_PREFIX}:async-test"
    get_redis_connection("default").set(key, b"from-sync")  # the client Django uses: the same database

    async def exchange():
        return await redis_async.pipelined(("GET", key), ("RPUSH", key + ":l", "a", "b"), ("LRANGE", key + ":l", 0, -1))

    assert run(exchange()) == [b"from-sync", 2, [b"a", b"b"]]


def test_an_error_reply_raises_as_the_sync_client_does_and_the_connection_is_reused():
    key = f"{settings.REDIS_KEY_PREFIX}:async-test"

    async def exchange():
        await redis_async.pipelined(("SET", key, "text"))
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await redis_async.pipelined(("LPUSH", key, "x"))
        pool = redis_async.pool()
        idle_before = list(pool.idle)
        assert await redis_async.pipelined(("GET", key)) == [b"text"]
        return idle_before, pool.idle

    idle_before, idle_after = run(exchange())
    assert len(idle_before) == 1 and idle_after == idle_before  # every reply was read: still good


def test_a_wait_cancelled_midway_closes_its_connection():
    key = f"{settings.REDIS_KEY_PREFIX}:async-wait"

    async def exchange():
        pool = redis_async.pool()
        waiting = asyncio.create_task(pool.pipelined(("BLPOP", key, 5)))
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert pool.idle == []  # a reply is still owed on it: never reused
        get_redis_connection("default").rpush(key, "late")  # the cancelled BLPOP must not eat it
        await asyncio.sleep(0.05)
        return await pool.pipelined(("LPOP", key))

    assert run(exchange()) == [b"late"]


def test_a_connection_redis_closed_is_replaced():
    async def exchange():
        pool = redis_async.pool()
        (client_id,) = await pool.pipelined(("CLIENT", "ID"))
        (connection,) = pool.idle
        get_redis_connection("default").execute_command("CLIENT", "KILL", "ID", client_id)  # that one only
        await asyncio.sleep(0.05)
        assert connection.lost
        return await pool.pipelined(("PING",))

    assert run(exchange()) == [b"PONG"]


def test_tls_urls_are_refused_not_half_supported():
    with pytest.raises(ValueError, match="TLS"):
        redis_async.Pool("rediss://127.0.0.1:6379/0")


def test_no_answer_in_time_is_a_timeout_and_the_connection_is_dropped():
    key = f"{settings.REDIS_KEY_PREFIX}:async-silent"

    async def exchange():
        pool = redis_async.pool()
        with pytest.raises(TimeoutError):
            await pool.pipelined(("BLPOP", key, 5), timeout_s=0.1)
        assert pool.idle == []
        return await pool.pipelined(("PING",))

    assert run(exchange()) == [b"PONG"]


def test_a_timeout_fails_only_its_own_exchange():
    silent, answered = (f"{settings.REDIS_KEY_PREFIX}:async-{name}" for name in ("silent", "answered"))

    async def exchange():
        pool = redis_async.pool()
        waiting = asyncio.ensure_future(pool.pipelined(("BLPOP", answered, 5), timeout_s=5))
        with pytest.raises(TimeoutError):
            await pool.pipelined(("BLPOP", silent, 5), timeout_s=0.2)
        await asyncio.sleep(0.2)  # past the other's deadline, the sweeper has run again
        assert not waiting.done()
        await pool.pipelined(("RPUSH", answered, "late but in time"))
        reply = await waiting
        assert len(pool.idle) == 2 and pool.busy == set()  # both clean exchanges kept their connections
        return reply

    assert run(exchange()) == [[answered.encode(), b"late but in time"]]
