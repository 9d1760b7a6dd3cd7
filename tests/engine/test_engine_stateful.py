"""Random command sequences against the naive reference; invariants after every step.

Default profile ``engine-default`` (1000 runs of up to 50 steps, about 20 s); set
``HYPOTHESIS_PROFILE=engine-thorough`` for a longer search.
"""

from __future__ import annotations

import os
from collections import defaultdict
from decimal import Decimal
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from reference import Reference, RefMarket

from orders.engine.commands import Cancel, CancelAll, MarketSpec, Place, SetStatus
from orders.engine.engine import Engine

FEE_USER = 0
USERS = (1, 2, 3, 4, FEE_USER)  # the fee account trades too: its changes are summed with its fees
UNIT = 10**18
AAA_LOT = 1234567  # atoms: amounts and fees in AAA_QQQ are not multiples of 10**8, so fees get floored
MARKETS = (
    ("AAA_QQQ", "AAA", "QQQ", Decimal("1000"), Decimal("0.000000000001234567"), Decimal("0.0013"), Decimal("0.0025")),
    # shares the quote asset with the first (one balance, two books); scarce funds here
    ("BBB_QQQ", "BBB", "QQQ", Decimal("1"), Decimal("1"), Decimal("0.00000007"), Decimal("0.003")),
    # the base sorts after the quote: a user's BALANCE events come quote first
    ("ZZZ_QQQ", "ZZZ", "QQQ", Decimal("1"), Decimal("1"), Decimal("0.001"), Decimal("0.002")),
)
START = {"AAA": 150 * AAA_LOT, "BBB": 60 * UNIT, "ZZZ": 60 * UNIT, "QQQ": 400 * UNIT}
SYMBOLS = st.sampled_from([m[0] for m in MARKETS])
USER = st.sampled_from(USERS)
SIDE = st.sampled_from(["buy", "sell"])
TIF = st.sampled_from(["gtc", "gtc", "ioc", "fok", "post_only"])
PRICE = st.integers(min_value=5, max_value=16)
QTY = st.integers(min_value=1, max_value=60)
BUDGET = st.one_of(st.integers(min_value=1, max_value=2 * 10**12), st.integers(min_value=1, max_value=120 * UNIT))


