"""Events the engine emits: plain tuples whose first element is an int kind.

Tuples, not objects, because the engine builds millions of them and the DB loop only
unpacks them. Within one command the events come in this order:

* place: ``ACCEPTED``, then per fill ``TRADE`` followed by the maker's ``ORDER``, then the
  taker's ``ORDER``, then the ``BALANCE`` changes; or a single ``REJECTED``.
* cancel / cancel-all: one ``ORDER`` per cancelled order (by ``seq``), then ``BALANCE``.
* set-status: ``ORDER`` per cancelled order (delist only), ``BALANCE``, then ``STATUS``.

``BALANCE`` events of one command are summed per (user_id, asset), sorted by
(user_id, asset) (the order the DB loop applies them in, so writers cannot deadlock),
and a change of zero is left out. Their sum per asset over all users, the fee account
included, is zero: the engine only moves value.
"""

from __future__ import annotations

ACCEPTED = 1
"""``(1, order_id, seq)``: the order passed every check and its lock is taken.

``seq`` is the engine's increasing int for accepted orders (its time priority)."""

REJECTED = 2
"""``(2, order_id, code)``: refused with a seed code; nothing changed.

``order_id`` is None for a refused ``CancelAll`` or ``SetStatus`` (unknown market, or a
status change of a delisted market)."""

TRADE = 3
"""``(3, symbol, trade_seq, maker_order_id, taker_order_id, maker_user_id, taker_user_id,
price_ticks, qty_lots, taker_side, maker_fee_atoms, taker_fee_atoms)``.

Trades at the maker's price. The buyer's fee is in base atoms, the seller's in quote
atoms (each pays in the asset it receives). ``trade_seq`` increases per engine."""

ORDER = 4
"""``(4, order_id, status, remaining_lots, filled_lots, filled_quote_atoms, fee_atoms)``.

The state of an order after the command: for the taker at the end of its place, for each
maker a trade touched, for each cancelled order. ``remaining_lots`` is what is (or was,
for ``cancelled``) left unfilled; it is 0 for a market buy, which has a quote budget and
no quantity. ``fee_atoms`` is in the asset the order receives.

A taker that does not rest ends ``filled`` when nothing is left, else ``cancelled``. A
market buy (a quote budget) is ``filled`` when it got fills and stopped because its
leftover cannot buy one lot of the next ask (or is exactly spent), and ``cancelled``
when the book ran out first or it filled nothing."""

BALANCE = 5
"""``(5, user_id, asset, d_available_atoms, d_locked_atoms)``: a change to add to a balance."""

STATUS = 6
"""``(6, symbol, status)``: the market's status after a ``SetStatus``."""

# Order statuses.
OPEN = "open"
PARTIALLY_FILLED = "partially_filled"
FILLED = "filled"
CANCELLED = "cancelled"

# Refusal codes, byte for byte the seed's.
INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
POST_ONLY_REJECT = "POST_ONLY_REJECT"
SELF_TRADE = "SELF_TRADE"
MARKET_HALTED = "MARKET_HALTED"
MARKET_DELISTED = "MARKET_DELISTED"
MARKET_NOT_FOUND = "MARKET_NOT_FOUND"
ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
