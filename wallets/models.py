from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

MONEY = {"max_digits": 38, "decimal_places": 18}


class Balance(models.Model):
    """A user's spot balance in one token. Never negative: the database says so."""

    # no index of its own: the unique (user, token) index serves lookups by user
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="balances", db_index=False
    )
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
    # No index of its own: the (user, token) index serves lookups by user. No database constraint:
    # the engine loop writes an entry per balance per batch, and a deferred foreign-key check per
    # row at every commit was a large share of its PostgreSQL time; PROTECT guards deletes in the
    # ORM and `manage.py reconcile` checks every entry's user exists (docs/decisions/0014).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
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


# --- The perp side's USDT account (another system; this is its database-backed stand-in) ---


class PerpAccount(models.Model):
    """A user's USDT account on the perp side. Never negative: the database says so.

    Only ``wallets.perp.DatabasePerpAccounts`` writes it, each change with a PerpLedgerEntry.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    token = models.CharField(max_length=16, default="USDT")
    balance = models.DecimalField(**MONEY, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "token"], name="perp_account_user_token_unique"),
            models.CheckConstraint(condition=Q(balance__gte=0), name="perp_account_balance_non_negative"),
        ]

    def __str__(self) -> str:
        return f"perp {self.user_id} {self.token}: {self.balance}"


class PerpLedgerKind(models.TextChoices):
    CREDIT = "credit"  # money that reached the perp side from elsewhere (PnL, tests, operators)
    TRANSFER_IN = "transfer_in"  # spot -> perp
    TRANSFER_OUT = "transfer_out"  # perp -> spot


class PerpLedgerEntry(models.Model):
    """One change of one perp account; sum(delta) == balance for every account."""

    id = models.BigAutoField(primary_key=True)
    account = models.ForeignKey(PerpAccount, on_delete=models.PROTECT, related_name="entries")
    delta = models.DecimalField(**MONEY)
    kind = models.CharField(max_length=24, choices=PerpLedgerKind.choices)
    ref = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["ref"])]
        verbose_name_plural = "perp ledger entries"

    def __str__(self) -> str:
        return f"{self.kind} perp {self.account_id} {self.delta}"


class TransferDirection(models.TextChoices):
    SPOT_TO_PERP = "spot_to_perp"
    PERP_TO_SPOT = "perp_to_spot"


class Transfer(models.Model):
    """A completed move of USDT between the spot wallet and the perp account (both sides in one transaction)."""

    id = models.UUIDField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    direction = models.CharField(max_length=16, choices=TransferDirection.choices)
    token = models.CharField(max_length=16)
    amount = models.DecimalField(**MONEY)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="transfer_amount_positive")]
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.direction} {self.amount} {self.token} ({self.user_id})"
