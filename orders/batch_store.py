"""PostgreSQL side of one engine batch: what it reads before matching, what it writes after.

The reads are one pipelined round trip (fence check, known client order ids, takers' balances
locked in key order); the writes are one prepared statement (orders, trades, ticker, balances,
ledger), sent together with the COMMIT, after the rows a big batch streamed while it ran
(``stream_rows``: trades and orders already final, in the same transaction; docs/decisions/0018).
Round trips and statements, not rows, are what a small batch pays for, and the loop answers
nobody until the commit returns.
"""

from __future__ import annotations

import itertools
import re
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from django.db import DEFAULT_DB_ALIAS, connection, connections
from psycopg import errors as pg_errors
from psycopg import generators, pq

from orders.engine.commands import MarketSpec
from orders.engine.units import ATOM_DECIMALS
from orders.ids import SequentialIds

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Key = tuple[int, str]


def atoms_text(n: int) -> str:
    """``n`` atoms as the plain decimal text the API sends and NUMERIC reads, exactly:
    ``1500000000000000000`` -> ``"1.5"`` (what ``fmt(units.from_atoms(n))`` gives, several times faster)."""
    if not n:
        return "0"
    if n < 0:
        return "-" + atoms_text(-n)
    digits = str(n)
    if len(digits) > ATOM_DECIMALS:
        fraction = digits[-ATOM_DECIMALS:].rstrip("0")
        return digits[:-ATOM_DECIMALS] + "." + fraction if fraction else digits[:-ATOM_DECIMALS]
    return "0." + digits.rjust(ATOM_DECIMALS, "0").rstrip("0")


def micros(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (no float on the way)."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class StaleFence(Exception):
    """The batch's fencing token is no longer the newest: another loop owns the shard."""


@dataclass
class Batch:
    """What one batch changed, gathered while the engine runs and written at the end."""

    now: datetime
    new_orders: dict[str, tuple[dict[str, Any], int]] = field(default_factory=dict)  # id -> (command, seq)
    # id -> (symbol, status, remaining lots, filled lots, filled quote atoms, fee atoms)
    order_state: dict[str, tuple[str, str, int, int, int, int]] = field(default_factory=dict)
    # (id, symbol, price, quantity, quote, taker side, maker order, taker order, maker user, taker user,
    #  maker fee, taker fee, created µs), amounts in atoms
    trades: list[tuple[Any, ...]] = field(default_factory=list)
    deltas: dict[Key, list[int]] = field(default_factory=dict)  # (user, token) -> [available, locked] atoms
    replies: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)
    created_us: dict[str, int] = field(default_factory=dict)  # new order id -> its moment, µs since the epoch
    trade_id: SequentialIds = field(default_factory=SequentialIds)  # the batch's trade ids, in order
    now_us: int = 0
    _ticks: int = 0
    # Streaming (``stream_rows``): new orders written so far, trades written so far, and the statements on their way (the connection stays in pipeline
    # mode until the commit).
    orders_seen: int = 0
    trades_sent: int = 0
    streamed_open: dict[str, tuple[str, str, int, int, int, int]] = field(default_factory=dict)  # id -> state sent
    pending: Pending | None = None

    def __post_init__(self) -> None:
        self.now_us = micros(self.now)

    def stamp(self) -> int:
        """A moment for a new order or trade (µs since the epoch): the batch's time plus one
        microsecond per row, so "newest first" follows the engine's own order even inside one batch."""
        self._ticks += 1
        return self.now_us + self._ticks


# ------------------------------------------------------------------ the connection
# A batch is two round trips on the loop's connection, each one write to the socket and one
# read of the answers: [BEGIN, planner guard, read] before matching, [write, COMMIT] after. A big
# batch also writes parts while it matches ([stream] ... without a Sync: the second round trip's
# pipeline opened early), whose answers are read with the COMMIT's.
# psycopg's cursors would flush every statement of a pipeline to the socket on its own and run
# Python set-up per statement (cursor, query conversion, parameter dumping, prepared-statement
# bookkeeping); for a batch of a few commands those, not the rows, were most of the cost. So the
# batch statements go straight through libpq (``raw.pgconn``), as text, prepared once per
# connection under names of their own; psycopg's generators do the non-blocking I/O. The batch
# owns its transaction: ``read_inputs`` opens it, ``write_and_commit`` (``send_write`` then
# ``wait_commit``) commits it, ``rollback`` ends it after a failure. Nothing else runs on the connection in between.

