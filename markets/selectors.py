from __future__ import annotations

from typing import Any

from exchange.errors import MarketDelisted, MarketHalted, MarketNotFound
from exchange.money import fmt
from exchange.text import is_text
from markets.models import SYMBOL_MAX_LEN, Market, MarketStatus


def get_market(symbol: object) -> Market:
    """The market, or MarketNotFound."""
    if not is_text(symbol, SYMBOL_MAX_LEN):
        raise MarketNotFound()
    market = Market.objects.filter(symbol=symbol).first()
    if market is None:
        raise MarketNotFound()
    return market


def check_tradable(market: Market) -> None:
    if market.status == MarketStatus.HALTED:
        raise MarketHalted()
    if market.status == MarketStatus.DELISTED:
        raise MarketDelisted()


def serialize_market(market: Market) -> dict[str, Any]:
    return {
        "symbol": market.symbol,
        "base": market.base,
        "quote": market.quote,
        "status": market.status,
        "tick_size": fmt(market.tick_size),
        "lot_size": fmt(market.lot_size),
        "min_notional": fmt(market.min_notional),
        "maker_fee": fmt(market.maker_fee),
        "taker_fee": fmt(market.taker_fee),
    }
