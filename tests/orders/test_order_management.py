"""Reading and cancelling orders, fills, and what halting and delisting do."""

from __future__ import annotations

import uuid

import pytest
from django.core.management import call_command

from tests.orders.conftest import balance, wait_for
from tests.orders.test_order_placement import limit

pytestmark = pytest.mark.usefixtures("engine")


def test_cancel_returns_the_funds(market, funded):
    trader = funded(USDT="1000")
    order = trader.post("/spot/orders", limit("buy", "100", "2")).json()
    response = trader.delete(f"/spot/orders/{order['id']}")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert balance(trader, "USDT") == ("1000", "0")
    again = trader.delete(f"/spot/orders/{order['id']}")
    assert again.status_code == 404 and again.json() == {"error": "ORDER_NOT_FOUND"}


def test_cancel_of_a_partially_filled_order_releases_only_the_rest(market, funded):
    maker, taker = funded(USDT="1000"), funded(BTC="1")
    order = maker.post("/spot/orders", limit("buy", "100", "1")).json()
    taker.post("/spot/orders", limit("sell", "100", "0.25"))
    cancelled = maker.delete(f"/spot/orders/{order['id']}").json()
    assert cancelled["status"] == "cancelled" and cancelled["filled_quantity"] == "0.25"
    assert balance(maker, "USDT") == ("975", "0")
    assert balance(maker, "BTC") == ("0.24975", "0")


def test_order_ids_are_checked(market, funded):
    owner, stranger = funded(USDT="1000"), funded(USDT="1000")
    order = owner.post("/spot/orders", limit("buy", "100", "1")).json()
    assert stranger.get("/spot/orders/not-a-uuid").json() == {"error": "invalid id"}
    assert stranger.delete("/spot/orders/not-a-uuid").json() == {"error": "invalid id"}
    forbidden = stranger.get(f"/spot/orders/{order['id']}")
    assert forbidden.status_code == 403 and forbidden.json() == {"error": "FORBIDDEN"}
    not_found = stranger.delete(f"/spot/orders/{order['id']}")
    assert not_found.status_code == 404 and not_found.json() == {"error": "ORDER_NOT_FOUND"}
    missing = owner.get(f"/spot/orders/{uuid.uuid4()}")
    assert missing.status_code == 404 and missing.json() == {"error": "ORDER_NOT_FOUND"}
    assert owner.get(f"/spot/orders/{order['id']}").json()["status"] == "open"


def test_cancel_all_of_mine_in_a_market(market, funded):
    trader, other = funded(USDT="1000"), funded(USDT="1000")
    for price in ("90", "91", "92"):
        trader.post("/spot/orders", limit("buy", price, "1"))
    other.post("/spot/orders", limit("buy", "93", "1"))
    response = trader.delete("/spot/orders?symbol=BTC_USDT")
    assert response.status_code == 200
    assert sorted(o["price"] for o in response.json()["results"]) == ["90", "91", "92"]
    assert balance(trader, "USDT") == ("1000", "0")
    assert balance(other, "USDT") == ("907", "93")
    assert trader.delete("/spot/orders?symbol=NOPE").json() == {"error": "MARKET_NOT_FOUND"}


def test_order_list_and_fills_are_mine_only_and_paged(market, funded):
    maker, taker = funded(BTC="1"), funded(USDT="1000")
    for _ in range(3):
        maker.post("/spot/orders", limit("sell", "100", "0.1"))
    taker.post("/spot/orders", limit("buy", "100", "0.2"))
    page = maker.get("/spot/orders", limit=2).json()
    assert len(page["results"]) == 2 and page["next"]
    rest = maker.get("/spot/orders", limit=2, cursor=page["next"]).json()
    assert len(rest["results"]) == 1 and rest["next"] is None
    assert {o["status"] for o in maker.get("/spot/orders", status="open").json()["results"]} == {"open"}
    fills = taker.get("/spot/fills", symbol="BTC_USDT").json()["results"]
    assert [(f["side"], f["role"], f["quantity"]) for f in fills] == [("buy", "taker", "0.1")] * 2
    maker_fills = maker.get("/spot/fills").json()["results"]
    assert {(f["side"], f["role"], f["fee"]) for f in maker_fills} == {("sell", "maker", "0.01")}
    assert taker.get("/spot/orders").json()["results"][0]["status"] == "filled"
    assert funded().get("/spot/fills").json() == {"results": [], "next": None}


def test_halted_market_refuses_orders_keeps_book_and_allows_cancel(market, funded, staff_api):
    trader = funded(USDT="1000")
    order = trader.post("/spot/orders", limit("buy", "100", "1")).json()
    assert staff_api.post("/admin/spot/markets/BTC_USDT/status", {"status": "halted"}).status_code == 200
    refused = trader.post("/spot/orders", limit("buy", "100", "1"))
    assert refused.status_code == 409 and refused.json() == {"error": "MARKET_HALTED"}
    wait_for(lambda: trader.get("/spot/depth", symbol="BTC_USDT").json()["bids"] == [["100", "1"]], what="book kept")
    assert trader.delete(f"/spot/orders/{order['id']}").json()["status"] == "cancelled"
    staff_api.post("/admin/spot/markets/BTC_USDT/status", {"status": "active"})
    assert trader.post("/spot/orders", limit("buy", "100", "1")).status_code == 201


def test_delisting_cancels_every_order_and_releases_funds(market, funded, staff_api):
    buyer, seller = funded(USDT="1000"), funded(BTC="1")
    buyer.post("/spot/orders", limit("buy", "90", "1"))
    seller.post("/spot/orders", limit("sell", "110", "1"))
    assert staff_api.post("/admin/spot/markets/BTC_USDT/status", {"status": "delisted"}).status_code == 200
    wait_for(lambda: balance(buyer, "USDT") == ("1000", "0"), what="buyer released")
    assert balance(seller, "BTC") == ("1", "0")
    assert buyer.get("/spot/orders").json()["results"][0]["status"] == "cancelled"
    refused = buyer.post("/spot/orders", limit("buy", "90", "1"))
    assert refused.status_code == 410 and refused.json() == {"error": "MARKET_DELISTED"}
    back = staff_api.post("/admin/spot/markets/BTC_USDT/status", {"status": "active"})
    assert back.status_code == 400 and back.json() == {"error": "INVALID_STATUS"}


def test_reconcile_is_clean_after_trading(market, funded, capsys):
    maker, taker = funded(BTC="1", USDT="10"), funded(USDT="1000", BTC="0.5")
    maker.post("/spot/orders", limit("sell", "100", "0.7"))
    taker.post("/spot/orders", limit("buy", "101", "0.5"))
    taker.post("/spot/orders", limit("sell", "120", "0.2"))
    maker.post("/spot/orders", limit("buy", "95", "0.1"))
    call_command("reconcile")
    assert "reconcile: clean" in capsys.readouterr().out
