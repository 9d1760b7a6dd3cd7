"""The shortcuts of POST /spot/orders answer as the general path would: the rate limit counted
inside the engine push (one Redis round trip) still wins over every other answer, and the
fixed content negotiation and direct rendering give the same statuses, bodies and headers."""

from __future__ import annotations

import orjson
import pytest
from django_redis import get_redis_connection

from orders import gateway
from orders.models import Order
from tests.foundation.conftest import Key
from wallets.models import Balance

pytestmark = pytest.mark.usefixtures("engine")

ORDER = {"symbol": "BTC_USDT", "side": "buy", "type": "limit", "price": "100", "quantity": "0.01"}


def assert_rate_limited(response) -> None:
    assert response.status_code == 429
    assert response.content == b'{"error":"RATE_LIMITED"}'
    assert 1 <= int(response["Retry-After"]) <= 60


def test_orders_past_the_limit_are_429_and_not_placed(market, funded, settings):
    settings.RATE_LIMIT_USER = "2/minute"
    trader = funded(USDT="1000")
    assert [trader.post("/spot/orders", ORDER).status_code for _ in range(2)] == [201, 201]
    assert_rate_limited(trader.post("/spot/orders", ORDER))
    assert Order.objects.filter(user_id=trader.user_id).count() == 2
    usdt = Balance.objects.get(user_id=trader.user_id, token="USDT")
    assert (usdt.available, usdt.locked) == (998, 2)


def test_the_push_counts_the_window_in_the_same_round_trip(market, funded, settings, monkeypatch):
    settings.RATE_LIMIT_USER = "5/minute"
    trader = funded(USDT="1000")
    checks_alone = []
    monkeypatch.setattr("exchange.throttling.SlidingWindow.wait_ms", lambda self: checks_alone.append(self.key) or -1.0)

    async def check_alone(self):
        checks_alone.append(self.key)
        return -1.0

    monkeypatch.setattr("exchange.throttling.SlidingWindow.wait_ms_async", check_alone)
    assert trader.post("/spot/orders", ORDER).status_code == 201
    assert checks_alone == []  # no separate throttle round trip for a placed order
    redis = get_redis_connection("default")
    assert redis.llen(f"{settings.REDIS_KEY_PREFIX}:window:user:{trader.user_id}") == 1


@pytest.mark.parametrize(
    "body",
    [
        {**ORDER, "side": "BUY"},  # invalid side: stops before the push
        {**ORDER, "symbol": "NOPE_USDT"},  # MARKET_NOT_FOUND
        {**ORDER, "quantity": "100"},  # INSUFFICIENT_BALANCE: decided by the engine
    ],
)
def test_a_limited_caller_gets_429_before_any_other_error(market, funded, settings, body):
    settings.RATE_LIMIT_USER = "1/minute"
    trader = funded(USDT="1000")
    assert trader.post("/spot/orders", ORDER).status_code == 201
    assert_rate_limited(trader.post("/spot/orders", body))


def test_refused_requests_count_against_the_limit(market, funded, settings):
    settings.RATE_LIMIT_USER = "2/minute"
    trader = funded(USDT="1000")
    assert trader.post("/spot/orders", {**ORDER, "side": "BUY"}).json() == {"error": "invalid side"}
    assert trader.post("/spot/orders", {**ORDER, "price": "100.001"}).json() == {"error": "INVALID_TICK"}
    assert_rate_limited(trader.post("/spot/orders", ORDER))
    assert not Order.objects.filter(user_id=trader.user_id).exists()


def test_a_repeated_client_order_id_is_limited_too(market, funded, settings):
    settings.RATE_LIMIT_USER = "1/minute"
    trader = funded(USDT="1000")
    assert trader.post("/spot/orders", {**ORDER, "client_order_id": "c-1"}).status_code == 201
    assert_rate_limited(trader.post("/spot/orders", {**ORDER, "client_order_id": "c-1"}))


def test_a_limited_caller_gets_429_even_with_the_engine_down(market, funded, settings):
    settings.RATE_LIMIT_USER = "1/minute"
    trader = funded(USDT="1000")
    assert trader.post("/spot/orders", ORDER).status_code == 201
    get_redis_connection("default").delete(gateway.state_key(0))
    assert_rate_limited(trader.post("/spot/orders", ORDER))


def test_api_keys_keep_their_own_budget_when_placing(market, funded, settings):
    settings.RATE_LIMIT_KEY = "1/minute"
    trader = funded(USDT="1000")
    created = trader.post("/spot/api-keys", {"label": "bot", "permissions": ["read", "trade"]}).json()
    key = Key(api_key=created["api_key"], secret=created["secret"], body=created)
    assert key.call("POST", "/spot/orders", orjson.dumps(ORDER)).status_code == 201
    assert_rate_limited(key.call("POST", "/spot/orders", orjson.dumps(ORDER)))
    assert trader.post("/spot/orders", ORDER).status_code == 201  # the owner's JWT has its own


def test_other_order_endpoints_keep_the_ordinary_throttle(market, funded, settings):
    settings.RATE_LIMIT_USER = "1/minute"
    trader = funded(USDT="1000")
    assert trader.get("/spot/orders").status_code == 200
    assert_rate_limited(trader.get("/spot/orders"))
    assert_rate_limited(trader.delete("/spot/orders?symbol=BTC_USDT"))


def test_placement_answers_carry_the_headers_of_every_drf_answer(market, funded):
    trader = funded(USDT="1000")
    placed = trader.post("/spot/orders", ORDER)
    listed = trader.get("/spot/orders")
    assert placed.status_code == 201 and placed.json()["status"] == "open"
    assert {k: v for k, v in placed.items() if k != "Content-Length"} == {
        k: v for k, v in listed.items() if k != "Content-Length"
    }
    assert placed["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("accept", "query", "status", "body"),
    [
        ("text/html", "", 406, b'{"error":"NOT_ACCEPTABLE"}'),
        ("application/json; indent=4", "", 201, None),
        ("*/*", "?format=xml", 404, b'{"error":"NOT_FOUND"}'),
    ],
)
def test_unusual_accept_headers_and_formats_are_negotiated_as_before(market, funded, accept, query, status, body):
    trader = funded(USDT="1000")
    response = trader.client.post(f"/spot/orders{query}", ORDER, format="json", HTTP_ACCEPT=accept)
    assert response.status_code == status
    if body is not None:
        assert response.content == body
