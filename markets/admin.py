from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from exchange.admin import ReadOnlyAdmin
from exchange.errors import ApiError
from markets.models import Market, MarketStatus, MarketStatusChange
from markets.services import check_unit_precision, create_market, set_market_status
from wallets.services import check_token


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


class MarketForm(forms.ModelForm):
    """Symbols and tokens are upper-case ASCII, as the REST door makes them."""

    class Meta:
        model = Market
        fields = "__all__"

    def _token(self, name: str) -> str:
        try:
            return check_token(self.cleaned_data.get(name))
        except ApiError as error:
            raise forms.ValidationError(error.code) from None

    def clean_base(self) -> str:
        return self._token("base")

    def clean_quote(self) -> str:
        return self._token("quote")

    def clean_symbol(self) -> str:
        symbol = self.cleaned_data.get("symbol")
        if (
            not isinstance(symbol, str)
            or not symbol.replace("_", "").isascii()
            or not symbol.replace("_", "").isalnum()
        ):
            raise forms.ValidationError("UNSUPPORTED_TOKEN")
        return symbol.upper()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        tick, lot = data.get("tick_size"), data.get("lot_size")
        if tick and lot and tick > 0 and lot > 0:
            try:
                check_unit_precision(tick, lot)
            except ApiError as error:
                raise forms.ValidationError(error.code) from None
        return data


@admin.register(Market)
class MarketAdmin(admin.ModelAdmin):
    form = MarketForm
    list_display = [
        "symbol",
        "base",
        "quote",
        "status",
        "tick_size",
        "lot_size",
        "min_notional",
        "maker_fee",
        "taker_fee",
    ]
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

    def save_model(self, request: HttpRequest, obj: Market, form: Any, change: bool) -> None:
        if change:  # fees and min notional only (the rest is read-only once created)
            super().save_model(request, obj, form, change)
            return
        # A new market goes through the service: same rules and the same audit as the REST door.
        data = form.cleaned_data
        market = create_market(
            symbol=obj.symbol, base=obj.base, quote=obj.quote, tick_size=str(data["tick_size"]),
            lot_size=str(data["lot_size"]), min_notional=str(data["min_notional"]), maker_fee=str(data["maker_fee"]),
            taker_fee=str(data["taker_fee"]), actor_id=request.user.pk, via="admin-ui",
        )  # fmt: skip
        obj.__dict__.update({k: v for k, v in market.__dict__.items() if not k.startswith("_")})
        obj._state.adding = False


@admin.register(MarketStatusChange)
class MarketStatusChangeAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "market", "from_status", "to_status", "actor", "via"]
    list_filter = ["to_status", "via"]
