"""Attacks on the two doors (SPEC §2): every failure is a 401 with an empty body and changes nothing."""

from __future__ import annotations

import base64
import io
import json
import time

import jwt
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django_redis import get_redis_connection
from rest_framework.test import APIClient, APIRequestFactory

from exchange.auth import ApiKeyAuthentication, JWTAuthentication
from exchange.errors import ApiKeyPermissionDenied
from exchange.models import ApiKey
from exchange.permissions import require_trade_permission
from tests.conftest import fund
from tests.foundation.conftest import now_ms

User = get_user_model()


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def assert_401(response) -> None:
    assert response.status_code == 401
    assert response.content == b""


# --- JWT --------------------------------------------------------------------------------------


def _forged_tokens(sub: str) -> dict[str, str]:
    exp = int(time.time()) + 600
    good = jwt.encode({"sub": sub, "exp": exp}, settings.JWT_SECRET, algorithm="HS256")
    head, payload, signature = good.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    return {
        "tampered signature": f"{head}.{payload}.{flipped}",
        "tampered payload": f"{head}.{b64({'sub': sub + '-admin', 'exp': exp})}.{signature}",
        "alg none": f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64({'sub': sub, 'exp': exp})}.",
        "alg none upper": f"{b64({'alg': 'NONE', 'typ': 'JWT'})}.{b64({'sub': sub, 'exp': exp})}.",
        "expired": jwt.encode({"sub": sub, "exp": int(time.time()) - 5}, settings.JWT_SECRET, algorithm="HS256"),
        "wrong secret": jwt.encode({"sub": sub, "exp": exp}, "not-the-secret" * 4, algorithm="HS256"),
        "other algorithm, right secret": jwt.encode({"sub": sub, "exp": exp}, settings.JWT_SECRET, algorithm="HS512"),
        "no exp": jwt.encode({"sub": sub}, settings.JWT_SECRET, algorithm="HS256"),
        "no sub": jwt.encode({"exp": exp}, settings.JWT_SECRET, algorithm="HS256"),
        "numeric sub": jwt.encode({"sub": 42, "exp": exp}, settings.JWT_SECRET, algorithm="HS256"),
        "empty sub": jwt.encode({"sub": "", "exp": exp}, settings.JWT_SECRET, algorithm="HS256"),
        "garbage": "not-a-jwt",
    }


@pytest.mark.parametrize("attack", list(_forged_tokens("x")))
def test_forged_or_broken_jwt_is_401_and_creates_no_user(db, attack):
    sub = f"mallory-{attack.replace(' ', '-').replace(',', '')}"
    response = bearer(_forged_tokens(sub)[attack]).get("/spot/balances")
    assert_401(response)
    assert not User.objects.filter(username__startswith="mallory").exists()


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "bearer"])
def test_malformed_authorization_header_is_401(db, header):
    assert_401(APIClient().get("/spot/balances", HTTP_AUTHORIZATION=header))


def test_valid_jwt_passes_and_creates_the_platform_user_once(db):
    token = jwt.encode({"sub": "platform-77", "exp": int(time.time()) + 60}, settings.JWT_SECRET, algorithm="HS256")
    assert bearer(token).get("/spot/balances").status_code == 200
    assert bearer(token).get("/spot/balances").json() == []
    assert User.objects.filter(username="platform-77").count() == 1


def test_deactivated_user_loses_jwt_access_once_the_recheck_interval_passed(make_api, monkeypatch):
    from exchange import auth

    assert 0 < auth.USER_RECHECK_S <= 300  # a bounded delay, not "until the process restarts"
    api = make_api()
    assert api.get("/spot/balances").status_code == 200
    User.objects.filter(pk=api.user_id).update(is_active=False)
    monkeypatch.setattr(auth, "USER_RECHECK_S", 0.0)
    auth._USERS_BY_SUB[api.username] = (*auth._USERS_BY_SUB[api.username][:2], 0.0)  # the interval has passed
    assert_401(api.get("/spot/balances"))


# --- API keys: HMAC ----------------------------------------------------------------------------


def test_correctly_signed_request_passes(make_api, make_key):
    api = make_api()
    key = make_key(api)
    fund(api.user_id, "USDT", "7")
    response = key.call("GET", "/spot/balances")
    assert response.status_code == 200
    assert response.json() == [{"token": "USDT", "available": "7", "locked": "0"}]


def test_signature_covers_the_query_string(make_api, make_key):
    key = make_key(make_api())
    assert key.call("GET", "/spot/api-keys?limit=5").status_code == 403  # signed right: JWT-only endpoint
    signature = key.headers("GET", "/spot/api-keys?limit=5")["HTTP_X_SIGNATURE"]
    assert_401(key.call("GET", "/spot/api-keys?limit=6", signature=signature))


