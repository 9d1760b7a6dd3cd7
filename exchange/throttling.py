"""Rate limits per user (JWT) and per API key, on the django-redis cache (DRF throttling)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class CallerRateThrottle(SimpleRateThrottle):
    """``RATE_LIMIT_KEY`` per API key, ``RATE_LIMIT_USER`` per user, the user's rate per IP for anonymous."""

    scope = "user"

    def __init__(self) -> None:  # the rate is chosen per request, in allow_request
        pass

    def allow_request(self, request: Any, view: Any) -> bool:
        caller = request.user
        if getattr(caller, "api_key", None):
            self.scope, self.rate = "api_key", settings.RATE_LIMIT_KEY
        else:
            self.scope, self.rate = "user", settings.RATE_LIMIT_USER
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Any, view: Any) -> str:
        caller = request.user
        if getattr(caller, "api_key", None):
            ident = caller.api_key
        elif caller is not None and getattr(caller, "is_authenticated", False):
            ident = str(caller.user_id)
        else:
            ident = self.get_ident(request)
        return f"throttle_{self.scope}_{ident}"
