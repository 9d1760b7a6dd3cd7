"""Public market data: depth, recent trades and the 24 h ticker."""

from __future__ import annotations

import pytest

from tests.orders.conftest import wait_for
from tests.orders.test_order_placement import limit

pytestmark = pytest.mark.usefixtures("engine")


def test_depth_sums_quantities_per_price_best_first(market, funded, client):
    seller, buyer = funded(BTC="5"), funded(USDT="10000")
    for price, quantity in [("101", "1"), ("101", "0.5"), ("102", "1")]:
        seller.post("/spot/orders", limit("sell", price, quantity))
    for price in ("99", "98"):
        buyer.post("/spot/orders", limit("buy", price, "1"))
    # Depth is published by the engine after its answers (at once when idle, at most every 50 ms when busy).
    depth = wait_for(
        lambda: (
            (d := client.get("/spot/depth", {"symbol": "BTC_USDT"}).json())["bids"] == [["99", "1"], ["98", "1"]] and d
        ),
        what="depth published",
    )
    assert depth["symbol"] == "BTC_USDT"
    assert depth["asks"] == [["101", "1.5"], ["102", "1"]]
    assert isinstance(depth["sequence"], int) and depth["sequence"] > 0
    assert client.get("/spot/depth", {"symbol": "BTC_USDT", "limit": 1}).json()["asks"] == [["101", "1.5"]]
    assert client.get("/spot/depth", {"symbol": "NOPE"}).json() == {"error": "MARKET_NOT_FOUND"}


def test_ticker_before_and_after_the_first_fill(market, funded, client):
    response = client.get("/spot/ticker/24hr", {"symbol": "BTC_USDT"})
    assert response.status_code == 503 and response.json() == {"error": "TICKER_NOT_FOUND"}
    seller, buyer = funded(BTC="5"), funded(USDT="10000")
    seller.post("/spot/orders", limit("sell", "100", "1"))
    seller.post("/spot/orders", limit("sell", "110", "1"))
    buyer.post("/spot/orders", limit("buy", "100", "0.5"))
    buyer.post("/spot/orders", limit("buy", "110", "1"))
    ticker = client.get("/spot/ticker/24hr", {"symbol": "BTC_USDT"}).json()
    assert (ticker["open"], ticker["high"], ticker["low"], ticker["last"]) == ("100", "110", "100", "110")
    assert ticker["volume"] == "1.5" and ticker["quote_volume"] == "155" and ticker["trade_count"] == 3
    assert ticker["change"] == "10" and ticker["change_percent"] == "10"
    page = client.get("/spot/trades", {"symbol": "BTC_USDT"}).json()
    assert page["next"] is None
    trades = page["results"]
    assert [(t["price"], t["quantity"], t["taker_side"]) for t in trades] == [
        ("110", "0.5", "buy"),
        ("100", "0.5", "buy"),
        ("100", "0.5", "buy"),
    ]


def test_public_trades_are_paged(market, funded, client):
    seller, buyer = funded(BTC="5"), funded(USDT="10000")
    seller.post("/spot/orders", limit("sell", "100", "1"))
    for _ in range(3):
        buyer.post("/spot/orders", limit("buy", "100", "0.1"))
    first = client.get("/spot/trades", {"symbol": "BTC_USDT", "limit": 2}).json()
    assert len(first["results"]) == 2 and first["next"]
    rest = client.get("/spot/trades", {"symbol": "BTC_USDT", "limit": 2, "cursor": first["next"]}).json()
    assert len(rest["results"]) == 1 and rest["next"] is None
    assert {t["id"] for t in first["results"]}.isdisjoint({t["id"] for t in rest["results"]})
