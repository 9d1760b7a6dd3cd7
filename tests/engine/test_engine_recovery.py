"""Snapshot and restore keep priority; the same commands give the same events."""

from __future__ import annotations

import random

from engine_helpers import FEES, PLAIN, limit, market_buy, market_sell, new_engine, run

from orders.engine.book import RestingOrder
from orders.engine.commands import Cancel, Place, SetStatus
from orders.engine.engine import Engine


def _busy_engine() -> Engine:
    engine = new_engine()
    run(
        engine,
        limit("b1", 1, "buy", 99, 2), limit("b2", 2, "buy", 100, 1), limit("b3", 3, "buy", 99, 1),
        limit("s1", 1, "sell", 102, 3), limit("s2", 2, "sell", 101, 1), limit("s3", 3, "sell", 102, 1),
        limit("x", 3, "buy", 101, 2),  # takes s2, rests 1 at 101
    )  # fmt: skip
    return engine


def test_snapshot_is_in_priority_order() -> None:
    snapshot = _busy_engine().snapshot("BTC_USDT")
    assert [o.order_id for o in snapshot] == ["x", "b2", "b1", "b3", "s1", "s3"]
    x = snapshot[0]
    assert (x.side, x.price_ticks, x.remaining_lots, x.filled_lots, x.seq) == ("buy", 101, 1, 1, 7)


def test_restore_rebuilds_the_same_book_and_continues_seq() -> None:
    old = _busy_engine()
    orders = old.open_orders("BTC_USDT")
    random.Random(7).shuffle(orders)  # the database returns them in any order
    new = new_engine()
    new.restore("BTC_USDT", orders, last_trade_seq=old.last_trade_seq)
    assert new.snapshot("BTC_USDT") == old.snapshot("BTC_USDT")
    assert new.depth("BTC_USDT", 10) == old.depth("BTC_USDT", 10)
    assert new.locked_by_open_orders() == old.locked_by_open_orders()
    # the same next commands give the same events on both, seq continuing from 7
    for command in (limit("n", 1, "buy", 1, 1), market_sell("m", 3, 3), Cancel("b1", 1), limit("y", 1, "sell", 99, 5)):
        assert old.execute(command) == new.execute(command)
    assert new.last_seq == old.last_seq >= 9


def test_restore_refuses_a_duplicate_id() -> None:
    engine = new_engine()
    order = RestingOrder("a", 1, "buy", 100, 1, 0, 0, 0, 1)
    try:
        engine.restore("BTC_USDT", [order, order])
    except ValueError:
        pass
    else:
        raise AssertionError("duplicate accepted")


def _random_commands(seed: int, n: int) -> list[Place | Cancel]:
    rng = random.Random(seed)
    commands: list[Place | Cancel] = []
    for i in range(n):
        user, symbol = rng.randint(1, 3), rng.choice(["BTC_USDT", "ETH_USDT"])
        roll = rng.random()
        if roll < 0.6:
            side = rng.choice(["buy", "sell"])
            commands.append(limit(i, user, side, rng.randint(95, 105), rng.randint(1, 5),
                                  tif=rng.choice(["gtc", "gtc", "ioc", "fok", "post_only"]), symbol=symbol))  # fmt: skip
        elif roll < 0.7:
            commands.append(market_sell(i, user, rng.randint(1, 5), symbol=symbol))
        elif roll < 0.8:
            commands.append(market_buy(i, user, rng.randint(1, 500) * 10**18 + rng.randint(0, 10**18), symbol=symbol))
        else:
            commands.append(Cancel(rng.randint(0, max(i - 1, 0)), user))
    return commands


def test_the_same_commands_give_the_same_events() -> None:
    commands = _random_commands(1, 3000)
    first, second = new_engine(PLAIN, FEES), new_engine(PLAIN, FEES)
    assert [first.execute(c) for c in commands] == [second.execute(c) for c in commands]
    assert first.available == second.available


def test_depth_sums_lots_per_price_best_first_and_skips_emptied_levels() -> None:
    rng = random.Random(3)
    engine = new_engine()
    for i in range(2000):
        side = rng.choice(["buy", "sell"])
        price = rng.randint(50, 99) if side == "buy" else rng.randint(100, 150)
        run(engine, limit(i, rng.randint(1, 3), side, price, rng.randint(1, 9)))
        if rng.random() < 0.4:
            run(engine, Cancel(rng.randrange(i + 1), rng.randint(1, 3)))
    snapshot = engine.snapshot("BTC_USDT")
    for limit_ in (1, 5, 1000):
        bids: dict[int, int] = {}
        asks: dict[int, int] = {}
        for o in snapshot:
            book_side = bids if o.side == "buy" else asks
            book_side[o.price_ticks] = book_side.get(o.price_ticks, 0) + o.remaining_lots
        expected = (
            sorted(bids.items(), reverse=True)[:limit_],
            sorted(asks.items())[:limit_],
        )
        assert engine.depth("BTC_USDT", limit_) == expected


def test_the_engine_makes_no_reference_cycles() -> None:
    """No garbage cycles: refcounting frees what commands leave behind, so the loop may run
    with the book frozen out of the GC, or the GC off."""
    import gc

    commands = _random_commands(5, 3000)
    gc.collect()
    gc.disable()
    try:
        engine = new_engine(PLAIN, FEES)
        for command in commands:
            engine.execute(command)
        engine.execute(SetStatus("BTC_USDT", "delisted"))
        assert gc.collect() == 0  # nothing the commands left behind needed the cycle collector
        assert engine.open_order_count > 0  # (the live book itself is kept)
    finally:
        gc.enable()
