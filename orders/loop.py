"""The engine loop of one shard: Redis queue in, one PostgreSQL transaction per batch, answers out.

    pop a batch ──> drop expired ──> lock takers' balances ──> engine.execute each
        ──> write orders, trades, balances, ledger, ticker (one transaction, fenced)
        ──> commit ──> answer every waiting request ──> publish depth

Nothing is answered before its commit. If anything in a batch fails, the transaction rolls
back, every command of the batch is answered ``ENGINE_BUSY`` (not done), and the books are
rebuilt from PostgreSQL, so memory never runs ahead of the database.

Only one loop may own a shard: a Redis lease names the owner, and a fencing token (an
increasing number) is checked against ``EngineShard.fence`` inside every batch transaction,
so a stale owner that lost its lease cannot commit anything.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django_redis import get_redis_connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from markets.models import Market
from orders import batch_store
from orders.batch_store import Batch, atoms_text
from orders.engine.book import RestingOrder
from orders.engine.commands import CancelAll, MarketSpec, SetStatus
from orders.engine.engine import Engine
from orders.engine.events import ACCEPTED, BALANCE, ORDER, REJECTED, TRADE
from orders.engine.units import from_atoms, to_atoms, to_steps
from orders.models import OPEN_STATUSES, Order
from orders.shards import depth_key, fence_key, lease_key, queue_key, reply_key, shard_of, state_key

logger = logging.getLogger("orders.loop")

FEE_ACCOUNT_USERNAME = "__fees__"
REPLY_TTL_S = 30
DEPTH_LEVELS = 100
DEPTH_INTERVAL_S = 0.05  # a busy book is republished at most this often, and at once when the queue is idle
HEARTBEAT_INTERVAL_S = 0.1
STATS_INTERVAL_S = 10.0  # how often a busy loop logs its batch figures
POP_TIMEOUT_S = 0.5
STREAM_EVERY = 100  # commands between two sends of a batch's final rows (batch_store.stream_rows)
COLLECT_EVERY_S = 30.0  # a loop that owns its process runs the cycle collector this often (see ``run``)

# Answers: RPUSH + EXPIRE for every waiting request of a batch, then (ARGV[2] > 0) up to that
# many queued commands taken for the next batch, all in one round trip.
# KEYS: the shard's queue, then one reply key per answer; ARGV: ttl, count, then the answers.
REPLY_SCRIPT = """
local ttl = tonumber(ARGV[1])
for i = 2, #KEYS do
  redis.call('RPUSH', KEYS[i], ARGV[i + 1])
  redis.call('EXPIRE', KEYS[i], ttl)
end
local count = tonumber(ARGV[2])
if count > 0 then return redis.call('LPOP', KEYS[1], count) end
return false
"""
RENEW_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('SET', KEYS[2], 'up', 'PX', ARGV[3])
  return 1
end
return 0
"""
RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


# A shard's open orders in engine units (ticks, lots, atoms), computed by PostgreSQL. Exact: a
# quotient comes only from an exact multiple (NULL otherwise), and ``_whole`` refuses a NULL or
# a fraction, so a row off its market's steps stops the rebuild instead of being rounded.
OPEN_ORDERS_IN_UNITS = """
SELECT o.id::text, o.user_id, o.symbol, o.side,
    CASE WHEN mod(o.price, m.tick_size) = 0 THEN o.price / m.tick_size END,
    CASE WHEN mod(o.quantity - o.filled_quantity, m.lot_size) = 0 THEN (o.quantity - o.filled_quantity) / m.lot_size END,
    CASE WHEN mod(o.filled_quantity, m.lot_size) = 0 THEN o.filled_quantity / m.lot_size END,
    o.filled_quote * 1000000000000000000, o.fee * 1000000000000000000, o.seq
FROM orders_order o JOIN spot_markets m ON m.symbol = o.symbol
WHERE o.symbol = ANY(%s) AND o.status = ANY(%s)
"""


def _whole(value: Decimal | None, order_id: str) -> int:
    """A whole number of engine units from ``OPEN_ORDERS_IN_UNITS``; ValueError for anything else."""
    whole = int(value) if value is not None else None
    if whole is None or whole != value:
        raise ValueError(f"order {order_id}: {value} is not a whole number of its market's units")
    return whole


