"""The order book of one market: price levels of FIFO queues, integers only.

Each side is a dict of price levels plus a heap of their keys (asks keyed by price,
bids by -price, so the best level of either side is ``heap[0]``). An emptied level stays
in the heap until it reaches the top (lazy deletion).

An open order inside the engine is an ``Order``, a slots object with no ``__init__``.
A level holds its orders in time priority as a doubly linked list through the orders
(``prev``/``next``), so a cancel unlinks in O(1) and leaves nothing behind; each order
points at its level, which knows its price, side, book and what one lot of it locks.
``RestingOrder`` is the public form of an order, for snapshots and restores.

No reference cycles: an order that leaves the book is unlinked so that nothing in the
book points at it any more, and a level that leaves the book has its ends cleared, so
refcounting frees everything (the loop may run with the cycle collector off).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from heapq import heappop, heappush

from orders.engine.commands import MarketSpec


class Order:
    """An open order inside the engine: one object of slots, set one by one where it is
    made (no ``__init__``: a Python ``__init__`` frame costs more than the object). Ints in
    engine units. One allocation, so an order touched on a large book costs one cache miss
    where a list (header, then its item array elsewhere) cost two (docs/decisions/0012)."""

    __slots__ = (
        "oid",
        "user",
        "remaining",
        "fills",
        "seq",
        "level",
        "prev",
        "next",
        "user_prev",
        "user_next",
    )
    oid: Hashable  # the caller's order id
    user: int  # user_id, the same int object for all of a user's orders in a book
    remaining: int  # lots still open
    # (lots filled so far, quote atoms of those fills, fee atoms paid so far in the asset it
    # receives): one slot, the shared constant (0, 0, 0) until its first fill
    fills: tuple[int, int, int]
    seq: int  # time priority
    level: Level  # the level it rests in
    prev: Order | None  # older order of the level, None at the head
    next: Order | None  # newer order of the level, None at the tail
    user_prev: Order | None  # newer open order of the same user in this book, None for the newest
    user_next: Order | None  # older open order of the same user in this book


class RestingOrder:
    """An order in a book: what a snapshot returns and a restore takes.

    ``filled_quote_atoms`` is the quote value of its fills so far; ``fee_atoms`` the fees
    it paid so far, in the asset it receives; ``seq`` its time priority.
    """

    __slots__ = (
        "order_id",
        "user_id",
        "side",
        "price_ticks",
        "remaining_lots",
        "filled_lots",
        "filled_quote_atoms",
        "fee_atoms",
        "seq",
    )

    def __init__(
        self,
        order_id: Hashable,
        user_id: int,
        side: str,
        price_ticks: int,
        remaining_lots: int,
        filled_lots: int = 0,
        filled_quote_atoms: int = 0,
        fee_atoms: int = 0,
        seq: int = 0,
    ) -> None:
        self.order_id = order_id
        self.user_id = user_id
        self.side = side
        self.price_ticks = price_ticks
        self.remaining_lots = remaining_lots
        self.filled_lots = filled_lots
        self.filled_quote_atoms = filled_quote_atoms
        self.fee_atoms = fee_atoms
        self.seq = seq

    @classmethod
    def of(cls, order: Order) -> RestingOrder:
        """The public form of an open order (a detached copy)."""
        level: Level = order.level
        filled_lots, filled_quote, fee = order.fills
        return cls(
            order.oid, order.user, level.side, level.price_ticks, order.remaining, filled_lots, filled_quote, fee,
            order.seq,
        )  # fmt: skip

    def copy(self) -> RestingOrder:
        """A detached copy."""
        return RestingOrder(*self.as_tuple())  # type: ignore[arg-type]

    def as_tuple(self) -> tuple[object, ...]:
        return (
            self.order_id,
            self.user_id,
            self.side,
            self.price_ticks,
            self.remaining_lots,
            self.filled_lots,
            self.filled_quote_atoms,
            self.fee_atoms,
            self.seq,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RestingOrder):
            return NotImplemented
        return self.as_tuple() == other.as_tuple()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"RestingOrder{self.as_tuple()!r}"


class Level:
    """One price of one side: its total lots and its orders, oldest (``head``) first.

    ``asset`` is what its orders lock (quote for bids, base for asks) and
    ``lock_per_lot`` how many atoms of it one lot locks, so a cancel needs no branch."""

    __slots__ = ("price_ticks", "lots", "head", "tail", "book", "side", "asset", "lock_per_lot")

    def __init__(self, book: Book, side: str, price_ticks: int) -> None:
        self.price_ticks = price_ticks
        self.lots = 0  # lots of the orders at this price
        self.head: Order | None = None
        self.tail: Order | None = None
        self.book = book
        self.side = side
        if side == "buy":
            self.asset = book.quote
            self.lock_per_lot = price_ticks * book.unit_atoms
        else:
            self.asset = book.base
            self.lock_per_lot = book.lot_atoms

    def __iter__(self) -> Iterator[Order]:
        order = self.head
        while order is not None:
            yield order
            order = order.next


class Book:
    """Both sides of one market, its integer units and status."""

    __slots__ = (
        "symbol",
        "base",
        "quote",
        "lot_atoms",
        "unit_atoms",
        "maker_fee_e8",
        "taker_fee_e8",
        "status",
        "active",
        "base_first",
        "bids",
        "bid_heap",
        "asks",
        "ask_heap",
        "by_user",
    )

    def __init__(self, spec: MarketSpec) -> None:
        self.symbol = spec.symbol
        self.base = spec.base
        self.quote = spec.quote
        self.lot_atoms = spec.lot_atoms
        self.unit_atoms = spec.unit_atoms
        self.maker_fee_e8 = spec.maker_fee_e8
        self.taker_fee_e8 = spec.taker_fee_e8
        self.status = spec.status
        self.active = spec.status == "active"  # kept so by ``Engine.set_status``: place tests a bool
        self.base_first = spec.base < spec.quote  # the order of a user's BALANCE events
        self.bids: dict[int, Level] = {}  # keyed by -price
        self.bid_heap: list[int] = []
        self.asks: dict[int, Level] = {}  # keyed by price
        self.ask_heap: list[int] = []
        # user_id -> that user's newest open order here; the others follow through
        # ``user_next`` (older): for cancel-all, kept exact at O(1) per change.
        self.by_user: dict[int, Order] = {}

    def sorted_levels(self, side: str) -> list[Level]:
        """Non-empty levels of a side, best first."""
        levels = self.bids if side == "buy" else self.asks
        return [levels[key] for key in sorted(levels) if levels[key].lots]

    def best_levels(self, side: str, limit: int) -> list[Level]:
        """The ``limit`` best non-empty levels of a side, best first, without sorting them
        all: walks the heap as a tree, smallest key first (O(limit log limit) plus the
        empty levels on the way)."""
        levels, heap = (self.bids, self.bid_heap) if side == "buy" else (self.asks, self.ask_heap)
        best: list[Level] = []
        frontier = [(heap[0], 0)] if heap else []
        size = len(heap)
        while frontier and len(best) < limit:
            _, index = heappop(frontier)
            level = levels[heap[index]]
            if level.lots:
                best.append(level)
            for child in (2 * index + 1, 2 * index + 2):
                if child < size:
                    heappush(frontier, (heap[child], child))
        return best

    def level_for(self, side: str, price_ticks: int) -> Level:
        """The level of a price, made (and pushed on its heap) if there is none."""
        if side == "buy":
            levels, heap, key = self.bids, self.bid_heap, -price_ticks
        else:
            levels, heap, key = self.asks, self.ask_heap, price_ticks
        level = levels.get(key)
        if level is None:
            level = levels[key] = Level(self, side, price_ticks)
            heappush(heap, key)
        return level

    def live_orders(self) -> list[Order]:
        """Every open order of the book, in seq order."""
        orders = [order for levels in (self.bids, self.asks) for level in levels.values() for order in level]
        orders.sort(key=_seq_of)
        return orders

    def user_orders(self, user_id: int) -> list[Order]:
        """A user's open orders here, newest first, as the user index links them."""
        orders = []
        order = self.by_user.get(user_id)
        while order is not None:
            orders.append(order)
            order = order.user_next
        return orders

    def pop_user_orders(self, user_id: int) -> list[Order]:
        """Take a user's open orders out of the user index, in seq order."""
        orders = self.user_orders(user_id)
        self.by_user.pop(user_id, None)
        orders.sort(key=_seq_of)
        return orders


def _seq_of(order: Order) -> int:
    seq: int = order.seq
    return seq
