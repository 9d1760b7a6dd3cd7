"""The API side of the engine: push a command into its shard's bounded queue, wait for the answer.

One Lua script checks the shard is up and the queue is below ``ENGINE_QUEUE_MAX`` and pushes,
atomically: a full queue is ``ENGINE_BUSY``, a shard without a fresh heartbeat (or rebuilding)
is ``ENGINE_RESTARTING``. Every command carries a deadline; the loop drops what it has not
started by then, and we wait a little longer, so a timeout here always means "not done".
"""

from __future__ import annotations

import os
import time
from typing import Any

import orjson
import redis
from django.conf import settings

from exchange import redis_async
from exchange.conf import live
from exchange.errors import EngineBusy, EngineRestarting
from exchange.throttling import SlidingWindow, refused, sliding_window_step
from orders.shards import queue_key, reply_key, shard_of, state_key

# KEYS: the shard's queue, its state, the request's reply key (and the caller's window, KEYS[4]);
# ARGV: the command, ENGINE_QUEUE_MAX, 1 if the caller waits for an answer (then the window's
# ARGV[4..6]). A refusal pushes a marker to the reply key, so that the caller's BLPOP, sent in the
# same round trip right behind this script, returns at once instead of waiting for an answer
# that will never come.
PUSH_SCRIPT = """
local function refuse(result)
  if ARGV[3] == '1' then
    redis.call('RPUSH', KEYS[3], '')
    redis.call('EXPIRE', KEYS[3], 30)
  end
  return result
end
local state = redis.call('GET', KEYS[2])
if state ~= 'up' then return refuse(-2) end
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[2]) then return refuse(-1) end
return redis.call('RPUSH', KEYS[1], ARGV[1])
"""
# The caller's rate limit first, then the push: one script for both.
LIMITED_PUSH_SCRIPT = PUSH_SCRIPT.replace(
    "local state =", sliding_window_step("KEYS[4]", 4, refuse="refuse").strip() + "\nlocal state =", 1
)
REPLY_GRACE_S = 1.0  # waited past the deadline: the loop may have started the command just in time
SOCKET_TIMEOUT_FLOOR_S = 30.0  # the gateway's socket timeout, or the longest wait plus 5 s if longer

_client: Any = None


class NoReply(EngineBusy):
    """Pushed, but no answer by the deadline. Almost always "not executed"; the one exception,
    a loop that died between its commit and its answer, is settled by looking in the database."""


def _redis() -> Any:
    """One client for the process (thread-safe, pooled): the lookup through Django's per-thread
    caches is not free on the hot path. Its own pool, because the wait for an answer blocks
    longer than redis-py's default socket timeout (5 s): with the shared client, an answer due in
    5-6 s ended in a TimeoutError (a 500) instead of NoReply."""
    global _client
    if _client is None:
        wait_s = settings.ENGINE_REPLY_TIMEOUT_S + REPLY_GRACE_S
        _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=max(SOCKET_TIMEOUT_FLOOR_S, wait_s + 5))
    return _client


def _commands(
    shard: int, command: dict[str, Any], request_id: str, wait_s: float | None, rate_limit: SlidingWindow | None
) -> list[tuple[Any, ...]]:
    """The push (after the caller's window, if given) and, with ``wait_s``, the wait for the answer:
    the commands sent together in one round trip.

    The script goes as EVAL, not EVALSHA: a NOSCRIPT error (a restarted Redis) would leave the
    BLPOP behind it waiting out its timeout. Redis finds the cached script by the text's SHA1,
    a microsecond's work."""
    keys = [queue_key(shard), state_key(shard), reply_key(request_id)]
    args = [orjson.dumps(command), live().ENGINE_QUEUE_MAX, 1 if wait_s is not None else 0]
    script = PUSH_SCRIPT
    if rate_limit is not None:
        script = LIMITED_PUSH_SCRIPT
        keys.append(rate_limit.key)
        args.extend(rate_limit.args())
    push = ("EVAL", script, len(keys), *keys, *args)
    return [push] if wait_s is None else [push, ("BLPOP", keys[2], wait_s)]


