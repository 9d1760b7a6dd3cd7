"""The hot path of POST /spot/orders (orders.hot_path) answers exactly as Django and DRF do.

The API tests' client already sends its order requests through the hot path, as the server
does; here the same requests go down both paths and their answers are compared, the requests
the hot path must leave to Django are shown to reach Django, and the WSGI application that the
server runs is called for real.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import orjson
import pytest
from django.test import RequestFactory
from django_redis import get_redis_connection
from rest_framework.test import APIClient

from exchange import auth
from exchange.wsgi import application
from markets.models import Market
from orders import services
from orders.models import Order
from orders.shards import state_key
from tests.conftest import HotPathClientHandler, hot_path_client
from tests.foundation.conftest import Key
from tests.orders.conftest import balance

pytestmark = pytest.mark.usefixtures("engine")

ORDER = {"symbol": "BTC_USDT", "side": "buy", "type": "limit", "price": "100", "quantity": "0.01"}


def general_path(trader: Any) -> APIClient:
    """A client for the same user whose requests all go through Django and DRF."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {trader.token}")
    return client


def headers_of(response: Any, *, length: bool = True) -> dict[str, str]:
    return {k: v for k, v in response.items() if length or k != "Content-Length"}


def test_an_everyday_order_takes_the_hot_path(market, funded):
    trader = funded(USDT="1000")
    handler: HotPathClientHandler = trader.client.handler
    services.cached_market("BTC_USDT")  # as a running server has it
    response = trader.post("/spot/orders", ORDER)
    assert response.status_code == 201
    assert handler.answered == handler.on_loop == 1  # answered on the event loop
    assert trader.get("/spot/orders").json()["results"][0]["id"] == response.json()["id"]
    assert handler.answered == 1  # a GET is Django's


def forget_user(trader: Any) -> None:
    auth._USERS_BY_SUB.clear()


def forget_market(trader: Any) -> None:
    services._markets.clear()


def with_client_order_id(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "client_order_id": "cid-1"}


@pytest.mark.parametrize(
    ("prepare", "body"),
    [
        (forget_user, ORDER),  # a user not in the process's cache: looked up in the database
        (forget_market, ORDER),  # a market not in the process's cache
        (lambda trader: None, with_client_order_id(ORDER)),  # a client_order_id: looked up first
    ],
)
def test_what_needs_the_database_first_is_answered_once_by_the_sync_path(market, funded, prepare, body):
    trader = funded(USDT="1000")
    handler: HotPathClientHandler = trader.client.handler
    services.cached_market("BTC_USDT")  # as a running server has it
    assert trader.post("/spot/orders", ORDER).status_code == 201  # on the loop
    prepare(trader)
    response = trader.post("/spot/orders", body)
    assert response.status_code == 201 and response.json()["status"] == "open"
    assert (handler.answered, handler.on_loop) == (2, 1)  # the second by the sync path
    assert Order.objects.filter(user_id=trader.user_id).count() == 2  # placed once, not twice
    assert balance(trader, "USDT") == ("998", "2")
    assert trader.post("/spot/orders", ORDER).status_code == 201
    assert handler.on_loop == 2  # and then the loop again


def test_a_host_django_would_refuse_is_refused_on_every_path(market, funded, settings):
    trader = funded(USDT="1000")
    handler: HotPathClientHandler = trader.client.handler
    services.cached_market("BTC_USDT")
    for _ in range(2):  # the second answer from the remembered check
        response = trader.client.post("/spot/orders", ORDER, format="json", HTTP_HOST="evil.example")
        assert response.status_code == 400  # Django's DisallowedHost
    settings.ALLOWED_HOSTS = ["evil.example"]  # the same host, once allowed
    response = trader.client.post("/spot/orders", ORDER, format="json", HTTP_HOST="evil.example")
    assert response.status_code == 201
    assert handler.on_loop == 1
    assert Order.objects.filter(user_id=trader.user_id).count() == 1


def expire_cached_market(symbol: str, by_s: float) -> float:
    """Make the process's cached market ``by_s`` past its expiry; returns its new stamp."""
    _stamped, cached = services._markets[symbol]
    stamp = time.monotonic() - services.MARKET_CACHE_TTL_S - by_s
    services._markets[symbol] = (stamp, cached)
    return stamp


