"""Shared set-up of the benchmarks: a fresh database next to DATABASE_URL, a market, funded users."""

from __future__ import annotations

import os
import sys
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def use_fresh_database(suffix: str) -> str:
    """Create (or recreate) ``<name>_<suffix>`` beside DATABASE_URL and point DATABASE_URL at it."""
    import dj_database_url
    import psycopg

    url = os.environ["DATABASE_URL"]
    name = f"{dj_database_url.parse(url)['NAME']}_{suffix}"
    base = url.rsplit("/", 1)[0]
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = f"{base}/{name}"
    return os.environ["DATABASE_URL"]


def setup_django(prefix: str) -> None:
    """Django with Redis keys under ``<CACHE_PREFIX>_<prefix>`` (``<prefix>`` alone when unset), so
    benchmarks run side by side on one Redis never share an engine queue."""
    given = os.environ.get("CACHE_PREFIX")
    os.environ["CACHE_PREFIX"] = f"{given}_{prefix}" if given else prefix
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange.settings")
    import django

    django.setup()


def prepare_market_and_users(count: int) -> list:
    """Migrate, create BTC_USDT and ``count`` users holding plenty of BTC and USDT (with ledger entries)."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django_redis import get_redis_connection

    from markets.services import create_market

    call_command("migrate", verbosity=0)
    create_market(symbol="BTC_USDT", base="BTC", quote="USDT", tick_size="0.01", lot_size="0.001",
                  min_notional="1", maker_fee="0.001", taker_fee="0.002")  # fmt: skip
    user_model = get_user_model()
    users = user_model.objects.bulk_create([user_model(username=f"bench-{i}") for i in range(count)])
    ids = [u.pk for u in users]
    with connection.cursor() as cursor:
        for token, amount in (("USDT", "100000000"), ("BTC", "1000000")):
            cursor.execute(
                "INSERT INTO wallets_balance (user_id, token, available, locked) SELECT u, %s, %s, 0 FROM unnest(%s::bigint[]) u",
                [token, Decimal(amount), ids],
            )
            cursor.execute(
                "INSERT INTO wallets_ledgerentry (user_id, token, delta_available, delta_locked, kind, ref, created_at) "
                "SELECT u, %s, %s, 0, 'credit', 'bench', now() FROM unnest(%s::bigint[]) u",
                [token, Decimal(amount), ids],
            )
        # Statistics as a deployment that has just grown would have: taken while the tables were empty.
        cursor.execute("ANALYZE")
    redis = get_redis_connection("default")
    prefix = os.environ["CACHE_PREFIX"]
    for key in redis.scan_iter(f"{prefix}:*", count=10_000):
        redis.delete(key)
    return users


def order_mix(rng, symbol: str = "BTC_USDT") -> dict:
    """One order of the benchmarks' seeded mix around a mid of 100.00: 70% resting limits,
    20% marketable limits (ioc), 10% market orders."""
    side = rng.choice(("buy", "sell"))
    roll = rng.random()
    quantity = f"0.0{rng.randint(10, 99)}"
    if roll < 0.7:
        offset = rng.randint(1, 200) / 100
        price = 100 - offset if side == "buy" else 100 + offset
        return {"symbol": symbol, "side": side, "type": "limit", "price": f"{price:.2f}", "quantity": quantity}
    if roll < 0.9:
        price = 100.5 if side == "buy" else 99.5
        return {
            "symbol": symbol,
            "side": side,
            "type": "limit",
            "tif": "ioc",
            "price": f"{price:.2f}",
            "quantity": quantity,
        }
    if side == "buy":
        return {"symbol": symbol, "side": "buy", "type": "market", "quote_quantity": "5"}
    return {"symbol": symbol, "side": "sell", "type": "market", "quantity": quantity}


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * fraction))]