OK_STATUSES = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)
_prepared: weakref.WeakKeyDictionary[Any, set[bytes]] = weakref.WeakKeyDictionary()  # connection -> names


@dataclass(frozen=True)
class _Statement:
    name: bytes  # b"" for one sent unprepared (BEGIN, COMMIT)
    sql: bytes


def _raw() -> Any:
    db = connections[DEFAULT_DB_ALIAS]  # the proxy ``connection`` looks this up on every attribute
    if db.connection is None:
        db.ensure_connection()
    return db.connection


@dataclass
class Pending:
    """Statements sent in one pipeline whose answers are not read yet (see ``_send``)."""

    raw: Any
    expected: list[tuple[str, bytes]]  # ("prepare", name) or ("run", name), one per result
    count: int  # statements sent
    preparing: set[bytes] = field(default_factory=set)  # names prepared in this pipeline


def _round_trip(raw: Any, statements: list[tuple[_Statement, list[bytes | None] | None]]) -> list[Any]:
    """Send the statements (preparing those not yet prepared on this connection) and a Sync in one
    write, then read every answer: one result per statement, in order. Raises the first error
    (PostgreSQL skips the rest of the pipeline after it)."""
    return _collect(_send(raw, statements))


def _send(raw: Any, statements: list[tuple[_Statement, list[bytes | None] | None]]) -> Pending:
    """The first half of ``_round_trip``: the statements and a Sync written to the socket, the
    connection left in pipeline mode (and locked) until ``_collect`` reads the answers. The
    caller may do other work in between, while PostgreSQL runs them, but nothing else on the
    connection."""
    pending = _open(raw)
    _add(pending, statements, sync=True)
    return pending


def _open(raw: Any) -> Pending:
    """A pipeline on the connection, locked for it, with nothing sent yet."""
    raw.lock.acquire()
    try:
        raw.pgconn.enter_pipeline_mode()
    except BaseException:
        raw.lock.release()
        raise
    return Pending(raw, [], 0)


def _add(pending: Pending, statements: list[tuple[_Statement, list[bytes | None] | None]], *, sync: bool) -> None:
    """More statements (and, with ``sync``, the Sync that ends the pipeline) written to the socket.
    Without a Sync PostgreSQL runs them as they arrive and keeps their answers until one comes."""
    raw = pending.raw
    pgconn = raw.pgconn
    prepared = _prepared.setdefault(raw, set())
    expected = pending.expected
    try:
        for statement, params in statements:
            if not statement.name:
                pgconn.send_query_params(statement.sql, params)
            else:
                if statement.name not in prepared and statement.name not in pending.preparing:
                    pgconn.send_prepare(statement.name, statement.sql)
                    expected.append(("prepare", statement.name))
                    pending.preparing.add(statement.name)
                pgconn.send_query_prepared(statement.name, params)
            expected.append(("run", statement.name))
        pending.count += len(statements)
        if sync:
            pgconn.pipeline_sync()
        raw.wait(generators.send(pgconn))
    except BaseException:
        _abandon(raw)
        raise


def _abandon(raw: Any) -> None:
    """Left in the middle of an exchange: answers may be uncollected, so the connection may not
    leave pipeline mode; ``rollback`` then closes it. The error that got us here wins."""
    try:
        raw.pgconn.exit_pipeline_mode()
    except Exception:
        pass
    raw.lock.release()


def _collect(pending: Pending) -> list[Any]:
    """The second half of ``_round_trip``: every answer of what ``_send`` sent, in order."""
    raw, expected = pending.raw, pending.expected
    pgconn = raw.pgconn
    try:
        answers = raw.wait(_exchange(pgconn, len(expected) + 1))
    except BaseException:
        _abandon(raw)
        raise
    pgconn.exit_pipeline_mode()
    raw.lock.release()
    prepared = _prepared.setdefault(raw, set())
    results, error = [], None
    for (what, name), answer in zip(expected, answers, strict=False):
        result = answer[-1]
        if result.status in OK_STATUSES:
            if what == "prepare":
                prepared.add(name)
            else:
                results.append(result)
        elif error is None and result.status == pq.ExecStatus.FATAL_ERROR:
            error = pg_errors.error_from_result(result, encoding="utf-8")
            if error.sqlstate == "26000":  # a prepared statement is gone (DEALLOCATE ALL, DISCARD ALL)
                prepared.clear()
    if error is not None:
        raise error
    if len(results) != pending.count:  # aborted without an error of its own: cannot happen
        raise pg_errors.InternalError("batch pipeline aborted")
    return results


