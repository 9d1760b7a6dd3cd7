"""Shared set-up of the benchmarks: a fresh database next to DATABASE_URL, a market, funded users."""

from __future__ import annotations

import os
import sys
import time
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


class CpuMeter:
    """CPU seconds (user + system) each part of a run spends between ``start()`` and ``stop()``:
    process trees by root pid, the PostgreSQL backends serving one database (found by their
    process title), and a Redis server's own count (``INFO cpu``: the whole server, so a shared
    Redis counts its other clients too). Read from /proc with psutil; CPU time, unlike wall time,
    holds up on a machine that is doing other work."""

    def __init__(self, trees: dict[str, int], database: str | None = None, redis_client=None) -> None:
        self.trees, self.database, self.redis = trees, database, redis_client
        self.before: dict[str, float] = {}
        self.spent: dict[str, float] = {}

    def _processes(self, root: int) -> list:
        import psutil

        try:
            top = psutil.Process(root)
            return [top, *top.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def _backends(self) -> dict[int, float]:
        import psutil

        found = {}
        for process in psutil.process_iter(["name", "cmdline"]):
            title = " ".join(process.info["cmdline"] or ())
            if process.info["name"] == "postgres" or title.startswith("postgres:"):
                if self.database and f" {self.database} " in f" {title} ":
                    try:
                        found[process.pid] = sum(process.cpu_times()[:2])
                    except psutil.Error:
                        pass
        return found

    def _read(self) -> tuple[dict[str, float], dict[int, float]]:
        totals = {}
        for part, root in self.trees.items():
            seconds = 0.0
            for process in self._processes(root):
                try:
                    seconds += sum(process.cpu_times()[:2])
                except Exception:
                    pass
            totals[part] = seconds
        if self.redis is not None:
            info = self.redis.info("cpu")
            totals["redis"] = float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
        totals["loadgen"] = time.process_time()
        return totals, self._backends()

    def start(self) -> None:
        self.before, self.backends_before = self._read()

    def stop(self) -> None:
        after, backends = self._read()
        self.spent = {part: after[part] - self.before.get(part, 0.0) for part in after}
        # a backend that appeared during the run counts whole
        self.spent["postgres"] = sum(cpu - self.backends_before.get(pid, 0.0) for pid, cpu in backends.items())

    def per(self, count: int, unit: float = 1e6) -> str:
        """``part=<µs per item> ...`` and the total."""
        count = max(1, count)
        parts = [f"{part}={seconds / count * unit:.0f}" for part, seconds in self.spent.items()]
        return " ".join(parts) + f" total={sum(self.spent.values()) / count * unit:.0f}"


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * fraction))]
