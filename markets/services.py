"""Market use cases: create a market, change its status (audited)."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from exchange.errors import InvalidStatus, InvalidTick, MarketExists, MarketNotFound, UnsupportedToken
from exchange.money import parse_decimal
from exchange.text import is_text
from markets.models import SYMBOL_MAX_LEN, Market, MarketStatus, MarketStatusChange
from wallets.services import check_token

logger = logging.getLogger("markets.services")

# Status changes the engine must hear about are pushed through this hook (orders app sets it).
status_listeners: list[Any] = []


def _positive(raw: object, *, allow_zero: bool = False) -> Decimal:
    value = parse_decimal(raw)
    if value is None or value < 0 or (value == 0 and not allow_zero):
        raise InvalidTick()
    return value


def _fee(raw: object) -> Decimal:
    if raw is None:
        return Decimal(0)
    value = parse_decimal(raw)
    if value is None or not 0 <= value < 1 or value.as_tuple().exponent < -8:  # type: ignore[operator]
        raise InvalidTick()
    return value


def check_unit_precision(tick: Decimal, lot: Decimal) -> None:
    """The engine counts quote in 1e-18 units of tick*lot: refuse a pair finer than that (InvalidTick)."""
    if (tick * lot).as_tuple().exponent < -18:  # type: ignore[operator]
        raise InvalidTick()


@transaction.atomic
def create_market(
    *,
    symbol: object,
    base: object,
    quote: object,
    tick_size: object,
    lot_size: object,
    min_notional: object,
    maker_fee: object = None,
    taker_fee: object = None,
    actor_id: int | None = None,
    via: str = "create",
) -> Market:
    """Create an active market, audited as done by ``actor_id``. Raises MarketExists, UnsupportedToken (bad symbol, base or quote),
    InvalidTick (a size or fee that is not a positive decimal, or tick*lot finer than 1e-18)."""
    base_token, quote_token = check_token(base), check_token(quote)
    if base_token == quote_token:
        raise UnsupportedToken()
    if symbol is None:
        symbol = f"{base_token}_{quote_token}"
    if not isinstance(symbol, str) or not 0 < len(symbol) <= 32 or not symbol.replace("_", "").isalnum():
        raise UnsupportedToken()
    tick, lot = _positive(tick_size), _positive(lot_size)
    check_unit_precision(tick, lot)
    market = Market(
        symbol=symbol.upper(),
        base=base_token,
        quote=quote_token,
        tick_size=tick,
        lot_size=lot,
        min_notional=_positive(min_notional if min_notional is not None else "0", allow_zero=True),
        maker_fee=_fee(maker_fee),
        taker_fee=_fee(taker_fee),
    )
    if Market.objects.filter(symbol=market.symbol).exists():
        raise MarketExists()
    try:
        with transaction.atomic():
            market.save(force_insert=True)
    except IntegrityError:
        raise MarketExists() from None
    MarketStatusChange.objects.create(
        market=market, actor_id=actor_id, from_status="", to_status=market.status, via=via
    )
    return market


def set_market_status(*, actor_id: int | None, symbol: str, status: object, via: str) -> Market:
    """Change a market's status. Halting and resuming are free; delisting is final.

    Raises InvalidStatus (unknown status, or leaving ``delisted``), MarketNotFound.
    The change is committed and audited, then the engine is told (it cancels every order of a
    delisted market and releases their funds).
    """
    if not is_text(symbol, SYMBOL_MAX_LEN):
        raise MarketNotFound()
    with transaction.atomic():
        market = Market.objects.select_for_update().filter(symbol=symbol).first()
        if market is None:  # a missing market is 404 whatever the body says
            raise MarketNotFound()
        if not isinstance(status, str) or status not in MarketStatus.values:
            raise InvalidStatus()
        previous = market.status
        if previous == MarketStatus.DELISTED and status != MarketStatus.DELISTED:
            raise InvalidStatus()
        if previous != status:
            market.status = status
            market.save(update_fields=["status"])
            MarketStatusChange.objects.create(
                market=market, actor_id=actor_id, from_status=previous, to_status=status, via=via
            )
    for listener in status_listeners:
        try:
            listener(market)
        except Exception:  # noqa: BLE001 - the change is committed; a loop that missed it reads it on rebuild
            logger.exception("market %s is %s, but telling the engine failed", market.symbol, market.status)
    return market