def test_an_expired_market_is_used_on_the_loop_while_one_thread_reloads_it(market, funded):
    trader = funded(USDT="1000")
    handler: HotPathClientHandler = trader.client.handler
    services.cached_market("BTC_USDT")
    stamp = expire_cached_market("BTC_USDT", 0.5)
    Market.objects.filter(symbol="BTC_USDT").update(min_notional="0.5")  # changed meanwhile
    assert trader.post("/spot/orders", ORDER).status_code == 201
    assert handler.on_loop == 1  # not handed back to a thread
    reloaded_at, reloaded = services._markets["BTC_USDT"]
    assert reloaded_at > stamp and reloaded.min_notional == Decimal("0.5")  # reloaded
    assert services._reloading == {}
    small = {**ORDER, "quantity": "0.004"}  # 0.4 of notional, under the new minimum
    response = trader.post("/spot/orders", small)
    assert response.content == b'{"error":"BELOW_MIN_NOTIONAL"}' and handler.on_loop == 2


def test_a_market_expired_past_what_the_loop_may_use_goes_to_a_thread(market, funded):
    trader = funded(USDT="1000")
    handler: HotPathClientHandler = trader.client.handler
    services.cached_market("BTC_USDT")
    expire_cached_market("BTC_USDT", services.MARKET_STALE_ON_LOOP_S + 0.5)
    assert trader.post("/spot/orders", ORDER).status_code == 201
    assert (handler.answered, handler.on_loop) == (1, 0)  # the sync path, which reloads it
    assert time.monotonic() - services._markets["BTC_USDT"][0] < services.MARKET_CACHE_TTL_S


def test_an_answer_lost_after_its_commit_is_found_in_the_database_on_the_loop_too(market, funded, engine, settings):
    """The loop waits for the engine's answer; none comes (the engine stopped), so the order is
    looked up in the database (in a thread) and, absent, answered ENGINE_BUSY."""
    trader = funded(USDT="1000")
    services.cached_market("BTC_USDT")
    assert trader.post("/spot/orders", ORDER).status_code == 201
    settings.ENGINE_REPLY_TIMEOUT_S = 0.3
    engine.stop()
    get_redis_connection("default").set(state_key(0), "up")  # looks alive: the push is taken
    response = trader.post("/spot/orders", ORDER)
    assert (response.status_code, response.content) == (503, b'{"error":"ENGINE_BUSY"}')
    assert trader.client.handler.on_loop == 2
    assert Order.objects.filter(user_id=trader.user_id).count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {**ORDER, "side": "BUY"},
        {**ORDER, "type": "stop"},
        {**ORDER, "tif": "day"},
        {k: v for k, v in ORDER.items() if k != "quantity"},
        {**ORDER, "type": "market", "side": "sell", "quantity": None},
        {**ORDER, "type": "market", "quote_quantity": None},
        {**ORDER, "price": "100.001"},
        {**ORDER, "quantity": "0.0001"},
        {**ORDER, "quantity": "0.001", "price": "1"},
        {**ORDER, "symbol": "NOPE_USDT"},
        {**ORDER, "symbol": ["BTC_USDT"]},
        {**ORDER, "quantity": "100"},  # INSUFFICIENT_BALANCE, from the engine
        {**ORDER, "client_order_id": "x" * 65},
        {},
    ],
)
def test_refusals_are_the_general_paths_byte_for_byte(market, funded, body):
    trader = funded(USDT="1000")
    body = {k: v for k, v in body.items() if v is not None}
    hot = trader.post("/spot/orders", body)
    general = general_path(trader).post("/spot/orders", body, format="json")
    assert trader.client.handler.answered == 1
    assert (hot.status_code, hot.content) == (general.status_code, general.content)
    assert hot.status_code in (400, 404, 409)
    assert headers_of(hot) == headers_of(general)


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b""])
def test_a_body_that_is_not_an_object_reads_as_empty_on_both_paths(market, funded, raw):
    trader = funded(USDT="1000")
    hot = trader.client.generic("POST", "/spot/orders", raw, content_type="application/json")
    general = general_path(trader).generic("POST", "/spot/orders", raw, content_type="application/json")
    assert trader.client.handler.answered == 1
    assert (
        (hot.status_code, hot.content)
        == (general.status_code, general.content)
        == (404, b'{"error":"MARKET_NOT_FOUND"}')
    )