class EngineMatchesReference(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.engine = Engine(fee_user_id=FEE_USER)
        self.reference = Reference(fee_user_id=FEE_USER)
        for symbol, base, quote, tick, lot, maker, taker in MARKETS:
            self.engine.add_market(MarketSpec(symbol, base, quote, tick, lot, maker, taker, "active"))
            self.reference.add_market(RefMarket(symbol, base, quote, tick, lot, maker, taker, "active"))
        for user in USERS:
            for asset, amount in START.items():
                self.reference.available[(user, asset)] = amount
        # The balances as the engine's BALANCE events say they are.
        self.ledger: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
        for key, amount in self.reference.available.items():
            self.ledger[key][0] = amount
        self.totals = {asset: amount * len(USERS) for asset, amount in START.items()}
        self.next_id = 0
        self.ids: list[int] = []

    # ----------------------------------------------------------------- driving
    def _new_id(self) -> int:
        self.next_id += 1
        self.ids.append(self.next_id)
        return self.next_id

    def _load_available(self, users: list[int]) -> None:
        """What the DB loop does before a batch: the takers' current available balances."""
        self.engine.available.clear()
        for user in users:
            for asset in START:
                self.engine.available[(user, asset)] = self.reference.available[(user, asset)]

    def _run(self, commands: list[Any]) -> None:
        self._load_available(sorted({c.user_id for c in commands if hasattr(c, "user_id")}))
        for command in commands:
            got = self.engine.execute(command)
            expected = self._reference_execute(command)
            assert got == expected, (command, got, expected)
            for event in got:
                if event[0] == 5:
                    pair = self.ledger[(event[1], event[2])]
                    pair[0] += event[3]
                    pair[1] += event[4]
        # the engine kept every loaded key exact through the batch
        for key, value in self.engine.available.items():
            assert value == self.reference.available[key], key

    def _reference_execute(self, command: Any) -> list[Any]:
        if isinstance(command, Place):
            return self.reference.place(*command)
        if isinstance(command, Cancel):
            return self.reference.cancel(*command)
        if isinstance(command, CancelAll):
            return self.reference.cancel_all(*command)
        return self.reference.set_status(*command)

    # ------------------------------------------------------------------- rules
    @rule(user=USER, symbol=SYMBOLS, side=SIDE, price=PRICE, qty=QTY, tif=TIF)
    def place_limit(self, user: int, symbol: str, side: str, price: int, qty: int, tif: str) -> None:
        self._run([Place(self._new_id(), user, symbol, side, "limit", tif, price, qty, None)])

    @rule(user=USER, symbol=SYMBOLS, qty=QTY)
    def place_market_sell(self, user: int, symbol: str, qty: int) -> None:
        self._run([Place(self._new_id(), user, symbol, "sell", "market", "ioc", None, qty, None)])

    @rule(user=USER, symbol=SYMBOLS, budget=BUDGET)
    def place_market_buy(self, user: int, symbol: str, budget: int) -> None:
        self._run([Place(self._new_id(), user, symbol, "buy", "market", "ioc", None, None, budget)])

    @rule(
        orders=st.lists(
            st.tuples(USER, SYMBOLS, SIDE, PRICE, st.integers(min_value=20, max_value=200), TIF),
            min_size=2,
            max_size=4,
        )
    )
    def place_batch(self, orders: list[tuple[int, str, str, int, int, str]]) -> None:
        """Several orders with balances loaded once: funds cannot be spent twice."""
        self._run([Place(self._new_id(), u, s, side, "limit", tif, p, q, None) for u, s, side, p, q, tif in orders])

    @precondition(lambda self: bool(self.ids))
    @rule(data=st.data(), user=USER)
    def cancel(self, data: st.DataObject, user: int) -> None:
        order_id = data.draw(st.sampled_from(self.ids))
        self._run([Cancel(order_id, user)])

    @rule(user=USER, symbol=SYMBOLS)
    def cancel_all(self, user: int, symbol: str) -> None:
        self._run([CancelAll(user, symbol)])

    @rule(symbol=SYMBOLS, status=st.sampled_from(["active", "active", "halted", "halted", "delisted"]))
    def set_status(self, symbol: str, status: str) -> None:
        self._run([SetStatus(symbol, status)])

    # -------------------------------------------------------------- invariants
    @invariant()
    def book_never_crossed_and_fifo(self) -> None:
        for symbol, *_ in MARKETS:
            bids, asks = self.engine.depth(symbol, 1000)
            if bids and asks:
                assert bids[0][0] < asks[0][0]
            snapshot = self.engine.snapshot(symbol)
            for a, b in zip(snapshot, snapshot[1:], strict=False):
                if a.side == b.side:
                    better = a.price_ticks > b.price_ticks if a.side == "buy" else a.price_ticks < b.price_ticks
                    assert better or (a.price_ticks == b.price_ticks and a.seq < b.seq)
                else:
                    assert (a.side, b.side) == ("buy", "sell")
            expected = [
                (o["id"], o["user"], o["side"], o["price"], o["remaining"], o["filled"], o["filled_quote"], o["fee"],
                 o["seq"])
                for o in self.reference.open_orders_by_priority(symbol)
            ]  # fmt: skip
            assert [o.as_tuple() for o in snapshot] == expected

    @invariant()
    def user_index_holds_exactly_the_open_orders(self) -> None:
        for symbol, *_ in MARKETS:
            book = self.engine._books[symbol]
            indexed = []
            for user, newest in book.by_user.items():
                order, newer = newest, None
                while order is not None:
                    assert order.user == user and order.user_prev is newer
                    indexed.append(order.oid)
                    order, newer = order.user_next, order
            assert sorted(indexed) == sorted(o.order_id for o in self.engine.open_orders(symbol))

    @invariant()
    def levels_link_exactly_their_orders(self) -> None:
        linked = []
        for symbol, *_ in MARKETS:
            book = self.engine._books[symbol]
            for levels in (book.bids, book.asks):
                for level in levels.values():
                    order, older, lots = level.head, None, 0
                    while order is not None:
                        assert order.level is level and order.prev is older and order.remaining > 0
                        linked.append(order.oid)
                        lots += order.remaining
                        order, older = order.next, order
                    assert level.tail is older and level.lots == lots
        assert sorted(linked) == sorted(self.engine._orders)

    @invariant()
    def value_is_conserved_and_never_negative(self) -> None:
        totals: dict[str, int] = defaultdict(int)
        for (_, asset), (available, locked) in self.ledger.items():
            assert available >= 0 and locked >= 0
            totals[asset] += available + locked
        assert dict(totals) == self.totals

    @invariant()
    def locked_is_what_open_orders_need(self) -> None:
        ledger_locked = {key: pair[1] for key, pair in sorted(self.ledger.items()) if pair[1]}
        assert self.engine.locked_by_open_orders() == ledger_locked
        assert self.reference.locked_by_open_orders() == ledger_locked
        for key, (available, _) in self.ledger.items():
            assert available == self.reference.available[key]


EngineMatchesReference.TestCase.settings = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "engine-default"))
test_engine_matches_reference = EngineMatchesReference.TestCase
