from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from exchange.errors import ApiError
from markets.models import Market, MarketStatus, MarketStatusChange
from markets.services import set_market_status


def _change_status(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet, status: str) -> None:
    for market in queryset:
        try:
            set_market_status(actor_id=request.user.pk, symbol=market.symbol, status=status, via="admin-ui")
        except ApiError as error:
            modeladmin.message_user(request, f"{market.symbol}: {error.code}", messages.ERROR)
        else:
            modeladmin.message_user(request, f"{market.symbol} is now {status}")


@admin.action(description="Halt selected markets (book kept, new orders refused)")
def halt(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    _change_status(modeladmin, request, queryset, MarketStatus.HALTED)


@admin.action(description="Resume selected markets")
def resume(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    _change_status(modeladmin, request, queryset, MarketStatus.ACTIVE)


@admin.action(description="Delist selected markets (final: cancels every open order)")
def delist(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
    if request.POST.get("confirmed") != "yes":
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": "Delist markets?",
            "markets": queryset,
            "action": "delist",
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "opts": modeladmin.model._meta,
        }
        return TemplateResponse(request, "admin/markets/delist_confirmation.html", context)
    _change_status(modeladmin, request, queryset, MarketStatus.DELISTED)
    return None


class StatusChangeInline(admin.TabularInline):
    model = MarketStatusChange
    extra = 0
    can_delete = False
    readonly_fields = ["created_at", "actor", "from_status", "to_status", "via"]
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Market)
class MarketAdmin(admin.ModelAdmin):
    list_display = ["symbol", "base", "quote", "status", "tick_size", "lot_size", "min_notional", "maker_fee", "taker_fee"]
    list_filter = ["status", "quote"]
    search_fields = ["symbol", "base", "quote"]
    actions = [halt, resume, delist]
    inlines = [StatusChangeInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Status moves only through the audited actions; trading rules are fixed once orders exist.
        if obj is None:
            return ["status"]
        return ["symbol", "base", "quote", "status", "tick_size", "lot_size"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(MarketStatusChange)
class MarketStatusChangeAdmin(admin.ModelAdmin):
    list_display = ["created_at", "market", "from_status", "to_status", "actor", "via"]
    list_filter = ["to_status", "via"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