class LeaseLost(Exception):
    """Another loop owns the shard now; this one must stop without writing."""


def fee_account_id() -> int:
    user, _ = get_user_model().objects.get_or_create(username=FEE_ACCOUNT_USERNAME, defaults={"is_active": False})
    return int(user.pk)


def market_spec(market: Market) -> MarketSpec:
    return MarketSpec(
        market.symbol, market.base, market.quote, market.tick_size, market.lot_size,
        market.maker_fee, market.taker_fee, market.status,
    )  # fmt: skip


class ShardLoop:
    """The loop of one shard. ``run()`` until ``stop()`` or until the lease is lost."""

    def __init__(
        self, shard: int, *, owner: str | None = None, batch_max: int | None = None, owns_process: bool = False
    ) -> None:
        self.shard = shard
        # The process is this loop's alone (the Celery task, ``run_engine``): ``run`` may then
        # turn automatic cycle collection off and collect on its own schedule.
        self.owns_process = owns_process
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.batch_max = batch_max or settings.ENGINE_BATCH_MAX
        self.redis = get_redis_connection("default")
        self._renew = self.redis.register_script(RENEW_SCRIPT)
        self._release = self.redis.register_script(RELEASE_SCRIPT)
        self._reply_sha = hashlib.sha1(REPLY_SCRIPT.encode()).hexdigest()  # loaded when Redis lacks it
        self._queue_key = queue_key(shard)
        self._reply_conn: Any = None  # the loop's own Redis connection (see _call)
        self._unread: list[tuple[Any, ...]] = []  # commands sent on it whose answers are not read yet
        self._texts: dict[int, str] = {}  # atoms -> decimal text, for the depth snapshots
        self._steps: dict[tuple[str, Decimal], int] = {}  # (price or quantity text, step) -> steps
        self._stopping = threading.Event()
        self.fence = 0
        self.batches = 0
        self.engine: Engine | None = None
        self.specs: dict[str, MarketSpec] = {}
        self.fee_user_id = 0
        self.last_commit_ms = 0.0
        self.batch_stats: list[tuple[int, float]] | None = None  # (commands, ms) per batch, when asked
        self.started = False
        self._depth_pending: set[str] = set()
        self._prefetched: list[bytes] = []  # commands taken with the last answers, for the next batch
        self._queue_was_empty = False  # the last answers found the queue empty: no need to look again
        self._blmpop: bool | None = None  # Redis 7 has BLMPOP; the embedded Redis (6.2) does not
        self._depth_published_at = 0.0
        self._stats_window: list[Any] = [0, 0, 0.0]  # batches, commands, slowest ms
        self._stats_since = time.monotonic()
        # The lease lives as long as a heartbeat: a loop silent that long is taken over (and fenced off).
        self.lease_ttl_ms = int(settings.ENGINE_HEARTBEAT_TIMEOUT_S * 1000)

    # ------------------------------------------------------------------ ownership
    def acquire(self) -> bool:
        """Take the shard's lease if nobody holds it; a new fencing token comes with it."""
        if not self.redis.set(lease_key(self.shard), self.owner, nx=True, px=self.lease_ttl_ms):
            return False
        self.fence = int(self.redis.incr(fence_key(self.shard)))
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO orders_engineshard (shard, fence, owner, started_at) VALUES (%s, %s, %s, now()) "
                "ON CONFLICT (shard) DO UPDATE SET fence = EXCLUDED.fence, owner = EXCLUDED.owner, "
                "started_at = EXCLUDED.started_at WHERE orders_engineshard.fence < EXCLUDED.fence",
                [self.shard, self.fence, self.owner],
            )
            if cursor.rowcount != 1:  # the database knows a newer owner (Redis was reset?)
                cursor.execute("SELECT fence FROM orders_engineshard WHERE shard = %s", [self.shard])
                newest = cursor.fetchone()[0]
                self.redis.set(fence_key(self.shard), newest)
                self._release(keys=[lease_key(self.shard)], args=[self.owner])
                return False
        return True

    def heartbeat(self) -> None:
        ok = self._renew(
            keys=[lease_key(self.shard), state_key(self.shard)],
            args=[self.owner, self.lease_ttl_ms, self.lease_ttl_ms],
        )
        if not ok:
            raise LeaseLost()

    def release(self) -> None:
        self._release(keys=[lease_key(self.shard)], args=[self.owner])

    def stop(self) -> None:
        self._stopping.set()

    # ------------------------------------------------------------------ recovery
    def rebuild(self) -> None:
        """Books from PostgreSQL: every market of this shard, then its open orders by seq."""
        self.redis.set(state_key(self.shard), "restarting", px=self.lease_ttl_ms)
        # The book being replaced goes first. Its orders link to each other both ways, so only
        # the collector frees it, and the last rebuild froze it: unfrozen, it is collected now
        # (with anything else frozen since that has become garbage), before the new one is built.
        self.engine = None
        gc.unfreeze()
        gc.collect()
        self.fee_user_id = fee_account_id()
        engine = Engine(fee_user_id=self.fee_user_id)
        self.specs = {}
        delisted = []
        for market in Market.objects.all():
            if shard_of(market.symbol) != self.shard:
                continue
            spec = market_spec(market)
            if spec.status == "delisted":
                delisted.append(spec.symbol)
                spec.status = "active"  # restored, then delisted through the engine to cancel leftovers
            engine.add_market(spec)
            self.specs[spec.symbol] = spec
        resting: dict[str, list[RestingOrder]] = {symbol: [] for symbol in self.specs}
        max_seq = 0
        with connection.chunked_cursor() as cursor:  # server side: a million rows are not held at once
            cursor.execute(OPEN_ORDERS_IN_UNITS, [list(self.specs), list(OPEN_STATUSES)])
            while rows := cursor.fetchmany(2000):
                for oid, user_id, symbol, side, ticks, open_lots, filled_lots, quote_atoms, fee_atoms, seq in rows:
                    resting[symbol].append(
                        RestingOrder(oid, user_id, side, _whole(ticks, oid), _whole(open_lots, oid),
                                     _whole(filled_lots, oid), _whole(quote_atoms, oid), _whole(fee_atoms, oid), seq)
                    )  # fmt: skip
        for symbol, orders in resting.items():
            engine.restore(symbol, orders)
        for seq_max in (
            Order.objects.filter(market_id__in=list(self.specs)).values_list("seq", flat=True).order_by("-seq")[:1]
        ):
            max_seq = seq_max
        engine.last_seq = max(engine.last_seq, max_seq)
        self.engine = engine
        # The new book lives as long as the loop: frozen, no collection scans it again.
        gc.freeze()
        if delisted:
            self._run_batch([{"k": "status", "s": symbol, "st": "delisted"} for symbol in delisted])
        for symbol in self.specs:
            self._publish_depth(symbol)

    def locked_mismatches(self) -> dict[tuple[int, str], tuple[Decimal, Decimal]]:
        """(user, token) -> (locked by this shard's open orders, locked in the database) where the
        database holds less than the orders need. Other shards and withdrawals add to a
        balance's lock, so only a shortfall is an error from one shard's point of view."""
        assert self.engine is not None
        needed = self.engine.locked_by_open_orders()
        if not needed:
            return {}
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT b.user_id, b.token, b.locked FROM wallets_balance b "
                "JOIN unnest(%s::bigint[], %s::text[]) AS k(u, t) ON b.user_id = k.u AND b.token = k.t",
                [[k[0] for k in needed], [k[1] for k in needed]],
            )
            held = {(u, t): locked for u, t, locked in cursor.fetchall()}
        return {
            key: (from_atoms(amount), held.get(key, Decimal(0)))
            for key, amount in needed.items()
            if held.get(key, Decimal(0)) < from_atoms(amount)
        }

    # ------------------------------------------------------------------ running
    def start(self) -> None:
        """Rebuild, check the locks, then announce the shard up."""
        self.rebuild()
        shortfall = self.locked_mismatches()
        if shortfall:
            logger.error("shard %s: locked balances below what open orders hold: %s", self.shard, shortfall)
        self.heartbeat()
        self.started = True
        logger.info("shard %s up (fence %s, owner %s)", self.shard, self.fence, self.owner)

    def run(self) -> None:
        """Own the shard until stopped or until another loop takes it over.

        In a process of its own the loop runs with automatic cycle collection off and collects
        every ``COLLECT_EVERY_S`` between two batches, then freezes what survived. The automatic
        collector scans the objects born since its last pass: mid-batch, that is the batch's
        commands, rows and events (freed by refcount a moment later) and every new resting
        order, again at each older generation. Collected rarely, only the survivors are scanned,
        once: what the engine lets go of is freed by refcount (orders/engine/book.py), so the
        wait leaves little garbage (docs/decisions/0020)."""
        collector_was_on = self.owns_process and gc.isenabled()
        if collector_was_on:
            gc.disable()
        try:
            if not self.started:
                self.start()
            beat_at = 0.0
            collected_at = time.monotonic()
            while not self._stopping.is_set():
                now = time.monotonic()
                if now - beat_at >= HEARTBEAT_INTERVAL_S:
                    self.heartbeat()
                    beat_at = now
                if collector_was_on and now - collected_at >= COLLECT_EVERY_S:
                    self._collect()
                    collected_at = time.monotonic()
                raw = self._pop()
                if raw:
                    self._run_batch([orjson.loads(item) for item in raw])
        except LeaseLost:
            logger.warning("shard %s: lease lost, stopping", self.shard)
        finally:
            self._requeue_prefetched()
            if self.redis.get(lease_key(self.shard)) == self.owner.encode():
                self._publish_pending_depth(force=True)
                self.redis.delete(state_key(self.shard))
            self.release()
            if self._reply_conn is not None:
                try:
                    if self._unread:
                        self._drain()  # the last answers and snapshot sent: were they taken?
                except Exception:
                    logger.exception("shard %s: the last answers may not have reached Redis", self.shard)
                self._reply_conn.disconnect()
            connection.close()
            if collector_was_on:
                gc.enable()

    def _collect(self) -> None:
        """One full collection, then what survived frozen: the next one scans only newer objects."""
        started = time.perf_counter()
        found = gc.collect()
        gc.freeze()
        logger.debug(
            "shard %s: collected %d unreachable objects in %.1f ms (%d frozen)",
            self.shard, found, (time.perf_counter() - started) * 1000, gc.get_freeze_count(),
        )  # fmt: skip

    def _take_queued(self) -> list[bytes]:
        """What is queued, up to a batch, without waiting: what the last answers brought back, or
        what the queue holds now (nothing, without asking, when the last answers just found it
        empty: the wait in ``_pop`` returns at once if something came since)."""
        if self._prefetched:
            taken, self._prefetched = self._prefetched, []
            return taken
        if self._queue_was_empty:
            self._queue_was_empty = False
            return []
        return list(self.redis.lpop(self._queue_key, self.batch_max) or [])

    def _pop(self) -> list[bytes]:
        """What is queued, up to a batch; when nothing is, wait a little for the next command.
        The depth snapshot follows the book at most DEPTH_INTERVAL_S behind while commands keep
        coming, and at once when the queue has been quiet that long."""
        queued = self._take_queued()
        if queued:
            return queued
        self._publish_pending_depth(force=False)
        wait_s = DEPTH_INTERVAL_S if self._depth_pending else POP_TIMEOUT_S
        if self._blmpop is None:
            self._blmpop = int(str(self.redis.info("server")["redis_version"]).split(".")[0]) >= 7
        if self._blmpop:
            # Wait for the first command and take up to a batch of them, in one round trip.
            taken = self.redis.blmpop(wait_s, 1, self._queue_key, direction="LEFT", count=self.batch_max)
            commands = list(taken[1]) if taken is not None else []
        else:  # Redis 6.2: the first command, then what came with it
            first = self.redis.blpop([self._queue_key], timeout=wait_s)
            commands = [first[1], *(self.redis.lpop(self._queue_key, self.batch_max - 1) or [])] if first else []
        if not commands:
            self._publish_pending_depth(force=True)  # idle: the book shown is the book held
        return commands

    def _requeue_prefetched(self) -> None:
        """Commands taken for a next batch that will not run here: back to the head of the queue,
        in their order, for whoever owns the shard next (their deadlines still hold). If Redis
        cannot take them back they are lost like any command a dead loop held: their callers
        get ENGINE_BUSY at their deadline, settled from the database."""
        if not self._prefetched:
            return
        taken, self._prefetched = self._prefetched, []
        try:
            self.redis.lpush(self._queue_key, *reversed(taken))
        except Exception:
            logger.exception("shard %s: %d taken commands could not go back to the queue", self.shard, len(taken))

    def _run_batch(self, commands: list[dict[str, Any]]) -> None:
        batch = Batch(now=datetime.now(UTC))
        now_ms = batch.now_us // 1000
        live = []
        for command in commands:
            if command.get("dl", now_ms) < now_ms:  # not started by its deadline: never executed
                if command.get("r"):
                    batch.replies.append((command["r"], {"error": "ENGINE_BUSY"}))
                continue
            live.append(command)
        started = time.perf_counter()
        side_error: Exception | None = None
        answers: tuple[list[str], list[bytes]] | None = None
        overlap = False
        try:
            self._load_missing_markets(live)
            # The batch's transaction: opened by the reads in _execute, committed with the writes.
            self._execute(live, batch)
            pending = batch_store.send_write(
                batch, specs=self.specs, fee_user_id=self.fee_user_id,
                ref=f"batch:{self.shard}:{self.fence}:{self.batches}",
            )  # fmt: skip
            # A big batch, while PostgreSQL writes and commits: the answers encoded (sent only
            # after the COMMIT returns) and the next batch's commands taken. Nothing that fails
            # here may hide the commit's outcome: its error waits until the commit has been read.
            # A small one (the HTTP load's) keeps to one Redis call after the commit, which
            # answers and takes the next commands together.
            overlap = len(live) >= STREAM_EVERY
            if overlap:
                try:
                    answers = self._encode_replies(batch.replies)
                    if not self._prefetched and not self._queue_was_empty:
                        self._prefetch()
                except Exception as exc:
                    side_error, answers = exc, None
            batch_store.wait_commit(pending)
        except batch_store.StaleFence:
            batch_store.rollback(batch)
            raise LeaseLost() from None
        except Exception:
            batch_store.rollback(batch)
            logger.exception(
                "shard %s: batch of %s commands failed; rebuilding from the database", self.shard, len(live)
            )
            failed = [(c["r"], {"error": "ENGINE_BUSY"}) for c in live if c.get("r")]
            self._send_replies(failed + [r for r in batch.replies if r[1].get("error") == "ENGINE_BUSY"])
            self.rebuild()
            return
        self.last_commit_ms = (time.perf_counter() - started) * 1000
        if self.batch_stats is not None:
            self.batch_stats.append((len(live), self.last_commit_ms))
        self._log_stats(len(live), self.last_commit_ms)
        self.batches += 1
        if side_error is not None:  # committed, but Redis failed: stop as a failed answer always did
            raise side_error
        if not overlap:
            self._send_replies(batch.replies, take_next=not self._prefetched)
        else:
            assert answers is not None
            self._send_encoded(*answers)
        self._depth_pending.update(batch.touched)
        self._publish_pending_depth(force=False)

    def _log_stats(self, commands: int, batch_ms: float) -> None:
        """Every STATS_INTERVAL_S of activity: batches, commands, mean batch size, slowest batch."""
        window = self._stats_window
        window[0] += 1
        window[1] += commands
        window[2] = max(window[2], batch_ms)
        now = time.monotonic()
        if now - self._stats_since >= STATS_INTERVAL_S:
            batches, total, slowest = window
            logger.info(
                "shard %s: %d commands in %d batches over %.0f s (mean batch %.1f, slowest %.1f ms)",
                self.shard, total, batches, now - self._stats_since, total / batches, slowest,
            )  # fmt: skip
            self._stats_window = [0, 0, 0.0]
            self._stats_since = now

    def _load_missing_markets(self, commands: list[dict[str, Any]]) -> None:
        assert self.engine is not None
        missing = {c["s"] for c in commands if "s" in c and c["s"] not in self.specs}
        if not missing:
            return
        for market in Market.objects.filter(symbol__in=missing):
            spec = market_spec(market)
            self.engine.add_market(spec)
            self.specs[spec.symbol] = spec

    # ------------------------------------------------------------------ executing
    def _execute(self, commands: list[dict[str, Any]], batch: Batch) -> None:
        engine = self.engine
        assert engine is not None
        places = [c for c in commands if c["k"] == "place"]
        balance_keys = set()
        for command in places:
            spec = self.specs.get(command["s"])
            if spec is not None:
                balance_keys.add((command["u"], spec.quote if command["sd"] == "buy" else spec.base))
        duplicates, engine.available = batch_store.read_inputs(
            shard=self.shard, fence=self.fence, client_ids=[(c["u"], c["coid"]) for c in places if c.get("coid")],
            balance_keys=list(balance_keys),
        )  # fmt: skip
        seen_client_ids: dict[tuple[int, str], str] = {}
        for n, command in enumerate(commands, 1):
            if not n % STREAM_EVERY:  # what is final so far goes to PostgreSQL while the rest runs
                batch_store.stream_rows(batch, self.specs)
            kind = command["k"]
            if kind == "place":
                client_key = (command["u"], command["coid"]) if command.get("coid") else None
                if client_key is not None:
                    first = duplicates.get(client_key) or seen_client_ids.get(client_key)
                    if first is not None:
                        batch.replies.append((command["r"], {"duplicate": first}))
                        continue
                self._place(command, batch)
                if client_key is not None and command["id"] in batch.new_orders:
                    seen_client_ids[client_key] = command["id"]
            elif kind == "cancel":
                if command["s"] in self.specs:
                    self._apply(engine.cancel(command["id"], command["u"]), batch, command)
                else:
                    batch.replies.append((command["r"], {"error": "ORDER_NOT_FOUND"}))
            elif kind == "cancel_all":
                events = engine.execute(CancelAll(command["u"], command["s"])) if command["s"] in self.specs else []
                self._apply(events, batch, command)
            elif kind == "status":
                if command["s"] in self.specs:
                    self._apply(engine.execute(SetStatus(command["s"], command["st"])), batch, command)
                    self.specs[command["s"]].status = command["st"]
            else:
                raise ValueError(f"unknown command kind {kind!r}")

    def _place(self, command: dict[str, Any], batch: Batch) -> None:
        assert self.engine is not None
        spec = self.specs.get(command["s"])
        if spec is None:
            batch.replies.append((command["r"], {"error": "MARKET_NOT_FOUND"}))
            return
        price, quantity, quote_quantity = command.get("p"), command.get("q"), command.get("qq")
        try:
            price_ticks = self._to_steps(price, spec.tick_size) if price is not None else None
            qty_lots = self._to_steps(quantity, spec.lot_size) if quantity is not None else None
            quote_atoms = to_atoms(Decimal(quote_quantity)) if quote_quantity is not None else None
        except ValueError:  # the API checked tick and lot; a command that slipped past is refused whole
            batch.replies.append((command["r"], {"error": "INVALID_TICK"}))
            return
        if command["t"] == "market":
            price_ticks = None
            if command["sd"] == "buy":
                qty_lots = None
            else:
                quote_atoms = None
        # The engine takes the fields directly: no command object to build (docs/decisions/0012).
        events = self.engine.place(command["id"], command["u"], command["s"], command["sd"], command["t"],
                                   command["tif"], price_ticks, qty_lots, quote_atoms)  # fmt: skip
        self._apply(events, batch, command)

    def _to_steps(self, text: str, step: Decimal) -> int:
        """Price or quantity text in ticks or lots; the few distinct values of a book are cached."""
        key = (text, step)
        steps = self._steps.get(key)
        if steps is None:
            steps = to_steps(Decimal(text), step)
            if len(self._steps) > 100_000:
                self._steps.clear()
            self._steps[key] = steps
        return steps

    def _apply(self, events: list[tuple[Any, ...]], batch: Batch, command: dict[str, Any]) -> None:
        """Fold one command's events into the batch and queue its answer. Amounts stay integer
        atoms here and become decimal text once, for the reply and for the rows."""
        fills: list[dict[str, Any]] = []
        reply: dict[str, Any] | None = None
        cancelled: list[str] = []
        is_place = command["k"] == "place"
        for event in events:
            kind = event[0]
            if kind == TRADE:
                (_, symbol, _seq, maker_id, taker_id, maker_user, taker_user, price_ticks, qty_lots, taker_side,
                 maker_fee, taker_fee) = event  # fmt: skip
                spec = self.specs[symbol]
                trade_id = batch.trade_id()
                price = price_ticks * spec.tick_atoms
                quantity = qty_lots * spec.lot_atoms
                batch.trades.append((trade_id, symbol, price, quantity, price_ticks * qty_lots * spec.unit_atoms,
                                     taker_side, maker_id, taker_id, maker_user, taker_user, maker_fee, taker_fee,
                                     batch.stamp()))  # fmt: skip
                batch.touched.add(symbol)
                if is_place:
                    fills.append({"trade_id": trade_id, "price": atoms_text(price), "quantity": atoms_text(quantity),
                                  "fee": atoms_text(taker_fee)})  # fmt: skip
            elif kind == ORDER:
                _, order_id, status, remaining, filled_lots, filled_quote, fee = event
                batch.order_state[order_id] = (command["s"], status, remaining, filled_lots, filled_quote, fee)
                if status == "cancelled" and not is_place:
                    cancelled.append(order_id)
            elif kind == BALANCE:
                _, user_id, asset, d_available, d_locked = event
                delta = batch.deltas.get((user_id, asset))
                if delta is None:
                    batch.deltas[(user_id, asset)] = [d_available, d_locked]
                else:
                    delta[0] += d_available
                    delta[1] += d_locked
            elif kind == ACCEPTED:
                batch.new_orders[event[1]] = (command, event[2])
                batch.created_us[event[1]] = batch.stamp()
                batch.touched.add(command["s"])
            elif kind == REJECTED:
                reply = {"error": event[2]}
        if not command.get("r"):
            return
        if reply is None:
            if is_place:
                reply = {"order": self._order_reply(command, batch, fills)}
            else:
                reply = {"cancelled": cancelled}
                batch.touched.add(command["s"])
        batch.replies.append((command["r"], reply))

    def _order_reply(self, command: dict[str, Any], batch: Batch, fills: list[dict[str, Any]]) -> dict[str, Any]:
        order_id = command["id"]
        symbol, status, _remaining, filled_lots, filled_quote, fee = batch.order_state[order_id]
        created = batch.created_us[order_id] // 1000
        return {
            "id": order_id,
            "client_order_id": command.get("coid"),
            "symbol": symbol,
            "side": command["sd"],
            "type": command["t"],
            "tif": command["tif"],
            "price": command.get("p"),
            "quantity": command.get("q"),
            "quote_quantity": command.get("qq"),
            "filled_quantity": atoms_text(filled_lots * self.specs[symbol].lot_atoms),
            "filled_quote": atoms_text(filled_quote),
            "fee": atoms_text(fee),
            "status": status,
            "created_at": created,
            "updated_at": created,
            "fills": fills,
        }

    # ------------------------------------------------------------------ answering
    def _encode_replies(self, replies: list[tuple[str, dict[str, Any]]]) -> tuple[list[str], list[bytes]]:
        """The reply keys and the encoded answers, ready for ``_send_encoded``."""
        dumps, prefix = orjson.dumps, reply_key("")
        return [prefix + request_id for request_id, _ in replies], [dumps(payload) for _, payload in replies]

    def _send_replies(self, replies: list[tuple[str, dict[str, Any]]], *, take_next: bool = False) -> None:
        """Answer the waiting requests and wait for Redis to take them; with ``take_next``, bring
        back the next batch's commands in the same round trip (kept for ``_take_queued``)."""
        if not replies and not take_next:
            return
        keys, payloads = self._encode_replies(replies)
        queued = self._reply(keys, payloads, count=self.batch_max if take_next else 0, wait=True)
        if queued:
            self._prefetched = list(queued)
        elif take_next:
            self._queue_was_empty = True

    def _send_encoded(self, keys: list[str], payloads: list[bytes]) -> None:
        """Answer the waiting requests without waiting for Redis's acknowledgement: it is read
        before the loop's next Redis command (``_call``), so Redis runs the script while the loop
        goes on with the next batch. A failure then stops the loop as a failed answer always did;
        the answers it lost are settled from the database like any lost answer."""
        if keys:
            self._reply(keys, payloads, count=0, wait=False)

    def _reply(self, keys: list[str], payloads: list[bytes], *, count: int, wait: bool) -> Any:
        args = ("EVALSHA", self._reply_sha, len(keys) + 1, self._queue_key, *keys, REPLY_TTL_S, count, *payloads)
        try:
            return self._call(*args, wait=wait)
        except NoScriptError:  # Redis restarted or its scripts were flushed (seen when answered)
            self._reply_sha = self.redis.script_load(REPLY_SCRIPT)
            return self._call("EVALSHA", self._reply_sha, *args[2:])

    def _prefetch(self) -> None:
        """Take up to a batch of queued commands for the next batch (``_take_queued``)."""
        taken = self._call("LPOP", self._queue_key, self.batch_max)
        if taken:
            self._prefetched = list(taken)
        else:
            self._queue_was_empty = True

    def _call(self, *command: Any, wait: bool = True) -> Any:
        """One Redis command on a connection of the loop's own, outside the pool and redis-py's
        command layers (for the answers of every batch and the depth snapshots): the loop is its
        only user, and per batch those layers cost more than the call itself. With ``wait=False``
        the answer is left unread and checked before the next command (``_drain``)."""
        conn = self._reply_conn
        if conn is None:
            # Made as the pool makes its own, but not counted against the pool's limit: a loop
            # restarted in the same worker (a lost lease) must not use up that limit.
            pool = self.redis.connection_pool
            conn = self._reply_conn = pool.connection_class(**pool.connection_kwargs)
        if self._unread:
            self._drain()
        conn.connect()  # nothing to do when connected
        try:
            if conn.can_read():  # closed by the server while idle: start afresh, as the pool does
                raise RedisConnectionError("connection has data")
        except (RedisConnectionError, RedisTimeoutError, OSError):
            conn.disconnect()
            conn.connect()
        try:
            conn.send_command(*command)
            if not wait:
                self._unread.append(command)
                return None
            return conn.read_response()
        except (RedisConnectionError, RedisTimeoutError):
            conn.disconnect()  # reconnects on next use; the error stops this loop as before
            raise

    def _drain(self) -> None:
        """Read the answers of commands sent without waiting, in order. A reply script Redis had
        lost is loaded and sent again (its answers were not delivered); any other error raises."""
        conn, unread, self._unread = self._reply_conn, self._unread, []
        for i, command in enumerate(unread):
            try:
                conn.read_response()
            except NoScriptError:
                self._reply_sha = self.redis.script_load(REPLY_SCRIPT)
                self._unread = unread[i + 1 :]
                self._drain()
                self._call("EVALSHA", self._reply_sha, *command[2:])
                return
            except (RedisConnectionError, RedisTimeoutError):
                conn.disconnect()
                raise

    def _publish_pending_depth(self, *, force: bool) -> None:
        if not self._depth_pending:
            return
        now = time.monotonic()
        if not force and now - self._depth_published_at < DEPTH_INTERVAL_S:
            return
        for symbol in sorted(self._depth_pending):
            self._publish_depth(symbol)
        self._depth_pending.clear()
        self._depth_published_at = now

    def _publish_depth(self, symbol: str) -> None:
        assert self.engine is not None
        spec = self.specs[symbol]
        tick, lot = spec.tick_atoms, spec.lot_atoms
        bids, asks = self.engine.depth(symbol, DEPTH_LEVELS)
        texts = self._texts  # the levels mostly stay from one snapshot to the next
        if len(texts) > 100_000:
            texts.clear()

        def text(atoms: int) -> str:
            found = texts.get(atoms)
            if found is None:
                found = texts[atoms] = atoms_text(atoms)
            return found

        snapshot = {
            "symbol": symbol,
            "bids": [[text(p * tick), text(q * lot)] for p, q in bids],
            "asks": [[text(p * tick), text(q * lot)] for p, q in asks],
            "sequence": (self.fence << 32) | self.batches,
        }
        self._call("SET", depth_key(symbol), orjson.dumps(snapshot), wait=False)
