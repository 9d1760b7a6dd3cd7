from __future__ import annotations

from collections.abc import Callable

import orjson
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware

from exchange.errors import SpotTradingDisabled


class SpotTradingSwitchMiddleware:
    """``SPOT_TRADING_ENABLED=false``: every ``/spot/*`` path answers 503 ``spot trading disabled``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not settings.SPOT_TRADING_ENABLED and request.path.startswith("/spot/"):
            return HttpResponse(
                orjson.dumps({"error": SpotTradingDisabled.code}),
                status=SpotTradingDisabled.status,
                content_type="application/json",
            )
        return self.get_response(request)


ADMIN_PATH = "/admin/"


class _AdminPathsOnly:
    """Runs the middleware it is mixed into for the Django admin's paths only. The API
    authenticates every request itself (JWT or API key) and reads no session, CSRF cookie,
    ``request.user`` of Django's or message: for it these cost time and change nothing."""

    sync_capable = True
    async_capable = False
    get_response: Callable[[HttpRequest], HttpResponse]

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(ADMIN_PATH):
            return super().__call__(request)  # type: ignore[misc]
        return self.get_response(request)


class AdminSessionMiddleware(_AdminPathsOnly, SessionMiddleware):
    pass


class AdminCsrfViewMiddleware(_AdminPathsOnly, CsrfViewMiddleware):
    """Its ``process_view`` still runs for every view: API views are exempt and leave at once."""


class AdminAuthenticationMiddleware(_AdminPathsOnly, AuthenticationMiddleware):
    pass


class AdminMessageMiddleware(_AdminPathsOnly, MessageMiddleware):
    pass
