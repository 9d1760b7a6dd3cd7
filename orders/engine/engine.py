"""The matching engine: a pure function of commands to events.

No clock, no randomness, no I/O, no Django: one command in, its events out, the same
events for the same commands every time (dicts are only iterated in insertion order or
sorted). Integers only: prices in ticks, quantities in lots, amounts in atoms.

Balances are the caller's: ``available`` maps (user_id, asset) to available atoms and is
filled by the DB loop before each batch with the takers' current balances (a missing key
is 0). The engine checks a new order's lock against it and then keeps every key that is
present exact by adding each command's ``BALANCE`` available deltas to it; it never adds
a key that is absent. So two orders of one batch can never spend the same funds.
"""

from __future__ import annotations

from collections.abc import Hashable
from heapq import heappop, heappush
from typing import Any

from orders.engine.book import Book, Level, RestingOrder
from orders.engine.commands import (
    MARKET_STATUSES,
    Cancel,
    CancelAll,
    MarketSpec,
    Place,
    SetStatus,
)
from orders.engine.events import (
    ACCEPTED,
    BALANCE,
    CANCELLED,
    FILLED,
    INSUFFICIENT_BALANCE,
    MARKET_DELISTED,
    MARKET_HALTED,
    MARKET_NOT_FOUND,
    OPEN,
    ORDER,
    ORDER_NOT_FOUND,
    PARTIALLY_FILLED,
    POST_ONLY_REJECT,
    REJECTED,
    SELF_TRADE,
    STATUS,
    TRADE,
)
from orders.engine.units import FEE_SCALE

__all__ = ["Engine", "RestingOrder"]

Event = tuple[Any, ...]
BalanceKey = tuple[int, str]

BUY = "buy"
SELL = "sell"
LIMIT = "limit"
MARKET = "market"
GTC = "gtc"
IOC = "ioc"
FOK = "fok"
POST_ONLY = "post_only"
ACTIVE = "active"
HALTED = "halted"
DELISTED = "delisted"


def _positive_int(value: object, name: str) -> int:
    if type(value) is not int or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


