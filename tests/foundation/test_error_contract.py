"""Every seed code the foundation can give, byte for byte, with its status and the state after."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from rest_framework import exceptions as drf_exceptions
from rest_framework.test import APIClient

from exchange.errors import exception_handler
from markets.models import Market, MarketStatus, MarketStatusChange
from wallets.models import Balance, LedgerEntry, TestnetCredit

MARKET_BODY = {
    "symbol": "ETH_USDT", "base": "ETH", "quote": "USDT", "tick_size": "0.01", "lot_size": "0.0001",
    "min_notional": "5",
}  # fmt: skip


def error_body(code: str) -> bytes:
    return ('{"error":"' + code + '"}').encode()


# --- 401: empty body ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "method,path",
    [("get", "/spot/balances"), ("get", "/spot/api-keys"), ("post", "/spot/api-keys"),
     ("post", "/admin/spot/markets"), ("post", "/admin/spot/balances/credit")],
)  # fmt: skip
def test_private_endpoint_without_credentials_is_401_with_empty_body(db, method, path):
    response = getattr(APIClient(), method)(path)
    assert response.status_code == 401
    assert response.content == b""


# --- 403 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path,body",
    [("/admin/spot/markets", MARKET_BODY), ("/admin/spot/markets/BTC_USDT/status", {"status": "halted"}),
     ("/admin/spot/balances/credit", {"user_id": "x", "token": "USDT", "amount": "1"})],
)  # fmt: skip
def test_non_staff_on_admin_spot_is_forbidden_and_changes_nothing(make_api, market, settings, path, body):
    settings.TESTNET_ONLY = True
    response = make_api().post(path, body)
    assert response.status_code == 403
    assert response.content == error_body("FORBIDDEN")
    assert not Market.objects.filter(symbol="ETH_USDT").exists()
    assert Market.objects.get(symbol="BTC_USDT").status == MarketStatus.ACTIVE
    assert not Balance.objects.exists() and not LedgerEntry.objects.exists()


def test_staff_flag_in_a_token_claim_gives_no_staff_power(db):
    import jwt

    token = jwt.encode(
        {"sub": "claims-staff", "exp": 4102444800, "is_staff": True, "role": "admin"},
        django_settings.JWT_SECRET,
        algorithm="HS256",
    )
    response = APIClient().post("/admin/spot/markets", MARKET_BODY, format="json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 403
    assert response.content == error_body("FORBIDDEN")
    assert not Market.objects.filter(symbol="ETH_USDT").exists()


@pytest.mark.parametrize("method,path", [("post", "/spot/api-keys"), ("get", "/spot/api-keys")])
def test_api_key_caller_on_jwt_only_endpoint_is_refused(make_api, make_key, method, path):
    api = make_api()
    key = make_key(api, ["read", "trade"])
    body = b'{"label":"from-a-key","permissions":["read","trade"]}' if method == "post" else b""
    response = key.call(method.upper(), path, body)
    assert response.status_code == 403
    assert response.content == error_body("API Key permission denied")
    assert api.get("/spot/api-keys").json()["results"] == [{k: v for k, v in key.body.items() if k != "secret"}]


def test_api_key_caller_cannot_revoke_keys(make_api, make_key):
    api = make_api()
    key = make_key(api)
    response = key.call("DELETE", f"/spot/api-keys/{key.api_key}")
    assert response.status_code == 403
    assert response.content == error_body("API Key permission denied")
    assert key.call("GET", "/spot/balances").status_code == 200


# --- markets ----------------------------------------------------------------------------------


def test_unknown_market_is_market_not_found(db):
    response = APIClient().get("/spot/markets/NOPE")
    assert response.status_code == 404
    assert response.content == error_body("MARKET_NOT_FOUND")


def test_status_change_of_unknown_market_is_market_not_found(staff_api):
    for status in ("halted", "bogus"):  # the market is looked up before the status is judged
        response = staff_api.post("/admin/spot/markets/NOPE/status", {"status": status})
        assert response.status_code == 404
        assert response.content == error_body("MARKET_NOT_FOUND")
    assert not MarketStatusChange.objects.filter(market_id="NOPE").exists()


def test_creating_an_existing_market_is_market_exists(staff_api, market):
    body = {**MARKET_BODY, "symbol": "BTC_USDT", "base": "BTC", "tick_size": "1"}
    response = staff_api.post("/admin/spot/markets", body)
    assert response.status_code == 409
    assert response.content == error_body("MARKET_EXISTS")
    assert Market.objects.get(symbol="BTC_USDT").tick_size == Decimal("0.01")
    assert Market.objects.count() == 1


@pytest.mark.parametrize("status", ["bogus", "HALTED", "Active", "", None, 1, ["halted"], {"s": 1}])
def test_unknown_status_is_invalid_status(staff_api, market, status):
    response = staff_api.post("/admin/spot/markets/BTC_USDT/status", {"status": status})
    assert response.status_code == 400
    assert response.content == error_body("INVALID_STATUS")
    assert Market.objects.get(symbol="BTC_USDT").status == MarketStatus.ACTIVE


def test_leaving_delisted_is_invalid_status(staff_api, market):
    assert staff_api.post("/admin/spot/markets/BTC_USDT/status", {"status": "delisted"}).status_code == 200
    for status in ("active", "halted"):
        response = staff_api.post("/admin/spot/markets/BTC_USDT/status", {"status": status})
        assert response.status_code == 400
        assert response.content == error_body("INVALID_STATUS")
    assert Market.objects.get(symbol="BTC_USDT").status == MarketStatus.DELISTED
    assert list(MarketStatusChange.objects.filter(market_id="BTC_USDT").values_list("to_status", flat=True)) == [
        "delisted", "active",
    ]  # fmt: skip


# --- testnet credit ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount", [0, "0", -1, "-1", "abc", "", None, "NaN", "Infinity", "0.0000000000000000001", True]
)
def test_credit_of_a_non_positive_or_unreadable_amount_is_refused(staff_api, settings, amount):
    settings.TESTNET_ONLY = True
    response = staff_api.post("/admin/spot/balances/credit", {"user_id": "alice", "token": "USDT", "amount": amount})
    assert response.status_code == 400
    assert response.content == error_body("AMOUNT_NON_POSITIVE")
    assert not Balance.objects.exists() and not LedgerEntry.objects.exists() and not TestnetCredit.objects.exists()


def test_credit_is_disabled_unless_testnet_only(staff_api, settings):
    settings.TESTNET_ONLY = False
    response = staff_api.post("/admin/spot/balances/credit", {"user_id": "alice", "token": "USDT", "amount": "10"})
    assert response.status_code == 404
    assert response.content == error_body("DISABLED")
    assert not Balance.objects.exists() and not LedgerEntry.objects.exists()


def test_credit_with_testnet_only_credits_with_a_ledger_entry(staff_api, settings):
    settings.TESTNET_ONLY = True
    response = staff_api.post("/admin/spot/balances/credit", {"user_id": "alice", "token": "usdt", "amount": "10.50"})
    assert response.status_code == 200
    assert response.json() == {"token": "USDT", "available": "10.5", "locked": "0"}
    entry = LedgerEntry.objects.get()
    assert (entry.user.username, entry.token, entry.delta_available, entry.delta_locked, entry.kind) == (
        "alice", "USDT", Decimal("10.5"), Decimal(0), "credit",
    )  # fmt: skip
    credit = TestnetCredit.objects.get()
    assert (credit.operator_id, credit.via, credit.amount) == (staff_api.user_id, "api", Decimal("10.5"))


@pytest.mark.parametrize("token", ["", "US-DT", "USDT ", "Ü", "²", "A" * 17, 5, None])
def test_credit_of_a_malformed_token_is_unsupported_token(staff_api, settings, token):
    settings.TESTNET_ONLY = True
    response = staff_api.post("/admin/spot/balances/credit", {"user_id": "alice", "token": token, "amount": "1"})
    assert response.status_code == 400
    assert response.content == error_body("UNSUPPORTED_TOKEN")
    assert not Balance.objects.exists()


# --- spot trading switch ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method,path",
    [("get", "/spot/markets"), ("get", "/spot/markets/BTC_USDT"), ("get", "/spot/balances"),
     ("post", "/spot/api-keys"), ("get", "/spot/api-keys"), ("post", "/spot/orders"), ("get", "/spot/depth")],
)  # fmt: skip
def test_spot_trading_disabled_answers_every_spot_path(make_api, market, settings, method, path):
    settings.SPOT_TRADING_ENABLED = False
    api = make_api()
    for client in (api.client, APIClient()):  # with and without credentials
        response = getattr(client, method)(path)
        assert response.status_code == 503
        assert response.content == error_body("spot trading disabled")
    assert not Market.objects.exclude(symbol="BTC_USDT").exists()


def test_spot_trading_disabled_leaves_health_and_admin_alone(staff_api, admin_client, market, settings):
    settings.SPOT_TRADING_ENABLED = False
    health = APIClient().get("/healthz")
    assert health.status_code in (200, 503)  # 503 only for an engine shard that is not up
    assert health.json()["database"] == "ok" and health.json()["redis"] == "ok"
    response = staff_api.post("/admin/spot/markets", MARKET_BODY)
    assert response.status_code == 201
    assert response.json()["symbol"] == "ETH_USDT"
    assert staff_api.post("/admin/spot/markets/BTC_USDT/status", {"status": "halted"}).status_code == 200
    assert admin_client.get("/admin/").status_code == 200
    assert admin_client.get("/admin/markets/market/").status_code == 200


# --- rate limits ----------------------------------------------------------------------------------


def test_rate_limit_is_per_user(make_api, settings):
    settings.RATE_LIMIT_USER = "3/minute"
    alice, bob = make_api(), make_api()
    assert [alice.get("/spot/balances").status_code for _ in range(3)] == [200, 200, 200]
    response = alice.get("/spot/balances")
    assert response.status_code == 429
    assert response.content == error_body("RATE_LIMITED")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert bob.get("/spot/balances").status_code == 200  # another user has their own budget


def test_rate_limit_is_per_api_key(make_api, make_key, settings):
    api = make_api()
    first, second = make_key(api), make_key(api)
    settings.RATE_LIMIT_KEY = "2/minute"
    assert [first.call("GET", "/spot/balances").status_code for _ in range(2)] == [200, 200]
    response = first.call("GET", "/spot/balances")
    assert response.status_code == 429
    assert response.content == error_body("RATE_LIMITED")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert second.call("GET", "/spot/balances").status_code == 200  # each key has its own budget
    assert api.get("/spot/balances").status_code == 200  # and the owner's JWT its own


def test_retry_after_rounds_the_wait_up():
    response = exception_handler(drf_exceptions.Throttled(wait=1.2), {})
    assert response.status_code == 429
    assert response["Retry-After"] == "2"


# --- DB_ERROR: a real PostgreSQL error during a write ---------------------------------------------


def _refuse_writes_to(table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE OR REPLACE FUNCTION h2_refuse_write() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'writes refused by the test'; END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            f"CREATE TRIGGER h2_refuse BEFORE INSERT OR UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION h2_refuse_write()"
        )


def test_postgres_error_while_creating_a_market_is_db_error(staff_api):
    _refuse_writes_to("spot_markets")
    response = staff_api.post("/admin/spot/markets", MARKET_BODY)
    assert response.status_code == 500
    assert response.content == error_body("DB_ERROR")
    assert not Market.objects.exists() and not MarketStatusChange.objects.exists()


def test_postgres_error_while_changing_a_status_is_db_error(staff_api, market):
    _refuse_writes_to("spot_markets")
    response = staff_api.post("/admin/spot/markets/BTC_USDT/status", {"status": "halted"})
    assert response.status_code == 500
    assert response.content == error_body("DB_ERROR")
    assert Market.objects.get().status == MarketStatus.ACTIVE
    assert MarketStatusChange.objects.count() == 1  # only the creation


def test_postgres_error_while_crediting_is_db_error_and_rolls_back(staff_api, settings):
    settings.TESTNET_ONLY = True
    _refuse_writes_to("wallets_ledgerentry")
    response = staff_api.post("/admin/spot/balances/credit", {"user_id": "alice", "token": "USDT", "amount": "5"})
    assert response.status_code == 500
    assert response.content == error_body("DB_ERROR")
    assert not Balance.objects.filter(available__gt=0).exists()  # the balance update was rolled back with it
    assert not LedgerEntry.objects.exists() and not TestnetCredit.objects.exists()


# --- a crash is Django's HTML 500, never JSON, never a traceback --------------------------------


def test_unexpected_exception_is_left_to_django():
    assert exception_handler(RuntimeError("boom"), {}) is None
    assert exception_handler(KeyError("boom"), {}) is None


def test_django_404_and_permission_denied_keep_the_error_shape():
    from django.core.exceptions import PermissionDenied
    from django.http import Http404

    not_found, forbidden = exception_handler(Http404(), {}), exception_handler(PermissionDenied(), {})
    assert (not_found.status_code, not_found.data) == (404, {"error": "NOT_FOUND"})
    assert (forbidden.status_code, forbidden.data) == (403, {"error": "FORBIDDEN"})


def test_a_crash_in_a_view_is_the_html_500_page(db, monkeypatch):
    def crash(market):
        raise RuntimeError("boom")

    monkeypatch.setattr("markets.api.serialize_market", crash)
    Market.objects.create(symbol="BTC_USDT", base="BTC", quote="USDT", tick_size="0.01", lot_size="0.001")
    response = Client(raise_request_exception=False).get("/spot/markets")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    assert b"Server Error (500)" in response.content
    assert b"RuntimeError" not in response.content and b"Traceback" not in response.content


def test_debug_is_off_unless_asked():
    env = {k: v for k, v in os.environ.items() if k != "DEBUG"}
    code = "from exchange import settings; print(settings.DEBUG)"
    cwd = str(django_settings.BASE_DIR)
    off = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=cwd, check=True)
    on = subprocess.run([sys.executable, "-c", code], env={**env, "DEBUG": "true"}, capture_output=True, text=True,
                        cwd=cwd, check=True)  # fmt: skip
    assert (off.stdout.strip(), on.stdout.strip()) == ("False", "True")


# --- HTTP-level refusals are answers, not crashes ---------------------------------------------------


def test_a_body_that_is_not_json_is_not_a_crash(staff_api):
    response = staff_api.client.post(
        "/admin/spot/markets", "symbol=ETH_USDT", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    assert response.content == error_body("UNSUPPORTED_MEDIA_TYPE")
    assert not Market.objects.exists()


def test_an_accept_header_we_cannot_serve_is_not_a_crash(db):
    response = APIClient().get("/spot/markets", HTTP_ACCEPT="text/html")
    assert response.status_code == 406
    assert response.content == error_body("NOT_ACCEPTABLE")


def test_wrong_method_and_unknown_key_path(make_api):
    api = make_api()
    response = api.client.put("/spot/balances", {}, format="json")
    assert response.status_code == 405
    assert response.content == error_body("METHOD_NOT_ALLOWED")
