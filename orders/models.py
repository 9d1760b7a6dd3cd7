from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q

MONEY = {"max_digits": 38, "decimal_places": 18}
OPEN_STATUSES = ("open", "partially_filled")


class OrderStatus(models.TextChoices):
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"


class Order(models.Model):
    """An order the engine accepted. Written only by the engine loop of its market's shard."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    # Orders, trades and the engine's ledger entries are written only by the engine loop, a row
    # per order and per fill, so their references carry neither an index of their own (a
    # composite index below starts with the column) nor a database constraint (a deferred
    # foreign-key check per reference at every commit cost a third of the loop's PostgreSQL
    # time). PROTECT still guards deletes in the ORM, and `manage.py reconcile` checks that
    # every reference resolves. See docs/decisions/0014.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders", db_index=False, db_constraint=False
    )
    market = models.ForeignKey(
        "markets.Market", on_delete=models.PROTECT, db_column="symbol", related_name="orders", db_index=False,
        db_constraint=False,
    )  # fmt: skip
    client_order_id = models.CharField(max_length=64, null=True, blank=True)
    fingerprint = models.CharField(max_length=64, blank=True, default="")  # of the request, for idempotency
    side = models.CharField(max_length=4)
    type = models.CharField(max_length=6)
    tif = models.CharField(max_length=9)
    price = models.DecimalField(**MONEY, null=True)
    quantity = models.DecimalField(**MONEY, null=True)
    quote_quantity = models.DecimalField(**MONEY, null=True)
    filled_quantity = models.DecimalField(**MONEY, default=0)
    filled_quote = models.DecimalField(**MONEY, default=0)
    fee = models.DecimalField(**MONEY, default=0)
    status = models.CharField(max_length=16, choices=OrderStatus.choices)
    seq = models.BigIntegerField()  # the engine's time priority, for rebuilding books
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "client_order_id"],
                condition=Q(client_order_id__isnull=False),
                name="order_client_id_unique",
            ),
            models.CheckConstraint(condition=Q(side__in=["buy", "sell"]), name="order_side_valid"),
            models.CheckConstraint(condition=Q(type__in=["limit", "market"]), name="order_type_valid"),
            models.CheckConstraint(condition=Q(tif__in=["gtc", "ioc", "fok", "post_only"]), name="order_tif_valid"),
            models.CheckConstraint(condition=Q(status__in=OrderStatus.values), name="order_status_valid"),
            models.CheckConstraint(
                condition=Q(filled_quantity__gte=0, filled_quote__gte=0, fee__gte=0), name="order_fills_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(quantity__isnull=True) | Q(filled_quantity__lte=F("quantity")), name="order_not_overfilled"
            ),
            models.CheckConstraint(condition=Q(price__isnull=True) | Q(price__gt=0), name="order_price_positive"),
        ]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="order_user_recent"),
            models.Index(fields=["market", "seq"], condition=Q(status__in=OPEN_STATUSES), name="order_open_by_market"),
            models.Index(fields=["user", "market"], condition=Q(status__in=OPEN_STATUSES), name="order_open_by_user"),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.market_id} {self.status} {self.id}"


class Trade(models.Model):
    """A fill between a resting (maker) and an incoming (taker) order, at the maker's price."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    # engine-written: no foreign-key constraints, see Order
    market = models.ForeignKey(
        "markets.Market", on_delete=models.PROTECT, db_column="symbol", related_name="trades", db_index=False,
        db_constraint=False,
    )  # fmt: skip
    price = models.DecimalField(**MONEY)
    quantity = models.DecimalField(**MONEY)
    quote_quantity = models.DecimalField(**MONEY)
    taker_side = models.CharField(max_length=4)
    maker_order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="+", db_constraint=False)
    taker_order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="+", db_constraint=False)
    maker_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    taker_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    maker_fee = models.DecimalField(**MONEY)
    taker_fee = models.DecimalField(**MONEY)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(price__gt=0, quantity__gt=0), name="trade_positive"),
            models.CheckConstraint(condition=Q(taker_side__in=["buy", "sell"]), name="trade_side_valid"),
        ]
        indexes = [
            models.Index(fields=["market", "-created_at"], name="trade_market_recent"),
            models.Index(fields=["maker_user", "-created_at"], name="trade_maker_recent"),
            models.Index(fields=["taker_user", "-created_at"], name="trade_taker_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.market_id} {self.quantity}@{self.price}"


class TickerBucket(models.Model):
    """One minute of a market's trades; the 24 h ticker sums the last 1,440 of them."""

    market = models.ForeignKey(
        "markets.Market", on_delete=models.CASCADE, db_column="symbol", related_name="+", db_index=False
    )
    minute = models.BigIntegerField()  # epoch minute
    open = models.DecimalField(**MONEY)
    high = models.DecimalField(**MONEY)
    low = models.DecimalField(**MONEY)
    close = models.DecimalField(**MONEY)
    volume = models.DecimalField(**MONEY)
    quote_volume = models.DecimalField(**MONEY)
    trade_count = models.BigIntegerField()
    first_trade_at = models.DateTimeField()
    last_trade_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["market", "minute"], name="ticker_bucket_unique")]

    def __str__(self) -> str:
        return f"{self.market_id} @{self.minute}"


class EngineShard(models.Model):
    """Fencing for the engine loops: every batch commits only if its fence is still the newest."""

    shard = models.IntegerField(primary_key=True)
    fence = models.BigIntegerField(default=0)
    owner = models.CharField(max_length=128, blank=True, default="")
    started_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"shard {self.shard} fence {self.fence}"
