"""The matching engine: a pure function of commands to events.

No clock, no randomness, no I/O, no Django: one command in, its events out, the same
events for the same commands every time (dicts are only iterated in insertion order or
sorted). Integers only: prices in ticks, quantities in lots, amounts in atoms.

Balances are the caller's: ``available`` maps (user_id, asset) to available atoms and is
filled by the DB loop before each batch with the takers' current balances (a missing key
is 0). The engine checks a new order's lock against it and then keeps every key that is
present exact by adding each command's ``BALANCE`` available deltas to it; it never adds
a key that is absent. So two orders of one batch can never spend the same funds.

The hot paths (``place``, ``_take_one``, ``cancel``, ``_take``) are written inline, with
local names for everything used more than once (a module constant or an attribute costs a
lookup per use, and they are used dozens of times a command). Every such saving was
measured (docs/decisions/0012).

A balance that may be absent is changed by ``held = available.get(key)`` and one store, not
``if key in available: available[key] += x``: two lookups of a fresh (user, asset) tuple
instead of three (each hashes the tuple and compares it with the stored key).
"""

from __future__ import annotations

from collections.abc import Hashable
from heapq import heappop, heappush
from typing import Any

from orders.engine.book import Book, Level, Order
from orders.engine.book import RestingOrder as RestingOrder
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


_ANY_PRICE = float("inf")  # a market order's ``cross_key``: above every key of a heap


def _positive_int(value: object, name: str) -> int:
    if type(value) is not int or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