def test_wrong_signature_is_401(make_api, make_key):
    key = make_key(make_api())
    assert_401(key.call("GET", "/spot/balances", signature="0" * 64))
    assert_401(key.call("GET", "/spot/balances", signature=key.headers("GET", "/spot/balance")["HTTP_X_SIGNATURE"]))


def test_signature_with_another_keys_secret_is_401(make_api, make_key):
    api = make_api()
    key, other = make_key(api), make_key(api)
    signature = other.headers("GET", "/spot/balances")["HTTP_X_SIGNATURE"]
    assert_401(key.call("GET", "/spot/balances", signature=signature))


def test_tampered_body_is_401(make_api, make_key):
    api = make_api()
    key = make_key(api, ["read", "trade"])
    signed = key.headers("POST", "/spot/api-keys", b'{"label":"a"}')
    response = APIClient().generic(
        "POST", "/spot/api-keys", b'{"label":"b"}', content_type="application/json", **signed
    )
    assert_401(response)
    assert len(api.get("/spot/api-keys").json()["results"]) == 1


# +5200 not +5001: the milliseconds the request takes bring a future stamp closer to the server clock.
@pytest.mark.parametrize("offset_ms,status", [(-6000, 401), (6000, 401), (-5001, 401), (5200, 401), (-4000, 200),
                                              (4000, 200)])  # fmt: skip
def test_timestamp_window_is_plus_minus_five_seconds(make_api, make_key, offset_ms, status):
    key = make_key(make_api())
    response = key.call("GET", "/spot/balances", timestamp=now_ms() + offset_ms)
    assert response.status_code == status
    if status == 401:
        assert response.content == b""


@pytest.mark.parametrize("timestamp", ["abc", "", "-1", "1e12", " 123", "²", "１２３", "9" * 40])
def test_timestamp_that_is_not_a_number_is_401(make_api, make_key, timestamp):
    key = make_key(make_api())
    assert_401(key.call("GET", "/spot/balances", timestamp=timestamp))


def test_unknown_key_and_missing_headers_are_401(make_api, make_key):
    key = make_key(make_api())
    headers = key.headers("GET", "/spot/balances")
    client = APIClient()
    assert_401(client.get("/spot/balances", **{**headers, "HTTP_X_API_KEY": "ak_" + "0" * 32}))
    for missing in ("HTTP_X_TIMESTAMP", "HTTP_X_SIGNATURE"):
        assert_401(client.get("/spot/balances", **{k: v for k, v in headers.items() if k != missing}))


def test_revoked_key_is_401_right_after_delete(make_api, make_key):
    api = make_api()
    key = make_key(api)
    assert key.call("GET", "/spot/balances").status_code == 200  # cached now
    response = api.delete(f"/spot/api-keys/{key.api_key}")
    assert response.status_code == 204
    assert response.content == b""
    assert_401(key.call("GET", "/spot/balances"))
    assert ApiKey.objects.get(api_key=key.api_key).revoked_at is not None
    assert api.get("/spot/api-keys").json() == {"results": [], "next": None}
    second = api.delete(f"/spot/api-keys/{key.api_key}")
    assert (second.status_code, second.content) == (404, b'{"error":"NOT_FOUND"}')


def test_byte_identical_request_is_a_replay(make_api, make_key):
    key = make_key(make_api())
    headers = key.headers("GET", "/spot/balances")
    assert APIClient().get("/spot/balances", **headers).status_code == 200
    assert_401(APIClient().get("/spot/balances", **headers))
    assert key.call("GET", "/spot/balances", timestamp=now_ms() + 1).status_code == 200  # a new request passes


# --- trade permission ----------------------------------------------------------------------------


def _caller_of(request_headers: dict, path: str = "/spot/balances"):
    request = APIRequestFactory().get(path, **request_headers)
    from rest_framework.request import Request

    drf_request = Request(request, authenticators=[JWTAuthentication(), ApiKeyAuthentication()])
    return drf_request.user


def test_key_without_trade_is_refused_by_require_trade_permission(make_api, make_key):
    api = make_api()
    read_only, trading = make_key(api, ["read"]), make_key(api, ["read", "trade"])
    assert read_only.body["permissions"] == ["read"] and trading.body["permissions"] == ["read", "trade"]
    caller = _caller_of(read_only.headers("GET", "/spot/balances"))
    assert caller.api_key == read_only.api_key
    with pytest.raises(ApiKeyPermissionDenied) as refused:
        require_trade_permission(caller)
    assert (refused.value.status, refused.value.code) == (403, "API Key permission denied")
    assert require_trade_permission(_caller_of(trading.headers("GET", "/spot/balances"))) is None
    assert require_trade_permission(_caller_of({"HTTP_AUTHORIZATION": f"Bearer {api.token}"})) is None


