"""POST /spot/orders without the framework: the everyday order request answered straight from
the WSGI environ, with the answer Django and DRF would give, for a fraction of their cost.

The hot path takes a request only when it is the everyday one: ``POST /spot/orders`` with no
query string, ``Content-Type: application/json``, no ``Accept`` (or ``*/*`` or JSON), a JWT
bearer token that verifies or an API key's signed headers, a host Django accepts, spot trading
on, a body within Django's upload limit, and no redirect or HSTS header to add. Everything else
goes to Django untouched (nothing has been read from the body by then): a bad token's 401,
unusual content types and Accept headers, every other path. A signed request's body is read to
check its signature, so from there on the hot path answers everything, a 401 included. What it runs is what the DRF view runs: the same
caller, ``services.place_order`` (validation in the seed's order, the rate limit folded into the
engine push, the engine round trip) and the same ``exception_handler`` for every error. A test
sends one set of requests down both paths and compares statuses, bodies and headers; the
API tests' client sends its order requests through here, as the server does.

Skipped, and why that is safe: URL resolving and middleware (the path is fixed; the headers the
middleware adds are added here, from the same settings), DRF's request wrapper, negotiation and
throttle classes (fixed by the conditions above), and the ``request_started``/``request_finished``
signals, whose database work is done here for the one connection the hot path can touch.
"""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Awaitable, Callable, Iterable
from http import HTTPStatus
from types import SimpleNamespace
from typing import Any

from django.core.exceptions import SynchronousOnlyOperation
from django.db import connections
from django.http.request import split_domain_port, validate_host
from rest_framework.exceptions import AuthenticationFailed

from exchange.auth import (
    Caller,
    JWTAuthentication,
    KeyNotCached,
    api_key_caller,
    api_key_caller_async,
    user_for_sub,
    verified_sub,
)
from exchange.conf import live
from exchange.errors import exception_handler
from exchange.rendering import OrjsonParser, OrjsonRenderer
from exchange.throttling import DeferredRateLimit, window_for_caller
from orders import services

logger = logging.getLogger("django.request")

PATH = "/spot/orders"
JSON = "application/json"
ACCEPTED = (None, "*/*", JSON)
SERVER_ERROR_BODY = b"<h1>Server Error (500)</h1>"
# A 401's WWW-Authenticate: DRF's view takes it from its first authentication class.
AUTHENTICATE_HEADER = JWTAuthentication().authenticate_header(None)  # type: ignore[arg-type]

_render = OrjsonRenderer().render  # the view's renderer and parser: the same bytes, the same data
_parse = OrjsonParser().parse
Answer = tuple[int, list[tuple[str, str]], bytes]
# The environ key under which the event loop leaves an API-key caller it verified, for the sync path
# when the request is handed back (a server-side key: no header can become it).
VERIFIED_CALLER = "exchange.verified_caller"
StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def _host_allowed(environ: dict[str, Any]) -> bool:
    """What ``HttpRequest.get_host()`` accepts, for the plain cases (a forwarded host goes to Django)."""
    conf = live()
    if conf.USE_X_FORWARDED_HOST and "HTTP_X_FORWARDED_HOST" in environ:
        return False
    host = environ.get("HTTP_HOST")
    if not host:
        host = environ.get("SERVER_NAME", "")
        port = str(environ.get("SERVER_PORT", ""))
        if port != ("443" if environ.get("wsgi.url_scheme") == "https" else "80"):
            host = f"{host}:{port}"
    allowed = conf.ALLOWED_HOSTS
    if conf.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return _domain_allowed(host, tuple(allowed))


@functools.lru_cache(maxsize=256)  # bounded: a client choosing Host headers evicts, never grows it
def _domain_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """Django's host check (a regex split and a pattern match each): the same answer for the same
    host every request, so remembered (it was ~5% of the event loop's Python time per order)."""
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed)


def _security_answerable(environ: dict[str, Any]) -> bool:
    """No SecurityMiddleware redirect to make and no HSTS header to add."""
    conf = live()
    secure = environ.get("wsgi.url_scheme") == "https"
    return not (conf.SECURE_SSL_REDIRECT and not secure) and not (conf.SECURE_HSTS_SECONDS and secure)


def _headers(body: bytes, extra: list[tuple[str, str]] = []) -> list[tuple[str, str]]:  # noqa: B006 (never mutated)
    """The headers DRF (``Allow``) and the middleware (security, frame options, length) put on the
    view's answer."""
    conf = live()
    headers = [("Content-Type", JSON)] if body else []  # DRF drops it from an empty answer (a 401)
    headers += [("Allow", "GET, POST, DELETE, HEAD, OPTIONS"), *extra]
    if conf.X_FRAME_OPTIONS:
        headers.append(("X-Frame-Options", conf.X_FRAME_OPTIONS))
    headers.append(("Content-Length", str(len(body))))
    if conf.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append(("X-Content-Type-Options", "nosniff"))
    policy = conf.SECURE_REFERRER_POLICY
    if policy:
        headers.append(("Referrer-Policy", policy if isinstance(policy, str) else ",".join(policy)))
    if conf.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers.append(("Cross-Origin-Opener-Policy", conf.SECURE_CROSS_ORIGIN_OPENER_POLICY))
    return headers


def _checkpoint() -> None:
    """What ``close_old_connections`` does at a request's start and end, for the database
    connection of this thread (the only one the hot path uses), if it is open."""
    connection = connections["default"]
    if connection.connection is not None:
        connection.close_if_unusable_or_obsolete()


def _place(caller: Caller, body: bytes) -> Answer:
    data = _parse(io.BytesIO(body))  # a body that is not a JSON object reads as {}, as in the view
    try:
        answer, status = services.place_order_answer(
            caller=caller, data=data, rate_limit=DeferredRateLimit(window_for_caller(caller))
        )
        content = _render(answer)
        return status, _headers(content), content
    except Exception as exc:
        return _error(exc)