def _exchange(pgconn: Any, count: int) -> Any:
    """psycopg's non-blocking steps, in one generator (one ``wait``): collect ``count`` answers
    (a statement's results, or the Sync's)."""
    answers = []
    for _ in range(count):
        answers.append((yield from generators.fetch_many(pgconn)))
    return answers


def rollback(batch: Batch | None = None) -> None:
    """End the batch's transaction after a failure (nothing is left open on the connection). A
    connection in an unknown state (statements streamed and not answered, among others) is
    closed; Django opens a new one when next asked."""
    if batch is not None and batch.pending is not None:
        pending, batch.pending = batch.pending, None
        _abandon(pending.raw)
    raw = connection.connection
    if raw is None:
        return
    try:
        pgconn = raw.pgconn
        if pgconn.pipeline_status or pgconn.status != pq.ConnStatus.OK:
            raise pg_errors.InterfaceError("connection left in an unknown state")
        if pgconn.transaction_status != pq.TransactionStatus.IDLE:
            raw.execute("ROLLBACK")
    except Exception:
        connection.close()


def _json(rows: Any) -> bytes:
    """Rows as one JSON parameter: one value to send however many rows there are, and parsed in C
    on both sides. Amounts travel as decimal strings, never as JSON numbers."""
    return orjson.dumps(rows)


BEGIN = _Statement(b"", b"BEGIN")
COMMIT = _Statement(b"", b"COMMIT")
# Every statement of a batch joins a few keys to a big table by a unique index. The planner cannot
# see how many keys a JSON parameter holds, and with stale statistics (a table that grew since it
# was analyzed) it picks scans of the whole table; forbid those plans for the transaction.
PLANNER_GUARD = _Statement(
    b"engine_guard",
    b"SELECT set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true), "
    b"set_config('enable_mergejoin', 'off', true)",
)
# The fence check, the client order ids already used, and the takers' balances locked in key
# order, as one statement. A stale fence updates no row and the loop stops before writing.
READ_INPUTS = _Statement(
    b"engine_read",
    b"""
WITH fence AS (
    UPDATE orders_engineshard SET fence = fence WHERE shard = $1::integer AND fence = $2::bigint RETURNING 0
), used AS (
    SELECT o.user_id, o.client_order_id, o.id FROM jsonb_array_elements($3::jsonb) AS k
    JOIN orders_order o ON o.user_id = (k->>0)::bigint AND o.client_order_id = k->>1
), held AS (
    SELECT b.user_id, b.token, trunc(b.available * 1e18)::text AS atoms FROM jsonb_array_elements($4::jsonb) AS k
    JOIN wallets_balance b ON b.user_id = (k->>0)::bigint AND b.token = k->>1
    ORDER BY b.user_id, b.token FOR UPDATE OF b
)
SELECT 0, NULL::bigint, NULL::text, NULL::text FROM fence
UNION ALL SELECT 1, user_id, client_order_id, id::text FROM used
UNION ALL SELECT 2, user_id, token, atoms FROM held
""",
)


def read_inputs(
    *, shard: int, fence: int, client_ids: list[Key], balance_keys: list[Key]
) -> tuple[dict[Key, str], dict[Key, int]]:
    """Open the batch's transaction, check the fence, find client order ids already used, lock and
    read the takers' balances: one round trip.

    Returns (client id -> existing order id, (user, token) -> available atoms). Raises StaleFence
    (the transaction stays open: call ``rollback``).
    """
    raw = _raw()
    if raw.pgconn.transaction_status != pq.TransactionStatus.IDLE:
        raise RuntimeError("a batch runs its own transaction; one is already open")
    params = [b"%d" % shard, b"%d" % fence, _json(client_ids), _json(sorted(balance_keys))]
    rows = _round_trip(raw, [(BEGIN, None), (PLANNER_GUARD, None), (READ_INPUTS, params)])[-1]
    fenced, known, available = False, {}, {}
    for i in range(rows.ntuples):
        part, user, text, value = rows.get_value(i, 0), rows.get_value(i, 1), rows.get_value(i, 2), rows.get_value(i, 3)
        if part == b"0":
            fenced = True
        elif part == b"1":
            known[(int(user), text.decode())] = value.decode()
        else:
            available[(int(user), text.decode())] = int(value)
    if not fenced:
        raise StaleFence()
    return known, available


