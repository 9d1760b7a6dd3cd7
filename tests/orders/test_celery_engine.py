"""The engine as it runs in production: a Celery worker on ``engine.0`` starts the shard's loop
when it is ready, and the beat watchdog starts it again when the loop is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django_redis import get_redis_connection

from orders.shards import lease_key, state_key
from orders.tasks import engine_watchdog
from tests.orders.conftest import balance, wait_for
from tests.orders.test_order_placement import limit

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def engine_worker():
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CACHE_PREFIX": settings.REDIS_KEY_PREFIX,
        "ENGINE_SHARDS": "1",
        "ENGINE_HEARTBEAT_TIMEOUT": "1",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "exchange", "worker", "-Q", "engine.0", "--pool", "solo",
         "--concurrency", "1", "-n", f"test-engine0-{os.getpid()}@%h", "--loglevel", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    yield worker
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(20)
    except subprocess.TimeoutExpired:
        worker.kill()


def test_worker_starts_its_shard_and_watchdog_restarts_a_dead_loop(engine_worker, market, funded):
    redis = get_redis_connection("default")
    wait_for(lambda: redis.get(state_key(0)) == b"up", 60, "the worker's loop up")
    trader = funded(USDT="1000")
    assert trader.post("/spot/orders", limit("buy", "100", "1")).status_code == 201

    # The loop dies while its worker lives on (here: its lease is taken away, so it stops).
    redis.delete(lease_key(0))
    wait_for(lambda: redis.get(state_key(0)) is None, 10, "the loop gone")
    refused = trader.post("/spot/orders", limit("buy", "100", "1"))
    assert refused.json() == {"error": "ENGINE_RESTARTING"}

    assert engine_watchdog() == [0]  # what beat runs every 2 s
    wait_for(lambda: redis.get(state_key(0)) == b"up", 60, "the loop started again")
    assert engine_watchdog() == []  # alive: nothing to do
    assert trader.post("/spot/orders", limit("buy", "99", "1")).status_code == 201
    assert balance(trader, "USDT") == ("801", "199")  # the first order survived the restart
