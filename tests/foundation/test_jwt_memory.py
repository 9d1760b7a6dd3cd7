"""A JWT verified once is remembered by the process (the signature is not checked again), but
never past its ``exp``, and never past the user re-check of a deactivated user."""

from __future__ import annotations

import time

import jwt
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from exchange import auth


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture(autouse=True)
def _forget_tokens():
    auth._VERIFIED_TOKENS.clear()
    yield
    auth._VERIFIED_TOKENS.clear()


def test_a_verified_token_is_not_decoded_again(db, monkeypatch):
    token, _ = auth.mint_token("memo-1", 60)
    assert bearer(token).get("/spot/balances").status_code == 200
    monkeypatch.setattr(auth.jwt, "decode", lambda *a, **k: pytest.fail("decoded twice"))
    assert bearer(token).get("/spot/balances").status_code == 200


def test_a_remembered_token_is_refused_once_expired(db):
    token, _ = auth.mint_token("memo-2", 60)
    assert bearer(token).get("/spot/balances").status_code == 200
    key = (settings.JWT_SECRET, token)
    auth._VERIFIED_TOKENS[key] = (auth._VERIFIED_TOKENS[key][0], int(time.time()))  # exp is now: pyjwt refuses
    response = bearer(token).get("/spot/balances")
    assert response.status_code == 401 and response.content == b""
    assert key not in auth._VERIFIED_TOKENS


def test_a_token_expiring_for_real_is_refused(db):
    token = jwt.encode({"sub": "memo-3", "exp": int(time.time()) + 1}, settings.JWT_SECRET, algorithm="HS256")
    assert bearer(token).get("/spot/balances").status_code == 200
    deadline = time.monotonic() + 5
    while bearer(token).get("/spot/balances").status_code == 200:
        assert time.monotonic() < deadline, "a remembered token outlived its exp"
        time.sleep(0.05)
    assert time.time() >= auth._VERIFIED_TOKENS.get((settings.JWT_SECRET, token), ("", 0))[1]


def test_failures_are_not_remembered(db):
    good = jwt.encode({"sub": "memo-4", "exp": int(time.time()) + 60}, settings.JWT_SECRET, algorithm="HS256")
    head, payload, signature = good.split(".")
    # The first character is all signature bits (the last one's low bits are padding, so a tampered
    # ending can decode to the same bytes, and then the "tampered" token is rightly accepted).
    tampered = ("B" if signature[0] != "B" else "C") + signature[1:]
    assert bearer(f"{head}.{payload}.{tampered}").get("/spot/balances").status_code == 401
    assert auth._VERIFIED_TOKENS == {}


def test_a_token_is_remembered_per_secret(db, settings):
    token, _ = auth.mint_token("memo-5", 60)
    assert bearer(token).get("/spot/balances").status_code == 200
    settings.JWT_SECRET = "another-secret-" * 4
    assert bearer(token).get("/spot/balances").status_code == 401


def test_a_deactivated_user_with_a_remembered_token_is_refused_after_the_recheck(make_api):
    api = make_api()
    assert api.get("/spot/balances").status_code == 200
    assert api.get("/spot/balances").status_code == 200  # token remembered now
    assert (settings.JWT_SECRET, api.token) in auth._VERIFIED_TOKENS
    get_user_model().objects.filter(pk=api.user_id).update(is_active=False)
    auth._USERS_BY_SUB[api.username] = (*auth._USERS_BY_SUB[api.username][:2], 0.0)  # the interval has passed
    response = api.get("/spot/balances")
    assert response.status_code == 401 and response.content == b""
