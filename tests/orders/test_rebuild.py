"""Books rebuilt from PostgreSQL: open orders in engine units, exactly, or not at all."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from orders.engine.book import RestingOrder
from orders.loop import ShardLoop
from orders.models import Order
from orders.shards import shard_of

ATOMS = 10**18


def order(user_id: int, seq: int, **fields: object) -> Order:
    now = datetime.now(UTC)
    values: dict[str, object] = {
        "market_id": "BTC_USDT", "user_id": user_id, "side": "buy", "type": "limit", "tif": "gtc",
        "price": Decimal("100.25"), "quantity": Decimal("0.005"), "status": "open", "seq": seq,
        "created_at": now, "updated_at": now,
    }  # fmt: skip
    values.update(fields)
    return Order(**values)


@pytest.mark.django_db(transaction=True)
def test_open_and_partly_filled_orders_come_back_in_engine_units(market, make_api) -> None:
    """BTC_USDT: tick 0.01, lot 0.001. Closed orders stay out; priority is by seq."""
    alice, bob = make_api().user_id, make_api().user_id
    partly = order(bob, 5, side="sell", price=Decimal("101.5"), quantity=Decimal("0.010"), status="partially_filled",
                   filled_quantity=Decimal("0.004"), filled_quote=Decimal("0.406"), fee=Decimal("0.000812"))  # fmt: skip
    first = order(alice, 3)
    rows = [partly, first, order(alice, 4, status="filled"), order(bob, 6, status="cancelled")]
    Order.objects.bulk_create(rows)
    loop = ShardLoop(shard_of("BTC_USDT"))
    loop.rebuild()
    assert loop.engine is not None
    assert loop.engine.snapshot("BTC_USDT") == [
        RestingOrder(str(first.id), alice, "buy", 10025, 5, 0, 0, 0, 3),
        RestingOrder(str(partly.id), bob, "sell", 10150, 6, 4, 406 * ATOMS // 1000, 812 * ATOMS // 1_000_000, 5),
    ]
    assert loop.engine.last_seq == 6


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "fields",
    [{"price": Decimal("100.255")}, {"quantity": Decimal("0.0055")},
     {"status": "partially_filled", "filled_quantity": Decimal("0.0015")}],
)  # fmt: skip
def test_a_row_off_its_markets_steps_stops_the_rebuild(market, make_api, fields) -> None:
    """Never rounded into the book: the loop stops (and the watchdog's restart finds the same)."""
    bad = order(make_api().user_id, 1, **fields)
    Order.objects.bulk_create([bad])
    with pytest.raises(ValueError, match=str(bad.id)):
        ShardLoop(shard_of("BTC_USDT")).rebuild()
