from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

MONEY = {"max_digits": 38, "decimal_places": 18}


class Balance(models.Model):
    """A user's spot balance in one token. Never negative: the database says so."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="balances")
    token = models.CharField(max_length=16)
    available = models.DecimalField(**MONEY, default=0)
    locked = models.DecimalField(**MONEY, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "token"], name="balance_user_token_unique"),
            models.CheckConstraint(condition=Q(available__gte=0), name="balance_available_non_negative"),
            models.CheckConstraint(condition=Q(locked__gte=0), name="balance_locked_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.token}: {self.available} + {self.locked} locked"


class LedgerKind(models.TextChoices):
    CREDIT = "credit"  # testnet credit by an operator
    ORDER_LOCK = "order_lock"
    ORDER_RELEASE = "order_release"
    TRADE = "trade"
    FEE = "fee"
    TRANSFER_IN = "transfer_in"  # perp -> spot
    TRANSFER_OUT = "transfer_out"  # spot -> perp
    WITHDRAW_HOLD = "withdraw_hold"
    WITHDRAW_RELEASE = "withdraw_release"
    WITHDRAW_COMPLETE = "withdraw_complete"


class LedgerEntry(models.Model):
    """One change of one balance, written in the same transaction as the change.

    For every (user, token): sum(delta_available) == available and sum(delta_locked) == locked.
    """

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    token = models.CharField(max_length=16)
    delta_available = models.DecimalField(**MONEY)
    delta_locked = models.DecimalField(**MONEY)
    kind = models.CharField(max_length=24, choices=LedgerKind.choices)
    ref = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["user", "token"]), models.Index(fields=["ref"])]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"{self.kind} {self.user_id} {self.token} {self.delta_available}/{self.delta_locked}"


class TestnetCredit(models.Model):
    """Audit of a testnet credit: which operator gave how much to whom."""

    __test__ = False  # not a pytest class

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    operator = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    token = models.CharField(max_length=16)
    amount = models.DecimalField(**MONEY)
    via = models.CharField(max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="credit_amount_positive")]

    def __str__(self) -> str:
        return f"+{self.amount} {self.token} to {self.user_id}"