def _pipelined(*commands: tuple[Any, ...]) -> list[Any]:
    """Send ``commands`` in one write on one pooled connection and read their replies (raw: no
    response callbacks). redis-py's Pipeline does the same with several times the Python work per
    call, which on the hot path is the server's CPU. A failed call drops its connection: an error
    reply left unread behind it would answer the next caller."""
    pool = _redis().connection_pool
    connection = pool.get_connection()  # checked: a connection Redis closed is reopened here
    try:
        connection.send_packed_command(connection.pack_commands(commands))
        return [connection.read_response() for _ in commands]
    except BaseException:
        connection.disconnect()
        raise
    finally:
        pool.release(connection)


def _prepare(symbol: str, command: dict[str, Any], wait: bool) -> tuple[int, str, float]:
    """Stamp ``command`` with its deadline (and reply id when waited for): (shard, request id, wait s)."""
    timeout_s = live().ENGINE_REPLY_TIMEOUT_S
    request_id = os.urandom(16).hex()  # a uuid4's hex without building the UUID
    command["dl"] = int((time.time() + timeout_s) * 1000)
    if wait:
        command["r"] = request_id
    return shard_of(symbol), request_id, timeout_s + REPLY_GRACE_S


def _answer(replies: list[Any], wait: bool) -> dict[str, Any] | None:
    """The loop's answer from the replies to ``_commands``, or the refusal raised."""
    pushed = replies[0]
    if isinstance(pushed, list):
        raise refused(float(pushed[1]))
    if pushed == -2:
        raise EngineRestarting()
    if pushed == -1:
        raise EngineBusy()
    if not wait:
        return None
    answer = replies[1]
    if not answer:
        raise NoReply()
    return orjson.loads(answer[1])  # type: ignore[no-any-return]


def submit(
    symbol: str, command: dict[str, Any], *, wait: bool = True, rate_limit: SlidingWindow | None = None
) -> dict[str, Any] | None:
    """Push ``command`` to the shard of ``symbol`` and return the loop's answer.

    With ``rate_limit``, the caller's window is counted in the same round trip, before the push.
    Raises Throttled (window full, nothing pushed), EngineBusy (queue full), NoReply (no answer
    by the deadline) or EngineRestarting (no live loop for the shard).
    """
    shard, request_id, wait_s = _prepare(symbol, command, wait)
    commands = _commands(shard, command, request_id, wait_s if wait else None, rate_limit)
    if not wait:
        return _answer([_redis().execute_command(*commands[0])], wait)
    return _answer(_pipelined(*commands), wait)


async def submit_async(
    symbol: str, command: dict[str, Any], *, rate_limit: SlidingWindow | None = None
) -> dict[str, Any]:
    """``submit`` (waiting for the answer) on an event loop: the same commands, the same answers and
    errors, awaited instead of blocking a thread."""
    shard, request_id, wait_s = _prepare(symbol, command, True)
    commands = _commands(shard, command, request_id, wait_s, rate_limit)
    answer = _answer(await redis_async.pipelined(*commands, timeout_s=wait_s + 5), True)
    assert answer is not None
    return answer


def push_status(symbol: str, status: str) -> None:
    """Tell the market's shard about a status change. Not bounded and not waited for: the
    database already holds the status, and a loop that misses this reads it when it rebuilds."""
    command = {"k": "status", "s": symbol, "st": status}
    _redis().rpush(queue_key(shard_of(symbol)), orjson.dumps(command))


def shard_states() -> dict[str, str]:
    """``{"shard-0": "ok" | "restarting" | "down", ...}`` for the health check."""
    keys = [state_key(shard) for shard in range(settings.ENGINE_SHARDS)]
    values = _redis().mget(keys)
    names = {b"up": "ok", b"restarting": "restarting"}
    return {f"shard-{shard}": names.get(value, "down") for shard, value in enumerate(values)}
