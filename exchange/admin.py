from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from exchange.models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["api_key", "user", "label", "can_trade", "created_at", "revoked_at"]
    list_filter = ["can_trade"]
    search_fields = ["api_key", "user__username", "label"]
    exclude = ["secret_encrypted"]
    readonly_fields = ["api_key", "user", "label", "can_trade", "created_at", "revoked_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
