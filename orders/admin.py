"""Orders and trades for operators: read-only (only the engine loop writes them)."""

from __future__ import annotations

from django.contrib import admin

from exchange.admin import ReadOnlyAdmin
from orders.models import Order, Trade


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "user",
        "market",
        "side",
        "type",
        "tif",
        "price",
        "quantity",
        "filled_quantity",
        "status",
    ]
    list_filter = ["status", "side", "type", "market"]
    search_fields = ["=id", "user__username", "client_order_id"]
    date_hierarchy = "created_at"
    list_select_related = ["user"]
    show_full_result_count = False


@admin.register(Trade)
class TradeAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "market", "price", "quantity", "taker_side", "maker_user", "taker_user"]
    list_filter = ["market", "taker_side"]
    search_fields = ["=id", "=maker_order__id", "=taker_order__id", "maker_user__username", "taker_user__username"]
    date_hierarchy = "created_at"
    list_select_related = ["maker_user", "taker_user"]
    show_full_result_count = False
