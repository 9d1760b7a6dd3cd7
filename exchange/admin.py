from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from exchange.models import ApiKey


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records the system writes and operators only read: ledgers, audits, orders, trades."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["api_key", "user", "label", "can_trade", "created_at", "revoked_at"]
    list_filter = ["can_trade"]
    search_fields = ["api_key", "user__username", "label"]
    exclude = ["secret_encrypted"]
    readonly_fields = ["api_key", "user", "label", "can_trade", "created_at", "revoked_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