def _error(exc: Exception) -> Answer:
    """An exception as the view's exception handler answers it; anything it does not know is a
    crash, logged and answered as Django does."""
    response = exception_handler(exc, {"request": SimpleNamespace(method="POST", path=PATH)})
    if response is None:
        logger.exception("Internal Server Error: %s", PATH)
        return 500, [("Content-Type", "text/html; charset=utf-8")], SERVER_ERROR_BODY
    content = _render(response.data)
    extra = [(name, response[name]) for name in ("WWW-Authenticate", "Retry-After") if name in response]
    return response.status_code, _headers(content, extra), content


def admitted(environ: dict[str, Any]) -> tuple[str | None, str, int] | None:
    """(the Authorization header, or None for an API key; the bearer token; the body's length) of
    an everyday order request, or None (nothing read) for Django to answer."""
    conf = live()
    if (
        environ.get("REQUEST_METHOD") != "POST"
        or environ.get("PATH_INFO") != PATH
        or environ.get("QUERY_STRING")
        or environ.get("SCRIPT_NAME")
        or environ.get("CONTENT_TYPE") != JSON
        or environ.get("HTTP_ACCEPT") not in ACCEPTED
        or not conf.SPOT_TRADING_ENABLED
    ):
        return None
    header = environ.get("HTTP_AUTHORIZATION")
    token = ""
    if header:  # DRF tries the JWT first: a bearer token wins over an API key
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
    elif "HTTP_X_API_KEY" not in environ:
        return None  # no credentials: Django's 401
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    limit = conf.DATA_UPLOAD_MAX_MEMORY_SIZE
    if length < 0 or (limit is not None and length > limit):
        return None
    if not _host_allowed(environ) or not _security_answerable(environ):
        return None
    return header, token.strip(), length


def _key_error(exc: Exception) -> Answer:
    """A signed request's refusal (401 with DRF's challenge header) or failure, as the view answers it."""
    if isinstance(exc, AuthenticationFailed):
        exc.auth_header = AUTHENTICATE_HEADER  # type: ignore[attr-defined]  # as DRF's view sets it
    return _error(exc)


def handle(environ: dict[str, Any], *, manage_connections: bool = True) -> Answer | None:
    """The answer to an everyday order request, or None (nothing read) for Django to answer.

    ``manage_connections=False`` leaves the database connection alone, as Django's test client
    does (its connection lives in the test's transaction)."""
    found = admitted(environ)
    if found is None:
        return None
    header, token, length = found
    if manage_connections:
        _checkpoint()
    try:
        if header:
            try:
                user_id, username = user_for_sub(verified_sub(token))
            except AuthenticationFailed:
                return None  # Django answers the 401, exactly
            except Exception as exc:  # the database, looking up the user
                return _error(exc)
            caller = Caller(user_id=user_id, username=username)
        body = environ["wsgi.input"].read(length) if length else b""
        if not header and VERIFIED_CALLER in environ:  # verified (and marked used) on the event loop
            caller = environ[VERIFIED_CALLER]
        elif not header:
            # The signature covers the body, so it is read first; from here on every answer is ours.
            try:
                signed = api_key_caller(environ, "POST", PATH, body)
            except Exception as exc:
                return _key_error(exc)
            assert signed is not None  # its header is there
            caller = signed
        return _place(caller, body)
    finally:
        if manage_connections:
            _checkpoint()


async def handle_async(
    environ: dict[str, Any],
    found: tuple[str | None, str, int],
    body: bytes,
    in_thread: Callable[[Callable[[], Any]], Awaitable[Any]],
) -> Answer | None:
    """``handle`` on an event loop, for the everyday request whose caller (a JWT's user in the
    process's cache, an API key's record in Redis) and market are known without the database:
    the answer, or None for the WSGI application (``handle``, else Django) to give in a thread.
    None is decided before anything is pushed or counted, so the request is answered once, by
    one of the two. ``found`` is what ``admitted(environ)`` gave (not None);
    ``environ`` has no ``wsgi.input``: ``body`` is the body.

    What it runs is ``handle``'s code (``services.place_order_answer_async``: the same steps with
    the engine round trip awaited); the database is only touched through ``in_thread``."""
    header, token, _length = found
    if header:
        try:
            user_id, username = user_for_sub(verified_sub(token))
        except (AuthenticationFailed, SynchronousOnlyOperation):
            return None  # Django's 401; a user not in the process's cache is looked up in a thread
        caller = Caller(user_id=user_id, username=username)
    else:
        try:
            signed = await api_key_caller_async(environ, "POST", PATH, body)
        except KeyNotCached:
            return None  # read from the database by the sync path, before anything was marked
        except Exception as exc:
            return _key_error(exc)
        assert signed is not None  # its header is there
        caller = environ[VERIFIED_CALLER] = signed  # a hand-back must not verify it again: it is marked used
    data = _parse(io.BytesIO(body))
    try:
        answer, status = await services.place_order_answer_async(
            caller=caller, data=data, rate_limit=DeferredRateLimit(window_for_caller(caller)), in_thread=in_thread
        )
    except services.NeedsThread:
        return None
    except Exception as exc:
        return _error(exc)
    content = _render(answer)
    return status, _headers(content), content


class HotPathApplication:
    """The WSGI application: the hot path first, Django for everything else."""

    def __init__(self, django_app: WsgiApp) -> None:
        self.django_app = django_app
        self.status_lines = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        answer = handle(environ)
        if answer is None:
            return self.django_app(environ, start_response)
        status, headers, body = answer
        start_response(self.status_lines[status], headers)
        return [body]
