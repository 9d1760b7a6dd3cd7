"""Price-time priority, trade price, and what each time-in-force does with a remainder."""

from __future__ import annotations

from engine_helpers import UNIT, kinds, limit, market_buy, market_sell, new_engine, of_kind, run

from orders.engine.events import ACCEPTED, BALANCE, ORDER, REJECTED, TRADE


def test_resting_limit_order_is_accepted_locked_and_open() -> None:
    engine = new_engine()
    events = run(engine, limit("a", 1, "buy", 100, 3))
    assert events == [
        (ACCEPTED, "a", 1),
        (ORDER, "a", "open", 3, 0, 0, 0),
        (BALANCE, 1, "USDT", -300 * UNIT, 300 * UNIT),
    ]
    assert engine.depth("BTC_USDT", 10) == ([(100, 3)], [])


def test_best_price_first_then_oldest_first() -> None:
    engine = new_engine()
    run(engine, limit("s1", 1, "sell", 101, 1), limit("s2", 2, "sell", 100, 1), limit("s3", 1, "sell", 100, 1))
    events = run(engine, limit("b", 3, "buy", 101, 3))
    trades = of_kind(events, TRADE)
    assert [(t[3], t[7]) for t in trades] == [("s2", 100), ("s3", 100), ("s1", 101)]
    assert [t[2] for t in trades] == [1, 2, 3]  # trade_seq increases


def test_trade_happens_at_the_resting_price_and_the_saving_is_unlocked_at_once() -> None:
    engine = new_engine()
    run(engine, limit("s", 1, "sell", 90, 2))
    events = run(engine, limit("b", 2, "buy", 100, 2))
    assert of_kind(events, TRADE) == [(TRADE, "BTC_USDT", 1, "s", "b", 1, 2, 90, 2, "buy", 0, 0)]
    assert events[-5] == (ORDER, "b", "filled", 0, 2, 180 * UNIT, 0)
    # the buyer locked 200 and paid 180: the 20 saved is available again at once
    balances = of_kind(events, BALANCE)
    assert balances == [
        (BALANCE, 1, "BTC", 0, -2 * UNIT),
        (BALANCE, 1, "USDT", 180 * UNIT, 0),
        (BALANCE, 2, "BTC", 2 * UNIT, 0),
        (BALANCE, 2, "USDT", -180 * UNIT, 0),
    ]
    assert engine.locked_by_open_orders() == {}


def test_events_of_a_fill_come_in_contract_order() -> None:
    engine = new_engine()
    run(engine, limit("s", 1, "sell", 100, 5))
    events = run(engine, limit("b", 2, "buy", 100, 2))
    assert kinds(events) == [ACCEPTED, TRADE, ORDER, ORDER, BALANCE, BALANCE, BALANCE, BALANCE]
    assert events[2] == (ORDER, "s", "partially_filled", 3, 2, 200 * UNIT, 0)
    assert events[3] == (ORDER, "b", "filled", 0, 2, 200 * UNIT, 0)


def test_gtc_rests_its_remainder_locked_for_exactly_what_it_needs() -> None:
    engine = new_engine()
    run(engine, limit("s", 1, "sell", 95, 1))
    events = run(engine, limit("b", 2, "buy", 100, 4))
    assert (ORDER, "b", "partially_filled", 3, 1, 95 * UNIT, 0) in events
    # locked 400; paid 95; the remainder of 3 at 100 keeps 300; 5 saved comes back
    assert (BALANCE, 2, "USDT", -395 * UNIT, 300 * UNIT) in events
    assert engine.depth("BTC_USDT", 5) == ([(100, 3)], [])
    assert engine.locked_by_open_orders() == {(2, "USDT"): 300 * UNIT}


