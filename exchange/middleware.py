from __future__ import annotations

from collections.abc import Callable

import orjson
from django.conf import settings
from django.http import HttpRequest, HttpResponse

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
