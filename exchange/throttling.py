"""Rate limits per user (JWT) and per API key (DRF throttling), counted in Redis.

A sliding one-window log per caller in a sorted set, checked and updated by one Lua script:
one round trip a request, exact at any instant (DRF's cache-based throttle reads and writes
a pickled list, two round trips and a race between them).
"""

from __future__ import annotations

import os
import time
from itertools import count
from typing import Any

from django.conf import settings
from django_redis import get_redis_connection
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

SLIDING_WINDOW = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return oldest[2] + window - now
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return -1
"""
_script: Any = None
_members = count()
_process = f"{os.getpid()}"


def _sliding_window() -> Any:
    global _script
    if _script is None:
        _script = get_redis_connection("default").register_script(SLIDING_WINDOW)
    return _script


class CallerRateThrottle(BaseThrottle):
    """``RATE_LIMIT_KEY`` per API key, ``RATE_LIMIT_USER`` per user, the user's rate per IP for anonymous."""

    def __init__(self) -> None:
        self.wait_ms = 0.0

    def allow_request(self, request: Any, view: Any) -> bool:
        caller = request.user
        if getattr(caller, "api_key", None):
            scope, rate, ident = "api_key", settings.RATE_LIMIT_KEY, caller.api_key
        elif caller is not None and getattr(caller, "is_authenticated", False):
            scope, rate, ident = "user", settings.RATE_LIMIT_USER, str(caller.user_id)
        else:
            scope, rate, ident = "user", settings.RATE_LIMIT_USER, self.get_ident(request)
        limit, duration_s = SimpleRateThrottle.parse_rate(None, rate)  # type: ignore[arg-type]
        now_ms = time.time() * 1000
        wait_ms = _sliding_window()(
            keys=[f"{settings.REDIS_KEY_PREFIX}:throttle:{scope}:{ident}"],
            args=[now_ms, duration_s * 1000, limit, f"{now_ms}:{_process}:{next(_members)}"],
        )
        self.wait_ms = float(wait_ms)
        return self.wait_ms < 0

    def wait(self) -> float | None:
        return max(self.wait_ms, 0.0) / 1000
