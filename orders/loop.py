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

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django_redis import get_redis_connection

from exchange.money import fmt
from markets.models import Market
from orders.engine.book import RestingOrder
from orders.engine.commands import Cancel, CancelAll, MarketSpec, Place, SetStatus
from orders.engine.engine import Engine
from orders.engine.events import ACCEPTED, BALANCE, ORDER, REJECTED, TRADE
from orders.engine.units import from_atoms, to_atoms, to_steps
from orders.models import OPEN_STATUSES, Order
from orders.shards import depth_key, fence_key, lease_key, queue_key, reply_key, shard_of, state_key

logger = logging.getLogger("orders.loop")

FEE_ACCOUNT_USERNAME = "__fees__"
REPLY_TTL_S = 30
DEPTH_LEVELS = 100
POP_TIMEOUT_S = 0.5

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


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass
class Batch:
    """What one batch changed, gathered while the engine runs and written at the end."""

    now: datetime
    new_orders: dict[str, tuple[dict[str, Any], int]] = field(default_factory=dict)  # id -> (command, seq)
    # id -> (symbol, status, remaining lots, filled lots, filled quote atoms, fee atoms)
    order_state: dict[str, tuple[str, str, int, int, int, int]] = field(default_factory=dict)
    trades: list[tuple[Any, ...]] = field(default_factory=list)
    deltas: dict[tuple[int, str], list[int]] = field(default_factory=dict)  # (user, token) -> [avail, locked]
    ledger: dict[tuple[int, str, str], list[int]] = field(default_factory=dict)
    replies: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)
    created_at: dict[Any, datetime] = field(default_factory=dict)  # new order / trade id -> its moment
    _ticks: int = 0

    def stamp(self, key: Any) -> datetime:
        """A moment for a new order or trade: the batch's time plus one microsecond per row, so
        "newest first" follows the engine's own order even inside one batch."""
        self._ticks += 1
        moment = self.now + timedelta(microseconds=self._ticks)
        self.created_at[key] = moment
        return moment