class Engine:
    """Order books of a shard's markets and the matcher over them.

    ``execute(cmd)`` runs one command and returns its events (see ``events``). Expected
    refusals are ``REJECTED`` events; a malformed command (unknown side, type or tif,
    a missing or non-positive number) raises ValueError and changes nothing.
    """

    def __init__(self, fee_user_id: int) -> None:
        self.fee_user_id = fee_user_id
        self.available: dict[BalanceKey, int] = {}
        self.last_seq = 0  # seq of the last accepted order
        self.last_trade_seq = 0
        self._books: dict[str, Book] = {}
        self._orders: dict[Hashable, RestingOrder] = {}  # every open order, by id

    # ----------------------------------------------------------------- markets
    def add_market(self, spec: MarketSpec) -> None:
        """Open an empty book for ``spec``; ValueError if the symbol is already there."""
        if spec.symbol in self._books:
            raise ValueError(f"market {spec.symbol} already added")
        self._books[spec.symbol] = Book(spec)

    def market_status(self, symbol: str) -> str:
        return self._books[symbol].status

    @property
    def open_order_count(self) -> int:
        """Open orders over all markets (for metrics)."""
        return len(self._orders)

    # ---------------------------------------------------------------- commands
    def execute(self, cmd: Place | Cancel | CancelAll | SetStatus) -> list[Event]:
        """Run one command; return its events in order.

        The place and cancel paths are written inline, with local names, on purpose: this is
        the hot loop of the exchange, and each call or attribute lookup saved is measured."""
        kind = type(cmd)
        if kind is Place:
            order_id, user_id, symbol, side, type_, tif, price, qty, quote_atoms = cmd  # type: ignore[misc]
            book = self._books.get(symbol)
            if book is None:
                return [(REJECTED, order_id, MARKET_NOT_FOUND)]
            if book.status != ACTIVE:
                return [(REJECTED, order_id, MARKET_HALTED if book.status == HALTED else MARKET_DELISTED)]
            if side == BUY:
                is_buy = True
            elif side == SELL:
                is_buy = False
            else:
                raise ValueError(f"unknown side {side!r}")
            # The lock: what the order may spend, in the asset it gives.
            if type_ == LIMIT:
                if tif != GTC and tif != IOC and tif != FOK and tif != POST_ONLY:
                    raise ValueError(f"unknown tif {tif!r}")
                if type(price) is not int or price <= 0:
                    price = _positive_int(price, "price_ticks")
                if type(qty) is not int or qty <= 0:
                    qty = _positive_int(qty, "qty_lots")
                is_market = False
                if is_buy:
                    asset = book.quote
                    lock = price * qty * book.unit_atoms
                else:
                    asset = book.base
                    lock = qty * book.lot_atoms
            elif type_ == MARKET:
                is_market = True
                price = 0
                if is_buy:
                    quote_atoms = _positive_int(quote_atoms, "quote_atoms")
                    asset = book.quote
                    lock = quote_atoms
                    qty = 0
                else:
                    qty = _positive_int(qty, "qty_lots")
                    asset = book.base
                    lock = qty * book.lot_atoms
            else:
                raise ValueError(f"unknown type {type_!r}")
            key = (user_id, asset)
            available = self.available
            avail = available.get(key, 0)
            if avail < lock:
                return [(REJECTED, order_id, INSUFFICIENT_BALANCE)]

            # Best live level of the opposite side (empty levels are dropped lazily here).
            if is_buy:
                opposite, opposite_heap = book.asks, book.ask_heap
            else:
                opposite, opposite_heap = book.bids, book.bid_heap
            while opposite_heap:
                top = opposite[opposite_heap[0]]
                if top.lots:
                    if is_market or (price >= top.price_ticks if is_buy else price <= top.price_ticks):
                        if tif == POST_ONLY and not is_market:
                            return [(REJECTED, order_id, POST_ONLY_REJECT)]
                        return self._take(
                            book, order_id, user_id, side, is_buy, is_market, tif, price, qty,
                            quote_atoms or 0, asset, opposite, opposite_heap,
                        )  # fmt: skip
                    break
                del opposite[heappop(opposite_heap)]

            # Nothing to match.
            seq = self.last_seq = self.last_seq + 1
            if is_market or tif == IOC or tif == FOK:
                return [(ACCEPTED, order_id, seq), (ORDER, order_id, CANCELLED, qty, 0, 0, 0)]
            # Rest it (what ``_rest`` does, inline).
            order = RestingOrder(order_id, user_id, side, price, qty, 0, 0, 0, seq)
            if self._orders.setdefault(order_id, order) is not order:
                raise ValueError(f"order id {order_id!r} is already open")
            if is_buy:
                levels, heap, level_key = book.bids, book.bid_heap, -price
            else:
                levels, heap, level_key = book.asks, book.ask_heap, price
            level = levels.get(level_key)
            if level is None:
                level = levels[level_key] = Level(price)
                heappush(heap, level_key)
            else:
                order.price_ticks = level.price_ticks  # share one int object per price
            tail = level.tail  # Level.append, inline
            if tail is None:
                level.head = order
            else:
                tail.next = order
                order.prev = tail
            level.tail = order
            level.lots += qty
            order.book = book
            by_user = book.by_user  # Book.link_user, inline
            newest = by_user.get(user_id)
            if newest is not None:
                newest.user_prev = order
                order.user_next = newest
            by_user[user_id] = order
            available[key] = avail - lock
            return [
                (ACCEPTED, order_id, seq),
                (ORDER, order_id, OPEN, qty, 0, 0, 0),
                (BALANCE, user_id, asset, -lock, lock),
            ]

        if kind is Cancel:
            order_id, user_id = cmd  # type: ignore[misc]
            cancelled = self._orders.get(order_id)
            if cancelled is None or cancelled.user_id != user_id:
                return [(REJECTED, order_id, ORDER_NOT_FOUND)]
            book = cancelled.book
            assert book is not None
            book.unlink_user(cancelled)
            event = (
                ORDER, order_id, CANCELLED, cancelled.remaining_lots, cancelled.filled_lots,
                cancelled.filled_quote_atoms, cancelled.fee_atoms,
            )  # fmt: skip
            asset, amount = self._unlink(cancelled)
            key = (user_id, asset)
            available = self.available
            if key in available:
                available[key] += amount
            return [event, (BALANCE, user_id, asset, amount, -amount)]
        if kind is CancelAll:
            return self._cancel_all(*cmd)
        if kind is SetStatus:
            return self._set_status(*cmd)
        raise TypeError(f"not an engine command: {cmd!r}")

    def _rest(self, book: Book, order: RestingOrder) -> None:
        """Put an order at the back of its price level and index it."""
        order_id = order.order_id
        if self._orders.setdefault(order_id, order) is not order:
            raise ValueError(f"order id {order_id!r} is already open")
        if order.side == BUY:
            levels, heap, key = book.bids, book.bid_heap, -order.price_ticks
        else:
            levels, heap, key = book.asks, book.ask_heap, order.price_ticks
        level = levels.get(key)
        if level is None:
            level = levels[key] = Level(order.price_ticks)
            heappush(heap, key)
        level.append(order)
        order.book = book
        book.link_user(order)

    def _take(
        self,
        book: Book,
        order_id: Hashable,
        user_id: int,
        side: str,
        is_buy: bool,
        is_market: bool,
        tif: str,
        price: int,
        qty: int,
        quote_atoms: int,
        give_asset: str,
        opposite: dict[int, Level],
        opposite_heap: list[int],
    ) -> list[Event]:
        """Match a taker that crosses the best opposite level."""
        unit_atoms = book.unit_atoms
        by_budget = is_market and is_buy  # market buy: spend at most quote_atoms
        # Plan: walk the book as matching would, without changing it, to find the fills,
        # whether an own order is reached first (SELF_TRADE) and whether a fok fills.
        fills: list[tuple[RestingOrder, int]] = []
        popped: list[int] = []  # keys of levels the walk consumed whole
        left = quote_atoms if by_budget else qty
        top_take = 0  # lots taken from the level the walk stopped in
        stopped_by_budget = False
        self_trade = False
        while opposite_heap:
            level = opposite[opposite_heap[0]]
            if not level.lots:
                del opposite[heappop(opposite_heap)]
                continue
            level_price = level.price_ticks
            if not is_market and (level_price > price if is_buy else level_price < price):
                break
            top_take = 0
            maker = level.head
            stopped = False
            if by_budget:
                lot_cost = level_price * unit_atoms
                while maker is not None:
                    lots = maker.remaining_lots
                    affordable = left // lot_cost
                    if not affordable:
                        stopped = stopped_by_budget = True
                        break
                    if maker.user_id == user_id:
                        stopped = self_trade = True
                        break
                    if lots > affordable:  # the budget ends inside this maker
                        left -= affordable * lot_cost
                        fills.append((maker, affordable))
                        top_take += affordable
                        stopped = stopped_by_budget = True
                        break
                    left -= lots * lot_cost
                    fills.append((maker, lots))
                    top_take += lots
                    maker = maker.next
            else:
                while maker is not None:
                    lots = maker.remaining_lots
                    if maker.user_id == user_id:
                        stopped = self_trade = True
                        break
                    if lots >= left:
                        fills.append((maker, left))
                        top_take += left
                        left = 0
                        stopped = True
                        break
                    left -= lots
                    fills.append((maker, lots))
                    top_take += lots
                    maker = maker.next
            if stopped:
                break
            popped.append(heappop(opposite_heap))  # the walk takes this level whole
            top_take = 0

        if self_trade or (left and tif == FOK and not is_market):
            for key in popped:
                heappush(opposite_heap, key)
            if self_trade:
                return [(REJECTED, order_id, SELF_TRADE)]
            seq = self.last_seq = self.last_seq + 1
            return [(ACCEPTED, order_id, seq), (ORDER, order_id, CANCELLED, qty, 0, 0, 0)]

        # Execute the plan.
        seq = self.last_seq = self.last_seq + 1
        events: list[Event] = [(ACCEPTED, order_id, seq)]
        symbol = book.symbol
        base = book.base
        quote = book.quote
        lot_atoms = book.lot_atoms
        maker_fee_e8 = book.maker_fee_e8
        taker_fee_e8 = book.taker_fee_e8
        open_orders = self._orders
        # Makers receive what the taker gives and give (from locked) what it receives:
        # summed per maker user, keyed by int to keep the per-fill cost low.
        makers_got: dict[int, int] = {}  # available, in the taker's give asset
        makers_gave: dict[int, int] = {}  # locked, in the taker's receive asset
        trade_seq = self.last_trade_seq
        filled = filled_quote = taker_fee = maker_fees = 0
        for maker, lots in fills:
            maker_price = maker.price_ticks
            quote_amount = maker_price * lots * unit_atoms
            base_amount = lots * lot_atoms
            maker_user = maker.user_id
            maker_id = maker.order_id
            if is_buy:  # the maker sold base and receives quote
                maker_fee = quote_amount * maker_fee_e8 // FEE_SCALE if maker_fee_e8 else 0
                fee = base_amount * taker_fee_e8 // FEE_SCALE if taker_fee_e8 else 0
                makers_gave[maker_user] = makers_gave.get(maker_user, 0) + base_amount
                makers_got[maker_user] = makers_got.get(maker_user, 0) + quote_amount - maker_fee
            else:  # the maker bought base with quote it had locked at this very price
                maker_fee = base_amount * maker_fee_e8 // FEE_SCALE if maker_fee_e8 else 0
                fee = quote_amount * taker_fee_e8 // FEE_SCALE if taker_fee_e8 else 0
                makers_gave[maker_user] = makers_gave.get(maker_user, 0) + quote_amount
                makers_got[maker_user] = makers_got.get(maker_user, 0) + base_amount - maker_fee
            remaining = maker.remaining_lots - lots
            maker.remaining_lots = remaining
            maker.filled_lots += lots
            maker.filled_quote_atoms += quote_amount
            maker.fee_atoms += maker_fee
            trade_seq += 1
            events.append(
                (TRADE, symbol, trade_seq, maker_id, order_id, maker_user, user_id,
                 maker_price, lots, side, maker_fee, fee)
            )  # fmt: skip
            events.append(
                (ORDER, maker_id, PARTIALLY_FILLED if remaining else FILLED, remaining,
                 maker.filled_lots, maker.filled_quote_atoms, maker.fee_atoms)
            )  # fmt: skip
            if not remaining:
                del open_orders[maker_id]
                maker.prev = None  # no back link: a filled run of makers frees by refcount
                book.unlink_user(maker)
            filled += lots
            filled_quote += quote_amount
            taker_fee += fee
            maker_fees += maker_fee
        self.last_trade_seq = trade_seq

        # Take consumed levels out; trim the front of the level the walk stopped in.
        for key in popped:
            del opposite[key]
        if top_take:
            level = opposite[opposite_heap[0]]
            level.lots -= top_take
            if level.lots:
                head = level.head
                assert head is not None
                while not head.remaining_lots:  # the filled makers at the front
                    after = head.next
                    head.next = None
                    assert after is not None
                    head = after
                level.head = head
                head.prev = None
            else:
                level.head = level.tail = None
                del opposite[heappop(opposite_heap)]

        # The taker's end: rest (gtc) or cancel what is left, and free unneeded lock.
        if by_budget:
            remaining = 0
            done = filled and (stopped_by_budget or not left)
            status = FILLED if done else CANCELLED
            locked_after = 0
        else:
            remaining = qty - filled
            locked_after = 0
            if not remaining:
                status = FILLED
            elif is_market or tif != GTC:
                status = CANCELLED
            else:
                status = PARTIALLY_FILLED if filled else OPEN
                locked_after = price * remaining * unit_atoms if is_buy else remaining * lot_atoms
                self._rest(
                    book,
                    RestingOrder(
                        order_id, user_id, side, price, remaining, filled, filled_quote,
                        taker_fee, seq,
                    ),
                )  # fmt: skip
        events.append((ORDER, order_id, status, remaining, filled, filled_quote, taker_fee))

        if is_buy:
            gave, recv_asset, received = filled_quote, base, filled * lot_atoms - taker_fee
        else:
            gave, recv_asset, received = filled * lot_atoms, quote, filled_quote - taker_fee
        # Balance changes, one per (user, asset), sorted. The taker is never a maker here;
        # the fee account could be either (then its changes are summed first).
        fee_user = self.fee_user_id
        changes: list[Event] = []
        append = changes.append
        for maker_user, amount in makers_gave.items():
            append((BALANCE, maker_user, recv_asset, 0, -amount))
            append((BALANCE, maker_user, give_asset, makers_got[maker_user], 0))
        append((BALANCE, user_id, give_asset, -gave - locked_after, locked_after))
        append((BALANCE, user_id, recv_asset, received, 0))
        if taker_fee:
            append((BALANCE, fee_user, recv_asset, taker_fee, 0))
        if maker_fees:
            append((BALANCE, fee_user, give_asset, maker_fees, 0))
        if (taker_fee or maker_fees) and (fee_user == user_id or fee_user in makers_gave):
            changes = _summed(changes)
        changes.sort()
        available = self.available
        for change in changes:
            _, balance_user, asset, d_av, d_lk = change
            if d_av:
                events.append(change)
                balance_key = (balance_user, asset)
                if balance_key in available:
                    available[balance_key] += d_av
            elif d_lk:
                events.append(change)
        return events

    def _emit_balances(
        self,
        events: list[Event],
        d_available: dict[BalanceKey, int],
        d_locked: dict[BalanceKey, int],
    ) -> None:
        """Append summed BALANCE events sorted by (user, asset); update ``available``."""
        available = self.available
        keys = list(d_available)
        keys.extend(k for k in d_locked if k not in d_available)
        keys.sort()
        for k in keys:
            d_av = d_available.get(k, 0)
            d_lk = d_locked.get(k, 0)
            if d_av or d_lk:
                events.append((BALANCE, k[0], k[1], d_av, d_lk))
                if d_av and k in available:
                    available[k] += d_av

    # ------------------------------------------------------------------ cancels
    def _unlink(self, order: RestingOrder) -> tuple[str, int]:
        """Take an open order out of the index and its level; clear its user links (the
        caller takes it out of ``by_user`` first).

        Returns the asset and amount its lock releases."""
        book = order.book
        assert book is not None, "order is not in a book"
        del self._orders[order.order_id]
        remaining = order.remaining_lots
        price = order.price_ticks
        if order.side == BUY:
            level = book.bids[-price]
            asset, amount = book.quote, price * remaining * book.unit_atoms
        else:
            level = book.asks[price]
            asset, amount = book.base, remaining * book.lot_atoms
        level.lots -= remaining
        level.unlink(order)
        order.remaining_lots = 0
        order.book = None
        order.user_prev = order.user_next = None
        return asset, amount

    @staticmethod
    def _cancelled_event(order: RestingOrder) -> Event:
        return (
            ORDER, order.order_id, CANCELLED, order.remaining_lots, order.filled_lots,
            order.filled_quote_atoms, order.fee_atoms,
        )  # fmt: skip

    def _cancel_orders(self, orders: list[RestingOrder]) -> list[Event]:
        """Cancel open orders, in the given order (the caller updates ``by_user``)."""
        events: list[Event] = []
        released: dict[BalanceKey, int] = {}
        for order in orders:
            events.append(self._cancelled_event(order))
            asset, amount = self._unlink(order)
            key = (order.user_id, asset)
            released[key] = released.get(key, 0) + amount
        self._emit_balances(events, released, {k: -v for k, v in released.items()})
        return events

    def _cancel_all(self, user_id: int, symbol: str) -> list[Event]:
        book = self._books.get(symbol)
        if book is None:
            return [(REJECTED, None, MARKET_NOT_FOUND)]
        orders = book.pop_user_orders(user_id)
        return self._cancel_orders(orders) if orders else []

    def _set_status(self, symbol: str, status: str) -> list[Event]:
        if status not in MARKET_STATUSES:
            raise ValueError(f"unknown market status {status!r}")
        book = self._books.get(symbol)
        if book is None:
            return [(REJECTED, None, MARKET_NOT_FOUND)]
        if book.status == DELISTED and status != DELISTED:
            return [(REJECTED, None, MARKET_DELISTED)]
        book.status = status
        events: list[Event] = []
        if status == DELISTED:
            orders = book.live_orders()
            book.by_user.clear()
            events = self._cancel_orders(orders)
            book.bids.clear()
            book.bid_heap.clear()
            book.asks.clear()
            book.ask_heap.clear()
        events.append((STATUS, symbol, status))
        return events

    # -------------------------------------------------------- reads and recovery
    def snapshot(self, symbol: str) -> list[RestingOrder]:
        """Open orders of a market in priority order: bids best first, then asks best
        first, FIFO within a price. Copies: changing them does not change the book."""
        book = self._books[symbol]
        return [order.copy() for side in (BUY, SELL) for level in book.sorted_levels(side) for order in level]

    def open_orders(self, symbol: str) -> list[RestingOrder]:
        """Open orders of a market in seq order (copies)."""
        return [order.copy() for order in self._books[symbol].live_orders()]

    def depth(self, symbol: str, limit: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Aggregated levels ``(price_ticks, total_lots)``, best first, at most ``limit`` a side."""
        book = self._books[symbol]
        return (
            [(lv.price_ticks, lv.lots) for lv in book.best_levels(BUY, limit)],
            [(lv.price_ticks, lv.lots) for lv in book.best_levels(SELL, limit)],
        )

    def restore(self, symbol: str, orders: list[RestingOrder], *, last_trade_seq: int = 0) -> None:
        """Rebuild an empty book from its open orders (e.g. read back from the database).

        Time priority is their ``seq``; ``last_seq`` continues from the largest, and
        ``last_trade_seq`` from the given one (the largest stored) if that is larger.
        Balances are not touched: the caller's database already holds the orders' locks.
        Raises ValueError on a malformed order, a duplicate id or a non-empty book."""
        book = self._books[symbol]
        if last_trade_seq > self.last_trade_seq:
            self.last_trade_seq = last_trade_seq
        if book.live_orders():
            raise ValueError(f"book {symbol} is not empty")
        for given in sorted(orders, key=_seq_of):
            if given.side not in (BUY, SELL):
                raise ValueError(f"unknown side {given.side!r}")
            _positive_int(given.price_ticks, "price_ticks")
            _positive_int(given.remaining_lots, "remaining_lots")
            _positive_int(given.seq, "seq")
            order = given.copy()
            self._rest(book, order)
            if order.seq > self.last_seq:
                self.last_seq = order.seq

    def locked_by_open_orders(self) -> dict[BalanceKey, int]:
        """What every open order holds locked, summed per (user_id, asset), sorted.

        For the recovery check: it must equal the locked balances in the database."""
        locked: dict[BalanceKey, int] = {}
        for order in self._orders.values():
            book = order.book
            assert book is not None
            if order.side == BUY:
                key = (order.user_id, book.quote)
                amount = order.price_ticks * order.remaining_lots * book.unit_atoms
            else:
                key = (order.user_id, book.base)
                amount = order.remaining_lots * book.lot_atoms
            locked[key] = locked.get(key, 0) + amount
        return dict(sorted(locked.items()))


def _seq_of(order: RestingOrder) -> int:
    return order.seq


def _summed(changes: list[Event]) -> list[Event]:
    """BALANCE changes summed per (user, asset)."""
    sums: dict[BalanceKey, list[int]] = {}
    for _, user, asset, d_available, d_locked in changes:
        pair = sums.setdefault((user, asset), [0, 0])
        pair[0] += d_available
        pair[1] += d_locked
    return [(BALANCE, user, asset, d_av, d_lk) for (user, asset), (d_av, d_lk) in sums.items()]
