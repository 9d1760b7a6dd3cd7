"""Orders per second through the engine loop with PostgreSQL commits.

Commands are pushed straight into the shard's Redis queue (no HTTP), then one ShardLoop
drains them: balance locks, matching, one transaction per batch (COPY for new rows),
answers pushed to reply keys. Runs in a fresh database ``<name>_bench`` beside
DATABASE_URL. ``synchronous_commit`` stays on (the server default).

    .venv/bin/python bench/engine_loop.py [--orders 100000] [--batch 500]

Last line: ``engine_loop orders_per_s=<int> commit_p99_ms=<float>``
"""

from __future__ import annotations

import argparse
import random
import time
import uuid

from common import order_mix, percentile, prepare_market_and_users, setup_django, use_fresh_database


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500, help="commands per batch at most (ENGINE_BATCH_MAX)")
    parser.add_argument("--users", type=int, default=1000)
    args = parser.parse_args()

    use_fresh_database("bench")
    setup_django("bench")
    import orjson
    from django.db import connection
    from django_redis import get_redis_connection

    from orders.ids import uuid7
    from orders.loop import ShardLoop
    from orders.shards import queue_key

    users = prepare_market_and_users(args.users)
    redis = get_redis_connection("default")
    rng = random.Random(42)
    deadline = int((time.time() + 3600) * 1000)
    commands = []
    for _ in range(args.orders):
        order = order_mix(rng)
        commands.append(orjson.dumps({
            "k": "place", "id": uuid7(), "u": users[rng.randrange(len(users))].pk, "s": order["symbol"],
            "sd": order["side"], "t": order["type"], "tif": order.get("tif", "gtc" if order["type"] == "limit" else "ioc"),
            "p": order.get("price"), "q": order.get("quantity"), "qq": order.get("quote_quantity"),
            "dl": deadline, "r": uuid.uuid4().hex,
        }))  # fmt: skip
    for i in range(0, len(commands), 5000):
        redis.rpush(queue_key(0), *commands[i : i + 5000])

    loop = ShardLoop(0, batch_max=args.batch)
    assert loop.acquire()
    loop.start()
    loop.batch_stats = []
    started = time.perf_counter()
    while queued := loop._take_queued():
        loop._run_batch([orjson.loads(item) for item in queued])
    elapsed = time.perf_counter() - started
    loop.release()

    commits = sorted(ms for _, ms in loop.batch_stats)
    placed = sum(n for n, _ in loop.batch_stats)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM orders_order")
        stored = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM orders_trade")
        trades = cursor.fetchone()[0]
        cursor.execute("SHOW synchronous_commit")
        synchronous_commit = cursor.fetchone()[0]
    print(f"commands={placed} batches={len(commits)} batch_max={args.batch} elapsed_s={elapsed:.2f} "
          f"orders_stored={stored} trades={trades} synchronous_commit={synchronous_commit}")  # fmt: skip
    print(f"batch_ms p50={percentile(commits, 0.5):.2f} p99={percentile(commits, 0.99):.2f} max={commits[-1]:.2f}")
    print(f"engine_loop orders_per_s={int(placed / elapsed)} commit_p99_ms={percentile(commits, 0.99):.2f}")


if __name__ == "__main__":
    main()
