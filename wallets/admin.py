from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpRequest

from exchange.admin import ReadOnlyAdmin
from exchange.errors import ApiError
from wallets.models import Balance, LedgerEntry, PerpAccount, PerpLedgerEntry, TestnetCredit, Transfer
from wallets.services import check_token, credit_testnet


@admin.register(Balance)
class BalanceAdmin(ReadOnlyAdmin):
    list_display = ["user", "token", "available", "locked"]
    list_filter = ["token"]
    search_fields = ["user__username"]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "token", "delta_available", "delta_locked", "kind", "ref"]
    list_filter = ["kind", "token"]
    search_fields = ["user__username", "ref"]


class CreditForm(forms.ModelForm):
    user_id = forms.CharField(label="User (platform id)", max_length=150)

    class Meta:
        model = TestnetCredit
        fields = ["token", "amount"]

    def clean_token(self) -> str:
        # Refused here, the operator sees the form again; refused by the service, only a message.
        try:
            return check_token(self.cleaned_data.get("token"))
        except ApiError as error:
            raise forms.ValidationError(error.code) from None


@admin.register(TestnetCredit)
class TestnetCreditAdmin(admin.ModelAdmin):
    """Testnet credits: adding one credits the balance (only when TESTNET_ONLY=true)."""

    form = CreditForm
    list_display = ["created_at", "user", "token", "amount", "operator", "via"]
    list_filter = ["token", "via"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return bool(settings.TESTNET_ONLY) and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: TestnetCredit, form: Any, change: bool) -> None:
        try:
            credit = credit_testnet(
                operator_id=request.user.pk,
                user_id=form.cleaned_data["user_id"],
                token=obj.token,
                amount=str(obj.amount),
                via="admin-ui",
            )
        except ApiError as error:
            self.message_user(request, error.code, messages.ERROR)
        else:  # the service wrote the row: show that one (its user, not "None")
            obj.__dict__.update({k: v for k, v in credit.__dict__.items() if not k.startswith("_")})
            obj._state.adding = False

    def log_addition(self, *args: Any, **kwargs: Any) -> Any:  # the service wrote the audit row
        return None


# --- The perp side's stand-in and the transfers: read-only for operators ---


@admin.register(PerpAccount)
class PerpAccountAdmin(ReadOnlyAdmin):
    list_display = ["user", "token", "balance"]
    list_filter = ["token"]
    search_fields = ["user__username"]


@admin.register(PerpLedgerEntry)
class PerpLedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "account", "delta", "kind", "ref"]
    list_filter = ["kind"]
    search_fields = ["account__user__username", "ref"]


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "direction", "token", "amount", "id"]
    list_filter = ["direction"]
    search_fields = ["user__username", "=id"]
