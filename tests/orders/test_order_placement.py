"""POST /spot/orders through HTTP with the engine loop running: every placement code, and
what matching does to orders and balances."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from tests.conftest import Api
from tests.orders.conftest import balance

pytestmark = pytest.mark.usefixtures("engine")


def limit(side: str, price: str, quantity: str, **extra: str) -> dict:
    return {"symbol": "BTC_USDT", "side": side, "type": "limit", "price": price, "quantity": quantity, **extra}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"symbol": "NOPE_USDT", "side": "buy", "type": "limit", "price": "1", "quantity": "1"}, "MARKET_NOT_FOUND"),
        ({}, "MARKET_NOT_FOUND"),
        (limit("BUY", "100", "1"), "invalid side"),
        ({**limit("buy", "100", "1"), "type": "stop"}, "invalid type"),
        (limit("buy", "100", "1", tif="GTC"), "invalid tif"),
        ({"symbol": "BTC_USDT", "side": "buy", "type": "limit", "price": "100"}, "quantity required for limit"),
        ({"symbol": "BTC_USDT", "side": "sell", "type": "market"}, "quantity required for market sell"),
        (
            {"symbol": "BTC_USDT", "side": "buy", "type": "market", "quantity": "1"},
            "quote_quantity required for market buy",
        ),
        (limit("buy", "100.001", "1"), "INVALID_TICK"),
        (limit("buy", "abc", "1"), "INVALID_TICK"),
        (limit("buy", "-100", "1"), "INVALID_TICK"),
        (limit("buy", "100", "0.0001"), "INVALID_LOT"),
        (limit("buy", "100", "0"), "INVALID_LOT"),
        (limit("buy", "0.01", "0.001"), "BELOW_MIN_NOTIONAL"),
        ({"symbol": "BTC_USDT", "side": "buy", "type": "market", "quote_quantity": "0.5"}, "BELOW_MIN_NOTIONAL"),
        (limit("buy", "100", "100"), "INSUFFICIENT_BALANCE"),
        (limit("sell", "100", "3"), "INSUFFICIENT_BALANCE"),
    ],
)
def test_placement_errors_have_the_contract_body(market, funded, body, code):
    trader = funded(USDT="1000", BTC="2")
    response = trader.post("/spot/orders", body)
    assert response.status_code in (400, 404)
    assert response.json() == {"error": code}
    assert balance(trader, "USDT") == ("1000", "0")
    assert balance(trader, "BTC") == ("2", "0")


def test_float_amounts_are_refused_not_rounded(market, funded):
    trader = funded(USDT="1000")
    response = trader.post("/spot/orders", {**limit("buy", "100", "1"), "price": 100.1})
    assert response.json() == {"error": "INVALID_TICK"}


def test_limit_order_rests_and_locks_price_times_quantity(market, funded):
    trader = funded(USDT="1000")
    response = trader.post("/spot/orders", limit("buy", "100.5", "2"))
    assert response.status_code == 201
    order = response.json()
    assert order["status"] == "open" and order["tif"] == "gtc" and order["fills"] == []
    assert order["price"] == "100.5" and order["quantity"] == "2" and order["filled_quantity"] == "0"
    assert balance(trader, "USDT") == ("799", "201")
    assert trader.get(f"/spot/orders/{order['id']}").json()["status"] == "open"


def test_fill_at_resting_price_returns_savings_and_charges_fees(market, funded):
    maker = funded(BTC="1")
    taker = funded(USDT="1000")
    assert maker.post("/spot/orders", limit("sell", "100", "1")).status_code == 201
    response = taker.post("/spot/orders", limit("buy", "101", "0.4"))
    assert response.status_code == 201
    order = response.json()
    assert order["status"] == "filled"
    assert order["filled_quantity"] == "0.4" and order["filled_quote"] == "40"
    assert [(f["price"], f["quantity"], f["fee"]) for f in order["fills"]] == [("100", "0.4", "0.0008")]
    # taker: paid 40 at the maker's price (not 40.4), received 0.4 BTC less the 0.2% taker fee
    assert balance(taker, "USDT") == ("960", "0")
    assert balance(taker, "BTC") == ("0.3992", "0")
    # maker: 0.6 BTC still locked, received 40 USDT less the 0.1% maker fee
    assert balance(maker, "BTC") == ("0", "0.6")
    assert balance(maker, "USDT") == ("39.96", "0")
    maker_order = maker.get("/spot/orders", status="open").json()["results"][0]
    assert maker_order["status"] == "partially_filled" and maker_order["filled_quantity"] == "0.4"


def test_price_time_priority_across_makers(market, funded):
    first, second = funded(BTC="1"), funded(BTC="1")
    taker = funded(USDT="1000")
    first.post("/spot/orders", limit("sell", "100", "0.5"))
    second.post("/spot/orders", limit("sell", "100", "0.5"))
    better = funded(BTC="1")
    better.post("/spot/orders", limit("sell", "99", "0.5"))
    order = taker.post("/spot/orders", limit("buy", "100", "0.8")).json()
    assert [(f["price"], f["quantity"]) for f in order["fills"]] == [("99", "0.5"), ("100", "0.3")]
    assert balance(first, "BTC") == ("0.5", "0.2")
    assert balance(second, "BTC") == ("0.5", "0.5")


def test_ioc_fills_what_it_can_and_cancels_the_rest(market, funded):
    maker, taker = funded(BTC="1"), funded(USDT="1000")
    maker.post("/spot/orders", limit("sell", "100", "0.3"))
    order = taker.post("/spot/orders", limit("buy", "100", "1", tif="ioc")).json()
    assert order["status"] == "cancelled" and order["filled_quantity"] == "0.3"
    assert balance(taker, "USDT") == ("970", "0")


def test_fok_that_cannot_fill_wholly_is_cancelled_without_fills(market, funded):
    maker, taker = funded(BTC="1"), funded(USDT="1000")
    maker.post("/spot/orders", limit("sell", "100", "0.3"))
    response = taker.post("/spot/orders", limit("buy", "100", "1", tif="fok"))
    assert response.status_code == 201
    assert response.json()["status"] == "cancelled" and response.json()["fills"] == []
    assert balance(taker, "USDT") == ("1000", "0")
    assert balance(maker, "BTC") == ("0.7", "0.3")


def test_fok_that_can_fill_fills(market, funded):
    maker, taker = funded(BTC="1"), funded(USDT="1000")
    maker.post("/spot/orders", limit("sell", "100", "1"))
    order = taker.post("/spot/orders", limit("buy", "100", "1", tif="fok")).json()
    assert order["status"] == "filled"


def test_post_only_that_crosses_is_refused(market, funded):
    maker, taker = funded(BTC="1"), funded(USDT="1000")
    maker.post("/spot/orders", limit("sell", "100", "1"))
    response = taker.post("/spot/orders", limit("buy", "100", "1", tif="post_only"))
    assert response.status_code == 400 and response.json() == {"error": "POST_ONLY_REJECT"}
    assert balance(taker, "USDT") == ("1000", "0")
    assert taker.post("/spot/orders", limit("buy", "99.99", "1", tif="post_only")).status_code == 201


def test_self_trade_is_declined_whole(market, funded):
    trader = funded(BTC="1", USDT="1000")
    other = funded(BTC="1")
    other.post("/spot/orders", limit("sell", "99", "0.5"))
    trader.post("/spot/orders", limit("sell", "100", "0.5"))
    response = trader.post("/spot/orders", limit("buy", "100", "1"))
    assert response.status_code == 400 and response.json() == {"error": "SELF_TRADE"}
    assert balance(trader, "USDT") == ("1000", "0")
    assert balance(other, "BTC") == ("0.5", "0.5")  # nothing filled, not even the other's order


def test_market_buy_spends_at_most_the_quote_in_whole_lots(market, funded):
    maker, taker = funded(BTC="1"), funded(USDT="100")
    maker.post("/spot/orders", limit("sell", "30", "1"))
    order = taker.post(
        "/spot/orders", {"symbol": "BTC_USDT", "side": "buy", "type": "market", "quote_quantity": "10"}
    ).json()
    # 10 / 30 = 0.3333..: whole lots of 0.001 -> 0.333 BTC for 9.99 USDT
    assert order["status"] in ("filled", "cancelled")
    assert order["filled_quantity"] == "0.333" and order["filled_quote"] == "9.99"
    assert balance(taker, "USDT") == ("90.01", "0")


def test_market_sell_with_empty_book_is_cancelled(market, funded):
    trader = funded(BTC="1")
    response = trader.post("/spot/orders", {"symbol": "BTC_USDT", "side": "sell", "type": "market", "quantity": "0.5"})
    assert response.status_code == 201 and response.json()["status"] == "cancelled"
    assert balance(trader, "BTC") == ("1", "0")


def test_two_orders_in_flight_cannot_spend_the_same_funds(market, funded):
    trader = funded(USDT="150")
    clients = [Api(trader.username) for _ in range(4)]  # one HTTP client per thread
    start = threading.Barrier(4)
    results: list[int] = []

    def place(client: Api) -> None:
        start.wait()
        try:
            results.append(client.post("/spot/orders", limit("buy", "100", "1")).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=place, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [201, 400, 400, 400]
    assert balance(trader, "USDT") == ("50", "100")


def test_client_order_id_repeat_returns_the_first_order(market, funded):
    trader = funded(USDT="1000")
    body = limit("buy", "100", "1", client_order_id="abc-1")
    first = trader.post("/spot/orders", body)
    again = trader.post("/spot/orders", body)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert balance(trader, "USDT") == ("900", "100")
    different = trader.post("/spot/orders", {**body, "price": "99"})
    assert different.status_code == 409 and different.json() == {"error": "CLIENT_ORDER_ID_REUSED"}


def test_client_order_id_sent_concurrently_places_once(market, funded):
    trader = funded(USDT="1000")
    clients = [Api(trader.username) for _ in range(4)]
    start = threading.Barrier(4)
    answers: list[tuple[int, str]] = []
    body = limit("buy", "100", "1", client_order_id="same-1")

    def place(client: Api) -> None:
        start.wait()
        try:
            response = client.post("/spot/orders", body)
            answers.append((response.status_code, response.json()["id"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=place, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(code for code, _ in answers) == [200, 200, 200, 201]
    assert len({order_id for _, order_id in answers}) == 1
    assert balance(trader, "USDT") == ("900", "100")


def test_fields_outside_the_contract_are_ignored(market, funded, make_api):
    trader = funded(USDT="1000")
    order = trader.post(
        "/spot/orders", {**limit("buy", "100", "1"), "user_id": 1, "status": "filled", "filled_quantity": "1"}
    ).json()
    assert order["status"] == "open" and order["filled_quantity"] == "0"