def _params(first: int, types: str) -> str:
    """``$first::t1[], $first+1::t2[], ...`` for the space-separated array element ``types``."""
    return ", ".join(f"${first + i}::{t}[]" for i, t in enumerate(types.split()))


def _insert_orders(first: int) -> str:
    """INSERT of new orders from 17 column arrays, parameters ``$first`` on."""
    return f"""INSERT INTO orders_order (id, user_id, symbol, client_order_id, fingerprint, side, type, tif, price, quantity,
        quote_quantity, filled_quantity, filled_quote, fee, status, seq, created_at, updated_at)
    SELECT id, user_id, symbol, coid, fp, side, type, tif, price, quantity, quote_quantity, filled_quantity * 1e-18,
        filled_quote * 1e-18, fee * 1e-18, status, seq, TIMESTAMPTZ 'epoch' + us * INTERVAL '1 microsecond',
        TIMESTAMPTZ 'epoch' + us * INTERVAL '1 microsecond'
    FROM unnest({_params(first, "uuid integer text text text text text text numeric numeric numeric numeric numeric numeric text bigint bigint")})
        AS r(id, user_id, symbol, coid, fp, side, type, tif, price, quantity, quote_quantity, filled_quantity,
             filled_quote, fee, status, seq, us)"""


def _insert_trades(first: int) -> str:
    """INSERT of trades from 13 column arrays, parameters ``$first`` on."""
    return f"""INSERT INTO orders_trade (id, symbol, price, quantity, quote_quantity, taker_side, maker_order_id, taker_order_id,
        maker_user_id, taker_user_id, maker_fee, taker_fee, created_at)
    SELECT id, symbol, price * 1e-18, quantity * 1e-18, quote_quantity * 1e-18, side, maker_id, taker_id, maker_user,
        taker_user, maker_fee * 1e-18, taker_fee * 1e-18, TIMESTAMPTZ 'epoch' + us * INTERVAL '1 microsecond'
    FROM unnest({_params(first, "uuid text numeric numeric numeric text uuid uuid integer integer numeric numeric bigint")})
        AS r(id, symbol, price, quantity, quote_quantity, side, maker_id, taker_id, maker_user, taker_user, maker_fee,
             taker_fee, us)"""


# Rows no later command of the batch can change, written while the engine goes on with the next
# commands (``stream_rows``): trades, and new orders already filled or cancelled. Inside the
# batch's transaction, so committed (or rolled back) with the rest; balances are not streamed
# (they stay one sorted statement at the end, the lock order that keeps loops from deadlocking).
STREAM_ROWS = _Statement(
    b"engine_stream",
    f"WITH new_orders AS (\n    {_insert_orders(1)}\n)\n{_insert_trades(18)}\n".encode(),
)
FINAL_STATUSES = frozenset(("filled", "cancelled"))


def stream_rows(batch: Batch, specs: dict[str, MarketSpec]) -> None:
    """Send the batch's rows so far without waiting: PostgreSQL inserts them while the loop runs
    the next commands. Trades and new orders filled or cancelled are final; a new order still
    resting is written as it stands, and its state is kept so ``send_write`` updates it if a
    later command of the batch fills or cancels it. Must follow ``read_inputs`` (the batch's
    transaction is open); ``send_write`` sends the rest."""
    order_state = batch.order_state
    sent = _unsent(batch)
    for order_id in sent:
        state = order_state[order_id]
        if state[1] not in FINAL_STATUSES:
            batch.streamed_open[order_id] = state
    if not sent and batch.trades_sent == len(batch.trades):
        return
    trades = batch.trades[batch.trades_sent :]
    batch.trades_sent = len(batch.trades)
    params = [*_new_order_columns(batch, specs, sent), *_trade_columns(trades)]
    if batch.pending is None:
        batch.pending = _open(_raw())
    try:
        _add(batch.pending, [(STREAM_ROWS, params)], sync=False)
    except BaseException:
        batch.pending = None  # abandoned by _add; ``rollback`` closes the connection
        raise


