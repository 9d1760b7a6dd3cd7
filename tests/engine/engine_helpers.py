"""Small builders for readable engine scenarios."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from orders.engine.commands import Cancel, CancelAll, MarketSpec, Place, SetStatus
from orders.engine.engine import Engine

UNIT = 10**18  # atoms per whole unit of an asset
FEE_USER = 0
RICH = 10**9 * UNIT

# tick 1 and lot 1: one tick*lot costs one quote unit, so the numbers read as they are.
PLAIN = MarketSpec("BTC_USDT", "BTC", "USDT", Decimal("1"), Decimal("1"), Decimal("0"), Decimal("0"), "active")
# Fees 0.1% maker, 0.2% taker.
FEES = MarketSpec("ETH_USDT", "ETH", "USDT", Decimal("1"), Decimal("1"), Decimal("0.001"), Decimal("0.002"), "active")


def new_engine(*specs: MarketSpec, users: tuple[int, ...] = (1, 2, 3), balance: int = RICH) -> Engine:
    engine = Engine(fee_user_id=FEE_USER)
    for spec in specs or (PLAIN,):
        engine.add_market(spec)
        for user in users:
            engine.available[(user, spec.base)] = balance
            engine.available[(user, spec.quote)] = balance
    return engine


def limit(
    order_id: Any, user: int, side: str, price: int, qty: int, tif: str = "gtc", symbol: str = "BTC_USDT"
) -> Place:
    return Place(order_id, user, symbol, side, "limit", tif, price, qty, None)


def market_sell(order_id: Any, user: int, qty: int, symbol: str = "BTC_USDT") -> Place:
    return Place(order_id, user, symbol, "sell", "market", "ioc", None, qty, None)


def market_buy(order_id: Any, user: int, quote_atoms: int, symbol: str = "BTC_USDT") -> Place:
    return Place(order_id, user, symbol, "buy", "market", "ioc", None, None, quote_atoms)


def kinds(events: list[tuple[Any, ...]]) -> list[int]:
    return [event[0] for event in events]


def of_kind(events: list[tuple[Any, ...]], kind: int) -> list[tuple[Any, ...]]:
    return [event for event in events if event[0] == kind]


def run(engine: Engine, *commands: Place | Cancel | CancelAll | SetStatus) -> list[tuple[Any, ...]]:
    """Execute commands; return the events of the last one."""
    events: list[tuple[Any, ...]] = []
    for command in commands:
        events = engine.execute(command)
    return events
