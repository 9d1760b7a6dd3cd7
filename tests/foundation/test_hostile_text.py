"""Text a client sends that PostgreSQL cannot hold, or that Python reads more kindly than the
contract does, gets the contract's answer for that field: never a 500, never a changed balance.

PostgreSQL refuses the NUL character in any text value ("text fields cannot contain NUL (0x00)
bytes"), so a NUL that reached a query used to fail it with 500 DB_ERROR (found by schemathesis
against the OpenAPI schema). Python's Decimal() reads "50_000" and Unicode digits as numbers.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from orders.models import Order
from tests.conftest import fund
from wallets.models import Balance, LedgerEntry

NUL = "\x00"
ORDER = {"symbol": "BTC_USDT", "side": "buy", "type": "limit", "price": "50000", "quantity": "0.001"}


def error_body(code: str) -> bytes:
    return ('{"error":"' + code + '"}').encode()


def balances() -> list[tuple[int, str, Decimal, Decimal]]:
    return sorted(Balance.objects.values_list("user_id", "token", "available", "locked"))


@pytest.fixture
def funded_api(make_api, market):
    api = make_api()
    fund(api.user_id, "USDT", "1000")
    fund(api.user_id, "DF", "1000")
    return api


@pytest.mark.parametrize(
    "path",
    ["/spot/depth", "/spot/trades", "/spot/ticker/24hr"],
)
def test_a_symbol_with_nul_in_public_market_data_is_not_found(make_api, market, path):
    response = make_api().get(path, symbol="BTC" + NUL + "_USDT")
    assert response.status_code == 404
    assert response.content == error_body("MARKET_NOT_FOUND")


def test_a_symbol_with_nul_in_cancel_all_is_not_found(funded_api):
    response = funded_api.delete("/spot/orders?symbol=BTC%00_USDT")
    assert response.status_code == 404
    assert response.content == error_body("MARKET_NOT_FOUND")


@pytest.mark.parametrize("path", ["/spot/orders", "/spot/fills"])
def test_a_symbol_with_nul_in_a_private_list_lists_nothing(funded_api, path):
    response = funded_api.get(path, symbol="BTC" + NUL + "_USDT")
    assert response.status_code == 200
    assert response.json()["results"] == []


@pytest.fixture
def listed_api(funded_api):
    """A caller with an order and an API key, dated now: a cursor taken at face value (before
    2026-01-01) would list neither; one read as unreadable starts from the top and lists them."""
    now = datetime.now(UTC)
    Order.objects.create(market_id="BTC_USDT", user_id=funded_api.user_id, side="buy", type="limit", tif="gtc",
                         price=Decimal("50000"), quantity=Decimal("0.001"), status="open", seq=1, created_at=now,
                         updated_at=now)  # fmt: skip
    assert funded_api.post("/spot/api-keys", {"label": "k"}).status_code == 201
    return funded_api


def first_page(api, path):
    page = api.get(path).json()
    if path in ("/spot/orders", "/spot/api-keys"):
        assert page["results"]
    return page


@pytest.mark.parametrize("path", ["/spot/orders", "/spot/fills", "/spot/withdrawals"])
def test_a_cursor_with_nul_starts_from_the_top(listed_api, path):
    funded_api = listed_api
    cursor = base64.urlsafe_b64encode(("2026-01-01T00:00:00+00:00|" + NUL).encode()).decode()
    response = funded_api.get(path, cursor=cursor)
    assert response.status_code == 200
    assert response.json() == first_page(funded_api, path)


@pytest.mark.parametrize(
    "field,value,status,code",
    [("symbol", "BTC" + NUL + "_USDT", 404, "MARKET_NOT_FOUND"),
     ("client_order_id", "my" + NUL + "id", 400, "invalid id"),
     ("side", "buy" + NUL, 400, "invalid side"),
     ("price", "50000" + NUL, 400, "INVALID_TICK")],
)  # fmt: skip
def test_an_order_field_with_nul_gets_that_fields_error_and_locks_nothing(funded_api, field, value, status, code):
    before = balances()
    response = funded_api.post("/spot/orders", {**ORDER, field: value})
    assert response.status_code == status
    assert response.content == error_body(code)
    assert balances() == before


def test_a_withdrawal_address_with_nul_is_refused_and_holds_nothing(funded_api):
    before = balances()
    response = funded_api.post(
        "/spot/withdraw/request", {"token": "DF", "amount": "1", "address": "0x" + "ab" * 19 + NUL + "a"}
    )
    assert response.status_code == 400
    assert response.content == error_body("UNSUPPORTED_TOKEN")
    assert balances() == before


def test_a_transfer_token_with_nul_is_unsupported(funded_api):
    before = balances()
    response = funded_api.post("/spot/transfer", {"direction": "spot_to_perp", "token": "USDT" + NUL, "amount": "1"})
    assert response.status_code == 400
    assert response.content == error_body("UNSUPPORTED_TOKEN")
    assert balances() == before


def test_an_api_key_label_keeps_its_text_without_the_nul(funded_api):
    response = funded_api.post("/spot/api-keys", {"label": "bot" + NUL + "one", "permissions": ["read"]})
    assert response.status_code == 201
    assert response.json()["label"] == "botone"


def test_a_username_with_nul_is_not_authenticated(db):
    from rest_framework.test import APIClient

    response = APIClient().post("/auth/token", {"username": "ad" + NUL + "min", "password": "x"}, format="json")
    assert response.status_code == 401
    assert response.content == b""


def test_admin_writes_with_nul_get_their_fields_error(staff_api, market, settings):
    settings.TESTNET_ONLY = True
    response = staff_api.post(
        "/admin/spot/markets",
        {"base": "E" + NUL + "TH", "quote": "USDT", "tick_size": "0.01", "lot_size": "0.01", "min_notional": "1"},
    )
    assert response.status_code == 400
    assert response.content == error_body("UNSUPPORTED_TOKEN")
    response = staff_api.post("/admin/spot/markets/BTC%00_USDT/status", {"status": "halted"})
    assert response.status_code == 404
    assert response.content == error_body("MARKET_NOT_FOUND")
    response = staff_api.post(
        "/admin/spot/balances/credit", {"user_id": staff_api.user_id, "token": "USDT" + NUL, "amount": "1"}
    )
    assert response.status_code == 400
    assert response.content == error_body("UNSUPPORTED_TOKEN")
    assert not LedgerEntry.objects.filter(user_id=staff_api.user_id).exists()


@pytest.mark.parametrize("path", ["/spot/orders", "/spot/fills", "/spot/withdrawals"])  # UUID ids
@pytest.mark.parametrize("position", ["not-a-uuid", "0" * 70])
def test_a_cursor_naming_no_row_the_list_could_hold_starts_from_the_top(listed_api, path, position):
    funded_api = listed_api
    cursor = base64.urlsafe_b64encode(("2026-01-01T00:00:00+00:00|" + position).encode()).decode()
    response = funded_api.get(path, cursor=cursor)
    assert response.status_code == 200
    assert response.json() == first_page(funded_api, path)


def test_an_api_key_header_with_nul_is_401(db):
    from rest_framework.test import APIClient

    response = APIClient().get("/spot/balances", HTTP_X_API_KEY="ak" + NUL, HTTP_X_TIMESTAMP="1", HTTP_X_SIGNATURE="00")
    assert response.status_code == 401
    assert response.content == b""


@pytest.mark.parametrize("price", ["50_000", "\u0665\u0660\u0660\u0660\u0660"])
def test_a_price_python_would_read_but_is_not_plain_decimal_text_is_refused(funded_api, price):
    before = balances()
    response = funded_api.post("/spot/orders", {**ORDER, "price": price})
    assert response.status_code == 400
    assert response.content == error_body("INVALID_TICK")
    assert balances() == before