def test_ioc_fills_what_it_can_and_cancels_the_rest() -> None:
    engine = new_engine()
    run(engine, limit("s", 1, "sell", 100, 2), limit("s2", 1, "sell", 102, 2))
    events = run(engine, limit("b", 2, "buy", 101, 5, tif="ioc"))
    assert len(of_kind(events, TRADE)) == 1
    assert (ORDER, "b", "cancelled", 3, 2, 200 * UNIT, 0) in events
    assert (BALANCE, 2, "USDT", -200 * UNIT, 0) in events
    assert engine.depth("BTC_USDT", 5) == ([], [(102, 2)])


def test_ioc_that_crosses_nothing_is_accepted_then_cancelled() -> None:
    engine = new_engine()
    events = run(engine, limit("b", 2, "buy", 100, 5, tif="ioc"))
    assert events == [(ACCEPTED, "b", 1), (ORDER, "b", "cancelled", 5, 0, 0, 0)]


def test_fok_fills_wholly_across_levels() -> None:
    engine = new_engine()
    run(engine, limit("s1", 1, "sell", 100, 2), limit("s2", 3, "sell", 101, 2))
    events = run(engine, limit("b", 2, "buy", 101, 4, tif="fok"))
    assert (ORDER, "b", "filled", 0, 4, 402 * UNIT, 0) in events
    assert engine.depth("BTC_USDT", 5) == ([], [])


def test_fok_that_cannot_fill_wholly_is_cancelled_with_no_fill_not_refused() -> None:
    engine = new_engine()
    run(engine, limit("s1", 1, "sell", 100, 2), limit("s2", 3, "sell", 102, 2))
    before = engine.snapshot("BTC_USDT")
    events = run(engine, limit("b", 2, "buy", 101, 3, tif="fok"))
    assert events == [(ACCEPTED, "b", 3), (ORDER, "b", "cancelled", 3, 0, 0, 0)]
    assert engine.snapshot("BTC_USDT") == before
    assert engine.available[(2, "USDT")] == 10**9 * UNIT


def test_post_only_that_crosses_is_refused() -> None:
    engine = new_engine()
    run(engine, limit("s", 1, "sell", 100, 1))
    assert run(engine, limit("b", 2, "buy", 100, 1, tif="post_only")) == [(REJECTED, "b", "POST_ONLY_REJECT")]
    events = run(engine, limit("b2", 2, "buy", 99, 1, tif="post_only"))
    assert events[1] == (ORDER, "b2", "open", 1, 0, 0, 0)


def test_market_sell_walks_the_bids_and_never_rests() -> None:
    engine = new_engine()
    run(engine, limit("b1", 1, "buy", 100, 2), limit("b2", 3, "buy", 90, 2))
    events = run(engine, market_sell("m", 2, 5))
    assert [(t[3], t[7], t[8]) for t in of_kind(events, TRADE)] == [("b1", 100, 2), ("b2", 90, 2)]
    assert (ORDER, "m", "cancelled", 1, 4, 380 * UNIT, 0) in events
    # locked 5, sold 4, the unsold 1 is back
    assert (BALANCE, 2, "BTC", -4 * UNIT, 0) in events
    assert engine.depth("BTC_USDT", 5) == ([], [])


def test_market_sell_filled_wholly() -> None:
    engine = new_engine()
    run(engine, limit("b1", 1, "buy", 100, 5))
    events = run(engine, market_sell("m", 2, 3))
    assert (ORDER, "m", "filled", 0, 3, 300 * UNIT, 0) in events


def test_market_buy_spends_at_most_its_quote_in_whole_lots() -> None:
    engine = new_engine()
    run(engine, limit("s1", 1, "sell", 100, 2), limit("s2", 3, "sell", 110, 5))
    events = run(engine, market_buy("m", 2, 450 * UNIT))
    # 2 lots at 100 = 200, then 250 left buys 2 lots at 110 = 220; 30 left can't buy a lot
    assert [(t[3], t[7], t[8]) for t in of_kind(events, TRADE)] == [("s1", 100, 2), ("s2", 110, 2)]
    assert (ORDER, "m", "filled", 0, 4, 420 * UNIT, 0) in events
    assert (BALANCE, 2, "USDT", -420 * UNIT, 0) in events
    assert engine.depth("BTC_USDT", 5) == ([], [(110, 3)])


