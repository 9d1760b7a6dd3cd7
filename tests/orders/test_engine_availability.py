"""ENGINE_BUSY and ENGINE_RESTARTING provoked for real, and markets spread over two shards."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from django.conf import settings
from django_redis import get_redis_connection

from orders import gateway
from orders.loop import LeaseLost, ShardLoop
from orders.models import Order
from orders.shards import queue_key, shard_of
from tests.orders.conftest import RunningEngine, balance, wait_for
from tests.orders.test_order_placement import limit

pytestmark = pytest.mark.django_db(transaction=True)


def test_no_live_engine_is_restarting(market, funded):
    trader = funded(USDT="1000")
    response = trader.post("/spot/orders", limit("buy", "100", "1"))
    assert response.status_code == 503 and response.json() == {"error": "ENGINE_RESTARTING"}
    assert balance(trader, "USDT") == ("1000", "0")
    assert funded().client.get("/healthz").status_code == 503


def test_rebuilding_shard_is_restarting_until_it_takes_commands(market, funded):
    trader = funded(USDT="1000")
    loop = ShardLoop(0)
    assert loop.acquire()
    loop.rebuild()  # books loaded, not yet taking commands
    response = trader.post("/spot/orders", limit("buy", "100", "1"))
    assert response.json() == {"error": "ENGINE_RESTARTING"}
    loop.start()
    thread = threading.Thread(target=loop.run)
    thread.start()
    try:
        assert trader.post("/spot/orders", limit("buy", "100", "1")).status_code == 201
    finally:
        loop.stop()
        thread.join()


def test_full_queue_is_busy_and_places_nothing(market, funded, settings):
    settings.ENGINE_QUEUE_MAX = 2
    trader, other = funded(USDT="1000"), funded(USDT="1000")
    loop = ShardLoop(0)
    assert loop.acquire()
    loop.start()  # alive, but stalled: it takes nothing from the queue until run()
    for _ in range(2):
        gateway.submit("BTC_USDT", {"k": "place", "id": str(uuid.uuid4()), "u": other.user_id, "s": "BTC_USDT",
                                    "sd": "buy", "t": "limit", "tif": "gtc", "p": "10", "q": "1"}, wait=False)  # fmt: skip
    response = trader.post("/spot/orders", limit("buy", "100", "1"))
    assert response.status_code == 503 and response.json() == {"error": "ENGINE_BUSY"}
    thread = threading.Thread(target=loop.run)
    thread.start()
    try:
        wait_for(lambda: get_redis_connection("default").llen(queue_key(0)) == 0, what="queue drained")
        wait_for(lambda: Order.objects.filter(user_id=other.user_id).count() == 2, what="queued orders placed")
        assert not Order.objects.filter(user_id=trader.user_id).exists()
        assert balance(trader, "USDT") == ("1000", "0")
    finally:
        loop.stop()
        thread.join()


def test_command_past_its_deadline_is_dropped_not_executed(market, funded, settings):
    settings.ENGINE_REPLY_TIMEOUT_S = 0.2
    trader = funded(USDT="1000")
    loop = ShardLoop(0)
    assert loop.acquire()
    loop.start()  # stalled past the command's deadline
    response = trader.post("/spot/orders", limit("buy", "100", "1"))
    assert response.status_code == 503 and response.json() == {"error": "ENGINE_BUSY"}
    thread = threading.Thread(target=loop.run)
    thread.start()
    try:
        wait_for(lambda: get_redis_connection("default").llen(queue_key(0)) == 0, what="queue drained")
        settings.ENGINE_REPLY_TIMEOUT_S = 5
        assert trader.post("/spot/orders", limit("buy", "99", "1")).status_code == 201  # the loop is past it
        assert [o.price for o in Order.objects.filter(user_id=trader.user_id)] == [99]
        assert balance(trader, "USDT") == ("901", "99")
    finally:
        loop.stop()
        thread.join()


def test_an_answer_later_than_five_seconds_is_busy_not_a_crash(market, funded, settings):
    """The wait for an answer outlasts redis-py's default socket timeout (5 s): it must end as
    ENGINE_BUSY, settled from the database, not as a socket TimeoutError."""
    settings.ENGINE_REPLY_TIMEOUT_S = 4.5  # waited 4.5 s + 1 s of grace
    trader = funded(USDT="1000")
    loop = ShardLoop(0)
    assert loop.acquire()
    loop.start()  # alive, but stalled: nobody answers
    try:
        started = time.monotonic()
        response = trader.post("/spot/orders", limit("buy", "100", "1"))
        assert response.status_code == 503 and response.json() == {"error": "ENGINE_BUSY"}
        assert time.monotonic() - started >= 5.5
    finally:
        loop.release()


def test_two_shards_each_own_their_markets(funded, settings):
    from markets.services import create_market

    settings.ENGINE_SHARDS = 2
    symbols = {}
    for base in ("BTC", "ETH", "SOL", "DOGE", "XRP", "ADA", "DOT"):
        symbols.setdefault(shard_of(f"{base}_USDT", 2), f"{base}_USDT")
    assert set(symbols) == {0, 1}
    for symbol in symbols.values():
        base = symbol.split("_")[0]
        create_market(symbol=symbol, base=base, quote="USDT", tick_size="0.01", lot_size="0.001", min_notional="1")
    running = RunningEngine()
    running.start()
    try:
        assert len(running.loops) == 2
        for symbol in symbols.values():
            base = symbol.split("_")[0]
            seller, buyer = funded(**{base: "1"}), funded(USDT="1000")
            seller.post("/spot/orders", {**limit("sell", "50", "1"), "symbol": symbol})
            order = buyer.post("/spot/orders", {**limit("buy", "50", "1"), "symbol": symbol}).json()
            assert order["status"] == "filled", symbol
        assert all(loop.batches >= 2 for loop in running.loops)
        health = funded().client.get("/healthz").json()
        assert health["engine"] == {"shard-0": "ok", "shard-1": "ok"}
    finally:
        running.stop()


def test_a_second_loop_cannot_take_a_live_shard(transactional_db):
    first = ShardLoop(0)
    assert first.acquire()
    assert not ShardLoop(0).acquire()
    first.release()
    assert ShardLoop(0).acquire()


def test_a_stale_owner_cannot_commit(market, funded):
    trader = funded(USDT="1000")
    stale = ShardLoop(0)
    assert stale.acquire()
    stale.start()
    get_redis_connection("default").delete(f"{settings.REDIS_KEY_PREFIX}:engine:0:lease")  # lease expired
    fresh = ShardLoop(0)
    assert fresh.acquire() and fresh.fence > stale.fence
    with pytest.raises(LeaseLost):
        stale._run_batch([{"k": "place", "id": str(uuid.uuid4()), "u": trader.user_id, "s": "BTC_USDT", "sd": "buy",
                           "t": "limit", "tif": "gtc", "p": "100", "q": "1", "r": "x"}])  # fmt: skip
    assert not Order.objects.filter(user_id=trader.user_id).exists()
    assert balance(trader, "USDT") == ("1000", "0")
