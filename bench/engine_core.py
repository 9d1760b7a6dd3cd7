"""Benchmark of the engine core: sustained commands/s, p99 latency, memory per resting order.

Runs standalone: ``.venv/bin/python bench/engine_core.py`` (under a minute; ``--quick`` for a
smaller run). A fixed seeded mix on a book of 1,000,000 resting orders, then on a book
of 10,000 resting orders a side, in batches of 1,000 commands like the loop's: before
each batch (untimed) the fields are decoded and ``available`` is loaded with the batch's
takers, as the loop does from PostgreSQL. Each timed step is the full engine step: call
the engine with the command's decoded fields (``engine.place``/``engine.cancel``, exactly as
the loop does; no command object is built), check the balance and take the lock, match,
build the events. Not included: decoding the wire format and the database.

Cycle collection as in the deployed loop (``ShardLoop.run`` in a process of its own): the
restored book frozen, automatic collection off, and a full collection (then a freeze) timed
at the end of each throughput run, which charges the run for what it leaves to scan (the loop
collects every ``COLLECT_EVERY_S``, longer than a run). ``BENCH_GC=auto`` measures the same
with the automatic collector on instead, as in a process the loop shares.

Last line, exactly: ``engine_core commands_per_s=<int> p99_us=<float> mib_per_million=<float>``,
with the figures the issue sets its targets on: throughput and p99 on the mix's book of 10,000
resting orders a side, memory per resting order on the book of 1,000,000 (whose throughput and
p99 are printed on the line before it, ``engine_core_1m ...``).
"""

from __future__ import annotations

import gc
import os
import random
import sys
import time
from collections.abc import Iterable
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from orders.engine.commands import MarketSpec  # noqa: E402
from orders.engine.engine import Engine  # noqa: E402

SYMBOL = "BTC_USDT"
MID = 5_000_000  # 50,000.00 at a tick of 0.01
USERS = 10_000
SEED = 20261127
P, C = 0, 1  # kinds of generated commands
AUTO_GC = os.environ.get("BENCH_GC", "off") == "auto"


def new_engine() -> Engine:
    engine = Engine(fee_user_id=0)
    spec = MarketSpec(SYMBOL, "BTC", "USDT", Decimal("0.01"), Decimal("0.0001"), Decimal("0.001"),
                      Decimal("0.002"), "active")  # fmt: skip
    engine.add_market(spec)
    load_available(engine, range(1, USERS + 1))
    return engine


def load_available(engine: Engine, users: Iterable[int]) -> None:
    """What the loop does before each batch: the batch's takers' available balances
    (here plenty, so nobody runs out), in a fresh dict."""
    rich = 10**40
    engine.available = {(user, asset): rich for user in users for asset in ("BTC", "USDT")}