def test_market_buy_that_runs_out_of_book_is_cancelled_with_its_fills() -> None:
    engine = new_engine()
    run(engine, limit("s1", 1, "sell", 100, 2))
    events = run(engine, market_buy("m", 2, 1000 * UNIT))
    assert (ORDER, "m", "cancelled", 0, 2, 200 * UNIT, 0) in events
    assert (BALANCE, 2, "USDT", -200 * UNIT, 0) in events


def test_market_buy_whose_budget_ends_inside_one_maker_is_filled() -> None:
    engine = new_engine()
    run(engine, limit("s1", 1, "sell", 100, 5))
    events = run(engine, market_buy("m", 2, 250 * UNIT))  # 2 lots; 50 left cannot buy a third
    assert [(t[3], t[8]) for t in of_kind(events, TRADE)] == [("s1", 2)]
    assert (ORDER, "m", "filled", 0, 2, 200 * UNIT, 0) in events
    assert (ORDER, "s1", "partially_filled", 3, 2, 200 * UNIT, 0) in events
    assert engine.depth("BTC_USDT", 5) == ([], [(100, 3)])


def test_market_buy_affording_exactly_the_last_ask_is_cancelled_with_its_fill() -> None:
    # its budget does not end inside the maker: the book runs out first, with 50 left
    engine = new_engine()
    run(engine, limit("s1", 1, "sell", 100, 2))
    events = run(engine, market_buy("m", 2, 250 * UNIT))
    assert (ORDER, "m", "cancelled", 0, 2, 200 * UNIT, 0) in events
    assert (ORDER, "s1", "filled", 0, 2, 200 * UNIT, 0) in events
    assert engine.depth("BTC_USDT", 5) == ([], [])


def test_market_buy_too_small_for_one_lot_fills_nothing() -> None:
    engine = new_engine()
    run(engine, limit("s1", 1, "sell", 100, 2))
    events = run(engine, market_buy("m", 2, 99 * UNIT))
    assert events == [(ACCEPTED, "m", 2), (ORDER, "m", "cancelled", 0, 0, 0, 0)]


def test_market_order_on_an_empty_book_is_accepted_then_cancelled() -> None:
    engine = new_engine()
    assert run(engine, market_sell("m", 2, 3)) == [(ACCEPTED, "m", 1), (ORDER, "m", "cancelled", 3, 0, 0, 0)]
    assert run(engine, market_buy("n", 2, 3)) == [(ACCEPTED, "n", 2), (ORDER, "n", "cancelled", 0, 0, 0, 0)]


def test_cancelled_orders_are_skipped_and_fifo_kept() -> None:
    from orders.engine.commands import Cancel

    engine = new_engine()
    run(engine, limit("s1", 1, "sell", 100, 1), limit("s2", 3, "sell", 100, 1), limit("s3", 1, "sell", 100, 1))
    run(engine, Cancel("s2", 3))
    events = run(engine, limit("b", 2, "buy", 100, 2))
    assert [t[3] for t in of_kind(events, TRADE)] == ["s1", "s3"]
    assert engine.depth("BTC_USDT", 5) == ([], [])


def test_cancels_leave_nothing_behind_in_the_level() -> None:
    from orders.engine.commands import Cancel

    engine = new_engine()
    for i in range(1000):
        run(engine, limit(i, 1, "sell", 100, 1), Cancel(i, 1))
    run(engine, limit("last", 1, "sell", 100, 1), limit("b", 2, "buy", 90, 1), Cancel("b", 2))
    level = engine._books["BTC_USDT"].asks[100]
    assert [o.oid for o in level] == ["last"] and level.lots == 1
    assert level.head is level.tail and level.head is not None
    assert level.head.prev is None and level.head.next is None and level.head.level is level
    assert [o.order_id for o in engine.snapshot("BTC_USDT")] == ["last"]
