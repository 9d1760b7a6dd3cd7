from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from exchange.money import fmt
from exchange.text import is_text
from markets.models import SYMBOL_MAX_LEN
from orders.models import OPEN_STATUSES, Order, Trade


def _ms(moment: Any) -> int:
    return int(moment.timestamp() * 1000)


def orders_of(user_id: int, *, symbol: str | None = None, status: str | None = None) -> QuerySet[Order]:
    query = Order.objects.filter(user_id=user_id)
    if symbol:  # a symbol no market can have lists nothing
        query = query.filter(market_id=symbol) if is_text(symbol, SYMBOL_MAX_LEN) else query.none()
    if status == "open":
        query = query.filter(status__in=OPEN_STATUSES)
    return query


def fills_of(user_id: int, *, symbol: str | None = None) -> QuerySet[Trade]:
    query = Trade.objects.filter(Q(maker_user_id=user_id) | Q(taker_user_id=user_id))
    if symbol:
        query = query.filter(market_id=symbol) if is_text(symbol, SYMBOL_MAX_LEN) else query.none()
    return query


def serialize_order(order: Order) -> dict[str, Any]:
    return {
        "id": str(order.id),
        "client_order_id": order.client_order_id,
        "symbol": order.market_id,
        "side": order.side,
        "type": order.type,
        "tif": order.tif,
        "price": fmt(order.price),
        "quantity": fmt(order.quantity),
        "quote_quantity": fmt(order.quote_quantity),
        "filled_quantity": fmt(order.filled_quantity),
        "filled_quote": fmt(order.filled_quote),
        "fee": fmt(order.fee),
        "status": order.status,
        "created_at": _ms(order.created_at),
        "updated_at": _ms(order.updated_at),
    }


def serialize_order_with_fills(order: Order) -> dict[str, Any]:
    trades = Trade.objects.filter(Q(taker_order_id=order.id) | Q(maker_order_id=order.id)).order_by("created_at", "id")
    fills = [
        {
            "trade_id": str(t.id),
            "price": fmt(t.price),
            "quantity": fmt(t.quantity),
            "fee": fmt(t.taker_fee if t.taker_order_id == order.id else t.maker_fee),
        }
        for t in trades
    ]
    return {**serialize_order(order), "fills": fills}


def serialize_trade(trade: Trade) -> dict[str, Any]:
    return {
        "id": str(trade.id),
        "symbol": trade.market_id,
        "price": fmt(trade.price),
        "quantity": fmt(trade.quantity),
        "taker_side": trade.taker_side,
        "created_at": _ms(trade.created_at),
    }


def serialize_fill(trade: Trade, user_id: int) -> dict[str, Any]:
    """A trade as one of its sides saw it."""
    is_taker = trade.taker_user_id == user_id
    side = trade.taker_side if is_taker else ("sell" if trade.taker_side == "buy" else "buy")
    return {
        **serialize_trade(trade),
        "order_id": str(trade.taker_order_id if is_taker else trade.maker_order_id),
        "side": side,
        "role": "taker" if is_taker else "maker",
        "quote_quantity": fmt(trade.quote_quantity),
        "fee": fmt(trade.taker_fee if is_taker else trade.maker_fee),
    }