def test_placed_orders_answer_with_the_general_paths_shape_and_headers(market, funded):
    trader = funded(USDT="1000")
    hot = trader.post("/spot/orders", {**ORDER, "client_order_id": "hot-1"})
    general = general_path(trader).post("/spot/orders", {**ORDER, "client_order_id": "general-1"}, format="json")
    assert hot.status_code == general.status_code == 201
    assert headers_of(hot, length=False) == headers_of(general, length=False)
    hot_body, general_body = hot.json(), general.json()
    assert hot_body.keys() == general_body.keys()
    assert {k: v for k, v in hot_body.items() if k not in ("id", "client_order_id", "created_at", "updated_at")} == {
        k: v for k, v in general_body.items() if k not in ("id", "client_order_id", "created_at", "updated_at")
    }
    # a repeat of a client_order_id is the stored order, 200, on either path
    again_hot = trader.post("/spot/orders", {**ORDER, "client_order_id": "general-1"})
    again_general = general_path(trader).post("/spot/orders", {**ORDER, "client_order_id": "general-1"}, format="json")
    assert again_hot.status_code == again_general.status_code == 200
    assert again_hot.json() == again_general.json()
    assert headers_of(again_hot) == headers_of(again_general)


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        ({"HTTP_AUTHORIZATION": "Bearer not-a-token"}, 401),
        ({"HTTP_AUTHORIZATION": "Basic abc"}, 401),
        ({"HTTP_ACCEPT": "text/html"}, 406),
        ({"CONTENT_TYPE": "text/plain"}, 415),
        ({"QUERY_STRING": "format=xml"}, 404),
        ({"SERVER_NAME": "evil.example"}, 400),
    ],
)
def test_unusual_requests_are_left_to_django(market, funded, extra, status):
    trader = funded(USDT="1000")
    client = hot_path_client()
    handler = client.handler
    environ = {"CONTENT_TYPE": "application/json", "HTTP_AUTHORIZATION": f"Bearer {trader.token}", **extra}
    content_type = environ.pop("CONTENT_TYPE")
    response = client.generic("POST", "/spot/orders", orjson.dumps(ORDER), content_type=content_type, **environ)
    assert response.status_code == status
    assert handler.answered == 0
    if status == 401:
        assert response.content == b"" and response["WWW-Authenticate"] == "Bearer"


def test_spot_trading_switched_off_is_left_to_django(market, funded, settings):
    trader = funded(USDT="1000")
    settings.SPOT_TRADING_ENABLED = False
    response = trader.post("/spot/orders", ORDER)
    assert (response.status_code, response.content) == (503, b'{"error":"spot trading disabled"}')
    assert trader.client.handler.answered == 0


def test_a_refused_push_answers_at_once_not_at_the_deadline(market, funded, settings):
    """The push and the wait for its answer share one round trip: a refusal must not leave the
    wait behind it blocking until the deadline."""
    trader = funded(USDT="1000")
    settings.ENGINE_REPLY_TIMEOUT_S = 30.0
    get_redis_connection("default").delete(state_key(0))
    started = time.monotonic()
    response = trader.post("/spot/orders", ORDER)
    assert (response.status_code, response.content) == (503, b'{"error":"ENGINE_RESTARTING"}')
    assert time.monotonic() - started < 5


def call_wsgi(environ: dict[str, Any]) -> tuple[str, dict[str, str], bytes]:
    started: list[Any] = []
    body = b"".join(application(environ, lambda status, headers, *_: started.extend([status, headers])))
    return started[0], dict(started[1]), body


def test_the_server_application_answers_orders_itself_and_the_rest_through_django(market, funded):
    trader = funded(USDT="1000")
    factory = RequestFactory()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {trader.token}"}
    post = factory.post("/spot/orders", orjson.dumps(ORDER), content_type="application/json", **auth)
    status, headers, body = call_wsgi(post.environ)
    assert status == "201 Created"
    assert headers["Content-Type"] == "application/json" and headers["Content-Length"] == str(len(body))
    placed = orjson.loads(body)
    assert placed["status"] == "open" and placed["price"] == "100"
    refused = factory.post(
        "/spot/orders", orjson.dumps({**ORDER, "side": "x"}), content_type="application/json", **auth
    )
    assert call_wsgi(refused.environ)[::2] == ("400 Bad Request", b'{"error":"invalid side"}')
    status, _, body = call_wsgi(factory.get(f"/spot/orders/{placed['id']}", **auth).environ)
    assert status == "200 OK" and orjson.loads(body)["id"] == placed["id"]


