"""The order book of one market: price levels of FIFO queues, integers only.

Each side is a dict of price levels plus a heap of their keys (asks keyed by price,
bids by -price, so the best level of either side is ``heap[0]``). A level holds its
resting orders in time priority as a doubly linked list through the orders themselves,
so a cancel unlinks in O(1) and leaves nothing behind. An order leaving the book has its
links cleared, so the book never makes reference cycles (refcounting frees it). An
emptied level stays in the heap until it reaches the top (lazy deletion).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from heapq import heappop, heappush

from orders.engine.commands import MarketSpec


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
        "book",
        "prev",
        "next",
        "user_prev",
        "user_next",
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
        self.book: Book | None = None
        self.prev: RestingOrder | None = None  # links in its price level, None at the ends
        self.next: RestingOrder | None = None
        self.user_prev: RestingOrder | None = None  # links among its user's orders in the book
        self.user_next: RestingOrder | None = None

    def copy(self) -> RestingOrder:
        """A detached copy (not linked to a book)."""
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
    """One price of one side: its total lots and its orders, oldest (``head``) first."""

    __slots__ = ("price_ticks", "lots", "head", "tail")

    def __init__(self, price_ticks: int) -> None:
        self.price_ticks = price_ticks
        self.lots = 0  # lots of the orders at this price
        self.head: RestingOrder | None = None
        self.tail: RestingOrder | None = None

    def append(self, order: RestingOrder) -> None:
        tail = self.tail
        if tail is None:
            self.head = order
        else:
            tail.next = order
            order.prev = tail
        self.tail = order
        self.lots += order.remaining_lots

    def unlink(self, order: RestingOrder) -> None:
        """Take an order out of this level (its lots are the caller's business)."""
        before, after = order.prev, order.next
        if before is None:
            self.head = after
        else:
            before.next = after
        if after is None:
            self.tail = before
        else:
            after.prev = before
        order.prev = order.next = None

    def __iter__(self) -> Iterator[RestingOrder]:
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
        self.bids: dict[int, Level] = {}  # keyed by -price
        self.bid_heap: list[int] = []
        self.asks: dict[int, Level] = {}  # keyed by price
        self.ask_heap: list[int] = []
        # user_id -> that user's newest open order here; the others follow through
        # ``user_next`` (older): for cancel-all, kept exact at O(1) per change.
        self.by_user: dict[int, RestingOrder] = {}

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

    def live_orders(self) -> list[RestingOrder]:
        """Every open order of the book, in seq order."""
        orders = [order for levels in (self.bids, self.asks) for level in levels.values() for order in level]
        orders.sort(key=_seq_of)
        return orders

    def link_user(self, order: RestingOrder) -> None:
        """Index a new open order under its user."""
        head = self.by_user.get(order.user_id)
        if head is not None:
            head.user_prev = order
            order.user_next = head
        self.by_user[order.user_id] = order

    def unlink_user(self, order: RestingOrder) -> None:
        """Take an order that leaves the book out of its user's index."""
        newer, older = order.user_prev, order.user_next
        if newer is None:
            if older is None:
                del self.by_user[order.user_id]
            else:
                self.by_user[order.user_id] = older
                older.user_prev = None
        else:
            newer.user_next = older
            if older is not None:
                older.user_prev = newer
        order.user_prev = order.user_next = None

    def pop_user_orders(self, user_id: int) -> list[RestingOrder]:
        """Take a user's open orders out of the user index, in seq order."""
        orders = []
        order = self.by_user.pop(user_id, None)
        while order is not None:
            orders.append(order)
            order = order.user_next
        orders.sort(key=_seq_of)
        return orders


def _seq_of(order: RestingOrder) -> int:
    return order.seq