class Engine:
    """Order books of a shard's markets and the matcher over them.

    ``execute(cmd)`` runs one command and returns its events (see ``events``);
    ``place``, ``cancel``, ``cancel_all`` and ``set_status`` take a command's fields
    directly (no command object to build: the loop's hot path). Expected refusals are
    ``REJECTED`` events; a malformed command (unknown side, type or tif, a missing or
    non-positive number) raises ValueError and changes nothing.
    """

    def __init__(self, fee_user_id: int) -> None:
        self.fee_user_id = fee_user_id
        self.available: dict[BalanceKey, int] = {}
        self.last_seq = 0  # seq of the last accepted order
        self.last_trade_seq = 0
        self._books: dict[str, Book] = {}
        self._orders: dict[Hashable, Order] = {}  # every open order, by id

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
        """Run one command; return its events in order."""
        kind = type(cmd)
        if kind is Place:
            return self.place(*cmd)
        if kind is Cancel:
            return self.cancel(*cmd)
        if kind is CancelAll:
            return self.cancel_all(*cmd)
        if kind is SetStatus:
            return self.set_status(*cmd)
        raise TypeError(f"not an engine command: {cmd!r}")

    def place(
        self,
        order_id: Hashable,
        user_id: int,
        symbol: str,
        side: str,
        type_: str,
        tif: str,
        price: int | None,
        qty: int | None,
        quote_atoms: int | None,
    ) -> list[Event]:
        """Place an order (the fields of ``Place``); return its events."""
        book = self._books.get(symbol)
        if book is None:
            return [(REJECTED, order_id, MARKET_NOT_FOUND)]
        if not book.active:
            return [(REJECTED, order_id, MARKET_HALTED if book.status == HALTED else MARKET_DELISTED)]
        if side == BUY:
            is_buy = True
        elif side == SELL:
            is_buy = False
        else:
            raise ValueError(f"unknown side {side!r}")
        # The lock: what the order may spend, in the asset it gives; and the opposite side.
        # The opposite heap's keys are asks' prices and bids' -prices, so a limit crosses when
        # the best key is <= ``cross_key``; a market order's is infinite (every level crosses),
        # and its tif is ioc whatever it was given, so that a limit pays no ``is_market`` test
        # on its way (each bytecode is ~50 machine instructions here).
        if type_ == LIMIT:
            if tif != GTC and tif != IOC and tif != FOK and tif != POST_ONLY:
                raise ValueError(f"unknown tif {tif!r}")
            if type(price) is not int or price <= 0:
                price = _positive_int(price, "price_ticks")
            if type(qty) is not int or qty <= 0:
                qty = _positive_int(qty, "qty_lots")
            is_market = False
            cross_key: float
            if is_buy:
                asset = book.quote
                lock = price * qty * book.unit_atoms
                opposite, opposite_heap, cross_key = book.asks, book.ask_heap, price
            else:
                asset = book.base
                lock = qty * book.lot_atoms
                opposite, opposite_heap, cross_key = book.bids, book.bid_heap, -price
        elif type_ == MARKET:
            is_market = True
            price = 0
            tif = IOC
            cross_key = _ANY_PRICE
            if is_buy:
                quote_atoms = _positive_int(quote_atoms, "quote_atoms")
                asset = book.quote
                lock = quote_atoms
                qty = 0
                opposite, opposite_heap = book.asks, book.ask_heap
            else:
                qty = _positive_int(qty, "qty_lots")
                asset = book.base
                lock = qty * book.lot_atoms
                opposite, opposite_heap = book.bids, book.bid_heap
        else:
            raise ValueError(f"unknown type {type_!r}")
        key = (user_id, asset)
        avail = self.available.get(key, 0)
        if avail < lock:
            return [(REJECTED, order_id, INSUFFICIENT_BALANCE)]

        # Does it cross? If the best opposite level's key is <= ``cross_key`` and that level is
        # not empty (empty levels are dropped lazily here, and only when they might be in the way).
        if opposite_heap and opposite_heap[0] <= cross_key:
            while opposite_heap:
                top_key = opposite_heap[0]
                top = opposite[top_key]
                if top.lots:
                    if top_key <= cross_key:
                        if tif == POST_ONLY:
                            return [(REJECTED, order_id, POST_ONLY_REJECT)]
                        maker = top.head
                        assert maker is not None  # a level with lots has orders
                        # The common take: the best level's oldest order (not the taker's own)
                        # fills all of it, or a market buy's budget ends inside that order.
                        if maker.user != user_id:
                            if not is_market or not is_buy:
                                if qty <= maker.remaining:
                                    return self._take_one(
                                        book, top, maker, order_id, user_id, side, is_buy, qty, asset, key, avail
                                    )
                            else:
                                lots = lock // (top.price_ticks * book.unit_atoms)  # lock: the budget
                                if 0 < lots < maker.remaining:
                                    return self._take_one(
                                        book, top, maker, order_id, user_id, side, True, lots, asset, key, avail
                                    )
                        return self._take(
                            book, order_id, user_id, side, is_buy, is_market, tif, price, cross_key, qty,
                            quote_atoms or 0, asset, key, avail, opposite, opposite_heap,
                        )  # fmt: skip
                    break
                del opposite[heappop(opposite_heap)]

        # Nothing to match.
        seq = self.last_seq = self.last_seq + 1
        if tif != GTC and tif != POST_ONLY:  # ioc, fok or market (one compare for a gtc)
            return [(ACCEPTED, order_id, seq), (ORDER, order_id, CANCELLED, qty, 0, 0, 0)]
        # Rest it (what ``_rest`` does, inline).
        if is_buy:
            levels, heap, level_key = book.bids, book.bid_heap, -price
        else:
            levels, heap, level_key = book.asks, book.ask_heap, price
        level = levels.get(level_key)
        if level is None:
            level = levels[level_key] = Level(book, side, price)
            heappush(heap, level_key)
        newest = book.by_user.get(user_id)
        if newest is not None:
            user_id = newest.user  # the same int object as the user's other orders (32 B less each)
        tail = level.tail
        order = Order()  # its slots set one by one: no ``__init__`` frame (docs/decisions/0012)
        order.oid = order_id
        order.user = user_id
        order.remaining = qty
        order.fills = (0, 0, 0)  # a constant: one tuple shared by every unfilled order
        order.seq = seq
        order.level = level
        order.prev = tail
        order.next = order.user_prev = None
        order.user_next = newest
        if self._orders.setdefault(order_id, order) is not order:
            raise ValueError(f"order id {order_id!r} is already open")
        if tail is None:
            level.head = order
        else:
            tail.next = order
        level.tail = order
        level.lots += qty
        if newest is not None:
            newest.user_prev = order
        book.by_user[user_id] = order
        self.available[key] = avail - lock
        return [
            (ACCEPTED, order_id, seq),
            (ORDER, order_id, OPEN, qty, 0, 0, 0),
            (BALANCE, user_id, asset, -lock, lock),
        ]

    def cancel(self, order_id: Hashable, user_id: int) -> list[Event]:
        """Cancel one open order of ``user_id`` (the fields of ``Cancel``); return its events."""
        order = self._orders.pop(order_id, None)  # (no local for a name used once: a store costs)
        if order is None:
            return [(REJECTED, order_id, ORDER_NOT_FOUND)]
        if order.user != user_id:  # not theirs: put it back (the index's order is not used)
            self._orders[order_id] = order
            return [(REJECTED, order_id, ORDER_NOT_FOUND)]
        level = order.level
        remaining = order.remaining
        level.lots -= remaining
        before = order.prev
        after = order.next
        if before is None:
            level.head = after
        else:
            before.next = after
        if after is None:
            level.tail = before
        else:
            after.prev = before
        newer = order.user_prev
        older = order.user_next
        if newer is None:
            by_user = level.book.by_user
            # keyed by the int object its orders share: found by identity, no int compare
            if older is None:
                del by_user[order.user]
            else:
                by_user[order.user] = older
                older.user_prev = None
        else:
            newer.user_next = older
            if older is not None:
                older.user_prev = newer
        # Nothing points at ``order`` now: refcounting frees it, its own links need no clearing.
        asset = level.asset
        amount = remaining * level.lock_per_lot
        key = (user_id, asset)
        held = self.available.get(key)
        if held is not None:
            self.available[key] = held + amount
        filled, filled_quote, fee = order.fills
        return [
            (ORDER, order_id, CANCELLED, remaining, filled, filled_quote, fee),
            (BALANCE, user_id, asset, amount, -amount),
        ]

    def cancel_all(self, user_id: int, symbol: str) -> list[Event]:
        """Cancel every open order of ``user_id`` in ``symbol`` (the fields of ``CancelAll``)."""
        book = self._books.get(symbol)
        if book is None:
            return [(REJECTED, None, MARKET_NOT_FOUND)]
        orders = book.pop_user_orders(user_id)
        return self._cancel_orders(orders) if orders else []

    def set_status(self, symbol: str, status: str) -> list[Event]:
        """Set a market's status (the fields of ``SetStatus``); delisting cancels every order."""
        if status not in MARKET_STATUSES:
            raise ValueError(f"unknown market status {status!r}")
        book = self._books.get(symbol)
        if book is None:
            return [(REJECTED, None, MARKET_NOT_FOUND)]
        if book.status == DELISTED and status != DELISTED:
            return [(REJECTED, None, MARKET_DELISTED)]
        book.status = status
        book.active = status == ACTIVE
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

    def _rest(
        self,
        book: Book,
        side: str,
        order_id: Hashable,
        user_id: int,
        price: int,
        remaining: int,
        filled: int,
        filled_quote: int,
        fee: int,
        seq: int,
    ) -> None:
        """Put an order at the back of its price level and index it."""
        newest = book.by_user.get(user_id)
        if newest is not None:
            user_id = newest.user  # one int object per user (see ``place``)
        if order_id in self._orders:
            raise ValueError(f"order id {order_id!r} is already open")
        level = book.level_for(side, price)
        tail = level.tail
        order = Order()
        order.oid = order_id
        order.user = user_id
        order.remaining = remaining
        order.fills = (filled, filled_quote, fee)
        order.seq = seq
        order.level = level
        order.prev = tail
        order.next = order.user_prev = None
        order.user_next = newest
        self._orders[order_id] = order
        if tail is None:
            level.head = order
        else:
            tail.next = order
        level.tail = order
        level.lots += remaining
        if newest is not None:
            newest.user_prev = order
        book.by_user[user_id] = order

    def _take_one(
        self,
        book: Book,
        level: Level,
        maker: Order,
        order_id: Hashable,
        user_id: int,
        side: str,
        is_buy: bool,
        qty: int,
        give_asset: str,
        give_key: BalanceKey,
        give_avail: int,
    ) -> list[Event]:
        """Fill a taker of ``qty`` lots whole from ``maker``, the head of the best opposite
        ``level``, which has that many lots and is not the taker's: what ``_take`` does with
        one fill, without the plan (no self-trade, nothing left, so no fok or rest). A market
        buy comes here with the lots its budget affords when that is fewer than the maker
        has: its budget ends inside the maker, so it is ``filled`` with that one fill.

        ``give_key`` and ``give_avail`` are the taker's (user, ``give_asset``) key and its
        available atoms as ``place`` read them: present (they covered the lock) and unchanged
        since, so its new value is stored without another lookup."""
        seq = self.last_seq = self.last_seq + 1
        trade_seq = self.last_trade_seq = self.last_trade_seq + 1
        maker_price = level.price_ticks
        quote_amount = maker_price * qty * book.unit_atoms
        base_amount = qty * book.lot_atoms
        maker_fee_e8 = book.maker_fee_e8
        taker_fee_e8 = book.taker_fee_e8
        # Fees with no ``if rate else 0``: a zero rate gives 0 all the same, and a market that
        # charges fees paid for the test (measured: the multiplications cost less).
        if is_buy:  # the maker sold base and receives quote
            maker_fee = quote_amount * maker_fee_e8 // FEE_SCALE
            fee = base_amount * taker_fee_e8 // FEE_SCALE
            maker_got = quote_amount - maker_fee
            maker_gave = base_amount
            gave = quote_amount
            received = base_amount - fee
            recv_asset = book.base
            recv_first = book.base_first
        else:  # the maker bought base with quote it had locked at this very price
            maker_fee = base_amount * maker_fee_e8 // FEE_SCALE
            fee = quote_amount * taker_fee_e8 // FEE_SCALE
            maker_got = base_amount - maker_fee
            maker_gave = quote_amount
            gave = base_amount
            received = quote_amount - fee
            recv_asset = book.quote
            recv_first = not book.base_first
        maker_user = maker.user
        maker_id = maker.oid
        remaining = maker.remaining = maker.remaining - qty
        maker_filled, maker_quote, maker_fee_total = maker.fills
        maker_filled += qty
        maker_quote += quote_amount
        maker_fee_total += maker_fee
        level.lots -= qty
        if remaining:
            maker.fills = (maker_filled, maker_quote, maker_fee_total)
        else:
            del self._orders[maker_id]
            after = maker.next
            if after is None:  # the level is empty now: out of the book
                level.head = level.tail = None
                heap = book.ask_heap if is_buy else book.bid_heap
                opposite = book.asks if is_buy else book.bids
                del opposite[heappop(heap)]
            else:
                level.head = after
                after.prev = None
            newer = maker.user_prev  # out of its user's index, inline
            older = maker.user_next
            if newer is None:
                by_user = book.by_user
                if older is None:
                    del by_user[maker_user]
                else:
                    by_user[maker_user] = older
                    older.user_prev = None
            else:
                newer.user_next = older
                if older is not None:
                    older.user_prev = newer
        events: list[Event] = [
            (ACCEPTED, order_id, seq),
            (TRADE, book.symbol, trade_seq, maker_id, order_id, maker_user, user_id, maker_price, qty, side,
             maker_fee, fee),
            (ORDER, maker_id, PARTIALLY_FILLED if remaining else FILLED, remaining, maker_filled, maker_quote,
             maker_fee_total),
            (ORDER, order_id, FILLED, 0, qty, quote_amount, fee),
        ]  # fmt: skip
        fee_user = self.fee_user_id
        if (fee or maker_fee) and (fee_user == user_id or fee_user == maker_user):
            changes = [
                (BALANCE, maker_user, recv_asset, 0, -maker_gave),
                (BALANCE, maker_user, give_asset, maker_got, 0),
                (BALANCE, user_id, give_asset, -gave, 0),
                (BALANCE, user_id, recv_asset, received, 0),
            ]
            if fee:
                changes.append((BALANCE, fee_user, recv_asset, fee, 0))
            if maker_fee:
                changes.append((BALANCE, fee_user, give_asset, maker_fee, 0))
            _add_summed(events, changes, self.available)
            return events
        # Three users (the fee account's changes only if not zero), each change not zero
        # (see ``_take``), in (user, asset) order.
        if recv_first:
            maker_rows: tuple[Event, ...] = (
                (BALANCE, maker_user, recv_asset, 0, -maker_gave),
                (BALANCE, maker_user, give_asset, maker_got, 0),
            )
            taker_rows: tuple[Event, ...] = (
                (BALANCE, user_id, recv_asset, received, 0),
                (BALANCE, user_id, give_asset, -gave, 0),
            )
        else:
            maker_rows = (
                (BALANCE, maker_user, give_asset, maker_got, 0),
                (BALANCE, maker_user, recv_asset, 0, -maker_gave),
            )
            taker_rows = ((BALANCE, user_id, give_asset, -gave, 0), (BALANCE, user_id, recv_asset, received, 0))
        if maker_user < user_id:
            first, first_user, second, second_user = maker_rows, maker_user, taker_rows, user_id
        else:
            first, first_user, second, second_user = taker_rows, user_id, maker_rows, maker_user
        available = self.available
        balance_key = (maker_user, give_asset)
        held = available.get(balance_key)
        if held is not None:
            available[balance_key] = held + maker_got
        available[give_key] = give_avail - gave  # the taker's: read by ``place``, unchanged since
        balance_key = (user_id, recv_asset)
        held = available.get(balance_key)
        if held is not None:
            available[balance_key] = held + received
        if fee or maker_fee:
            if not fee:
                fee_rows: tuple[Event, ...] = ((BALANCE, fee_user, give_asset, maker_fee, 0),)
            elif not maker_fee:
                fee_rows = ((BALANCE, fee_user, recv_asset, fee, 0),)
            elif recv_first:
                fee_rows = ((BALANCE, fee_user, recv_asset, fee, 0), (BALANCE, fee_user, give_asset, maker_fee, 0))
            else:
                fee_rows = ((BALANCE, fee_user, give_asset, maker_fee, 0), (BALANCE, fee_user, recv_asset, fee, 0))
            if fee:
                balance_key = (fee_user, recv_asset)
                held = available.get(balance_key)
                if held is not None:
                    available[balance_key] = held + fee
            if maker_fee:
                balance_key = (fee_user, give_asset)
                held = available.get(balance_key)
                if held is not None:
                    available[balance_key] = held + maker_fee
            if fee_user < first_user:
                events += fee_rows
                events += first
                events += second
            elif fee_user < second_user:
                events += first
                events += fee_rows
                events += second
            else:
                events += first
                events += second
                events += fee_rows
        else:
            events += first
            events += second
        return events

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
        cross_key: float,
        qty: int,
        quote_atoms: int,
        give_asset: str,
        give_key: BalanceKey,
        give_avail: int,
        opposite: dict[int, Level],
        opposite_heap: list[int],
    ) -> list[Event]:
        """Match a taker that crosses the best opposite level (see ``place`` for ``cross_key``;
        ``_take_one`` for ``give_key`` and ``give_avail``)."""
        unit_atoms = book.unit_atoms
        by_budget = is_market and is_buy  # market buy: spend at most quote_atoms
        # Plan: walk the book as matching would, without changing it, to find the fills,
        # whether an own order is reached first (SELF_TRADE) and whether a fok fills.
        # Every fill but the last takes its maker whole (``taken``, in book order); the
        # last, if the walk stops inside a level, takes ``last_lots`` of ``last`` (maybe all).
        # Splitting them spares the whole fills a (maker, lots) tuple and the remaining-lots
        # bookkeeping of a maker that stays.
        taken: list[Order] = []
        last: Order | None = None
        last_lots = 0
        maker: Order | None = None
        popped: list[int] = []  # keys of levels the walk consumed whole
        left = quote_atoms if by_budget else qty
        top_take = 0  # lots taken from the level the walk stopped in
        stopped_by_budget = False
        self_trade = False
        while opposite_heap:
            level_key = opposite_heap[0]
            level = opposite[level_key]
            if not level.lots:
                del opposite[heappop(opposite_heap)]
                continue
            if not is_market and level_key > cross_key:
                break
            level_price = level.price_ticks
            top_take = 0
            maker = level.head
            stopped = False
            if by_budget:
                lot_cost = level_price * unit_atoms
                while maker is not None:
                    lots = maker.remaining
                    affordable = left // lot_cost
                    if not affordable:
                        stopped = stopped_by_budget = True
                        break
                    if maker.user == user_id:
                        stopped = self_trade = True
                        break
                    if lots > affordable:  # the budget ends inside this maker
                        left -= affordable * lot_cost
                        last, last_lots = maker, affordable
                        top_take += affordable
                        stopped = stopped_by_budget = True
                        break
                    left -= lots * lot_cost
                    taken.append(maker)
                    top_take += lots
                    maker = maker.next
            else:
                while maker is not None:
                    lots = maker.remaining
                    if maker.user == user_id:
                        stopped = self_trade = True
                        break
                    if lots >= left:
                        last, last_lots = maker, left
                        top_take += left
                        left = 0
                        stopped = True
                        break
                    left -= lots
                    taken.append(maker)
                    top_take += lots
                    maker = maker.next
            if stopped:
                break
            popped.append(heappop(opposite_heap))  # the walk takes this level whole
            top_take = 0
        stop = maker  # where the walk stopped: the first order not taken whole, if any

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
        by_user = book.by_user
        # Makers receive what the taker gives and give (from locked) what it receives:
        # summed per maker user as [got (available, in the taker's give asset), gave
        # (locked, in the taker's receive asset)], keyed by int to keep the per-fill cost low.
        makers: dict[int, list[int]] = {}
        trade_seq = self.last_trade_seq
        filled = filled_quote = taker_fee = maker_fees = 0
        if last is not None:
            taken.append(last)
        for maker in taken:  # in book order; all but ``last`` filled whole
            lots = last_lots if maker is last else maker.remaining
            maker_price = maker.level.price_ticks
            quote_amount = maker_price * lots * unit_atoms
            base_amount = lots * lot_atoms
            maker_user = maker.user
            maker_id = maker.oid
            if is_buy:  # the maker sold base and receives quote
                maker_fee = quote_amount * maker_fee_e8 // FEE_SCALE
                fee = base_amount * taker_fee_e8 // FEE_SCALE
                maker_got = quote_amount - maker_fee
                maker_gave = base_amount
            else:  # the maker bought base with quote it had locked at this very price
                maker_fee = base_amount * maker_fee_e8 // FEE_SCALE
                fee = quote_amount * taker_fee_e8 // FEE_SCALE
                maker_got = base_amount - maker_fee
                maker_gave = quote_amount
            sums = makers.get(maker_user)
            if sums is None:
                makers[maker_user] = [maker_got, maker_gave]
            else:
                sums[0] += maker_got
                sums[1] += maker_gave
            remaining = maker.remaining = maker.remaining - lots
            maker_filled, maker_quote, maker_fee_total = maker.fills
            maker_filled += lots
            maker_quote += quote_amount
            maker_fee_total += maker_fee
            trade_seq += 1
            events.append(
                (TRADE, symbol, trade_seq, maker_id, order_id, maker_user, user_id,
                 maker_price, lots, side, maker_fee, fee)
            )  # fmt: skip
            if remaining:  # only ``last`` can stay, partly filled
                maker.fills = (maker_filled, maker_quote, maker_fee_total)
                events.append(
                    (ORDER, maker_id, PARTIALLY_FILLED, remaining, maker_filled, maker_quote, maker_fee_total)
                )  # fmt: skip
            else:  # out of the book: its fills are only told
                events.append((ORDER, maker_id, FILLED, 0, maker_filled, maker_quote, maker_fee_total))
                del open_orders[maker_id]
                maker.prev = None  # no back link, so a filled run of makers frees by refcount
                newer = maker.user_prev  # out of its user's index, inline
                older = maker.user_next
                if newer is None:
                    if older is None:
                        del by_user[maker_user]
                    else:
                        by_user[maker_user] = older
                        older.user_prev = None
                else:
                    newer.user_next = older
                    if older is not None:
                        older.user_prev = newer
            filled += lots
            filled_quote += quote_amount
            taker_fee += fee
            maker_fees += maker_fee
        self.last_trade_seq = trade_seq

        # Take consumed levels out (cleared: their orders point at them); trim the front of
        # the level the walk stopped in.
        for key in popped:
            level = opposite.pop(key)
            level.head = level.tail = None
        if top_take:
            level = opposite[opposite_heap[0]]
            level.lots -= top_take
            if level.lots:
                # Its new head: where the walk stopped, or the next order if the last fill
                # took that one whole. The makers filled before it link to it only forwards
                # (their back links are cleared): they free by refcount.
                assert stop is not None
                head = stop if stop.remaining else stop.next
                assert head is not None  # the level has lots left
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
                self._rest(book, side, order_id, user_id, price, remaining, filled, filled_quote, taker_fee, seq)
        events.append((ORDER, order_id, status, remaining, filled, filled_quote, taker_fee))

        if is_buy:
            gave, recv_asset, received = filled_quote, base, filled * lot_atoms - taker_fee
        else:
            gave, recv_asset, received = filled * lot_atoms, quote, filled_quote - taker_fee
        # Balance changes, one per (user, asset), sorted by (user, asset). The taker is never
        # a maker here; the fee account could be either (then the generic path sums them).
        # Nothing filled means no maker, no fee and nothing paid: no change at all.
        if not filled:
            return events
        fee_user = self.fee_user_id
        available = self.available
        if (taker_fee or maker_fees) and (fee_user == user_id or fee_user in makers):
            changes: list[Event] = []
            append = changes.append
            for maker_user, (maker_got, maker_gave) in makers.items():
                append((BALANCE, maker_user, recv_asset, 0, -maker_gave))
                append((BALANCE, maker_user, give_asset, maker_got, 0))
            append((BALANCE, user_id, give_asset, -gave - locked_after, locked_after))
            append((BALANCE, user_id, recv_asset, received, 0))
            if taker_fee:
                append((BALANCE, fee_user, recv_asset, taker_fee, 0))
            if maker_fees:
                append((BALANCE, fee_user, give_asset, maker_fees, 0))
            _add_summed(events, changes, available)
            return events
        # Every user has its own changes: each user's (at most two, in asset order) are
        # built once and the users sorted. None is zero: a fill moves at least one lot (and a
        # lot costs at least one atom), and a fee rate below 1 leaves the payee something;
        # only the fee account's changes may be zero (then left out).
        recv_first = book.base_first if is_buy else not book.base_first
        rows: dict[int, tuple[Event, ...]] = {}
        for maker_user, (maker_got, maker_gave) in makers.items():
            if recv_first:
                rows[maker_user] = ((BALANCE, maker_user, recv_asset, 0, -maker_gave),
                                    (BALANCE, maker_user, give_asset, maker_got, 0))  # fmt: skip
            else:
                rows[maker_user] = ((BALANCE, maker_user, give_asset, maker_got, 0),
                                    (BALANCE, maker_user, recv_asset, 0, -maker_gave))  # fmt: skip
            balance_key = (maker_user, give_asset)
            held = available.get(balance_key)
            if held is not None:
                available[balance_key] = held + maker_got
        paid = -gave - locked_after
        if recv_first:
            rows[user_id] = ((BALANCE, user_id, recv_asset, received, 0),
                             (BALANCE, user_id, give_asset, paid, locked_after))  # fmt: skip
        else:
            rows[user_id] = ((BALANCE, user_id, give_asset, paid, locked_after),
                             (BALANCE, user_id, recv_asset, received, 0))  # fmt: skip
        available[give_key] = give_avail + paid  # the taker's: read by ``place``, unchanged since
        balance_key = (user_id, recv_asset)
        held = available.get(balance_key)
        if held is not None:
            available[balance_key] = held + received
        if taker_fee or maker_fees:
            fee_recv = (BALANCE, fee_user, recv_asset, taker_fee, 0)
            fee_give = (BALANCE, fee_user, give_asset, maker_fees, 0)
            if not taker_fee:
                rows[fee_user] = (fee_give,)
            elif not maker_fees:
                rows[fee_user] = (fee_recv,)
            else:
                rows[fee_user] = (fee_recv, fee_give) if recv_first else (fee_give, fee_recv)
            if taker_fee:
                balance_key = (fee_user, recv_asset)
                held = available.get(balance_key)
                if held is not None:
                    available[balance_key] = held + taker_fee
            if maker_fees:
                balance_key = (fee_user, give_asset)
                held = available.get(balance_key)
                if held is not None:
                    available[balance_key] = held + maker_fees
        for balance_user in sorted(rows):
            events += rows[balance_user]
        return events

    # ------------------------------------------------------------------ cancels
    def _unlink(self, order: Order) -> tuple[str, int]:
        """Take an open order out of the index and its level, and clear its links (the
        caller takes it out of ``by_user`` first). Returns the asset and amount its lock
        releases."""
        del self._orders[order.oid]
        level: Level = order.level
        remaining: int = order.remaining
        level.lots -= remaining
        before, after = order.prev, order.next
        if before is None:
            level.head = after
        else:
            before.next = after
        if after is None:
            level.tail = before
        else:
            after.prev = before
        order.prev = order.next = order.user_prev = order.user_next = None
        return level.asset, remaining * level.lock_per_lot

    def _cancel_orders(self, orders: list[Order]) -> list[Event]:
        """Cancel open orders, in the given order (the caller updates ``by_user``)."""
        events: list[Event] = []
        released: dict[BalanceKey, int] = {}
        for order in orders:
            events.append((ORDER, order.oid, CANCELLED, order.remaining, *order.fills))
            asset, amount = self._unlink(order)
            key = (order.user, asset)
            released[key] = released.get(key, 0) + amount
        self._emit_balances(events, released)
        return events

    def _emit_balances(self, events: list[Event], released: dict[BalanceKey, int]) -> None:
        """Append the BALANCE events of released locks, sorted by (user, asset); update
        ``available``."""
        available = self.available
        for key in sorted(released):
            amount = released[key]
            if amount:
                events.append((BALANCE, key[0], key[1], amount, -amount))
                held = available.get(key)
                if held is not None:
                    available[key] = held + amount

    # -------------------------------------------------------- reads and recovery
    def snapshot(self, symbol: str) -> list[RestingOrder]:
        """Open orders of a market in priority order: bids best first, then asks best
        first, FIFO within a price. Copies: changing them does not change the book."""
        book = self._books[symbol]
        return [RestingOrder.of(order) for side in (BUY, SELL) for level in book.sorted_levels(side) for order in level]

    def open_orders(self, symbol: str) -> list[RestingOrder]:
        """Open orders of a market in seq order (copies)."""
        return [RestingOrder.of(order) for order in self._books[symbol].live_orders()]

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
            self._rest(
                book, given.side, given.order_id, given.user_id, given.price_ticks, given.remaining_lots,
                given.filled_lots, given.filled_quote_atoms, given.fee_atoms, given.seq,
            )  # fmt: skip
            if given.seq > self.last_seq:
                self.last_seq = given.seq

    def locked_by_open_orders(self) -> dict[BalanceKey, int]:
        """What every open order holds locked, summed per (user_id, asset), sorted.

        For the recovery check: it must equal the locked balances in the database."""
        locked: dict[BalanceKey, int] = {}
        for order in self._orders.values():
            level: Level = order.level
            key = (order.user, level.asset)
            locked[key] = locked.get(key, 0) + order.remaining * level.lock_per_lot
        return dict(sorted(locked.items()))


def _seq_of(order: RestingOrder) -> int:
    return order.seq


def _add_summed(events: list[Event], changes: list[Event], available: dict[BalanceKey, int]) -> None:
    """Append BALANCE ``changes`` to ``events`` summed per (user, asset), sorted, zeros left
    out; add their available deltas to ``available`` where it has the key. For a command
    where one user (the fee account) has several changes to one asset."""
    for change in sorted(_summed(changes)):
        _, balance_user, asset, d_av, d_lk = change
        if d_av:
            events.append(change)
            balance_key = (balance_user, asset)
            held = available.get(balance_key)
            if held is not None:
                available[balance_key] = held + d_av
        elif d_lk:
            events.append(change)


def _summed(changes: list[Event]) -> list[Event]:
    """BALANCE changes summed per (user, asset)."""
    sums: dict[BalanceKey, list[int]] = {}
    for _, user, asset, d_available, d_locked in changes:
        pair = sums.setdefault((user, asset), [0, 0])
        pair[0] += d_available
        pair[1] += d_locked
    return [(BALANCE, user, asset, d_av, d_lk) for (user, asset), (d_av, d_lk) in sums.items()]
