"""The sliding-window log behind every rate limit (exchange.throttling), run in the tests' real
Redis with the times given, so each boundary is exact."""

from __future__ import annotations

import asyncio

import pytest
from django.conf import settings
from django_redis import get_redis_connection

from exchange.throttling import SLIDING_WINDOW, window_for_caller

WINDOW_MS = 1000


@pytest.fixture
def window():
    """``count(now, limit)``: the script's answer for a request at ``now`` ms: -1 counted, else the
    ms to wait. A fresh key each test."""
    redis = get_redis_connection("default")
    key = f"{settings.REDIS_KEY_PREFIX}:window:test"
    redis.delete(key)

    def count(now: float, limit: int = 3) -> float:
        answer = redis.eval(SLIDING_WINDOW, 1, key, now, WINDOW_MS, limit)
        return float(answer[1]) if isinstance(answer, list) else float(answer)

    count.key = key  # type: ignore[attr-defined]
    yield count
    redis.delete(key)


def test_at_most_limit_requests_in_any_window_and_the_wait_is_until_the_oldest_leaves(window):
    assert [window(t) for t in (0, 1, 2)] == [-1, -1, -1]
    assert window(3) == 997  # the request at 0 leaves the window at 1000
    assert window(999.5) == 1  # 0.5 ms, rounded up: never understated
    assert get_redis_connection("default").llen(window.key) == 3  # refusals are not counted


def test_a_request_exactly_one_window_later_no_longer_counts(window):
    for t in (0, 1, 2):
        window(t)
    assert window(1000) == -1  # the request at 0 is out (at or before now - window)
    assert window(1000.5) == 1  # 1 leaves at 1001
    assert window(1001) == -1
    assert get_redis_connection("default").lrange(window.key, 0, -1) == [b"1001", b"1000", b"2"]


def test_times_that_left_the_window_are_dropped_oldest_first(window):
    for t in (0, 10, 20, 500):
        window(t, limit=10)
    assert window(1015, limit=10) == -1  # 0 and 10 left, 20 and 500 remain
    assert get_redis_connection("default").lrange(window.key, 0, -1) == [b"1015", b"500", b"20"]


def test_a_lowered_limit_waits_until_fewer_than_the_new_limit_remain(window):
    for t in (0, 100, 200):
        window(t, limit=3)
    # limit 2 with 3 counted: allowed once only 200 is left, when 100 leaves at 1100
    assert window(300, limit=2) == 800
    assert window(1099, limit=2) == 1
    assert window(1100, limit=2) == -1


def test_a_limit_of_zero_refuses_every_request_for_a_whole_window(window):
    assert window(0, limit=0) == WINDOW_MS
    window(10, limit=5)
    assert window(20, limit=0) == WINDOW_MS  # not when a counted request leaves: never


def test_the_key_expires_one_window_after_the_last_counted_request(window):
    window(0)
    ttl = get_redis_connection("default").pttl(window.key)
    assert 0 < ttl <= WINDOW_MS


def test_sync_and_event_loop_checks_share_one_window(settings):
    settings.RATE_LIMIT_USER = "2/second"

    class Caller:
        is_authenticated = True
        user_id = 987654

    limited = window_for_caller(Caller())
    assert (limited.limit, limited.window_ms) == (2, 1000)
    get_redis_connection("default").delete(limited.key)
    assert limited.wait_ms() < 0
    assert asyncio.run(limited.wait_ms_async()) < 0
    assert 0 <= limited.wait_ms() <= 1000
    assert 0 <= asyncio.run(limited.wait_ms_async()) <= 1000
