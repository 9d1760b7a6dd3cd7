"""Orders per second through the engine loop with PostgreSQL commits.

Commands are pushed straight into the shard's Redis queue (no HTTP), then one ShardLoop
drains them: balance locks, matching, one transaction per batch (COPY for new rows),
answers pushed to reply keys. Runs in a fresh database ``<name>_bench`` beside
DATABASE_URL. ``synchronous_commit`` stays on (the server default).

    .venv/bin/python bench/engine_loop.py [--orders 100000] [--batch 500]

The line before the batch times gives the CPU per batch of the loop's process and of its
PostgreSQL backend (read from ``/proc``, so only with the server on this machine).

Last line: ``engine_loop orders_per_s=<int> commit_p99_ms=<float>``
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import time
import uuid

from common import order_mix, percentile, prepare_market_and_users, setup_django, use_fresh_database


def backend_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a PostgreSQL backend on this machine; -inf if unreadable."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("-inf")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def feed(redis_url: str, key: str, commands: list[bytes], rate: float) -> None:
    """One command at a time, at ``rate`` a second (a separate process: its CPU is not the loop's)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    started = time.perf_counter()
    for i, command in enumerate(commands):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        client.rpush(key, command)


def run_fed(loop, commands: list[bytes], rate: float, key: str, backend: int) -> tuple[float, float, float]:
    """Run the loop as deployed while another process feeds it; stop once it has run every command.
    Returns wall seconds, the loop process's CPU seconds and its backend's."""
    import multiprocessing
    import threading

    from django.conf import settings

    feeder = multiprocessing.get_context("fork").Process(target=feed, args=(settings.REDIS_URL, key, commands, rate))
    figures: list[float] = []
    started, loop_cpu, backend_cpu = time.perf_counter(), time.process_time(), backend_cpu_s(backend)

    def watch() -> None:
        while sum(n for n, _ in loop.batch_stats) < len(commands):
            time.sleep(0.02)
        figures.extend([time.perf_counter() - started, time.process_time() - loop_cpu,
                        backend_cpu_s(backend) - backend_cpu])  # fmt: skip
        loop.stop()

    feeder.start()
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    loop.run()
    watcher.join()
    feeder.join()
    return figures[0], figures[1], figures[2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500, help="commands per batch at most (ENGINE_BATCH_MAX)")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=0,
                        help="push the commands one at a time at this many a second while the loop runs as "
                             "deployed (ShardLoop.run), as requests do, instead of queueing them all first")  # fmt: skip
    parser.add_argument("--auto-gc", action="store_true",
                        help="leave automatic cycle collection on, as in a process the loop shares; by default the "
                             "loop owns its process as deployed, collecting on its own schedule (orders/loop.py)")  # fmt: skip
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
    if not args.rate:
        for i in range(0, len(commands), 5000):
            redis.rpush(queue_key(0), *commands[i : i + 5000])

    loop = ShardLoop(0, batch_max=args.batch, owns_process=not args.auto_gc)
    assert loop.acquire()
    loop.start()
    loop.batch_stats = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    backend_cpu = backend_cpu_s(backend)
    started, loop_cpu = time.perf_counter(), time.process_time()
    if args.rate:
        elapsed, loop_cpu, backend_cpu = run_fed(loop, commands, args.rate, queue_key(0), backend)
    else:
        # What ``ShardLoop.run`` does with the collector, with the one collection timed at the end
        # (a run this short would not reach its first one: this charges the run for what it left).
        if loop.owns_process:
            gc.disable()
        while queued := loop._take_queued():
            loop._run_batch([orjson.loads(item) for item in queued])
        if loop.owns_process:
            loop._collect()
            gc.enable()
        elapsed = time.perf_counter() - started
        loop_cpu = time.process_time() - loop_cpu
        backend_cpu = backend_cpu_s(backend) - backend_cpu
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
    batches = max(1, len(commits))
    print(f"cpu_ms_per_batch loop={loop_cpu / batches * 1000:.3f} postgres={backend_cpu / batches * 1000:.3f} "
          f"mean_batch={placed / batches:.1f} cpu_us_per_command={(loop_cpu + backend_cpu) / max(1, placed) * 1e6:.0f}")  # fmt: skip
    print(f"batch_ms p50={percentile(commits, 0.5):.2f} p99={percentile(commits, 0.99):.2f} max={commits[-1]:.2f}")
    print(f"engine_loop orders_per_s={int(placed / elapsed)} commit_p99_ms={percentile(commits, 0.99):.2f}")


if __name__ == "__main__":
    main()
