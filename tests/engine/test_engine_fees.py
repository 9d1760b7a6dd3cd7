"""Fees: each side pays in the asset it receives, floored, credited to the fee account."""

from __future__ import annotations

from collections import defaultdict

from engine_helpers import FEE_USER, FEES, UNIT, limit, market_buy, new_engine, of_kind, run

from orders.engine.events import BALANCE, ORDER, TRADE


def test_taker_buyer_pays_in_base_and_maker_seller_in_quote() -> None:
    engine = new_engine(FEES)
    run(engine, limit("s", 1, "sell", 1000, 2, symbol="ETH_USDT"))
    events = run(engine, limit("b", 2, "buy", 1000, 2, symbol="ETH_USDT"))
    maker_fee = 2000 * UNIT * 100000 // 10**8  # 0.1% of the 2000 USDT the seller receives
    taker_fee = 2 * UNIT * 200000 // 10**8  # 0.2% of the 2 ETH the buyer receives
    assert of_kind(events, TRADE) == [(TRADE, "ETH_USDT", 1, "s", "b", 1, 2, 1000, 2, "buy", maker_fee, taker_fee)]
    assert (ORDER, "s", "filled", 0, 2, 2000 * UNIT, maker_fee) in events
    assert (ORDER, "b", "filled", 0, 2, 2000 * UNIT, taker_fee) in events
    assert of_kind(events, BALANCE) == [
        (BALANCE, FEE_USER, "ETH", taker_fee, 0),
        (BALANCE, FEE_USER, "USDT", maker_fee, 0),
        (BALANCE, 1, "ETH", 0, -2 * UNIT),
        (BALANCE, 1, "USDT", 2000 * UNIT - maker_fee, 0),
        (BALANCE, 2, "ETH", 2 * UNIT - taker_fee, 0),
        (BALANCE, 2, "USDT", -2000 * UNIT, 0),
    ]


def test_taker_seller_pays_in_quote_and_maker_buyer_in_base() -> None:
    engine = new_engine(FEES)
    run(engine, limit("b", 1, "buy", 1000, 1, symbol="ETH_USDT"))
    events = run(engine, limit("s", 2, "sell", 900, 1, symbol="ETH_USDT"))
    (trade,) = of_kind(events, TRADE)
    assert trade[7] == 1000 and trade[9] == "sell"
    assert trade[10:] == (UNIT * 100000 // 10**8, 1000 * UNIT * 200000 // 10**8)


def test_fees_are_floored_to_the_atom() -> None:
    engine = new_engine(FEES)
    engine.available[(2, "USDT")] = 10**30
    run(engine, limit("s", 1, "sell", 3, 1, symbol="ETH_USDT"))
    events = run(engine, market_buy("m", 2, 10**30, symbol="ETH_USDT"))
    (trade,) = of_kind(events, TRADE)
    assert trade[10] == 3 * UNIT * 100000 // 10**8
    assert trade[11] == UNIT * 200000 // 10**8


def test_every_command_only_moves_value() -> None:
    engine = new_engine(FEES)
    commands = [
        limit("s1", 1, "sell", 1001, 3, symbol="ETH_USDT"),
        limit("s2", 3, "sell", 1003, 4, symbol="ETH_USDT"),
        limit("b1", 2, "buy", 1002, 5, symbol="ETH_USDT"),
        market_buy("m", 2, 7777 * UNIT + 12345, symbol="ETH_USDT"),
        limit("b2", 1, "buy", 999, 2, symbol="ETH_USDT"),
        limit("s3", 3, "sell", 990, 9, tif="ioc", symbol="ETH_USDT"),
    ]
    for command in commands:
        total: dict[str, int] = defaultdict(int)
        for event in of_kind(engine.execute(command), BALANCE):
            total[event[2]] += event[3] + event[4]
        assert all(v == 0 for v in total.values()), (command, dict(total))


def test_fee_account_trading_as_maker_gets_one_summed_change_per_asset() -> None:
    engine = new_engine(FEES, users=(FEE_USER, 2))
    run(engine, limit("s", FEE_USER, "sell", 1000, 2, symbol="ETH_USDT"))
    events = run(engine, limit("b", 2, "buy", 1000, 2, symbol="ETH_USDT"))
    maker_fee = 2000 * UNIT * 100000 // 10**8
    taker_fee = 2 * UNIT * 200000 // 10**8
    assert of_kind(events, BALANCE) == [
        (BALANCE, FEE_USER, "ETH", taker_fee, -2 * UNIT),
        (BALANCE, FEE_USER, "USDT", 2000 * UNIT, 0),  # received 2000 - fee, plus the fee itself
        (BALANCE, 2, "ETH", 2 * UNIT - taker_fee, 0),
        (BALANCE, 2, "USDT", -2000 * UNIT, 0),
    ]
    assert maker_fee > 0
