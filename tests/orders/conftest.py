from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django_redis import get_redis_connection

from orders.loop import ShardLoop
from orders.shards import state_key
from tests.conftest import fund


def wait_for(condition: Callable[[], Any], timeout_s: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


class RunningEngine:
    """Every shard's loop running in a thread of the test process, against the test database."""

    def __init__(self) -> None:
        self.loops: list[ShardLoop] = []
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        redis = get_redis_connection("default")
        for shard in range(settings.ENGINE_SHARDS):
            loop = ShardLoop(shard)
            assert loop.acquire()
            thread = threading.Thread(target=loop.run, daemon=True)
            thread.start()
            self.loops.append(loop)
            self.threads.append(thread)
        for shard in range(settings.ENGINE_SHARDS):
            wait_for(lambda s=shard: redis.get(state_key(s)) == b"up", what=f"shard {shard} up")

    def stop(self) -> None:
        for loop in self.loops:
            loop.stop()
        for thread in self.threads:
            thread.join(timeout=10)
        self.loops, self.threads = [], []


@pytest.fixture
def engine(transactional_db: None) -> Iterator[RunningEngine]:
    running = RunningEngine()
    running.start()
    yield running
    running.stop()


@pytest.fixture
def funded(make_api: Callable[..., Any]) -> Callable[..., Any]:
    """A user with money: ``funded(USDT="1000", BTC="2")``."""

    def make(**amounts: str) -> Any:
        api = make_api()
        for token, amount in amounts.items():
            fund(api.user_id, token, Decimal(amount))
        return api

    return make


def balance(api: Any, token: str) -> tuple[str, str]:
    for row in api.get("/spot/balances").json():
        if row["token"] == token:
            return row["available"], row["locked"]
    return "0", "0"
