"""Commands the engine takes, and the market specification it trades under.

Commands are ``NamedTuple``s: building one is a single tuple allocation and the engine
unpacks it in one step, measurably cheaper than a ``__slots__`` class on the hot path.
All numbers are ints in engine units (see ``units``): prices in ticks, quantities in
lots, amounts in atoms. ``order_id`` is opaque and hashable (the caller uses UUIDs).
"""

from __future__ import annotations

from collections.abc import Hashable
from decimal import Decimal
from typing import NamedTuple

from orders.engine.units import ATOMS_PER_UNIT, fee_rate_e8, to_atoms

SIDES = ("buy", "sell")
TYPES = ("limit", "market")
TIFS = ("gtc", "ioc", "fok", "post_only")
MARKET_STATUSES = ("active", "halted", "delisted")


class Place(NamedTuple):
    """Place an order.

    limit: ``price_ticks`` and ``qty_lots``; market sell: ``qty_lots``; market buy:
    ``quote_atoms`` (spend at most that much quote). A market order ignores ``tif``.
    """

    order_id: Hashable
    user_id: int
    symbol: str
    side: str
    type: str
    tif: str
    price_ticks: int | None
    qty_lots: int | None
    quote_atoms: int | None


class Cancel(NamedTuple):
    """Cancel one open order of ``user_id``."""

    order_id: Hashable
    user_id: int


class CancelAll(NamedTuple):
    """Cancel every open order of ``user_id`` in ``symbol``."""

    user_id: int
    symbol: str


class SetStatus(NamedTuple):
    """Set a market's status: ``active``, ``halted`` or ``delisted`` (terminal)."""

    symbol: str
    status: str


Command = Place | Cancel | CancelAll | SetStatus


class MarketSpec:
    """A market as the engine sees it, with its integer units derived once.

    ``lot_atoms``: base atoms per lot. ``unit_atoms``: quote atoms per tick*lot, so a
    fill costs ``price_ticks * qty_lots * unit_atoms`` quote atoms. Raises ValueError if
    either is not a whole number of atoms, or a fee rate is finer than 10**-8.
    """

    __slots__ = (
        "symbol",
        "base",
        "quote",
        "tick_size",
        "lot_size",
        "maker_fee",
        "taker_fee",
        "status",
        "tick_atoms",
        "lot_atoms",
        "unit_atoms",
        "maker_fee_e8",
        "taker_fee_e8",
    )

    def __init__(
        self,
        symbol: str,
        base: str,
        quote: str,
        tick_size: Decimal,
        lot_size: Decimal,
        maker_fee: Decimal,
        taker_fee: Decimal,
        status: str,
    ) -> None:
        if status not in MARKET_STATUSES:
            raise ValueError(f"unknown market status {status!r}")
        if base == quote:
            raise ValueError("base and quote must differ")
        if tick_size <= 0 or lot_size <= 0:
            raise ValueError("tick_size and lot_size must be positive")
        self.symbol = symbol
        self.base = base
        self.quote = quote
        self.tick_size = tick_size
        self.lot_size = lot_size
        self.maker_fee = maker_fee
        self.taker_fee = taker_fee
        self.status = status
        self.tick_atoms = to_atoms(tick_size)
        self.lot_atoms = to_atoms(lot_size)
        # tick*lot*10**18 = tick_atoms*lot_atoms / 10**18, exact or refused.
        unit_atoms, rest = divmod(self.tick_atoms * self.lot_atoms, ATOMS_PER_UNIT)
        if rest:
            raise ValueError(f"tick_size*lot_size = {tick_size}*{lot_size} is finer than 1e-18")
        self.unit_atoms = unit_atoms
        self.maker_fee_e8 = fee_rate_e8(maker_fee)
        self.taker_fee_e8 = fee_rate_e8(taker_fee)

    def __repr__(self) -> str:
        return (
            f"MarketSpec({self.symbol!r}, {self.base!r}, {self.quote!r}, "
            f"tick_size={self.tick_size}, lot_size={self.lot_size}, "
            f"maker_fee={self.maker_fee}, taker_fee={self.taker_fee}, status={self.status!r})"
        )
