"""Authentication (SPEC §2): JWT bearer tokens and HMAC-signed API-key requests.

Both produce a ``Caller``. Neither touches the database on the hot path: users seen once
are remembered per process, API keys are cached in Redis and dropped from it on revoke.
Every failure is a 401 with an empty body (rendered by exchange.errors).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django_redis import get_redis_connection
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from exchange import redis_async
from exchange.conf import live
from exchange.crypto import decrypt_secret
from exchange.models import ApiKey
from exchange.text import is_text

APIKEY_CACHE_TTL_S = 300
API_KEY_MAX_LEN = 64  # ApiKey.api_key
# A user deactivated in the admin loses JWT access within this many seconds in every process.
USER_RECHECK_S = 60.0
_USERS_BY_SUB: dict[str, tuple[int, str, float]] = {}
_USERS_BY_SUB_MAX = 100_000
# Tokens this process has verified: (secret, token) -> (sub, exp in s). A hit skips the
# signature and claim checks (~0.1 ms) but not the expiry nor the user re-check above.
_VERIFIED_TOKENS: dict[tuple[str, str], tuple[str, int]] = {}
_VERIFIED_TOKENS_MAX = 100_000


@dataclass(slots=True)
class Caller:
    """Who is calling: a user, through a JWT or through one of their API keys."""

    user_id: int
    username: str
    api_key: str | None = None
    permissions: frozenset[str] = field(default_factory=lambda: frozenset({"read", "trade"}))

    is_authenticated = True
    is_anonymous = False

    @property
    def id(self) -> int:
        return self.user_id

    @property
    def pk(self) -> int:
        return self.user_id

    @property
    def via_api_key(self) -> bool:
        return self.api_key is not None

    def can(self, permission: str) -> bool:
        return permission in self.permissions


def user_for_sub(sub: str) -> tuple[int, str]:
    """(user id, username) for a platform id; a user seen for the first time is created."""
    known = _USERS_BY_SUB.get(sub)
    if known is not None and known[2] > time.monotonic():
        return known[0], known[1]
    user, _ = get_user_model().objects.get_or_create(username=sub)
    if not user.is_active:
        _USERS_BY_SUB.pop(sub, None)
        raise exceptions.AuthenticationFailed()
    if len(_USERS_BY_SUB) >= _USERS_BY_SUB_MAX:
        _USERS_BY_SUB.clear()
    _USERS_BY_SUB[sub] = (user.pk, user.username, time.monotonic() + USER_RECHECK_S)
    return user.pk, user.username


def mint_token(username: str, ttl_s: int | None = None) -> tuple[str, int]:
    """A JWT for ``username`` and its expiry in ms."""
    expires_at_s = int(time.time()) + (ttl_s or settings.JWT_TTL_S)
    token = jwt.encode({"sub": username, "exp": expires_at_s}, settings.JWT_SECRET, algorithm=settings.JWT_ALGORITHM)
    return token, expires_at_s * 1000


def verified_sub(token: str) -> str:
    """The ``sub`` of a valid, unexpired JWT; AuthenticationFailed otherwise.

    A token verified once is remembered until its ``exp`` (pyjwt's rule: valid while now < exp);
    only ``exp`` can turn a verified token invalid later, so the memory answers exactly as pyjwt would.
    """
    secret = live().JWT_SECRET
    known = _VERIFIED_TOKENS.get((secret, token))
    if known is not None:
        if known[1] > time.time():
            return known[0]
        _VERIFIED_TOKENS.pop((secret, token), None)
        raise exceptions.AuthenticationFailed()
    try:
        claims = jwt.decode(token, secret, algorithms=[settings.JWT_ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.PyJWTError:
        raise exceptions.AuthenticationFailed() from None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 150:
        raise exceptions.AuthenticationFailed()
    if len(_VERIFIED_TOKENS) >= _VERIFIED_TOKENS_MAX:
        _VERIFIED_TOKENS.clear()
    _VERIFIED_TOKENS[(secret, token)] = (sub, int(claims["exp"]))
    return sub


class JWTAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Caller, None] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise exceptions.AuthenticationFailed()
        user_id, username = user_for_sub(verified_sub(token.strip()))
        return Caller(user_id=user_id, username=username), None

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"


def _apikey_cache_key(api_key: str) -> str:
    return f"apikey:{api_key}"


def forget_api_key(api_key: str) -> None:
    cache.delete(_apikey_cache_key(api_key))


def _load_api_key(api_key: str) -> dict[str, Any] | None:
    cached = cache.get(_apikey_cache_key(api_key))
    if cached is not None:
        return cached or None
    row = ApiKey.objects.select_related("user").filter(api_key=api_key, revoked_at__isnull=True).first()
    if row is None or not row.user.is_active:
        cache.set(_apikey_cache_key(api_key), {}, 30)  # remember a miss briefly
        return None
    # The secret stays encrypted in Redis too; it is decrypted per request (microseconds).
    record = {
        "user_id": row.user_id,
        "username": row.user.username,
        "secret_encrypted": bytes(row.secret_encrypted),
        "permissions": row.permissions,
    }
    cache.set(_apikey_cache_key(api_key), record, APIKEY_CACHE_TTL_S)
    return record


def signature_for(secret: str, timestamp: str, method: str, path_with_query: str, body: bytes) -> str:
    """hex HMAC-SHA256 over ``timestamp \\n METHOD \\n path?query \\n body`` (SPEC §2)."""
    message = f"{timestamp}\n{method.upper()}\n{path_with_query}\n".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _signed_headers(meta: dict[str, Any]) -> tuple[str, str, str] | None:
    """(api key, timestamp, signature) of a signed request whose timestamp is in the window; None
    without an ``X-API-KEY`` header, AuthenticationFailed for malformed or stale headers."""
    api_key = meta.get("HTTP_X_API_KEY")
    if api_key is None:
        return None
    if not is_text(api_key, API_KEY_MAX_LEN):  # no such key (and none that a query could look for)
        raise exceptions.AuthenticationFailed()
    timestamp = meta.get("HTTP_X_TIMESTAMP", "")
    signature = meta.get("HTTP_X_SIGNATURE", "")
    # isascii(): str.isdigit() also accepts "²", which int() then refuses (a 500).
    if not (
        timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 16 and signature and len(signature) <= 128
    ):
        raise exceptions.AuthenticationFailed()
    if abs(int(time.time() * 1000) - int(timestamp)) > settings.API_KEY_WINDOW_MS:
        raise exceptions.AuthenticationFailed()
    return api_key, timestamp, signature


def _verified(
    record: dict[str, Any] | None, signed: tuple[str, str, str], method: str, path_with_query: str, body: bytes
) -> tuple[Any, ...]:
    """The SET that marks the request used (NX: a replay finds it), once its signature is checked;
    AuthenticationFailed for an unknown key or a wrong signature."""
    if record is None:
        raise exceptions.AuthenticationFailed()
    api_key, timestamp, signature = signed
    expected = signature_for(decrypt_secret(record["secret_encrypted"]), timestamp, method, path_with_query, body)
    if not hmac.compare_digest(expected, signature.lower()):
        raise exceptions.AuthenticationFailed()
    window_s = settings.API_KEY_WINDOW_MS // 1000 * 2 + 1
    return ("SET", f"{live().REDIS_KEY_PREFIX}:replay:{api_key}:{expected}", 1, "NX", "EX", window_s)


def _caller_of(api_key: str, record: dict[str, Any]) -> Caller:
    return Caller(
        user_id=record["user_id"],
        username=record["username"],
        api_key=api_key,
        permissions=frozenset(record["permissions"]),
    )


def api_key_caller(meta: dict[str, Any], method: str, path_with_query: str, body: bytes) -> Caller | None:
    """The caller of an HMAC-signed request (SPEC §2), from its WSGI headers; None without an
    ``X-API-KEY`` header, AuthenticationFailed for anything wrong, a replay included (a
    byte-identical signed request inside the window is refused: the first one marks it)."""
    signed = _signed_headers(meta)
    if signed is None:
        return None
    record = _load_api_key(signed[0])
    mark = _verified(record, signed, method, path_with_query, body)
    if not get_redis_connection("default").execute_command(*mark):
        raise exceptions.AuthenticationFailed()
    assert record is not None
    return _caller_of(signed[0], record)


class KeyNotCached(Exception):
    """The API key's record is not in Redis: it has to be read from the database (sync code)."""


async def api_key_caller_async(meta: dict[str, Any], method: str, path_with_query: str, body: bytes) -> Caller | None:
    """``api_key_caller`` on an event loop (exchange.rsgi): the key's record from the cache's Redis
    entry, the replay mark with the loop's Redis client. Raises KeyNotCached, before anything is
    marked, when the record must come from the database."""
    signed = _signed_headers(meta)
    if signed is None:
        return None
    (raw,) = await redis_async.pipelined(("GET", cache.make_key(_apikey_cache_key(signed[0]))))
    if raw is None:
        raise KeyNotCached()
    record = cache.client.decode(raw) or None  # type: ignore[attr-defined]  # django-redis: {} is a remembered miss
    mark = _verified(record, signed, method, path_with_query, body)
    (marked,) = await redis_async.pipelined(mark)
    if not marked:
        raise exceptions.AuthenticationFailed()
    assert record is not None
    return _caller_of(signed[0], record)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Caller, None] | None:
        meta = request.META
        if meta.get("HTTP_X_API_KEY") is None:
            return None
        caller = api_key_caller(meta, request.method or "", request.get_full_path(), request._request.body)
        return None if caller is None else (caller, None)

    def authenticate_header(self, request: Request) -> str:
        return "X-API-KEY"