# Everything a batch changed, as one statement of data-modifying CTEs: one parse, one plan,
# one round trip. Each part reads its rows as typed arrays, one parameter per column, unnested
# side by side (an empty array does nothing): PostgreSQL parses each value once with its type's
# input function, where JSON rows were parsed as a document, split, and cast field by field.
# Amounts the engine computed travel as integer atoms, made exact NUMERICs by ``* 1e-18`` (a
# product's scale is the sum of its factors', so nothing rounds); amounts a client sent (price,
# quantity) travel as the decimal text they came in.
WRITE_BATCH = _Statement(
    b"engine_write",
    f"""
WITH new_orders AS (
    {_insert_orders(1)}
), order_updates AS (
    UPDATE orders_order o SET status = r.status, filled_quantity = r.filled_quantity * 1e-18,
        filled_quote = r.filled_quote * 1e-18, fee = r.fee * 1e-18,
        updated_at = GREATEST($37::timestamptz, o.created_at)  -- a new order's stays its creation
    FROM unnest($18::uuid[], $19::text[], $20::numeric[], $21::numeric[], $22::numeric[])
        AS r(id, status, filled_quantity, filled_quote, fee)
    WHERE o.id = r.id
), trades AS (
    {_insert_trades(23)}
), ticker AS (
    INSERT INTO orders_tickerbucket AS t (symbol, minute, open, high, low, close, volume, quote_volume, trade_count,
        first_trade_at, last_trade_at)
    SELECT r->>0, (r->>1)::bigint, (r->>2)::numeric, (r->>3)::numeric, (r->>4)::numeric, (r->>5)::numeric,
        (r->>6)::numeric, (r->>7)::numeric, (r->>8)::bigint, $37::timestamptz, $37::timestamptz
    FROM jsonb_array_elements($36::jsonb) AS r
    ON CONFLICT (symbol, minute) DO UPDATE SET high = GREATEST(t.high, EXCLUDED.high), low = LEAST(t.low, EXCLUDED.low),
        close = EXCLUDED.close, volume = t.volume + EXCLUDED.volume, quote_volume = t.quote_volume + EXCLUDED.quote_volume,
        trade_count = t.trade_count + EXCLUDED.trade_count, last_trade_at = EXCLUDED.last_trade_at
), changes AS (
    SELECT user_id, token, d_available * 1e-18 AS d_available, d_locked * 1e-18 AS d_locked, kind
    FROM unnest($39::integer[], $40::text[], $41::numeric[], $42::numeric[], $43::text[])
        AS r(user_id, token, d_available, d_locked, kind)
), updated AS (
    UPDATE wallets_balance b SET available = b.available + c.d_available, locked = b.locked + c.d_locked
    FROM changes c WHERE b.user_id = c.user_id AND b.token = c.token
), created AS (
    -- a balance the batch only pays into. Every part of the statement sees the rows as they were
    -- before it, so "not in wallets_balance" is exactly "not updated above" (an index probe per
    -- row, where comparing against the UPDATE's output was a nested loop of rows x rows). The
    -- CHECK is judged on the proposed row, so it is never below zero.
    INSERT INTO wallets_balance AS b (user_id, token, available, locked)
    SELECT c.user_id, c.token, c.d_available, c.d_locked FROM changes c
    WHERE NOT EXISTS (SELECT 1 FROM wallets_balance e WHERE e.user_id = c.user_id AND e.token = c.token)
    ORDER BY 1, 2
    ON CONFLICT (user_id, token) DO UPDATE SET available = b.available + EXCLUDED.available,
        locked = b.locked + EXCLUDED.locked
)
INSERT INTO wallets_ledgerentry (user_id, token, delta_available, delta_locked, kind, ref, created_at)
SELECT user_id, token, d_available, d_locked, kind, $38::text, $37::timestamptz FROM changes
""".encode(),
)


