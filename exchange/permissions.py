from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework.permissions import BasePermission

from exchange.errors import ApiKeyPermissionDenied


class IsStaff(BasePermission):
    """Staff powers come only from this server's user record, never from a token claim."""

    def has_permission(self, request: Any, view: Any) -> bool:
        caller = request.user
        if caller is None or not getattr(caller, "is_authenticated", False):
            return False
        return get_user_model().objects.filter(pk=caller.user_id, is_staff=True, is_active=True).exists()


class JwtOnly(BasePermission):
    """Transfers, withdrawals and key management are not open to API keys."""

    def has_permission(self, request: Any, view: Any) -> bool:
        if getattr(request.user, "api_key", None):
            raise ApiKeyPermissionDenied()
        return True


def require_trade_permission(caller: Any) -> None:
    if caller.api_key is not None and not caller.can("trade"):
        raise ApiKeyPermissionDenied()