def new_key(api: Any, permissions: list[str], label: str = "bot") -> Key:
    created = api.post("/spot/api-keys", {"label": label, "permissions": permissions})
    assert created.status_code == 201
    body = created.json()
    return Key(api_key=body["api_key"], secret=body["secret"], body=body)


def test_signed_api_key_orders_take_the_hot_path_and_answer_as_django(market, funded):
    trader = funded(USDT="1000")
    key = new_key(trader, permissions=["read", "trade"])
    hot_client = hot_path_client()
    body = orjson.dumps(ORDER)
    hot = key.call("POST", "/spot/orders", body, client=hot_client)
    general = key.call("POST", "/spot/orders", body, timestamp=int(time.time() * 1000) - 1, client=APIClient())
    assert hot_client.handler.answered == 1
    assert hot.status_code == general.status_code == 201
    assert headers_of(hot, length=False) == headers_of(general, length=False)
    assert hot.json()["status"] == general.json()["status"] == "open"


def test_api_key_refusals_are_the_general_paths(market, funded):
    trader = funded(USDT="1000")
    reader = new_key(trader, permissions=["read"])
    trading = new_key(trader, permissions=["read", "trade"], label="trading")
    hot_client = hot_path_client()
    body = orjson.dumps(ORDER)
    now = int(time.time() * 1000)
    cases = [
        (reader, {"timestamp": now}, {"timestamp": now - 1}),  # 403: no trade permission
        (trading, {"signature": "00" * 32}, {"signature": "00" * 32}),  # 401: wrong signature
        (trading, {"timestamp": now - 60_000}, {"timestamp": now - 60_001}),  # 401: outside the window
    ]
    for key, hot_args, general_args in cases:
        hot = key.call("POST", "/spot/orders", body, client=hot_path_client(), **hot_args)
        general = key.call("POST", "/spot/orders", body, client=APIClient(), **general_args)
        assert hot.status_code in (401, 403)
        assert (hot.status_code, hot.content) == (general.status_code, general.content)
        assert headers_of(hot) == headers_of(general)
    # a replay: the same signed request twice
    first = key_headers = trading.headers("POST", "/spot/orders", body, now - 2)
    assert hot_client.generic("POST", "/spot/orders", body, content_type="application/json", **first).status_code == 201
    replayed = hot_client.generic("POST", "/spot/orders", body, content_type="application/json", **key_headers)
    assert (replayed.status_code, replayed.content, replayed["WWW-Authenticate"]) == (401, b"", "Bearer")
    assert hot_client.handler.answered == 2


def test_api_key_orders_run_on_the_loop_once_the_key_is_cached_and_stop_when_it_is_revoked(market, funded):
    trader = funded(USDT="1000")
    key = new_key(trader, permissions=["read", "trade"])
    services.cached_market("BTC_USDT")
    client = hot_path_client()
    body = orjson.dumps(ORDER)
    now = int(time.time() * 1000)
    first = key.call("POST", "/spot/orders", body, timestamp=now, client=client)  # reads the key: sync path
    assert first.status_code == 201 and client.handler.on_loop == 0
    second = key.call("POST", "/spot/orders", body, timestamp=now + 1, client=client)
    assert second.status_code == 201 and client.handler.on_loop == 1  # the record in Redis: on the loop
    replay = key.headers("POST", "/spot/orders", body, now + 1)
    replayed = client.generic("POST", "/spot/orders", body, content_type="application/json", **replay)
    assert (replayed.status_code, replayed.content, replayed["WWW-Authenticate"]) == (401, b"", "Bearer")
    assert client.handler.on_loop == 2  # refused on the loop, as the sync path refuses it
    services._markets.clear()  # verified (and marked used) on the loop, then handed back for the market
    cold = key.call("POST", "/spot/orders", body, timestamp=now + 3, client=client)
    assert cold.status_code == 201 and client.handler.on_loop == 2  # not refused as its own replay
    assert trader.delete(f"/spot/api-keys/{key.api_key}").status_code == 204
    revoked = key.call("POST", "/spot/orders", body, timestamp=now + 2, client=client)
    assert revoked.status_code == 401
    assert Order.objects.filter(user_id=trader.user_id).count() == 3
