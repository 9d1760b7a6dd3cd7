"""Public market data: depth (published by the engine loop after each commit), recent trades,
and the rolling 24 h ticker summed from one-minute buckets written in the engine's batches."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import orjson
from django.db.models import Max, Min, Sum
from django_redis import get_redis_connection

from exchange.errors import TickerNotFound
from exchange.money import fmt
from exchange.pagination import paginate
from markets.models import Market
from orders.models import TickerBucket, Trade
from orders.selectors import serialize_trade
from orders.shards import depth_key

WINDOW_MINUTES = 24 * 60


def depth(market: Market, limit: int) -> dict[str, Any]:
    raw = get_redis_connection("default").get(depth_key(market.symbol))
    if raw is None:
        return {"symbol": market.symbol, "bids": [], "asks": [], "sequence": 0}
    snapshot = orjson.loads(raw)
    snapshot["bids"] = snapshot["bids"][:limit]
    snapshot["asks"] = snapshot["asks"][:limit]
    return snapshot


def recent_trades(market: Market, params: Any) -> dict[str, Any]:
    """``{"results": [trade], "next": cursor}``, newest first (SPEC §3)."""
    return paginate(Trade.objects.filter(market=market), params, serialize_trade)


def ticker_24h(market: Market, now_ms: int | None = None) -> dict[str, Any]:
    """Open, high, low, last, volumes, change and trade count over the last 24 hours (minute
    granularity). TickerNotFound before the market's first fill."""
    now_minute = (now_ms if now_ms is not None else int(time.time() * 1000)) // 60_000
    latest = TickerBucket.objects.filter(market=market).order_by("-minute").first()
    if latest is None:
        raise TickerNotFound()
    window = TickerBucket.objects.filter(market=market, minute__gt=now_minute - WINDOW_MINUTES)
    first = window.order_by("minute").first()
    last = latest.close
    if first is None:  # no trade in the window: the price stands still at the last one
        open_ = high = low = last
        volume = quote_volume = Decimal(0)
        count = 0
    else:
        totals = window.aggregate(
            high=Max("high"), low=Min("low"), volume=Sum("volume"), quote_volume=Sum("quote_volume"),
            count=Sum("trade_count"),
        )  # fmt: skip
        open_, high, low = first.open, totals["high"], totals["low"]
        volume, quote_volume, count = totals["volume"], totals["quote_volume"], totals["count"]
    change = last - open_
    change_percent = (change / open_ * 100).quantize(Decimal("0.01")) if open_ else Decimal(0)
    return {
        "symbol": market.symbol,
        "open": fmt(open_),
        "high": fmt(high),
        "low": fmt(low),
        "last": fmt(last),
        "volume": fmt(volume),
        "quote_volume": fmt(quote_volume),
        "change": fmt(change),
        "change_percent": fmt(change_percent),
        "trade_count": int(count),
        "open_time": (now_minute - WINDOW_MINUTES + 1) * 60_000,
        "close_time": latest.last_trade_at and int(latest.last_trade_at.timestamp() * 1000),
    }
