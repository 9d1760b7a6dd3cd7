"""Rate limits per user (JWT) and per API key (DRF throttling), counted in Redis.

A sliding one-window log per caller, checked and updated by one Lua script: one round trip a
request, exact at any instant (DRF's cache-based throttle reads and writes a pickled list, two
round trips and a race between them). The log is a Redis list of request times, newest first:
each time is pushed once and popped once, from the old end, when it leaves the window, so a
request costs O(1) whatever the limit (a sorted set searched the whole window on every insert;
docs/decisions/0019). ``POST /spot/orders`` folds the same step into its engine push
(orders.gateway), one round trip fewer (``DeferredRateLimit``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django_redis import get_redis_connection
from rest_framework.exceptions import Throttled
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from exchange import redis_async
from exchange.conf import live


def sliding_window_step(key: str, first_arg: int, refuse: str = "") -> str:
    """Lua counting one request in the window at ``key`` (ARGV from ``first_arg``: now ms, window
    ms, limit), or ending the script with ``{-3, wait ms}`` when the window is full (passed
    through the Lua function named ``refuse``, if given, on the way out).

    The list holds the times of the requests counted in the window, newest first. Those that
    left it (at or before ``now - window``) are popped from the old end first, so the length
    is the count. A full window waits for its ``limit``-th newest time to leave: then fewer
    than ``limit`` remain (the oldest one, unless the limit was lowered since). The wait is
    rounded up to a whole ms (Redis replies with integers), so it is never understated."""
    a = first_arg
    return f"""
local now, window, limit = tonumber(ARGV[{a}]), tonumber(ARGV[{a + 1}]), tonumber(ARGV[{a + 2}])
local count = redis.call('LLEN', {key})
while count > 0 and tonumber(redis.call('LINDEX', {key}, -1)) <= now - window do
  redis.call('RPOP', {key})
  count = count - 1
end
if limit < 1 then return {refuse}({{-3, window}}) end  -- a rate of 0: nothing is ever allowed
if count >= limit then
  return {refuse}({{-3, math.ceil(tonumber(redis.call('LINDEX', {key}, limit - 1)) + window - now)}})
end
redis.call('LPUSH', {key}, ARGV[{a}])
redis.call('PEXPIRE', {key}, window)
"""


SLIDING_WINDOW = sliding_window_step("KEYS[1]", 1) + "return -1\n"
_script: Any = None


def _sliding_window() -> Any:
    global _script
    if _script is None:
        _script = get_redis_connection("default").register_script(SLIDING_WINDOW)
    return _script


@dataclass(frozen=True, slots=True)
class SlidingWindow:
    """One caller's budget: at most ``limit`` requests in any ``window_ms``, counted at ``key``."""

    key: str
    limit: int
    window_ms: int

    def args(self) -> list[Any]:
        """ARGV of ``sliding_window_step`` for a request arriving now."""
        return [time.time() * 1000, self.window_ms, self.limit]

    def wait_ms(self) -> float:
        """Count this request (one round trip): negative if allowed, else how long until it would be."""
        answer = _sliding_window()(keys=[self.key], args=self.args())
        return float(answer[1]) if isinstance(answer, list) else float(answer)

    async def wait_ms_async(self) -> float:
        """``wait_ms`` on an event loop."""
        (answer,) = await redis_async.pipelined(("EVAL", SLIDING_WINDOW, 1, self.key, *self.args()))
        return float(answer[1]) if isinstance(answer, list) else float(answer)


def refused(wait_ms: float) -> Throttled:
    """The 429 RATE_LIMITED of a full window (Retry-After from the wait, rounded up)."""
    return Throttled(max(wait_ms, 0.0) / 1000)


def window_for(request: Any) -> SlidingWindow:
    """``RATE_LIMIT_KEY`` per API key, ``RATE_LIMIT_USER`` per user, the user's rate per IP for anonymous."""
    return window_for_caller(request.user, request)


def window_for_caller(caller: Any, request: Any = None) -> SlidingWindow:
    """``window_for`` of a known caller (``request`` is needed only for an anonymous one)."""
    conf = live()
    if getattr(caller, "api_key", None):
        scope, rate, ident = "api_key", conf.RATE_LIMIT_KEY, caller.api_key
    elif caller is not None and getattr(caller, "is_authenticated", False):
        scope, rate, ident = "user", conf.RATE_LIMIT_USER, str(caller.user_id)
    else:
        scope, rate, ident = "user", conf.RATE_LIMIT_USER, BaseThrottle().get_ident(request)
    limit, duration_s = SimpleRateThrottle.parse_rate(None, rate)  # type: ignore[arg-type]
    # ``window:``, not the sorted sets' ``throttle:``: a key of the other type left by an older
    # version (it lives one window) would fail the script with WRONGTYPE.
    return SlidingWindow(f"{conf.REDIS_KEY_PREFIX}:window:{scope}:{ident}", limit, duration_s * 1000)


class CallerRateThrottle(BaseThrottle):
    """The caller's ``window_for``, checked before the view runs."""

    def __init__(self) -> None:
        self.wait_ms = 0.0

    def allow_request(self, request: Any, view: Any) -> bool:
        self.wait_ms = window_for(request).wait_ms()
        return self.wait_ms < 0

    def wait(self) -> float | None:
        return max(self.wait_ms, 0.0) / 1000


class DeferredRateLimit:
    """A request's rate limit checked at most once: by the engine push when the request gets
    that far (``fold``), else on its own before the answer goes out (``enforce``). Either way
    a limited request is answered 429, whatever error it would have had otherwise."""

    __slots__ = ("window", "pending")

    def __init__(self, window: SlidingWindow) -> None:
        self.window = window
        self.pending = True

    def fold(self) -> SlidingWindow | None:
        """The window for a push to check, if nothing has checked it yet."""
        if not self.pending:
            return None
        self.pending = False
        return self.window

    def enforce(self) -> None:
        """Check the window now unless a push did; raises Throttled when it is full."""
        if self.pending:
            self.pending = False
            wait_ms = self.window.wait_ms()
            if wait_ms >= 0:
                raise refused(wait_ms)

    async def enforce_async(self) -> None:
        """``enforce`` on an event loop."""
        if self.pending:
            self.pending = False
            wait_ms = await self.window.wait_ms_async()
            if wait_ms >= 0:
                raise refused(wait_ms)