class ShardLoop:
    """The loop of one shard. ``run()`` until ``stop()`` or until the lease is lost."""

    def __init__(self, shard: int, *, owner: str | None = None, batch_max: int | None = None) -> None:
        self.shard = shard
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.batch_max = batch_max or settings.ENGINE_BATCH_MAX
        self.redis = get_redis_connection("default")
        self._renew = self.redis.register_script(RENEW_SCRIPT)
        self._release = self.redis.register_script(RELEASE_SCRIPT)
        self._stopping = threading.Event()
        self.fence = 0
        self.batches = 0
        self.engine: Engine | None = None
        self.specs: dict[str, MarketSpec] = {}
        self.fee_user_id = 0
        self.last_commit_ms = 0.0
        self.started = False
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
        rows = Order.objects.filter(market_id__in=list(self.specs), status__in=OPEN_STATUSES).values_list(
            "id", "user_id", "market_id", "side", "price", "quantity", "filled_quantity", "filled_quote", "fee", "seq"
        )
        for oid, user_id, symbol, side, price, quantity, filled, filled_quote, fee, seq in rows.iterator(2000):
            spec = self.specs[symbol]
            filled_lots = to_steps(filled, spec.lot_size)
            resting[symbol].append(
                RestingOrder(
                    str(oid), user_id, side, to_steps(price, spec.tick_size),
                    to_steps(quantity, spec.lot_size) - filled_lots, filled_lots,
                    to_atoms(filled_quote), to_atoms(fee), seq,
                )  # fmt: skip
            )
        for symbol, orders in resting.items():
            engine.restore(symbol, orders)
        for seq_max in Order.objects.filter(market_id__in=list(self.specs)).values_list("seq", flat=True).order_by(
            "-seq"
        )[:1]:
            max_seq = seq_max
        engine.last_seq = max(engine.last_seq, max_seq)
        self.engine = engine
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
        """Own the shard until stopped or until another loop takes it over."""
        try:
            if not self.started:
                self.start()
            while not self._stopping.is_set():
                self.heartbeat()
                raw = self._pop()
                if raw:
                    self._run_batch([orjson.loads(item) for item in raw])
        except LeaseLost:
            logger.warning("shard %s: lease lost, stopping", self.shard)
        finally:
            if self.redis.get(lease_key(self.shard)) == self.owner.encode():
                self.redis.delete(state_key(self.shard))
            self.release()
            connection.close()

    def _pop(self) -> list[bytes]:
        first = self.redis.blpop([queue_key(self.shard)], timeout=POP_TIMEOUT_S)
        if first is None:
            return []
        rest = self.redis.lpop(queue_key(self.shard), self.batch_max - 1) or []
        return [first[1], *rest]

    def _run_batch(self, commands: list[dict[str, Any]]) -> None:
        batch = Batch(now=datetime.now(UTC))
        now_ms = _ms(batch.now)
        live = []
        for command in commands:
            if command.get("dl", now_ms) < now_ms:  # not started by its deadline: never executed
                if command.get("r"):
                    batch.replies.append((command["r"], {"error": "ENGINE_BUSY"}))
                continue
            live.append(command)
        started = time.perf_counter()
        try:
            self._load_missing_markets(live)
            with transaction.atomic():
                self._check_fence()
                self._execute(live, batch)
                self._write(batch)
        except LeaseLost:
            raise
        except Exception:
            logger.exception("shard %s: batch of %s commands failed; rebuilding from the database", self.shard, len(live))
            failed = [(c["r"], {"error": "ENGINE_BUSY"}) for c in live if c.get("r")]
            self._send_replies(failed + [r for r in batch.replies if r[1].get("error") == "ENGINE_BUSY"])
            self.rebuild()
            return
        self.last_commit_ms = (time.perf_counter() - started) * 1000
        self.batches += 1
        self._send_replies(batch.replies)
        for symbol in batch.touched:
            self._publish_depth(symbol)

    def _check_fence(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE orders_engineshard SET fence = fence WHERE shard = %s AND fence = %s", [self.shard, self.fence]
            )
            if cursor.rowcount != 1:
                raise LeaseLost()

    def _load_missing_markets(self, commands: list[dict[str, Any]]) -> None:
        assert self.engine is not None
        missing = {c["s"] for c in commands if "s" in c and c["s"] not in self.specs}
        for market in Market.objects.filter(symbol__in=missing):
            spec = market_spec(market)
            self.engine.add_market(spec)
            self.specs[spec.symbol] = spec

    # ------------------------------------------------------------------ executing
    def _execute(self, commands: list[dict[str, Any]], batch: Batch) -> None:
        engine = self.engine
        assert engine is not None
        places = [c for c in commands if c["k"] == "place"]
        duplicates = self._known_client_order_ids(places)
        self._load_available(places)
        seen_client_ids: dict[tuple[int, str], str] = {}
        for command in commands:
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
                    self._apply(engine.execute(Cancel(command["id"], command["u"])), batch, command)
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

    def _known_client_order_ids(self, places: list[dict[str, Any]]) -> dict[tuple[int, str], str]:
        keyed = [(c["u"], c["coid"]) for c in places if c.get("coid")]
        if not keyed:
            return {}
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT o.user_id, o.client_order_id, o.id FROM orders_order o "
                "JOIN unnest(%s::bigint[], %s::text[]) AS k(u, c) ON o.user_id = k.u AND o.client_order_id = k.c",
                [[k[0] for k in keyed], [k[1] for k in keyed]],
            )
            return {(u, c): str(oid) for u, c, oid in cursor.fetchall()}

    def _load_available(self, places: list[dict[str, Any]]) -> None:
        """The balance view of this batch: takers' available funds, rows locked in key order."""
        assert self.engine is not None
        keys = set()
        for command in places:
            spec = self.specs.get(command["s"])
            if spec is not None:
                keys.add((command["u"], spec.quote if command["sd"] == "buy" else spec.base))
        available: dict[tuple[int, str], int] = {}
        if keys:
            ordered = sorted(keys)
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT b.user_id, b.token, b.available FROM wallets_balance b "
                    "JOIN unnest(%s::bigint[], %s::text[]) AS k(u, t) ON b.user_id = k.u AND b.token = k.t "
                    "ORDER BY b.user_id, b.token FOR UPDATE OF b",
                    [[k[0] for k in ordered], [k[1] for k in ordered]],
                )
                for user_id, token, amount in cursor.fetchall():
                    available[(user_id, token)] = to_atoms(amount)
        self.engine.available = available

    def _place(self, command: dict[str, Any], batch: Batch) -> None:
        assert self.engine is not None
        spec = self.specs.get(command["s"])
        if spec is None:
            batch.replies.append((command["r"], {"error": "MARKET_NOT_FOUND"}))
            return
        price, quantity, quote_quantity = command.get("p"), command.get("q"), command.get("qq")
        try:
            price_ticks = to_steps(Decimal(price), spec.tick_size) if price is not None else None
            qty_lots = to_steps(Decimal(quantity), spec.lot_size) if quantity is not None else None
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
        place = Place(command["id"], command["u"], command["s"], command["sd"], command["t"], command["tif"],
                      price_ticks, qty_lots, quote_atoms)  # fmt: skip
        self._apply(self.engine.execute(place), batch, command)

    def _apply(self, events: list[tuple[Any, ...]], batch: Batch, command: dict[str, Any]) -> None:
        """Fold one command's events into the batch and queue its answer."""
        fee_user = self.fee_user_id
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
                trade_id = uuid.uuid4()
                price = price_ticks * spec.tick_size
                quantity = qty_lots * spec.lot_size
                quote = from_atoms(price_ticks * qty_lots * spec.unit_atoms)
                batch.trades.append((trade_id, symbol, price, quantity, quote, taker_side, maker_id, taker_id,
                                     maker_user, taker_user, from_atoms(maker_fee), from_atoms(taker_fee),
                                     batch.stamp(trade_id)))  # fmt: skip
                batch.touched.add(symbol)
                if is_place:
                    fills.append({"trade_id": str(trade_id), "price": fmt(price), "quantity": fmt(quantity),
                                  "fee": fmt(from_atoms(taker_fee))})  # fmt: skip
            elif kind == ORDER:
                _, order_id, status, remaining, filled_lots, filled_quote, fee = event
                batch.order_state[order_id] = (command["s"], status, remaining, filled_lots, filled_quote, fee)
                if status == "cancelled" and not is_place:
                    cancelled.append(order_id)
            elif kind == BALANCE:
                _, user_id, asset, d_available, d_locked = event
                delta = batch.deltas.setdefault((user_id, asset), [0, 0])
                delta[0] += d_available
                delta[1] += d_locked
                if user_id == fee_user:
                    ledger_kind = "fee"
                elif d_available + d_locked == 0:
                    ledger_kind = "order_lock" if d_locked > 0 else "order_release"
                else:
                    ledger_kind = "trade"
                entry = batch.ledger.setdefault((user_id, asset, ledger_kind), [0, 0])
                entry[0] += d_available
                entry[1] += d_locked
            elif kind == ACCEPTED:
                batch.new_orders[event[1]] = (command, event[2])
                batch.stamp(event[1])
                batch.touched.add(command["s"])
            elif kind == REJECTED:
                reply = {"error": event[2]}
        if not command.get("r"):
            return
        if reply is None:
            if is_place:
                reply = {"order": self._order_reply(command, batch, fills)}
            elif command["k"] == "cancel_all":
                reply = {"cancelled": cancelled}
                batch.touched.add(command["s"])
            else:
                reply = {"cancelled": cancelled}
                batch.touched.add(command["s"])
        batch.replies.append((command["r"], reply))

    def _order_reply(self, command: dict[str, Any], batch: Batch, fills: list[dict[str, Any]]) -> dict[str, Any]:
        spec = self.specs[command["s"]]
        _symbol, status, _remaining, filled_lots, filled_quote, fee = batch.order_state[command["id"]]
        created = _ms(batch.created_at[command["id"]])
        return {
            "id": command["id"],
            "client_order_id": command.get("coid"),
            "symbol": command["s"],
            "side": command["sd"],
            "type": command["t"],
            "tif": command["tif"],
            "price": command.get("p"),
            "quantity": command.get("q"),
            "quote_quantity": command.get("qq"),
            "filled_quantity": fmt(filled_lots * spec.lot_size),
            "filled_quote": fmt(from_atoms(filled_quote)),
            "fee": fmt(from_atoms(fee)),
            "status": status,
            "created_at": created,
            "updated_at": created,
            "fills": fills,
        }

    # ------------------------------------------------------------------ writing
    def _write(self, batch: Batch) -> None:
        now = batch.now
        with connection.cursor() as cursor:
            if batch.new_orders:
                with cursor.copy(
                    "COPY orders_order (id, user_id, symbol, client_order_id, fingerprint, side, type, tif, price, "
                    "quantity, quote_quantity, filled_quantity, filled_quote, fee, status, seq, created_at, updated_at) "
                    "FROM STDIN"
                ) as copy:
                    for order_id, (command, seq) in batch.new_orders.items():
                        spec = self.specs[command["s"]]
                        _symbol, status, _rem, filled_lots, filled_quote, fee = batch.order_state[order_id]
                        copy.write_row((
                            order_id, command["u"], command["s"], command.get("coid"), command.get("fp", ""),
                            command["sd"], command["t"], command["tif"], command.get("p"), command.get("q"),
                            command.get("qq"), filled_lots * spec.lot_size, from_atoms(filled_quote),
                            from_atoms(fee), status, seq, batch.created_at[order_id], batch.created_at[order_id],
                        ))  # fmt: skip
            updates = [(oid, state) for oid, state in batch.order_state.items() if oid not in batch.new_orders]
            if updates:
                ids, statuses, filled, quotes, fees = [], [], [], [], []
                for order_id, (symbol, status, _rem, filled_lots, filled_quote, fee) in updates:
                    ids.append(order_id)
                    statuses.append(status)
                    filled.append(filled_lots * self.specs[symbol].lot_size)
                    quotes.append(from_atoms(filled_quote))
                    fees.append(from_atoms(fee))
                cursor.execute(
                    "UPDATE orders_order o SET status = v.status, filled_quantity = v.filled, filled_quote = v.quote, "
                    "fee = v.fee, updated_at = %s FROM unnest(%s::uuid[], %s::text[], %s::numeric[], %s::numeric[], "
                    "%s::numeric[]) AS v(id, status, filled, quote, fee) WHERE o.id = v.id",
                    [now, ids, statuses, filled, quotes, fees],
                )
            if batch.trades:
                with cursor.copy(
                    "COPY orders_trade (id, symbol, price, quantity, quote_quantity, taker_side, maker_order_id, "
                    "taker_order_id, maker_user_id, taker_user_id, maker_fee, taker_fee, created_at) FROM STDIN"
                ) as copy:
                    for trade in batch.trades:
                        copy.write_row(trade)
                self._write_ticker(cursor, batch)
            self._write_balances(cursor, batch)

    def _write_balances(self, cursor: Any, batch: Batch) -> None:
        changes = sorted((key, delta) for key, delta in batch.deltas.items() if delta[0] or delta[1])
        if not changes:
            return
        users = [key[0] for key, _ in changes]
        tokens = [key[1] for key, _ in changes]
        cursor.execute(
            "INSERT INTO wallets_balance (user_id, token, available, locked) "
            "SELECT u, t, 0, 0 FROM unnest(%s::bigint[], %s::text[]) AS k(u, t) ON CONFLICT (user_id, token) DO NOTHING",
            [users, tokens],
        )
        cursor.execute(
            "UPDATE wallets_balance b SET available = b.available + v.da, locked = b.locked + v.dl "
            "FROM unnest(%s::bigint[], %s::text[], %s::numeric[], %s::numeric[]) AS v(u, t, da, dl) "
            "WHERE b.user_id = v.u AND b.token = v.t",
            [users, tokens, [from_atoms(d[0]) for _, d in changes], [from_atoms(d[1]) for _, d in changes]],
        )
        ref = f"batch:{self.shard}:{self.fence}:{self.batches}"
        with cursor.copy(
            "COPY wallets_ledgerentry (user_id, token, delta_available, delta_locked, kind, ref, created_at) FROM STDIN"
        ) as copy:
            for (user_id, token, kind), (d_available, d_locked) in sorted(batch.ledger.items()):
                if d_available or d_locked:
                    copy.write_row((user_id, token, from_atoms(d_available), from_atoms(d_locked), kind, ref, batch.now))

    def _write_ticker(self, cursor: Any, batch: Batch) -> None:
        minute = _ms(batch.now) // 60_000
        buckets: dict[str, list[Any]] = {}
        for trade in batch.trades:
            symbol, price, quantity, quote = trade[1], trade[2], trade[3], trade[4]
            bucket = buckets.get(symbol)
            if bucket is None:
                buckets[symbol] = [price, price, price, price, quantity, quote, 1]
            else:
                bucket[1] = max(bucket[1], price)
                bucket[2] = min(bucket[2], price)
                bucket[3] = price
                bucket[4] += quantity
                bucket[5] += quote
                bucket[6] += 1
        for symbol, (open_, high, low, close, volume, quote_volume, count) in buckets.items():
            cursor.execute(
                "INSERT INTO orders_tickerbucket (symbol, minute, open, high, low, close, volume, quote_volume, "
                "trade_count, first_trade_at, last_trade_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (symbol, minute) DO UPDATE SET high = GREATEST(orders_tickerbucket.high, EXCLUDED.high), "
                "low = LEAST(orders_tickerbucket.low, EXCLUDED.low), close = EXCLUDED.close, "
                "volume = orders_tickerbucket.volume + EXCLUDED.volume, "
                "quote_volume = orders_tickerbucket.quote_volume + EXCLUDED.quote_volume, "
                "trade_count = orders_tickerbucket.trade_count + EXCLUDED.trade_count, "
                "last_trade_at = EXCLUDED.last_trade_at",
                [symbol, minute, open_, high, low, close, volume, quote_volume, count, batch.now, batch.now],
            )

    # ------------------------------------------------------------------ answering
    def _send_replies(self, replies: list[tuple[str, dict[str, Any]]]) -> None:
        if not replies:
            return
        pipe = self.redis.pipeline(transaction=False)
        for request_id, payload in replies:
            key = reply_key(request_id)
            pipe.rpush(key, orjson.dumps(payload))
            pipe.expire(key, REPLY_TTL_S)
        pipe.execute()

    def _publish_depth(self, symbol: str) -> None:
        assert self.engine is not None
        spec = self.specs[symbol]
        bids, asks = self.engine.depth(symbol, DEPTH_LEVELS)
        snapshot = {
            "symbol": symbol,
            "bids": [[fmt(p * spec.tick_size), fmt(q * spec.lot_size)] for p, q in bids],
            "asks": [[fmt(p * spec.tick_size), fmt(q * spec.lot_size)] for p, q in asks],
            "sequence": (self.fence << 32) | self.batches,
        }
        self.redis.set(depth_key(symbol), orjson.dumps(snapshot))
