"""The engine's checks, their order, balances seen through ``available``, self-trade prevention."""

from __future__ import annotations

from engine_helpers import PLAIN, RICH, UNIT, limit, market_buy, market_sell, new_engine, of_kind, run

from orders.engine.commands import SetStatus
from orders.engine.events import ACCEPTED, REJECTED, TRADE


def test_unknown_market_is_refused() -> None:
    engine = new_engine()
    assert run(engine, limit("a", 1, "buy", 1, 1, symbol="NOPE_X")) == [(REJECTED, "a", "MARKET_NOT_FOUND")]


def test_checks_run_in_contract_order() -> None:
    engine = new_engine(users=(1,), balance=0)
    engine.available[(2, "USDT")] = 1000 * UNIT
    run(engine, limit("own", 2, "sell", 100, 1))  # no BTC: refused, see below
    engine.available[(2, "BTC")] = 10 * UNIT
    run(engine, limit("own", 2, "sell", 100, 1))
    # poor, post-only, crossing its own order: balance is checked first
    assert run(engine, limit("x", 3, "buy", 100, 1, tif="post_only")) == [(REJECTED, "x", "INSUFFICIENT_BALANCE")]
    # funded, post-only and self-crossing: post-only comes before self-trade
    assert run(engine, limit("y", 2, "buy", 100, 1, tif="post_only")) == [(REJECTED, "y", "POST_ONLY_REJECT")]
    assert run(engine, limit("z", 2, "buy", 100, 1)) == [(REJECTED, "z", "SELF_TRADE")]
    run(engine, SetStatus("BTC_USDT", "halted"))
    assert run(engine, limit("h", 9, "buy", 100, 1)) == [(REJECTED, "h", "MARKET_HALTED")]
    run(engine, SetStatus("BTC_USDT", "delisted"))
    assert run(engine, limit("d", 9, "buy", 100, 1)) == [(REJECTED, "d", "MARKET_DELISTED")]


def test_missing_balance_key_counts_as_zero() -> None:
    engine = new_engine(users=())
    assert run(engine, limit("a", 1, "buy", 1, 1)) == [(REJECTED, "a", "INSUFFICIENT_BALANCE")]
    assert (1, "USDT") not in engine.available


def test_a_lock_of_exactly_the_available_balance_passes() -> None:
    engine = new_engine(users=())
    engine.available[(1, "USDT")] = 300 * UNIT
    assert run(engine, limit("a", 1, "buy", 100, 3))[0] == (ACCEPTED, "a", 1)
    assert engine.available[(1, "USDT")] == 0


def test_two_orders_of_one_batch_cannot_spend_the_same_funds() -> None:
    engine = new_engine(users=())
    engine.available[(1, "USDT")] = 500 * UNIT  # loaded once for the batch
    assert run(engine, limit("a", 1, "buy", 100, 3))[0][0] == ACCEPTED
    assert run(engine, limit("b", 1, "buy", 100, 3)) == [(REJECTED, "b", "INSUFFICIENT_BALANCE")]
    assert run(engine, limit("c", 1, "buy", 100, 2))[0][0] == ACCEPTED
    assert engine.available[(1, "USDT")] == 0


def test_market_buy_locks_its_quote_amount_and_market_sell_its_quantity() -> None:
    engine = new_engine(users=())
    engine.available[(1, "USDT")] = 99 * UNIT
    engine.available[(1, "BTC")] = 2 * UNIT
    assert run(engine, market_buy("a", 1, 100 * UNIT)) == [(REJECTED, "a", "INSUFFICIENT_BALANCE")]
    assert run(engine, market_sell("b", 1, 3)) == [(REJECTED, "b", "INSUFFICIENT_BALANCE")]
    assert run(engine, market_sell("c", 1, 2))[0][0] == ACCEPTED


def test_receipts_update_present_keys_and_leave_absent_ones_absent() -> None:
    engine = new_engine(users=(1,))
    run(engine, limit("s", 1, "sell", 100, 1))
    engine.available[(2, "USDT")] = 100 * UNIT  # the taker's loaded balance; its BTC is not loaded
    run(engine, limit("b", 2, "buy", 100, 1))
    assert engine.available[(1, "USDT")] == RICH + 100 * UNIT  # the maker's receipt, key present
    assert engine.available[(2, "USDT")] == 0
    assert (2, "BTC") not in engine.available


def test_self_trade_refuses_the_taker_whole() -> None:
    engine = new_engine()
    run(engine, limit("other", 1, "sell", 100, 1), limit("own", 2, "sell", 101, 1))
    before = (engine.snapshot("BTC_USDT"), dict(engine.available))
    assert run(engine, limit("b", 2, "buy", 101, 2)) == [(REJECTED, "b", "SELF_TRADE")]
    assert (engine.snapshot("BTC_USDT"), dict(engine.available)) == before
    assert run(engine, market_buy("m", 2, 1000 * UNIT)) == [(REJECTED, "m", "SELF_TRADE")]


def test_an_own_order_the_taker_would_not_reach_does_not_matter() -> None:
    engine = new_engine()
    run(engine, limit("other", 1, "sell", 100, 2), limit("own", 2, "sell", 100, 1), limit("own2", 2, "sell", 101, 1))
    events = run(engine, limit("b", 2, "buy", 101, 2))  # filled by "other" before reaching "own"
    assert [t[3] for t in of_kind(events, TRADE)] == ["other"]


def test_own_order_behind_the_limit_price_is_not_touched() -> None:
    engine = new_engine()
    run(engine, limit("other", 1, "sell", 100, 1), limit("own", 2, "sell", 105, 1))
    events = run(engine, limit("b", 2, "buy", 104, 3))
    assert [t[3] for t in of_kind(events, TRADE)] == ["other"]


def test_market_buy_whose_budget_ends_before_its_own_order_is_not_refused() -> None:
    engine = new_engine()
    run(engine, limit("other", 1, "sell", 100, 1), limit("own", 2, "sell", 100, 1))
    events = run(engine, market_buy("m", 2, 150 * UNIT))
    assert [t[3] for t in of_kind(events, TRADE)] == ["other"]


def test_fok_reaching_its_own_order_is_a_self_trade_refusal() -> None:
    engine = new_engine()
    run(engine, limit("other", 1, "sell", 100, 1), limit("own", 2, "sell", 100, 1))
    assert run(engine, limit("f", 2, "buy", 100, 5, tif="fok")) == [(REJECTED, "f", "SELF_TRADE")]


def test_refusal_takes_no_seq() -> None:
    engine = new_engine()
    run(engine, limit("a", 1, "buy", 100, 1))
    run(engine, limit("b", 1, "buy", 100, 10**20))  # far too much
    assert run(engine, limit("c", 1, "buy", 100, 1))[0] == (ACCEPTED, "c", 2)


def test_market_spec_is_reused_for_a_second_engine() -> None:
    assert new_engine(PLAIN).depth("BTC_USDT", 1) == ([], [])