def _text(value: str | None) -> str:
    """One element of a text array literal: quoted, with ``"`` and ``\\`` escaped (any text a
    client sent, commas and braces included, stays one element); NULL for None."""
    if value is None:
        return "NULL"
    if '"' in value or "\\" in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + value + '"'


def _quoted(values: list[str | None]) -> bytes:
    """Any text (None as NULL) as an array literal, each element quoted. One join when nothing
    needs escaping (the quotes counted are exactly the separators'), element by element otherwise."""
    if not values:
        return b"{}"
    if None not in values:
        joined = '","'.join(values)  # type: ignore[arg-type]
        if "\\" not in joined and joined.count('"') == 2 * (len(values) - 1):
            return ('{"' + joined + '"}').encode()
    elif values.count(None) == len(values):
        return ("{" + ",".join(["NULL"] * len(values)) + "}").encode()
    return ("{" + ",".join([_text(value) for value in values]) + "}").encode()


_PLAIN = re.compile(r"[A-Za-z0-9_.,\-]*")


def _plain(values: list[str | None]) -> bytes:
    """Values that need no quoting (uuids, enum words, decimal text; None as NULL) as an array
    literal; anything else is quoted (``_quoted``), so no value can split into two."""
    if not values:
        return b"{}"
    text = ",".join(["NULL" if value is None else value for value in values])
    if (
        _PLAIN.fullmatch(text) is None
        or text.count(",") != len(values) - 1
        or ("NULL" in text and text.count("NULL") != values.count(None))
    ):
        return _quoted(values)
    return ("{" + text + "}").encode()


def _ints(values: Iterable[int]) -> bytes:
    """Integers (ids, atoms, microseconds) as an array literal."""
    return ("{" + ",".join(map(str, values)) + "}").encode()


def write_and_commit(batch: Batch, *, specs: dict[str, MarketSpec], fee_user_id: int, ref: str) -> None:
    """Everything the batch changed, in one statement, and the COMMIT, sent together: one round
    trip. If the statement fails, PostgreSQL skips the COMMIT, this raises, and the caller rolls
    back (``rollback``)."""
    wait_commit(send_write(batch, specs=specs, fee_user_id=fee_user_id, ref=ref))


def _unsent(batch: Batch) -> list[str]:
    """The batch's new orders not written yet, in the order they came (counted as written now)."""
    unsent = list(itertools.islice(batch.new_orders, batch.orders_seen, None))
    batch.orders_seen = len(batch.new_orders)
    return unsent


def send_write(batch: Batch, *, specs: dict[str, MarketSpec], fee_user_id: int, ref: str) -> Pending:
    """The first half of ``write_and_commit``: the write statement and the COMMIT on their way
    (after what ``stream_rows`` sent). Nothing else may use the connection until ``wait_commit``
    (or, after an error, ``rollback``)."""
    changes = sorted((key, d) for key, d in batch.deltas.items() if d[0] or d[1])
    params = [
        *_new_order_columns(batch, specs, _unsent(batch)),
        *_order_update_columns(batch, specs),
        *_trade_columns(batch.trades[batch.trades_sent :]),
        _json(_ticker_rows(batch)),
        batch.now.isoformat().encode(),
        ref.encode(),
        *_balance_columns(changes, fee_user_id),
    ]
    pending, batch.pending = batch.pending or _open(_raw()), None
    _add(pending, [(WRITE_BATCH, params), (COMMIT, None)], sync=True)
    return pending


def wait_commit(pending: Pending) -> None:
    """The second half of ``write_and_commit``: returns once the batch is committed; raises if not."""
    committed = _collect(pending)[-1]  # the COMMIT's answer (streamed statements' come first)
    if committed.command_status != b"COMMIT":  # PostgreSQL answers ROLLBACK to a failed transaction
        raise pg_errors.InternalError(f"batch not committed: {committed.command_status!r}")


