"""Checks that money adds up on a live database (SPEC §9). Each returns a list of problems."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db import connection

from wallets.reconcile import perp_ledger_matches_accounts, withdrawal_holds

Key = tuple[int, str]

OPEN_ORDER_LOCKS_SQL = """
SELECT user_id, token, SUM(amount) FROM (
    SELECT o.user_id, m.base AS token, o.quantity - o.filled_quantity AS amount
    FROM orders_order o JOIN spot_markets m ON m.symbol = o.symbol
    WHERE o.status IN ('open', 'partially_filled') AND o.side = 'sell'
    UNION ALL
    SELECT o.user_id, m.quote, o.price * (o.quantity - o.filled_quantity)
    FROM orders_order o JOIN spot_markets m ON m.symbol = o.symbol
    WHERE o.status IN ('open', 'partially_filled') AND o.side = 'buy'
) AS locks GROUP BY user_id, token
"""
# Kinds that only move value between users (and the fee account): they sum to zero per token.
INTERNAL_KINDS = ("order_lock", "order_release", "trade", "fee")


def _rows(sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


def locked_matches_holds() -> list[str]:
    """Every balance's ``locked`` equals what its open orders and pending withdrawals hold."""
    expected: dict[Key, Decimal] = defaultdict(Decimal)
    for user_id, token, amount in _rows(OPEN_ORDER_LOCKS_SQL):
        expected[(user_id, token)] += amount
    for key, amount in withdrawal_holds().items():
        expected[key] += amount
    actual = {(u, t): locked for u, t, locked in _rows("SELECT user_id, token, locked FROM wallets_balance")}
    problems = []
    for key in sorted(set(expected) | set(actual)):
        if expected.get(key, Decimal(0)) != actual.get(key, Decimal(0)):
            problems.append(
                f"locked mismatch user={key[0]} token={key[1]}: balance has {actual.get(key, 0)}, "
                f"open orders and withdrawals hold {expected.get(key, 0)}"
            )
    return problems


def ledger_matches_balances() -> list[str]:
    """For every (user, token) the ledger sums to the balance, both available and locked."""
    sums = {
        (u, t): (a, lk)
        for u, t, a, lk in _rows(
            "SELECT user_id, token, SUM(delta_available), SUM(delta_locked) FROM wallets_ledgerentry GROUP BY 1, 2"
        )
    }
    balances = {
        (u, t): (a, lk) for u, t, a, lk in _rows("SELECT user_id, token, available, locked FROM wallets_balance")
    }
    zero = (Decimal(0), Decimal(0))
    problems = []
    for key in sorted(set(sums) | set(balances)):
        if sums.get(key, zero) != balances.get(key, zero):
            problems.append(
                f"ledger mismatch user={key[0]} token={key[1]}: balance {balances.get(key, zero)}, ledger {sums.get(key, zero)}"
            )
    return problems


def internal_moves_sum_to_zero() -> list[str]:
    """Trading only moves value: per token, lock/release/trade/fee entries sum to zero."""
    rows = _rows(
        "SELECT token, SUM(delta_available + delta_locked) FROM wallets_ledgerentry "
        f"WHERE kind IN ({', '.join(repr(k) for k in INTERNAL_KINDS)}) GROUP BY token"
    )
    return [f"trading created or destroyed {total} {token}" for token, total in rows if total != 0]


# The references of the engine's rows, which carry no database constraint (docs/decisions/0014):
# (what is checked, SQL counting the rows whose reference does not resolve).
DANGLING_REFERENCES = [
    ("orders whose user does not exist",
     "SELECT count(*) FROM orders_order o WHERE NOT EXISTS (SELECT 1 FROM auth_user u WHERE u.id = o.user_id)"),
    ("orders whose market does not exist",
     "SELECT count(*) FROM orders_order o WHERE NOT EXISTS (SELECT 1 FROM spot_markets m WHERE m.symbol = o.symbol)"),
    ("trades whose maker or taker order does not exist",
     "SELECT count(*) FROM orders_trade t WHERE NOT EXISTS (SELECT 1 FROM orders_order o WHERE o.id = t.maker_order_id) "
     "OR NOT EXISTS (SELECT 1 FROM orders_order o WHERE o.id = t.taker_order_id)"),
    ("trades whose users are not their orders' users",
     "SELECT count(*) FROM orders_trade t JOIN orders_order mo ON mo.id = t.maker_order_id "
     "JOIN orders_order tk ON tk.id = t.taker_order_id "
     "WHERE mo.user_id <> t.maker_user_id OR tk.user_id <> t.taker_user_id OR mo.symbol <> t.symbol OR tk.symbol <> t.symbol"),
    ("ledger entries whose user does not exist",
     "SELECT count(*) FROM wallets_ledgerentry e WHERE NOT EXISTS (SELECT 1 FROM auth_user u WHERE u.id = e.user_id)"),
]  # fmt: skip


def references_resolve() -> list[str]:
    """Every order, trade and ledger entry points at rows that exist, and a trade's users and
    market are its orders' users and market."""
    problems = []
    for label, sql in DANGLING_REFERENCES:
        count = _rows(sql)[0][0]
        if count:
            problems.append(f"{count} {label}")
    return problems


def transfers_balance_out() -> list[str]:
    """What left spot for perp arrived there, and back: per token, the spot ledger's transfer
    entries and the perp ledger's transfer entries sum to zero together."""
    spot = dict(_rows(
        "SELECT token, SUM(delta_available + delta_locked) FROM wallets_ledgerentry "
        "WHERE kind IN ('transfer_in', 'transfer_out') GROUP BY token"
    ))  # fmt: skip
    perp = dict(_rows(
        "SELECT a.token, SUM(e.delta) FROM wallets_perpledgerentry e JOIN wallets_perpaccount a ON a.id = e.account_id "
        "WHERE e.kind <> 'credit' GROUP BY a.token"
    ))  # fmt: skip
    return [
        f"transfers of {token} do not net out: spot side {spot.get(token, 0)}, perp side {perp.get(token, 0)}"
        for token in sorted(set(spot) | set(perp))
        if spot.get(token, Decimal(0)) + perp.get(token, Decimal(0)) != 0
    ]


def run_all() -> list[str]:
    """Every check: locks, ledgers (spot and perp), trading, transfers, references."""
    return (
        locked_matches_holds()
        + ledger_matches_balances()
        + perp_ledger_matches_accounts()
        + internal_moves_sum_to_zero()
        + transfers_balance_out()
        + references_resolve()
    )
