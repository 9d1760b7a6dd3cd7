"""Cancels, cancel-all, and market status: halt keeps the book, delist empties it."""

from __future__ import annotations

from engine_helpers import RICH, UNIT, limit, new_engine, run

from orders.engine.commands import Cancel, CancelAll, SetStatus
from orders.engine.events import BALANCE, ORDER, REJECTED, STATUS


def test_cancel_releases_the_lock_and_reports_the_order() -> None:
    engine = new_engine()
    run(engine, limit("a", 1, "buy", 100, 3))
    assert run(engine, Cancel("a", 1)) == [
        (ORDER, "a", "cancelled", 3, 0, 0, 0),
        (BALANCE, 1, "USDT", 300 * UNIT, -300 * UNIT),
    ]
    assert engine.available[(1, "USDT")] == RICH
    assert engine.depth("BTC_USDT", 5) == ([], [])


def test_cancel_of_a_partly_filled_order_releases_only_its_remainder() -> None:
    engine = new_engine()
    run(engine, limit("s", 1, "sell", 100, 5), limit("b", 2, "buy", 100, 2))
    assert run(engine, Cancel("s", 1)) == [
        (ORDER, "s", "cancelled", 3, 2, 200 * UNIT, 0),
        (BALANCE, 1, "BTC", 3 * UNIT, -3 * UNIT),
    ]


def test_cancel_of_unknown_foreign_or_finished_order_is_not_found() -> None:
    engine = new_engine()
    run(engine, limit("a", 1, "buy", 100, 1))
    assert run(engine, Cancel("zzz", 1)) == [(REJECTED, "zzz", "ORDER_NOT_FOUND")]
    assert run(engine, Cancel("a", 2)) == [(REJECTED, "a", "ORDER_NOT_FOUND")]
    run(engine, Cancel("a", 1))
    assert run(engine, Cancel("a", 1)) == [(REJECTED, "a", "ORDER_NOT_FOUND")]
    run(engine, limit("s", 1, "sell", 100, 1), limit("b", 2, "buy", 100, 1))
    assert run(engine, Cancel("s", 1)) == [(REJECTED, "s", "ORDER_NOT_FOUND")]


def test_cancel_all_cancels_only_that_users_orders_in_that_market_oldest_first() -> None:
    engine = new_engine()
    run(engine, limit("a", 1, "buy", 100, 1), limit("x", 2, "buy", 100, 1), limit("b", 1, "sell", 200, 2))
    run(engine, limit("c", 1, "buy", 99, 1))
    assert run(engine, CancelAll(1, "BTC_USDT")) == [
        (ORDER, "a", "cancelled", 1, 0, 0, 0),
        (ORDER, "b", "cancelled", 2, 0, 0, 0),
        (ORDER, "c", "cancelled", 1, 0, 0, 0),
        (BALANCE, 1, "BTC", 2 * UNIT, -2 * UNIT),
        (BALANCE, 1, "USDT", 199 * UNIT, -199 * UNIT),
    ]
    assert [o.order_id for o in engine.snapshot("BTC_USDT")] == ["x"]
    assert run(engine, CancelAll(1, "BTC_USDT")) == []
    assert run(engine, CancelAll(1, "NOPE")) == [(REJECTED, None, "MARKET_NOT_FOUND")]


def test_halt_keeps_the_book_refuses_orders_and_still_cancels() -> None:
    engine = new_engine()
    run(engine, limit("a", 1, "buy", 100, 1), limit("b", 1, "buy", 99, 1))
    assert run(engine, SetStatus("BTC_USDT", "halted")) == [(STATUS, "BTC_USDT", "halted")]
    assert run(engine, limit("c", 2, "sell", 100, 1)) == [(REJECTED, "c", "MARKET_HALTED")]
    assert engine.depth("BTC_USDT", 5) == ([(100, 1), (99, 1)], [])
    assert run(engine, Cancel("a", 1))[0][0] == ORDER
    assert run(engine, CancelAll(1, "BTC_USDT"))[0] == (ORDER, "b", "cancelled", 1, 0, 0, 0)


def test_active_resumes_a_halted_market() -> None:
    engine = new_engine()
    run(engine, limit("a", 1, "buy", 100, 1), SetStatus("BTC_USDT", "halted"), SetStatus("BTC_USDT", "active"))
    events = run(engine, limit("c", 2, "sell", 100, 1))
    assert (ORDER, "c", "filled", 0, 1, 100 * UNIT, 0) in events


def test_delist_cancels_every_order_releases_all_and_is_terminal() -> None:
    engine = new_engine()
    run(engine, limit("a", 1, "buy", 100, 1), limit("b", 2, "sell", 101, 2), limit("c", 1, "buy", 90, 1))
    assert run(engine, SetStatus("BTC_USDT", "delisted")) == [
        (ORDER, "a", "cancelled", 1, 0, 0, 0),
        (ORDER, "b", "cancelled", 2, 0, 0, 0),
        (ORDER, "c", "cancelled", 1, 0, 0, 0),
        (BALANCE, 1, "USDT", 190 * UNIT, -190 * UNIT),
        (BALANCE, 2, "BTC", 2 * UNIT, -2 * UNIT),
        (STATUS, "BTC_USDT", "delisted"),
    ]
    assert engine.snapshot("BTC_USDT") == []
    assert engine.locked_by_open_orders() == {}
    assert run(engine, Cancel("a", 1)) == [(REJECTED, "a", "ORDER_NOT_FOUND")]
    assert run(engine, SetStatus("BTC_USDT", "active")) == [(REJECTED, None, "MARKET_DELISTED")]
    assert run(engine, SetStatus("NOPE", "active")) == [(REJECTED, None, "MARKET_NOT_FOUND")]
