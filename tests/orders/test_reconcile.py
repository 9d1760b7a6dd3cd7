"""``manage.py reconcile``: clean after real activity, and loud when money does not add up."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection

from tests.orders.test_order_placement import limit

pytestmark = pytest.mark.usefixtures("engine")


def run_reconcile(capsys) -> tuple[int, str]:
    capsys.readouterr()
    try:
        call_command("reconcile")
        code = 0
    except SystemExit as stop:
        code = int(stop.code or 0)
    return code, capsys.readouterr().out


@pytest.fixture
def active_exchange(market, funded):
    maker, taker = funded(BTC="1", USDT="500"), funded(USDT="1000", BTC="0.5")
    maker.post("/spot/orders", limit("sell", "100", "0.7"))
    taker.post("/spot/orders", limit("buy", "101", "0.5"))
    taker.post("/spot/orders", limit("sell", "120", "0.2"))
    assert (
        maker.post("/spot/transfer", {"direction": "spot_to_perp", "token": "USDT", "amount": "100"}).status_code == 200
    )
    assert (
        maker.post("/spot/transfer", {"direction": "perp_to_spot", "token": "USDT", "amount": "40"}).status_code == 200
    )
    return maker, taker


def test_clean_after_trading_and_transfers(active_exchange, capsys):
    assert run_reconcile(capsys) == (0, "reconcile: clean\n")


def test_a_lock_nobody_holds_is_reported(active_exchange, capsys):
    maker, _ = active_exchange
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE wallets_balance SET locked = locked + 1, available = available - 1 WHERE user_id = %s AND token = 'USDT'",
            [maker.user_id],
        )
    code, out = run_reconcile(capsys)
    assert code == 1
    assert f"locked mismatch user={maker.user_id} token=USDT" in out
    assert f"ledger mismatch user={maker.user_id} token=USDT" in out


def test_money_made_from_nothing_is_reported(active_exchange, capsys):
    _, taker = active_exchange
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO wallets_ledgerentry (user_id, token, delta_available, delta_locked, kind, ref, created_at) "
            "VALUES (%s, 'BTC', 1, 0, 'trade', 'forged', now())",
            [taker.user_id],
        )
        cursor.execute(
            "UPDATE wallets_balance SET available = available + 1 WHERE user_id = %s AND token = 'BTC'", [taker.user_id]
        )
    code, out = run_reconcile(capsys)
    assert code == 1 and "trading created or destroyed 1" in out and "BTC" in out


def test_a_transfer_that_arrived_nowhere_is_reported(active_exchange, capsys):
    maker, _ = active_exchange
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO wallets_ledgerentry (user_id, token, delta_available, delta_locked, kind, ref, created_at) "
            "VALUES (%s, 'USDT', 5, 0, 'transfer_in', 'forged', now())",
            [maker.user_id],
        )
        cursor.execute(
            "UPDATE wallets_balance SET available = available + 5 WHERE user_id = %s AND token = 'USDT'",
            [maker.user_id],
        )
    code, out = run_reconcile(capsys)
    assert code == 1 and "transfers of USDT do not net out" in out


def test_rows_pointing_nowhere_are_reported(active_exchange, capsys):
    """Orders, trades and ledger entries carry no foreign-key constraints (docs/decisions/0014):
    reconcile is what finds a reference that does not resolve."""
    maker, _ = active_exchange
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, maker_order_id FROM orders_trade LIMIT 1")
        trade_id, maker_order_id = cursor.fetchone()
        # a trade whose maker order is gone, and one whose maker is someone else than its order's
        cursor.execute("UPDATE orders_trade SET maker_order_id = gen_random_uuid() WHERE id = %s", [trade_id])
        cursor.execute(
            "INSERT INTO orders_trade (id, price, quantity, quote_quantity, taker_side, maker_fee, taker_fee, "
            "created_at, maker_order_id, maker_user_id, symbol, taker_order_id, taker_user_id) "
            "SELECT gen_random_uuid(), price, quantity, quote_quantity, taker_side, maker_fee, taker_fee, created_at, "
            "%s, maker_user_id + 100000, symbol, taker_order_id, taker_user_id FROM orders_trade WHERE id = %s",
            [maker_order_id, trade_id],
        )
        cursor.execute(
            "INSERT INTO wallets_ledgerentry (user_id, token, delta_available, delta_locked, kind, ref, created_at) "
            "VALUES (%s, 'USDT', 0, 0, 'trade', 'forged', now())",
            [maker.user_id + 100000],
        )
    code, out = run_reconcile(capsys)
    assert code == 1
    assert "1 trades whose maker or taker order does not exist" in out
    assert "1 trades whose users are not their orders' users" in out
    assert "1 ledger entries whose user does not exist" in out