class IdSource:
    """128-bit ints, as the loop would pass ``uuid.int`` (see the README on memory)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def __call__(self) -> int:
        return self.rng.getrandbits(128)


def build_book(
    engine: Engine, per_side: int, levels: int, rng: random.Random, new_id: IdSource
) -> list[tuple[int, int]]:
    """Rest ``per_side`` orders on each side, spread over ``levels`` prices; returns (id, user) of each."""
    placed = []
    place = engine.place
    for i in range(per_side * 2):
        side = "buy" if i % 2 == 0 else "sell"
        offset = 1 + rng.randrange(levels)
        price = MID - offset if side == "buy" else MID + offset
        oid, user = new_id(), 1 + rng.randrange(USERS)
        place(oid, user, SYMBOL, side, "limit", "gtc", price, 1 + rng.randrange(100), None)
        placed.append((oid, user))
    return placed


class Mix:
    """The seeded command mix, as decoded fields: passive limits near the mid, cancels of
    earlier orders (some already filled: ORDER_NOT_FOUND), 10% marketable ioc limits and 5%
    market orders. Passive and cancel shares (50/35, or 35/50 while the book is above its
    starting size) keep the book at its size. Made a batch at a time, like the loop
    decodes a batch popped from Redis, so the fields are as warm as freshly decoded ones."""

    def __init__(self, engine: Engine, placed: list[tuple[int, int]], rng: random.Random, new_id: IdSource) -> None:
        self.engine = engine
        self.target = engine.open_order_count
        self.rng = rng
        self.new_id = new_id
        self.live = list(placed[-50_000:])

    def batch(self, n: int) -> list[tuple]:
        rng, new_id, live = self.rng, self.new_id, self.live
        passive = 0.50 if self.engine.open_order_count <= self.target else 0.35
        commands: list[tuple] = []
        for _ in range(n):
            roll = rng.random()
            user = 1 + rng.randrange(USERS)
            if roll < passive:
                side = "buy" if rng.random() < 0.5 else "sell"
                offset = 1 + int(rng.expovariate(1 / 60))
                price = MID - offset if side == "buy" else MID + offset
                oid = new_id()
                commands.append((P, (oid, user, SYMBOL, side, "limit", "gtc", price, 1 + rng.randrange(100), None)))
                live.append((oid, user))
            elif roll < 0.85 and live:
                oid, owner = live.pop(rng.randrange(len(live)))
                commands.append((C, (oid, owner)))
            elif roll < 0.95:
                side = "buy" if rng.random() < 0.5 else "sell"
                price = MID + 3 if side == "buy" else MID - 3
                commands.append((P, (new_id(), user, SYMBOL, side, "limit", "ioc", price, 1 + rng.randrange(60), None)))
            elif rng.random() < 0.5:
                commands.append(
                    (P, (new_id(), user, SYMBOL, "sell", "market", "ioc", None, 1 + rng.randrange(60), None))
                )
            else:
                budget = (1 + rng.randrange(60)) * MID * 10**12  # about 1-60 lots' worth of quote atoms
                commands.append((P, (new_id(), user, SYMBOL, "buy", "market", "ioc", None, None, budget)))
        return commands


BATCH = 1000


def run_throughput(engine: Engine, mix: Mix, n_commands: int) -> float:
    place, cancel = engine.place, engine.cancel
    clock = time.perf_counter
    elapsed = 0.0
    for _ in range(n_commands // BATCH):
        commands = mix.batch(BATCH)
        load_available(engine, sorted({fields[1] for _, fields in commands}))
        start = clock()
        for kind, fields in commands:
            if kind == P:
                place(*fields)
            else:
                cancel(*fields)
        elapsed += clock() - start
    if not AUTO_GC:
        start = clock()
        gc.collect()
        gc.freeze()
        elapsed += clock() - start
    return n_commands // BATCH * BATCH / elapsed


def run_latency(engine: Engine, mix: Mix, n_commands: int) -> tuple[float, float, dict[str, float]]:
    """p99 and p50 of single commands in microseconds, and the mean by kind of command."""
    place, cancel = engine.place, engine.cancel
    clock = time.perf_counter_ns
    samples: list[int] = []
    record = samples.append
    by_kind: dict[str, list[int]] = {}
    for _ in range(n_commands // BATCH):
        commands = mix.batch(BATCH)
        load_available(engine, sorted({fields[1] for _, fields in commands}))
        for kind, fields in commands:
            start = clock()
            if kind == P:
                place(*fields)
            else:
                cancel(*fields)
            elapsed = clock() - start
            record(elapsed)
            label = "cancel" if kind == C else ("passive" if fields[5] == "gtc" else "marketable")
            by_kind.setdefault(label, []).append(elapsed)
    samples.sort()
    means = {label: sum(values) / len(values) / 1000 for label, values in sorted(by_kind.items())}
    return samples[len(samples) * 99 // 100] / 1000, samples[len(samples) // 2] / 1000, means


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def bench_book(
    label: str, per_side: int, levels: int, n_commands: int, measure_memory: bool
) -> tuple[float, float, float]:
    rng = random.Random(SEED)
    new_id = IdSource(rng)
    engine = new_engine()
    gc.collect()
    rss_before = rss_bytes()
    build_start = time.perf_counter()
    placed = build_book(engine, per_side, levels, rng, new_id)
    build_s = time.perf_counter() - build_start
    mib_per_million = 0.0
    if measure_memory:
        resting = len(engine._orders)
        # the bench's own list of (id, user) pairs is not the engine's memory
        own = sys.getsizeof(placed) + sum(sys.getsizeof(pair) + sys.getsizeof(pair[1]) for pair in placed)
        gc.collect()
        engine_bytes = rss_bytes() - rss_before - own
        mib_per_million = engine_bytes / resting * 1_000_000 / 2**20
        print(f"  {label}: {resting:,} resting orders take {engine_bytes / 2**20:.1f} MiB of RSS "
              f"= {engine_bytes / resting:.0f} B/order = {mib_per_million:.1f} MiB per million")  # fmt: skip
    mix = Mix(engine, placed, rng, new_id)
    del placed
    gc.collect()
    # The restored book is frozen out of the collector, as the loop does after recovery.
    gc.freeze()
    if not AUTO_GC:
        gc.disable()
    throughput = run_throughput(engine, mix, n_commands)
    p99_us, p50_us, means = run_latency(engine, mix, n_commands)
    gc.enable()
    gc.unfreeze()
    bids, asks = engine.depth(SYMBOL, 1)
    print(f"  {label}: built in {build_s:.1f} s; {throughput:,.0f} commands/s; latency p50 {p50_us:.2f} us, "
          f"p99 {p99_us:.2f} us; {engine.open_order_count:,} open orders at the end")  # fmt: skip
    print(f"  {label}: mean us by kind: " + ", ".join(f"{k} {v:.2f}" for k, v in means.items()))
    return throughput, p99_us, mib_per_million


def main() -> None:
    quick = "--quick" in sys.argv
    print(f"engine_core bench, Python {sys.version.split()[0]}, one core, seed {SEED}, "
          f"automatic cycle collection {'on' if AUTO_GC else 'off, one full collection timed per run'}")  # fmt: skip
    # The big book first, so that its memory is measured on a fresh process.
    big = bench_book("1M book", 500_000, 10_000, 100_000 if quick else 500_000, measure_memory=True)
    small = bench_book("10k/side book", 10_000, 400, 100_000 if quick else 1_000_000, measure_memory=False)
    print(f"engine_core_1m commands_per_s={int(big[0])} p99_us={big[1]:.2f}")
    print(f"engine_core commands_per_s={int(small[0])} p99_us={small[1]:.2f} mib_per_million={big[2]:.1f}")


if __name__ == "__main__":
    main()
