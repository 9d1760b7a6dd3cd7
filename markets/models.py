from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

MONEY = {"max_digits": 38, "decimal_places": 18}
SYMBOL_MAX_LEN = 32


class MarketStatus(models.TextChoices):
    ACTIVE = "active"
    HALTED = "halted"
    DELISTED = "delisted"


class Market(models.Model):
    """A spot market (``spot_markets``). The symbol is the id."""

    symbol = models.CharField(max_length=SYMBOL_MAX_LEN, primary_key=True)
    base = models.CharField(max_length=16)
    quote = models.CharField(max_length=16)
    status = models.CharField(max_length=16, choices=MarketStatus.choices, default=MarketStatus.ACTIVE)
    tick_size = models.DecimalField(**MONEY)
    lot_size = models.DecimalField(**MONEY)
    min_notional = models.DecimalField(**MONEY, default=0)
    maker_fee = models.DecimalField(max_digits=10, decimal_places=8, default=0)
    taker_fee = models.DecimalField(max_digits=10, decimal_places=8, default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "spot_markets"
        ordering = ["symbol"]
        constraints = [
            models.CheckConstraint(condition=Q(tick_size__gt=0), name="market_tick_positive"),
            models.CheckConstraint(condition=Q(lot_size__gt=0), name="market_lot_positive"),
            models.CheckConstraint(condition=Q(min_notional__gte=0), name="market_min_notional_non_negative"),
            models.CheckConstraint(condition=Q(maker_fee__gte=0, maker_fee__lt=1), name="market_maker_fee_range"),
            models.CheckConstraint(condition=Q(taker_fee__gte=0, taker_fee__lt=1), name="market_taker_fee_range"),
            models.CheckConstraint(condition=Q(status__in=MarketStatus.values), name="market_status_valid"),
            models.CheckConstraint(condition=~Q(base=models.F("quote")), name="market_base_differs_from_quote"),
        ]

    def __str__(self) -> str:
        return self.symbol


class MarketStatusChange(models.Model):
    """Audit of every status change: who, when, from, to, and through which door."""

    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="status_changes")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    via = models.CharField(max_length=16)  # "admin-ui", "api", "command"
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.market_id}: {self.from_status or '-'} -> {self.to_status}"
