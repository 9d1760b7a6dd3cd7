"""Markets over REST and the Django admin (SPEC §4, §8): shapes, audited status changes, admin pages."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from markets.models import Market, MarketStatus, MarketStatusChange
from wallets.models import Balance, LedgerEntry, TestnetCredit

CREATE = {
    "symbol": "ETH_USDT", "base": "ETH", "quote": "USDT", "tick_size": "0.01", "lot_size": "0.0001",
    "min_notional": "5", "maker_fee": "0.001", "taker_fee": "0.0025",
}  # fmt: skip
ETH_SHAPE = {
    "symbol": "ETH_USDT", "base": "ETH", "quote": "USDT", "status": "active", "tick_size": "0.01",
    "lot_size": "0.0001", "min_notional": "5", "maker_fee": "0.001", "taker_fee": "0.0025",
}  # fmt: skip


def test_staff_creates_a_market_with_the_market_shape(staff_api):
    response = staff_api.post("/admin/spot/markets", CREATE)
    assert response.status_code == 201
    assert response.json() == ETH_SHAPE
    assert APIClient().get("/spot/markets/ETH_USDT").json() == ETH_SHAPE
    assert APIClient().get("/spot/markets").json() == [ETH_SHAPE]
    market = Market.objects.get()
    assert (market.tick_size, market.taker_fee) == (Decimal("0.01"), Decimal("0.0025"))
    created = MarketStatusChange.objects.get(market=market)
    assert (created.to_status, created.actor_id) == ("active", staff_api.user_id)


def test_fees_default_to_zero(staff_api):
    body = {k: v for k, v in CREATE.items() if k not in {"maker_fee", "taker_fee"}}
    response = staff_api.post("/admin/spot/markets", body)
    assert response.status_code == 201
    assert (response.json()["maker_fee"], response.json()["taker_fee"]) == ("0", "0")


@pytest.mark.parametrize("change", [{"tick_size": "0"}, {"lot_size": "-1"}, {"tick_size": "abc"}, {"min_notional": "-5"},
                                    {"maker_fee": "1"}, {"taker_fee": "-0.1"}])  # fmt: skip
def test_bad_trading_rules_create_nothing(staff_api, change):
    response = staff_api.post("/admin/spot/markets", {**CREATE, **change})
    assert response.status_code == 400
    assert response.content == b'{"error":"INVALID_TICK"}'
    assert not Market.objects.exists()


def test_each_status_change_is_audited_with_actor_from_and_to(staff_api, market):
    path = "/admin/spot/markets/BTC_USDT/status"
    for status in ("halted", "active", "halted", "delisted"):
        response = staff_api.post(path, {"status": status})
        assert response.status_code == 200
        assert response.json()["status"] == status
    assert staff_api.post(path, {"status": "delisted"}).status_code == 200  # already there: no new audit row
    changes = MarketStatusChange.objects.filter(market_id="BTC_USDT", via="api").order_by("id")
    assert [(c.actor_id, c.from_status, c.to_status) for c in changes] == [
        (staff_api.user_id, "active", "halted"),
        (staff_api.user_id, "halted", "active"),
        (staff_api.user_id, "active", "halted"),
        (staff_api.user_id, "halted", "delisted"),
    ]
    assert APIClient().get("/spot/markets/BTC_USDT").json()["status"] == "delisted"


# --- Django admin -------------------------------------------------------------------------------------


@pytest.fixture
def operator(db):
    return get_user_model().objects.create_superuser("operator", "op@example.com", "op-password-1")


@pytest.fixture
def browser(client, operator):
    client.force_login(operator)
    return client


def test_admin_renders_for_a_superuser(browser, market):
    assert browser.get("/admin/").status_code == 200
    for page in ("/admin/markets/market/", "/admin/markets/market/BTC_USDT/change/", "/admin/markets/marketstatuschange/",
                 "/admin/wallets/balance/", "/admin/wallets/ledgerentry/", "/admin/wallets/testnetcredit/",
                 "/admin/exchange/apikey/"):  # fmt: skip
        assert browser.get(page).status_code == 200, page


def test_admin_is_closed_to_anonymous_and_non_staff(client, db):
    assert client.get("/admin/markets/market/").status_code == 302
    get_user_model().objects.create_user("plain", password="plain-password-1")
    client.login(username="plain", password="plain-password-1")
    assert client.get("/admin/markets/market/").status_code == 302


def test_market_changelist_offers_halt_resume_delist(browser, market):
    page = browser.get("/admin/markets/market/").content.decode()
    for action in ("halt", "resume", "delist"):
        assert f'<option value="{action}">' in page


def test_halt_and_resume_through_the_admin_are_audited(browser, operator, market):
    for action, status in (("halt", "halted"), ("resume", "active")):
        response = browser.post(
            "/admin/markets/market/", {"action": action, ACTION_CHECKBOX_NAME: ["BTC_USDT"], "index": "0"}
        )
        assert response.status_code == 302
        assert Market.objects.get().status == status
    changes = MarketStatusChange.objects.filter(via="admin-ui").order_by("id")
    assert [(c.actor_id, c.from_status, c.to_status) for c in changes] == [
        (operator.pk, "active", "halted"), (operator.pk, "halted", "active"),
    ]  # fmt: skip


def test_delist_through_the_admin_asks_first_and_changes_nothing_until_confirmed(browser, operator, market):
    response = browser.post(
        "/admin/markets/market/", {"action": "delist", ACTION_CHECKBOX_NAME: ["BTC_USDT"], "index": "0"}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Delist these markets?" in page and "BTC_USDT" in page and 'name="confirmed" value="yes"' in page
    assert Market.objects.get().status == MarketStatus.ACTIVE
    assert not MarketStatusChange.objects.filter(to_status="delisted").exists()

    # The confirmation form posts back without "index" (Django's path for confirmed actions).
    response = browser.post(
        "/admin/markets/market/", {"action": "delist", ACTION_CHECKBOX_NAME: ["BTC_USDT"], "confirmed": "yes"}
    )
    assert response.status_code == 302
    assert Market.objects.get().status == MarketStatus.DELISTED
    change = MarketStatusChange.objects.get(to_status="delisted")
    assert (change.actor_id, change.from_status, change.via) == (operator.pk, "active", "admin-ui")


def test_adding_a_market_in_the_admin_goes_through_the_same_rules(browser, operator):
    form = {**CREATE, "symbol": "eth_usdt", "base": "eth", "quote": "usdt", "status_changes-TOTAL_FORMS": "0",
            "status_changes-INITIAL_FORMS": "0"}  # fmt: skip
    response = browser.post("/admin/markets/market/add/", form)
    assert response.status_code == 302
    market = Market.objects.get()
    assert (market.symbol, market.base, market.quote, market.status) == ("ETH_USDT", "ETH", "USDT", "active")
    created = MarketStatusChange.objects.get(market=market)
    assert (created.actor_id, created.to_status) == (operator.pk, "active")


def test_testnet_credit_through_the_admin_add_form(browser, operator, settings):
    settings.TESTNET_ONLY = True
    assert browser.get("/admin/wallets/testnetcredit/add/").status_code == 200
    response = browser.post("/admin/wallets/testnetcredit/add/", {"user_id": "bob", "token": "USDT", "amount": "12.5"})
    assert response.status_code == 302
    balance = Balance.objects.get(user__username="bob", token="USDT")
    assert (balance.available, balance.locked) == (Decimal("12.5"), Decimal(0))
    entry = LedgerEntry.objects.get(user__username="bob")
    assert (entry.kind, entry.token, entry.delta_available, entry.delta_locked) == (
        "credit",
        "USDT",
        Decimal("12.5"),
        0,
    )
    credit = TestnetCredit.objects.get()
    assert (credit.operator_id, credit.via, credit.amount) == (operator.pk, "admin-ui", Decimal("12.5"))
    messages = [str(m) for m in browser.get(response["Location"]).context["messages"]]
    assert messages and all("None" not in m for m in messages)


@pytest.mark.parametrize("field,value", [("token", "US-DT"), ("amount", "0"), ("amount", "-3"), ("user_id", "")])
def test_a_bad_testnet_credit_in_the_admin_is_shown_on_the_form_and_credits_nothing(browser, settings, field, value):
    settings.TESTNET_ONLY = True
    response = browser.post(
        "/admin/wallets/testnetcredit/add/", {"user_id": "bob", "token": "USDT", "amount": "1", field: value}
    )
    assert response.status_code == 200  # the form again, with its error
    assert response.context["adminform"].form.errors
    assert not Balance.objects.exists() and not LedgerEntry.objects.exists() and not TestnetCredit.objects.exists()


def test_testnet_credit_admin_add_is_closed_unless_testnet_only(browser, settings):
    settings.TESTNET_ONLY = False
    assert browser.get("/admin/wallets/testnetcredit/add/").status_code == 403
    response = browser.post("/admin/wallets/testnetcredit/add/", {"user_id": "bob", "token": "USDT", "amount": "1"})
    assert response.status_code == 403
    assert not Balance.objects.exists()


@pytest.mark.parametrize("change", [{"base": "US-DT"}, {"quote": "eth"}, {"tick_size": "0.0000000001", "lot_size": "0.0000000001"},
                                    {"tick_size": "0"}])  # fmt: skip
def test_a_bad_market_in_the_admin_is_shown_on_the_form_and_creates_nothing(browser, change):
    form = {**CREATE, **change, "status_changes-TOTAL_FORMS": "0", "status_changes-INITIAL_FORMS": "0"}
    response = browser.post("/admin/markets/market/add/", form)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert not Market.objects.exists() and not MarketStatusChange.objects.exists()