def test_permissions_asked_beyond_read_and_trade_are_ignored(make_api, make_key):
    key = make_key(make_api(), ["admin", "withdraw", "trade"])
    assert key.body["permissions"] == ["read", "trade"]
    assert make_key(make_api(), "trade").body["permissions"] == ["read"]  # not a list: read only


# --- one user cannot see or touch another's ---------------------------------------------------------


def test_balances_are_only_mine(make_api, make_key):
    alice, bob = make_api(), make_api()
    fund(alice.user_id, "USDT", "10")
    fund(bob.user_id, "BTC", "2")
    assert alice.get("/spot/balances").json() == [{"token": "USDT", "available": "10", "locked": "0"}]
    assert bob.get("/spot/balances").json() == [{"token": "BTC", "available": "2", "locked": "0"}]
    assert make_key(bob).call("GET", "/spot/balances").json() == [{"token": "BTC", "available": "2", "locked": "0"}]


def test_api_keys_are_only_mine_and_another_cannot_revoke_them(make_api, make_key):
    alice, bob = make_api(), make_api()
    alice_key, bob_key = make_key(alice, label="alice-bot"), make_key(bob, label="bob-bot")
    assert [k["api_key"] for k in alice.get("/spot/api-keys").json()["results"]] == [alice_key.api_key]
    response = alice.delete(f"/spot/api-keys/{bob_key.api_key}")
    assert response.status_code == 404
    assert response.content == b'{"error":"NOT_FOUND"}'
    assert ApiKey.objects.get(api_key=bob_key.api_key).revoked_at is None
    assert bob_key.call("GET", "/spot/balances").status_code == 200
    assert [k["api_key"] for k in bob.get("/spot/api-keys").json()["results"]] == [bob_key.api_key]


# --- key creation -----------------------------------------------------------------------------------


def test_key_creation_answers_the_secret_once_and_stores_it_encrypted(make_api):
    api = make_api()
    before_ms = now_ms()
    response = api.post("/spot/api-keys", {"label": "market maker", "permissions": ["read", "trade"]})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"api_key", "secret", "label", "permissions", "created_at"}
    assert (body["label"], body["permissions"]) == ("market maker", ["read", "trade"])
    assert before_ms - 1000 <= body["created_at"] <= now_ms() + 1000
    assert len(body["secret"]) >= 32
    listed = api.get("/spot/api-keys").json()["results"]
    assert listed == [{k: v for k, v in body.items() if k != "secret"}]

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM exchange_apikey WHERE api_key = %s", [body["api_key"]])
        row = cursor.fetchone()
    raw = b"".join(bytes(v) if isinstance(v, memoryview) else str(v).encode() for v in row)
    assert body["api_key"].encode() in raw  # the row is the one we think
    assert body["secret"].encode() not in raw
    assert base64.b64encode(body["secret"].encode()) not in raw


def test_secret_is_not_kept_in_plain_text_in_redis_either(make_api, make_key):
    key = make_key(make_api())
    assert key.call("GET", "/spot/balances").status_code == 200  # the key's record is cached now
    redis = get_redis_connection("default")
    values = [redis.dump(k) or b"" for k in redis.scan_iter(f"{settings.REDIS_KEY_PREFIX}:*")]
    assert any(key.api_key.encode() in k for k in redis.scan_iter(f"{settings.REDIS_KEY_PREFIX}:*"))
    assert not any(key.secret.encode() in v for v in values)


# --- local users -------------------------------------------------------------------------------------


def test_auth_token_for_a_local_user(db):
    User.objects.create_user("carol", password="correct horse battery")
    before_ms = now_ms()
    response = APIClient().post(
        "/auth/token", {"username": "carol", "password": "correct horse battery"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expires_at"}
    assert before_ms + settings.JWT_TTL_S * 1000 - 2000 <= body["expires_at"] <= now_ms() + settings.JWT_TTL_S * 1000
    assert bearer(body["token"]).get("/spot/balances").status_code == 200


@pytest.mark.parametrize("body", [{"username": "carol", "password": "wrong"}, {"username": "nobody", "password": "x"},
                                  {"username": "carol"}, {}, {"username": ["carol"], "password": ["pw-carol-1"]}])  # fmt: skip
def test_auth_token_with_bad_credentials_is_401(db, body):
    User.objects.create_user("carol", password="pw-carol-1")
    assert_401(APIClient().post("/auth/token", body, format="json"))


def test_mint_token_command_prints_a_working_token(db):
    out = io.StringIO()
    call_command("mint_token", "alice", stdout=out)
    token = out.getvalue().strip()
    response = bearer(token).get("/spot/balances")
    assert response.status_code == 200
    assert response.json() == []
    assert jwt.decode(token, settings.JWT_SECRET, algorithms=["HS256"])["sub"] == "alice"
    assert User.objects.filter(username="alice").exists()
