"""Shared fixtures. Tests run against a real PostgreSQL and a real Redis (see Makefile)."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpResponse
from django.test.client import FakePayload
from django_redis import get_redis_connection
from rest_framework.test import APIClient

from exchange import auth
from orders import hot_path, services


@pytest.fixture(autouse=True)
def _clean_redis_and_caches() -> Iterator[None]:
    """Each test starts with no throttle counters, replay marks or cached keys of another."""
    redis = get_redis_connection("default")
    prefix = settings.REDIS_KEY_PREFIX
    for key in redis.scan_iter(f"{prefix}:*", count=1000):
        redis.delete(key)
    auth._USERS_BY_SUB.clear()
    services._markets.clear()
    services._reloading.clear()
    yield
    auth._USERS_BY_SUB.clear()
    services._markets.clear()
    services._reloading.clear()
    close_loops_of_ended_threads()


_loops = threading.local()
_unguarded = [0]
_unguarded_lock = threading.Lock()


_threads_loops: list[tuple[threading.Thread, asyncio.AbstractEventLoop]] = []


def event_loop_of_this_thread() -> asyncio.AbstractEventLoop:
    """One event loop per test thread, kept (its Redis connections with it), as a server worker's."""
    loop = getattr(_loops, "loop", None)
    if loop is None:
        loop = _loops.loop = asyncio.new_event_loop()
        _threads_loops.append((threading.current_thread(), loop))
    return loop


def close_loops_of_ended_threads() -> None:
    """The loops of threads a test started and that have ended, closed now: left to the cycle
    collector, one could be finalized after its own self-pipe socket, whichever test is then
    running (an "Exception ignored in BaseEventLoop.__del__" warning)."""
    for entry in list(_threads_loops):
        thread, loop = entry
        if not thread.is_alive():
            loop.close()
            _threads_loops.remove(entry)


async def in_this_thread(fn: Callable[[], Any]) -> Any:
    """The server's ``in_thread`` for tests: ``fn`` runs on the test's own database connection
    (it lives in the test's transaction, as for Django's test client), so in this thread, with
    Django's event-loop guard lifted while ``fn`` runs (the guard reads a process-wide variable:
    counted, for tests that post from several threads)."""
    with _unguarded_lock:
        _unguarded[0] += 1
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        return fn()
    finally:
        with _unguarded_lock:
            _unguarded[0] -= 1
            if not _unguarded[0]:
                del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


class HotPathClientHandler:
    """The test client's handler behind the server's front (``exchange.rsgi``): an everyday POST
    /spot/orders is answered on an event loop (``hot_path.handle_async``); one it hands back, by
    the sync hot path (``hot_path.handle``); the rest by Django."""

    def __init__(self, django_handler: Any) -> None:
        self.django_handler = django_handler
        self.answered = 0  # requests a hot path took
        self.on_loop = 0  # of which on the event loop

    def __call__(self, environ: dict[str, Any], **kwargs: Any) -> Any:
        answer = None
        found = hot_path.admitted(environ)
        if found is not None:
            body = environ["wsgi.input"].read(found[2]) if found[2] else b""
            coroutine = hot_path.handle_async(environ, found, body, in_this_thread)
            answer = event_loop_of_this_thread().run_until_complete(coroutine)
            if answer is not None:
                self.on_loop += 1
            environ["wsgi.input"] = FakePayload(body)
        if answer is None:
            answer = hot_path.handle(environ, manage_connections=False)
        if answer is None:
            return self.django_handler(environ, **kwargs)
        self.answered += 1
        status, headers, body = answer
        response = HttpResponse(body, status=status)
        for name in list(response.headers):
            del response.headers[name]
        for name, value in headers:
            response.headers[name] = value
        response.wsgi_request = WSGIRequest(environ)  # what the test client reads back
        return response


def hot_path_client() -> APIClient:
    """A test client whose order requests the hot path answers first, as the server's do."""
    client = APIClient()
    client.handler = HotPathClientHandler(client.handler)
    return client


class Api:
    """An HTTP client acting as one user through a JWT (order placement through the hot path,
    as the server serves it)."""

    def __init__(self, username: str) -> None:
        self.username = username
        token, _ = auth.mint_token(username)
        self.token = token
        self.user_id, _ = auth.user_for_sub(username)
        self.client = hot_path_client()
        self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params)

    def post(self, path: str, body: Any = None) -> Any:
        return self.client.post(path, body if body is not None else {}, format="json")

    def delete(self, path: str) -> Any:
        return self.client.delete(path)


@pytest.fixture
def make_api(db: None) -> Callable[..., Api]:
    def make(username: str | None = None) -> Api:
        return Api(username or f"user-{uuid.uuid4().hex[:10]}")

    return make


@pytest.fixture
def staff_api(make_api: Callable[..., Api]) -> Api:
    from django.contrib.auth import get_user_model

    api = make_api(f"staff-{uuid.uuid4().hex[:8]}")
    get_user_model().objects.filter(pk=api.user_id).update(is_staff=True)
    return api


@pytest.fixture
def market(db: None) -> Any:
    from markets.services import create_market

    return create_market(
        symbol="BTC_USDT",
        base="BTC",
        quote="USDT",
        tick_size="0.01",
        lot_size="0.001",
        min_notional="1",
        maker_fee="0.001",
        taker_fee="0.002",
    )


def fund(user_id: int, token: str, amount: str | Decimal) -> None:
    """Put money in a balance the way the system does (ledger entry included)."""
    from django.db import transaction

    from wallets.locks import lock_balance
    from wallets.services import change_balance

    with transaction.atomic():
        lock_balance(user_id=user_id, token=token)
        change_balance(
            user_id=user_id, token=token, delta_available=Decimal(amount), delta_locked=Decimal(0), kind="credit"
        )
