"""Operators' view of withdrawals: filter, search, retry a step, fail (refund), resolve an
``unknown`` one. Every action goes through withdrawals.services and leaves a WithdrawalAudit row."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from exchange.admin import ReadOnlyAdmin
from exchange.errors import WithdrawalNotFound
from withdrawals import services
from withdrawals.models import Withdrawal, WithdrawalAudit, WithdrawalStatus


class AuditInline(admin.TabularInline):
    model = WithdrawalAudit
    fields = ["created_at", "actor", "from_status", "to_status", "note"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["created_at", "pk"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ResolveUnknownForm(forms.Form):
    signer_signed = forms.TypedChoiceField(
        label="What did the signer do?",
        choices=[("no", "It did NOT sign: sign it again"), ("yes", "It DID sign: use its signature and tx_id")],
        coerce=lambda value: value == "yes",
        widget=forms.RadioSelect,
    )
    signature = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    tx_id = forms.CharField(required=False, max_length=128)
    note = forms.CharField(help_text="How you know (signer log, ticket).", widget=forms.Textarea(attrs={"rows": 3}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("signer_signed") and not (data.get("signature", "").strip() and data.get("tx_id", "").strip()):
            raise forms.ValidationError("The signature and tx_id the signer produced are required.")
        return data


@admin.register(Withdrawal)
class WithdrawalAdmin(admin.ModelAdmin):
    list_display = ["id", "created_at", "user", "token", "amount", "address", "status", "tx_id", "updated_at"]
    list_filter = ["status", "token"]
    search_fields = ["user__username", "address", "=id", "tx_id"]
    readonly_fields = [
        "id",
        "user",
        "token",
        "amount",
        "address",
        "status",
        "tx_id",
        "signature",
        "signing_started_at",
        "created_at",
        "updated_at",
    ]
    inlines = [AuditInline]
    actions = ["retry_next_step", "fail_and_refund", "resolve_unknown"]
    ordering = ["-created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        # "=id" on a UUID column: a term that is not a UUID must not become a database error.
        try:
            return super().get_search_results(request, queryset, search_term)
        except Exception:  # noqa: BLE001 - django.core.exceptions.ValidationError for a non-UUID term
            return queryset.filter(user__username__icontains=search_term) | queryset.filter(
                address__icontains=search_term.lower()
            ), True

    @admin.action(description="Retry the next step (pending / signed / sent)")
    def retry_next_step(self, request: HttpRequest, queryset: QuerySet[Withdrawal]) -> None:
        done, skipped = 0, 0
        for withdrawal_id in queryset.values_list("pk", flat=True):
            try:
                services.retry_withdrawal(actor_id=request.user.pk, withdrawal_id=withdrawal_id)
                done += 1
            except WithdrawalNotFound:
                skipped += 1
        self.message_user(
            request, f"Re-queued {done}; skipped {skipped} (not pending, signed or sent; resolve unknown ones)."
        )

    @admin.action(description="Fail and refund (pending / signed / unknown)")
    def fail_and_refund(self, request: HttpRequest, queryset: QuerySet[Withdrawal]) -> None:
        done, skipped = 0, 0
        for withdrawal_id in queryset.values_list("pk", flat=True):
            try:
                services.fail_withdrawal(
                    actor_id=request.user.pk, withdrawal_id=withdrawal_id, note="failed by operator in admin"
                )
                done += 1
            except WithdrawalNotFound:
                skipped += 1
        self.message_user(
            request, f"Failed and refunded {done}; skipped {skipped} (sent or finished ones cannot be failed)."
        )

    @admin.action(description="Resolve an unknown withdrawal (one at a time)")
    def resolve_unknown(self, request: HttpRequest, queryset: QuerySet[Withdrawal]) -> HttpResponse | None:
        rows = list(queryset[:2])
        if len(rows) != 1 or rows[0].status != WithdrawalStatus.UNKNOWN:
            self.message_user(request, "Select exactly one withdrawal in status unknown.", messages.ERROR)
            return None
        return HttpResponseRedirect(reverse("admin:withdrawals_withdrawal_resolve", args=[rows[0].pk]))

    def get_urls(self) -> list:
        own = [
            path(
                "<uuid:withdrawal_id>/resolve/",
                self.admin_site.admin_view(self.resolve_view),
                name="withdrawals_withdrawal_resolve",
            )
        ]
        return own + super().get_urls()

    def resolve_view(self, request: HttpRequest, withdrawal_id: Any) -> HttpResponse:
        if not self.has_change_permission(request):
            return HttpResponseRedirect(reverse("admin:index"))
        withdrawal = get_object_or_404(Withdrawal, pk=withdrawal_id)
        form = ResolveUnknownForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.resolve_unknown_withdrawal(
                    actor_id=request.user.pk,
                    withdrawal_id=withdrawal.pk,
                    signer_signed=form.cleaned_data["signer_signed"],
                    signature=form.cleaned_data.get("signature", ""),
                    tx_id=form.cleaned_data.get("tx_id", ""),
                    note=form.cleaned_data["note"],
                )
            except WithdrawalNotFound:
                self.message_user(request, "It is no longer unknown; nothing changed.", messages.ERROR)
            else:
                self.message_user(request, "Resolved.")
            return HttpResponseRedirect(reverse("admin:withdrawals_withdrawal_change", args=[withdrawal.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Resolve an unknown withdrawal",
            "withdrawal": withdrawal,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/withdrawals/resolve_unknown.html", context)


@admin.register(WithdrawalAudit)
class WithdrawalAuditAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "withdrawal", "actor", "from_status", "to_status", "note"]
    list_filter = ["to_status"]
    search_fields = ["=withdrawal__id", "actor__username", "note"]
