"""A deliberately naive reference matcher to check the engine against.

Plain lists and obvious loops, recomputed from scratch every time: the candidates for a
taker are found by filtering and sorting all open orders; units and fees are worked out
with Decimal; balances are a full ledger (available and locked per user and asset)
changed one elementary step at a time (lock, pay, receive, fee, release) and the
steps of a command summed per (user, asset) only at the end.
"""

from __future__ import annotations

import decimal
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

Event = tuple[Any, ...]


@dataclass
class RefMarket:
    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    lot_size: Decimal
    maker_fee: Decimal
    taker_fee: Decimal
    status: str
    orders: list[dict[str, Any]] = field(default_factory=list)  # open orders, any order

    def base_atoms(self, lots: int) -> int:
        return int(Decimal(lots) * self.lot_size * 10**18)

    def quote_atoms(self, price_ticks: int, lots: int) -> int:
        with decimal.localcontext(decimal.Context(prec=80)):
            return int(Decimal(price_ticks) * self.tick_size * Decimal(lots) * self.lot_size * 10**18)


def _fee(received: int, rate: Decimal) -> int:
    with decimal.localcontext(decimal.Context(prec=80)):
        return int(Decimal(received) * rate)  # int() truncates: the floor of a non-negative


class Reference:
    def __init__(self, fee_user_id: int) -> None:
        self.fee_user_id = fee_user_id
        self.markets: dict[str, RefMarket] = {}
        self.available: dict[tuple[int, str], int] = defaultdict(int)
        self.locked: dict[tuple[int, str], int] = defaultdict(int)
        self.seq = 0
        self.trade_seq = 0
        self._steps: list[tuple[int, str, int, int]] = []

    # ---------------------------------------------------------------- helpers
    def _move(self, user: int, asset: str, d_available: int, d_locked: int) -> None:
        self.available[(user, asset)] += d_available
        self.locked[(user, asset)] += d_locked
        assert self.available[(user, asset)] >= 0 and self.locked[(user, asset)] >= 0
        self._steps.append((user, asset, d_available, d_locked))

    def _balance_events(self) -> list[Event]:
        summed: dict[tuple[int, str], list[int]] = {}
        for user, asset, d_av, d_lk in self._steps:
            pair = summed.setdefault((user, asset), [0, 0])
            pair[0] += d_av
            pair[1] += d_lk
        self._steps = []
        return [(5, u, a, da, dl) for (u, a), (da, dl) in sorted(summed.items()) if da or dl]

    @staticmethod
    def _order_event(o: dict[str, Any], status: str) -> Event:
        return (4, o["id"], status, o["remaining"], o["filled"], o["filled_quote"], o["fee"])

    def _needs_locked(self, m: RefMarket, o: dict[str, Any]) -> tuple[str, int]:
        if o["side"] == "buy":
            return m.quote, m.quote_atoms(o["price"], o["remaining"])
        return m.base, m.base_atoms(o["remaining"])

    def open_orders_by_priority(self, symbol: str) -> list[dict[str, Any]]:
        orders = self.markets[symbol].orders
        bids = sorted((o for o in orders if o["side"] == "buy"), key=lambda o: (-o["price"], o["seq"]))
        asks = sorted((o for o in orders if o["side"] == "sell"), key=lambda o: (o["price"], o["seq"]))
        return bids + asks

    # --------------------------------------------------------------- commands
    def add_market(self, market: RefMarket) -> None:
        self.markets[market.symbol] = market

    def place(
        self,
        order_id: Any,
        user: int,
        symbol: str,
        side: str,
        type_: str,
        tif: str,
        price: int | None,
        qty: int | None,
        quote_budget: int | None,
    ) -> list[Event]:
        m = self.markets.get(symbol)
        if m is None:
            return [(2, order_id, "MARKET_NOT_FOUND")]
        if m.status == "halted":
            return [(2, order_id, "MARKET_HALTED")]
        if m.status == "delisted":
            return [(2, order_id, "MARKET_DELISTED")]
        is_market = type_ == "market"
        by_budget = is_market and side == "buy"
        if side == "buy":
            give = m.quote
            lock = quote_budget if by_budget else m.quote_atoms(price, qty)  # type: ignore[arg-type]
        else:
            give = m.base
            lock = m.base_atoms(qty)  # type: ignore[arg-type]
        assert lock is not None
        if self.available[(user, give)] < lock:
            return [(2, order_id, "INSUFFICIENT_BALANCE")]

        def crosses(o: dict[str, Any]) -> bool:
            if o["side"] == side:
                return False
            if is_market:
                return True
            return o["price"] <= price if side == "buy" else o["price"] >= price  # type: ignore[operator]

        candidates = [o for o in self.open_orders_by_priority(symbol) if crosses(o)]
        if tif == "post_only" and not is_market and candidates:
            return [(2, order_id, "POST_ONLY_REJECT")]

        # Would matching reach an own order before the order is done?
        left = quote_budget if by_budget else qty
        assert left is not None
        for o in candidates:
            if by_budget:
                can_buy = left // m.quote_atoms(o["price"], 1)
                if can_buy == 0:
                    break
                if o["user"] == user:
                    return [(2, order_id, "SELF_TRADE")]
                left -= min(can_buy, o["remaining"]) * m.quote_atoms(o["price"], 1)
            else:
                if left == 0:
                    break
                if o["user"] == user:
                    return [(2, order_id, "SELF_TRADE")]
                left -= min(left, o["remaining"])
        fok_fails = tif == "fok" and not is_market and left > 0

        self.seq += 1
        events: list[Event] = [(1, order_id, self.seq)]
        self._move(user, give, -lock, lock)
        taker = {
            "id": order_id, "user": user, "side": side, "price": price, "remaining": 0 if by_budget else qty,
            "filled": 0, "filled_quote": 0, "fee": 0, "seq": self.seq,
        }  # fmt: skip
        budget = quote_budget or 0
        if not fok_fails:
            for o in candidates:
                if by_budget:
                    lots = min(o["remaining"], budget // m.quote_atoms(o["price"], 1))
                else:
                    lots = min(o["remaining"], taker["remaining"])
                if lots == 0:
                    break
                base_amt = m.base_atoms(lots)
                quote_amt = m.quote_atoms(o["price"], lots)
                if side == "buy":  # maker sells
                    maker_fee = _fee(quote_amt, m.maker_fee)
                    taker_fee = _fee(base_amt, m.taker_fee)
                    self._move(o["user"], m.base, 0, -base_amt)
                    self._move(o["user"], m.quote, quote_amt, 0)
                    self._move(o["user"], m.quote, -maker_fee, 0)
                    self._move(self.fee_user_id, m.quote, maker_fee, 0)
                    self._move(user, m.quote, 0, -quote_amt)
                    self._move(user, m.base, base_amt, 0)
                    self._move(user, m.base, -taker_fee, 0)
                    self._move(self.fee_user_id, m.base, taker_fee, 0)
                    if by_budget:
                        budget -= quote_amt
                else:  # maker buys
                    maker_fee = _fee(base_amt, m.maker_fee)
                    taker_fee = _fee(quote_amt, m.taker_fee)
                    self._move(o["user"], m.quote, 0, -quote_amt)
                    self._move(o["user"], m.base, base_amt, 0)
                    self._move(o["user"], m.base, -maker_fee, 0)
                    self._move(self.fee_user_id, m.base, maker_fee, 0)
                    self._move(user, m.base, 0, -base_amt)
                    self._move(user, m.quote, quote_amt, 0)
                    self._move(user, m.quote, -taker_fee, 0)
                    self._move(self.fee_user_id, m.quote, taker_fee, 0)
                self.trade_seq += 1
                events.append(
                    (3, symbol, self.trade_seq, o["id"], order_id, o["user"], user, o["price"], lots, side,
                     maker_fee, taker_fee)
                )  # fmt: skip
                o["remaining"] -= lots
                o["filled"] += lots
                o["filled_quote"] += quote_amt
                o["fee"] += maker_fee
                events.append(self._order_event(o, "filled" if o["remaining"] == 0 else "partially_filled"))
                if o["remaining"] == 0:
                    m.orders.remove(o)
                if not by_budget:
                    taker["remaining"] -= lots
                taker["filled"] += lots
                taker["filled_quote"] += quote_amt
                taker["fee"] += taker_fee
                if side == "buy" and not by_budget:
                    # bought below its limit: the difference is no longer needed locked
                    saved = m.quote_atoms(price, lots) - quote_amt  # type: ignore[arg-type]
                    self._move(user, m.quote, saved, -saved)

        if by_budget:
            more_asks = any(o["side"] == "sell" for o in m.orders)
            status = "filled" if taker["filled"] and (budget == 0 or more_asks) else "cancelled"
            self._move(user, m.quote, budget, -budget)
        elif taker["remaining"] == 0:
            status = "filled"
        elif is_market or tif in ("ioc", "fok"):
            status = "cancelled"
            _, unused = self._needs_locked(m, taker)
            self._move(user, give, unused, -unused)
        else:
            status = "partially_filled" if taker["filled"] else "open"
            m.orders.append(taker)
        events.append(self._order_event(taker, status))
        events.extend(self._balance_events())
        return events

    def _cancel_orders(self, m: RefMarket, orders: list[dict[str, Any]]) -> list[Event]:
        events: list[Event] = []
        for o in sorted(orders, key=lambda o: o["seq"]):
            events.append(self._order_event(o, "cancelled"))
            asset, amount = self._needs_locked(m, o)
            self._move(o["user"], asset, amount, -amount)
            m.orders.remove(o)
        return events + self._balance_events()

    def cancel(self, order_id: Any, user: int) -> list[Event]:
        for m in self.markets.values():
            for o in m.orders:
                if o["id"] == order_id and o["user"] == user:
                    return self._cancel_orders(m, [o])
        return [(2, order_id, "ORDER_NOT_FOUND")]

    def cancel_all(self, user: int, symbol: str) -> list[Event]:
        m = self.markets.get(symbol)
        if m is None:
            return [(2, None, "MARKET_NOT_FOUND")]
        return self._cancel_orders(m, [o for o in m.orders if o["user"] == user])

    def set_status(self, symbol: str, status: str) -> list[Event]:
        m = self.markets.get(symbol)
        if m is None:
            return [(2, None, "MARKET_NOT_FOUND")]
        if m.status == "delisted" and status != "delisted":
            return [(2, None, "MARKET_DELISTED")]
        m.status = status
        events = self._cancel_orders(m, list(m.orders)) if status == "delisted" else []
        return events + [(6, symbol, status)]

    def locked_by_open_orders(self) -> dict[tuple[int, str], int]:
        locked: dict[tuple[int, str], int] = defaultdict(int)
        for m in self.markets.values():
            for o in m.orders:
                asset, amount = self._needs_locked(m, o)
                locked[(o["user"], asset)] += amount
        return {k: v for k, v in sorted(locked.items()) if v}