def _new_order_columns(batch: Batch, specs: dict[str, MarketSpec], order_ids: list[str]) -> list[bytes]:
    if not order_ids:
        return [b"{}"] * 17
    order_state, created_us, new_orders = batch.order_state, batch.created_us, batch.new_orders
    lot_atoms = {symbol: spec.lot_atoms for symbol, spec in specs.items()}
    rows = []
    for order_id in order_ids:
        command, seq = new_orders[order_id]
        symbol, status, _remaining, filled_lots, filled_quote, fee = order_state[order_id]
        get = command.get
        rows.append((
            order_id, command["u"], symbol, get("coid"), get("fp", ""), command["sd"], command["t"], command["tif"],
            get("p"), get("q"), get("qq"), filled_lots * lot_atoms[symbol], filled_quote, fee, status, seq,
            created_us[order_id],
        ))  # fmt: skip
    (ids, users, symbols, coids, fps, sides, types, tifs, prices, quantities, quotes, filled, filled_quotes, fees,
     statuses, seqs, created) = (list(column) for column in zip(*rows, strict=True))  # fmt: skip
    return [
        _plain(ids), _ints(users), _quoted(symbols), _quoted(coids), _quoted(fps), _plain(sides), _plain(types),
        _plain(tifs), _plain(prices), _plain(quantities), _plain(quotes), _ints(filled), _ints(filled_quotes),
        _ints(fees), _plain(statuses), _ints(seqs), _ints(created),
    ]  # fmt: skip


def _order_update_columns(batch: Batch, specs: dict[str, MarketSpec]) -> list[bytes]:
    """Orders that were open before the batch, and new ones streamed while resting that a later
    command changed: their state after it."""
    ids, statuses, filled, filled_quotes, fees = [], [], [], [], []
    new_orders, streamed_open = batch.new_orders, batch.streamed_open
    for order_id, state in batch.order_state.items():
        if order_id in new_orders and streamed_open.get(order_id, state) == state:
            continue  # written by its insert (at the end, or streamed and unchanged since)
        symbol, status, _remaining, filled_lots, filled_quote, fee = state
        ids.append(order_id)
        statuses.append(status)
        filled.append(filled_lots * specs[symbol].lot_atoms)
        filled_quotes.append(filled_quote)
        fees.append(fee)
    return [_plain(ids), _plain(statuses), _ints(filled), _ints(filled_quotes), _ints(fees)]


def _trade_columns(trades: list[tuple[Any, ...]]) -> list[bytes]:
    if not trades:
        return [b"{}"] * 13
    (ids, symbols, prices, quantities, quotes, sides, makers, takers, maker_users, taker_users, maker_fees, taker_fees,
     created) = zip(*trades, strict=True)  # fmt: skip
    return [
        _plain(list(ids)), _quoted(list(symbols)), _ints(prices), _ints(quantities), _ints(quotes), _plain(list(sides)),
        _plain(list(makers)), _plain(list(takers)), _ints(maker_users), _ints(taker_users), _ints(maker_fees),
        _ints(taker_fees), _ints(created),
    ]  # fmt: skip


def _ticker_rows(batch: Batch) -> list[tuple[Any, ...]]:
    """The batch's trades folded into one-minute buckets: open, high, low, close, volumes, count."""
    minute = batch.now_us // 60_000_000
    buckets: dict[str, list[int]] = {}
    for trade in batch.trades:
        symbol, price, quantity, quote = trade[1], trade[2], trade[3], trade[4]
        bucket = buckets.get(symbol)
        if bucket is None:
            buckets[symbol] = [price, price, price, price, quantity, quote, 1]
        else:
            if price > bucket[1]:
                bucket[1] = price
            if price < bucket[2]:
                bucket[2] = price
            bucket[3] = price
            bucket[4] += quantity
            bucket[5] += quote
            bucket[6] += 1
    return [
        (symbol, minute, *(atoms_text(value) for value in bucket[:6]), bucket[6]) for symbol, bucket in buckets.items()
    ]


def _balance_columns(changes: list[tuple[Key, list[int]]], fee_user_id: int) -> list[bytes]:
    """Each (user, token)'s net change, in key order, with the ledger kind that names it."""
    if not changes:
        return [b"{}"] * 5
    kinds = [
        "fee" if user_id == fee_user_id
        else "trade" if d_available + d_locked
        else "order_lock" if d_locked > 0
        else "order_release"
        for (user_id, _token), (d_available, d_locked) in changes
    ]  # fmt: skip
    keys, deltas = zip(*changes, strict=True)
    users, tokens = zip(*keys, strict=True)
    availables, lockeds = zip(*deltas, strict=True)
    return [_ints(users), _quoted(list(tokens)), _ints(availables), _ints(lockeds), _plain(kinds)]
