from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from wallets.models import MONEY


class WithdrawalStatus(models.TextChoices):
    PENDING = "pending"  # held, waiting for the signer
    SIGNING = "signing"  # the signer is being called (recorded BEFORE the call: at most one call)
    SIGNED = "signed"  # signature and tx_id recorded, not broadcast yet
    SENT = "sent"  # broadcast, waiting for confirmation
    COMPLETED = "completed"  # confirmed; the hold left the balance
    FAILED = "failed"  # refused or failed by an operator; the hold went back to available
    CANCELLED = "cancelled"  # cancelled by its owner while pending; funds returned
    UNKNOWN = "unknown"  # the signer may or may not have signed: an operator decides


# Statuses whose amount is still held in the balance's ``locked``.
HELD_STATUSES = (
    WithdrawalStatus.PENDING,
    WithdrawalStatus.SIGNING,
    WithdrawalStatus.SIGNED,
    WithdrawalStatus.SENT,
    WithdrawalStatus.UNKNOWN,
)


class Withdrawal(models.Model):
    id = models.UUIDField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    token = models.CharField(max_length=16)
    amount = models.DecimalField(**MONEY)
    address = models.CharField(max_length=128)
    status = models.CharField(max_length=16, choices=WithdrawalStatus.choices, default=WithdrawalStatus.PENDING)
    signature = models.TextField(blank=True, default="")
    tx_id = models.CharField(max_length=128, null=True, blank=True)
    signing_started_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="withdrawal_amount_positive"),
            models.UniqueConstraint(fields=["tx_id"], name="withdrawal_tx_id_unique"),
        ]
        indexes = [models.Index(fields=["user", "-created_at"]), models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"{self.id} {self.amount} {self.token} -> {self.address} ({self.status})"


class WithdrawalAudit(models.Model):
    """Every status change of a withdrawal: who (null = the system), when, from, to, why."""

    withdrawal = models.ForeignKey(Withdrawal, on_delete=models.PROTECT, related_name="audits")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_status = models.CharField(max_length=16)
    to_status = models.CharField(max_length=16)
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["withdrawal", "created_at"])]

    def __str__(self) -> str:
        return f"{self.withdrawal_id}: {self.from_status} -> {self.to_status}"


class BroadcastTx(models.Model):
    """A signed transaction handed to the (local) network: what ``LocalBroadcaster`` records."""

    tx_id = models.CharField(max_length=128, primary_key=True)
    withdrawal = models.OneToOneField(Withdrawal, on_delete=models.PROTECT, related_name="broadcast")
    signature = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.tx_id
