"""kill -9 the engine while a load runs: nothing a client was told about is lost, nothing a
client was refused exists, the rebuilt books match the database, and reconcile is clean."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django_redis import get_redis_connection

from orders.models import OPEN_STATUSES, Order, Trade
from orders.shards import depth_key, state_key
from tests.orders.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


def start_engine_process() -> subprocess.Popen:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "ENGINE_HEARTBEAT_TIMEOUT": "1",
        "ENGINE_SHARDS": "1",
        "CACHE_PREFIX": settings.REDIS_KEY_PREFIX,
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_engine", "--shard", "0", "--wait"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def trade_while(stop: threading.Event, api, seed: int, told: list, refused: list) -> None:
    rng = random.Random(seed)
    try:
        while not stop.is_set():
            side = rng.choice(["buy", "sell"])
            price = str(100 + rng.randint(-3, 3))
            body = {"symbol": "BTC_USDT", "side": side, "type": "limit", "price": price, "quantity": "0.01"}
            response = api.post("/spot/orders", body)
            if response.status_code == 201:
                told.append(response.json())
            elif response.status_code == 503:
                refused.append(response.json())
            elif response.status_code != 400:  # 400: SELF_TRADE and the like, fine under a random load
                refused.append({"error": f"unexpected {response.status_code} {response.content!r}"})
    finally:
        connection.close()


def test_kill_9_loses_nothing_told_and_keeps_nothing_refused(market, funded, settings, capsys):
    settings.ENGINE_REPLY_TIMEOUT_S = 1.0
    settings.RATE_LIMIT_USER = "100000/second"
    traders = [funded(USDT="100000", BTC="1000") for _ in range(4)]
    redis = get_redis_connection("default")
    stop = threading.Event()
    told: list = []
    refused: list = []
    # Daemons, and stopped in the finally: a failed wait must fail the test, not leave clients
    # trading that keep the test process from exiting.
    threads = [
        threading.Thread(target=trade_while, args=(stop, api, i, told, refused), daemon=True)
        for i, api in enumerate(traders)
    ]
    engine = start_engine_process()
    try:
        wait_for(lambda: redis.get(state_key(0)) == b"up", 20, "engine up")
        for thread in threads:
            thread.start()
        wait_for(lambda: len(told) >= 150, 30, "orders before the crash")
        engine.send_signal(signal.SIGKILL)
        engine.wait()
        wait_for(lambda: len(refused) >= 4, 30, "clients refused while the engine is down")
        engine = start_engine_process()
        wait_for(lambda: redis.get(state_key(0)) == b"up", 30, "engine up again")
        count_after_restart = len(told)
        wait_for(lambda: len(told) >= count_after_restart + 50, 30, "orders after the restart")
    finally:
        stop.set()
        for thread in threads:
            if thread.is_alive():
                thread.join(30)
        engine.send_signal(signal.SIGTERM)
        engine.wait(20)

    assert {r["error"] for r in refused} <= {"ENGINE_BUSY", "ENGINE_RESTARTING"}
    told_ids = {o["id"] for o in told}
    stored_ids = {str(i) for i in Order.objects.values_list("id", flat=True)}
    assert told_ids == stored_ids, "every order told about exists, and nothing else does"
    told_trades = {f["trade_id"] for o in told for f in o["fills"]}
    assert told_trades <= {str(i) for i in Trade.objects.values_list("id", flat=True)}

    # The rebuilt book (published by the new loop) equals the open orders in the database.
    book = orjson.loads(redis.get(depth_key("BTC_USDT")))
    levels: dict[tuple[str, Decimal], Decimal] = defaultdict(Decimal)
    for order in Order.objects.filter(status__in=OPEN_STATUSES):
        levels[(order.side, order.price)] += order.quantity - order.filled_quantity
    from_db = {(side, str(price.normalize()), str(qty.normalize())) for (side, price), qty in levels.items()}
    published = {("buy", p, q) for p, q in book["bids"]} | {("sell", p, q) for p, q in book["asks"]}
    assert published == {(s, format(Decimal(p), "f"), format(Decimal(q), "f")) for s, p, q in from_db}

    capsys.readouterr()
    call_command("reconcile")
    assert "reconcile: clean" in capsys.readouterr().out
