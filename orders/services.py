"""Order use cases on the API side: validate what needs no book, hand the rest to the engine.

The validation runs in the order of the seed's table (SPEC §1): market, side, type, tif,
required fields, tick, lot, min notional; the engine then decides balance, post only and
self trade in command order. Nothing here writes to the database: the engine loop does,
and answers only after its commit.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import SynchronousOnlyOperation
from django.utils import timezone

from exchange.auth import Caller
from exchange.errors import (
    BY_CODE,
    BelowMinNotional,
    ClientOrderIdReused,
    EngineBusy,
    InvalidId,
    InvalidLot,
    InvalidSide,
    InvalidTick,
    InvalidTif,
    InvalidType,
    MarketNotFound,
    OrderNotFound,
    QuantityRequiredForLimit,
    QuantityRequiredForMarketSell,
    QuoteQuantityRequiredForMarketBuy,
)
from exchange.money import fmt, parse_decimal
from exchange.permissions import require_trade_permission
from exchange.text import is_text
from exchange.throttling import DeferredRateLimit
from markets.models import SYMBOL_MAX_LEN, Market
from markets.selectors import check_tradable, get_market
from orders import gateway, selectors
from orders.ids import uuid7
from orders.models import OPEN_STATUSES, Order

logger = logging.getLogger(__name__)
SIDES = ("buy", "sell")
TYPES = ("limit", "market")
TIFS = ("gtc", "ioc", "fok", "post_only")
CLIENT_ORDER_ID_MAX = 64
MARKET_CACHE_TTL_S = 1.0  # status changes reach the engine directly; this only spares a query
# On the event loop, an expired market is used while one thread reloads it, for at most this long
# past its expiry: so a second's expiry hands no request back to a thread (each of which would
# query it), as long as the reload works.
MARKET_STALE_ON_LOOP_S = 5.0

_markets: dict[str, tuple[float, Market]] = {}
_reloading: dict[str, asyncio.Future[Any]] = {}  # symbol -> its reload in a thread, on the loop


def cached_market(symbol: object, *, max_age_s: float = MARKET_CACHE_TTL_S) -> Market:
    """The market (cached a second per process); MarketNotFound if there is none."""
    if not is_text(symbol, SYMBOL_MAX_LEN):
        raise MarketNotFound()
    hit = _markets.get(symbol)
    if hit is not None and time.monotonic() - hit[0] < max_age_s:
        return hit[1]
    return _load_market(symbol)


def _load_market(symbol: str) -> Market:
    now = time.monotonic()
    try:
        market = get_market(symbol)
    except MarketNotFound:
        _markets.pop(symbol, None)
        raise
    _markets[symbol] = (now, market)
    return market


def _reload_expired_market(symbol: object, in_thread: Callable[[Callable[[], Any]], Awaitable[Any]]) -> None:
    """On the event loop: if ``symbol``'s cached market has expired, reload it in a thread (one
    reload at a time per symbol; the loop meanwhile uses the expired one, ``MARKET_STALE_ON_LOOP_S``)."""
    if not isinstance(symbol, str) or symbol in _reloading:
        return
    hit = _markets.get(symbol)
    if hit is None or time.monotonic() - hit[0] < MARKET_CACHE_TTL_S:
        return
    reload = _reloading[symbol] = asyncio.ensure_future(in_thread(lambda: _load_market(symbol)))

    def done(future: asyncio.Future[Any]) -> None:
        _reloading.pop(symbol, None)
        if not future.cancelled() and future.exception() is not None:  # retrieved: the next request tries again
            logger.warning("market %s: reload failed: %r", symbol, future.exception())

    reload.add_done_callback(done)


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A checked order request, amounts normalized."""

    market: Market
    side: str
    type: str
    tif: str
    price: Decimal | None
    quantity: Decimal | None
    quote_quantity: Decimal | None
    client_order_id: str | None

    def fingerprint(self) -> str:
        text = "|".join(
            [self.market.symbol, self.side, self.type, self.tif, fmt(self.price) or "", fmt(self.quantity) or "",
             fmt(self.quote_quantity) or ""]
        )  # fmt: skip
        return hashlib.sha256(text.encode()).hexdigest()


def _multiple_of(value: Decimal, step: Decimal) -> bool:
    return value % step == 0


def check_order_request(data: dict[str, Any], *, market_age_s: float = MARKET_CACHE_TTL_S) -> OrderRequest:
    """Validate a POST /spot/orders body; raises the first contract error in the seed's order.
    ``market_age_s``: how old a cached market may be."""
    market = cached_market(data.get("symbol"), max_age_s=market_age_s)
    check_tradable(market)
    side = data.get("side")
    if side not in SIDES:
        raise InvalidSide()
    order_type = data.get("type")
    if order_type not in TYPES:
        raise InvalidType()
    tif = data.get("tif")
    if tif is None:
        tif = "gtc" if order_type == "limit" else "ioc"
    elif tif not in TIFS:
        raise InvalidTif()
    raw_price, raw_quantity, raw_quote = data.get("price"), data.get("quantity"), data.get("quote_quantity")
    price = quantity = quote_quantity = None
    if order_type == "limit":
        if raw_quantity is None:
            raise QuantityRequiredForLimit()
        price = parse_decimal(raw_price)
        if price is None or price <= 0 or not _multiple_of(price, market.tick_size):
            raise InvalidTick()
        quantity = parse_decimal(raw_quantity)
        if quantity is None or quantity <= 0 or not _multiple_of(quantity, market.lot_size):
            raise InvalidLot()
        if price * quantity < market.min_notional:
            raise BelowMinNotional()
    elif side == "sell":
        if raw_quantity is None:
            raise QuantityRequiredForMarketSell()
        quantity = parse_decimal(raw_quantity)
        if quantity is None or quantity <= 0 or not _multiple_of(quantity, market.lot_size):
            raise InvalidLot()
    else:
        if raw_quote is None:
            raise QuoteQuantityRequiredForMarketBuy()
        quote_quantity = parse_decimal(raw_quote)
        if quote_quantity is None or quote_quantity <= 0 or quote_quantity < market.min_notional:
            raise BelowMinNotional()
    client_order_id = data.get("client_order_id")
    if client_order_id is not None and not is_text(client_order_id, CLIENT_ORDER_ID_MAX):
        raise InvalidId()
    return OrderRequest(market, side, order_type, tif, price, quantity, quote_quantity, client_order_id)


def _raise_engine_error(answer: dict[str, Any]) -> None:
    code = answer.get("error")
    if code is not None:
        raise BY_CODE[code]()


def _same_request(order: Order | None, request: OrderRequest) -> Order:
    """The first order of a repeated client_order_id; 409 if the repeat asks for something else."""
    if order is None or order.fingerprint != request.fingerprint():
        raise ClientOrderIdReused()
    return order


def _order_command(caller: Caller, request: OrderRequest) -> dict[str, Any]:
    command = {
        "k": "place",
        "id": uuid7(),
        "u": caller.user_id,
        "s": request.market.symbol,
        "sd": request.side,
        "t": request.type,
        "tif": request.tif,
        "p": fmt(request.price),
        "q": fmt(request.quantity),
        "qq": fmt(request.quote_quantity),
        "coid": request.client_order_id,
    }
    if request.client_order_id is not None:  # what a repeat of it must match
        command["fp"] = request.fingerprint()
    return command


def _placed_after_no_reply(command: dict[str, Any]) -> tuple[Order, bool]:
    """No answer by the deadline: placed only if the loop committed it just before it died."""
    placed = Order.objects.filter(id=command["id"]).first()
    if placed is None:  # past its deadline the loop drops it: not placed
        raise EngineBusy() from None
    return placed, True


def place_order(
    *, caller: Caller, data: dict[str, Any], rate_limit: DeferredRateLimit | None = None
) -> tuple[dict[str, Any] | Order, bool]:
    """Place an order. Returns (the order as the engine answered, True) for a new order, or
    (the stored Order, False) for a repeated ``client_order_id`` with the same body. A new
    order whose answer was lost (the loop died after its commit) comes back as a stored Order.

    Raises every order-placement error of the seed, ClientOrderIdReused, EngineBusy,
    EngineRestarting, ApiKeyPermissionDenied (a key without ``trade``). A ``rate_limit`` not
    yet checked is checked by the engine push (Throttled when full, nothing pushed).
    """
    require_trade_permission(caller)
    request = check_order_request(data)
    if request.client_order_id is not None:
        first = Order.objects.filter(user_id=caller.user_id, client_order_id=request.client_order_id).first()
        if first is not None:
            return _same_request(first, request), False
    command = _order_command(caller, request)
    try:
        answer = gateway.submit(
            request.market.symbol, command, rate_limit=rate_limit.fold() if rate_limit is not None else None
        )
    except gateway.NoReply:
        return _placed_after_no_reply(command)
    assert answer is not None
    _raise_engine_error(answer)
    if "duplicate" in answer:
        # Another request with this client_order_id reached the engine first (same or earlier batch).
        first = Order.objects.filter(user_id=caller.user_id, id=answer["duplicate"]).first()
        return _same_request(first, request), False
    return answer["order"], True


def place_order_answer(
    *, caller: Caller, data: dict[str, Any], rate_limit: DeferredRateLimit
) -> tuple[dict[str, Any], int]:
    """``place_order`` as the endpoint answers it: (body, 201 for a new order, 200 for the first
    order of a repeated ``client_order_id``). The caller's rate limit is checked either way: by
    the engine push, or on its own before any other answer (429 wins)."""
    try:
        order, created = place_order(caller=caller, data=data, rate_limit=rate_limit)
    finally:
        rate_limit.enforce()  # a no-op when the push checked it
    return _order_answer(order, created)


def _order_answer(order: dict[str, Any] | Order, created: bool) -> tuple[dict[str, Any], int]:
    body = order if isinstance(order, dict) else selectors.serialize_order_with_fills(order)
    return body, 201 if created else 200


# ---------------------------------------------------------------- on an event loop
# The served application (exchange.rsgi) runs the everyday placement on its event loop: the same
# steps as above, with the engine round trip awaited. The database is never touched on the loop:
# a request that needs it before the push raises NeedsThread (nothing pushed, nothing counted) and
# is answered whole by the sync code in a thread; after the push, what needs it runs in a thread.


class NeedsThread(Exception):
    """The request needs the database before its push: answer it with the sync code instead."""


async def place_order_answer_async(
    *,
    caller: Caller,
    data: dict[str, Any],
    rate_limit: DeferredRateLimit,
    in_thread: Callable[[Callable[[], Any]], Awaitable[Any]],
) -> tuple[dict[str, Any], int]:
    """``place_order_answer`` on an event loop; ``in_thread(fn)`` awaits ``fn()`` run in a worker
    thread (the database). Raises NeedsThread, before anything is pushed or counted."""
    try:
        require_trade_permission(caller)
        _reload_expired_market(data.get("symbol"), in_thread)
        # a market not in the process cache (or expired and not reloaded) needs the database
        request = check_order_request(data, market_age_s=MARKET_CACHE_TTL_S + MARKET_STALE_ON_LOOP_S)
    except SynchronousOnlyOperation:
        raise NeedsThread() from None
    except Exception:
        await rate_limit.enforce_async()  # 429 wins over the validation error, as in the sync path
        raise
    if request.client_order_id is not None:  # looked up in the database first
        raise NeedsThread()
    command = _order_command(caller, request)
    try:  # the push counts the window (fold)
        answer = await gateway.submit_async(request.market.symbol, command, rate_limit=rate_limit.fold())
    except gateway.NoReply:
        return await in_thread(lambda: _order_answer(*_placed_after_no_reply(command)))
    _raise_engine_error(answer)  # no "duplicate" answer: that needs a client_order_id, never sent from here
    return answer["order"], 201


def parse_order_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except (ValueError, TypeError):
        raise InvalidId() from None


def cancel_order(*, caller: Caller, order_id: str) -> Order:
    """Cancel one of the caller's open orders. Raises InvalidId, OrderNotFound (missing,
    terminal, or another user's), ApiKeyPermissionDenied, EngineBusy, EngineRestarting."""
    oid = parse_order_id(order_id)
    require_trade_permission(caller)
    order = Order.objects.filter(id=oid, user_id=caller.user_id, status__in=OPEN_STATUSES).first()
    if order is None:
        raise OrderNotFound()
    try:
        answer = gateway.submit(
            order.market_id, {"k": "cancel", "id": str(oid), "u": caller.user_id, "s": order.market_id}
        )
    except gateway.NoReply:
        order.refresh_from_db()
        if order.status != "cancelled":
            raise EngineBusy() from None
        return order
    assert answer is not None
    _raise_engine_error(answer)
    return Order.objects.get(id=oid)


def cancel_all_orders(*, caller: Caller, symbol: object) -> list[Order]:
    """Cancel every open order of the caller in one market; returns the cancelled orders."""
    require_trade_permission(caller)
    market = cached_market(symbol)
    asked_at = timezone.now()
    try:
        answer = gateway.submit(market.symbol, {"k": "cancel_all", "u": caller.user_id, "s": market.symbol})
    except gateway.NoReply:
        # One command, one batch: if it committed, none of the orders placed before it is still open.
        mine = Order.objects.filter(user_id=caller.user_id, market_id=market.symbol)
        if mine.filter(status__in=OPEN_STATUSES, created_at__lt=asked_at).exists():
            raise EngineBusy() from None
        return list(mine.filter(status="cancelled", updated_at__gte=asked_at).order_by("-created_at"))
    assert answer is not None
    _raise_engine_error(answer)
    return list(Order.objects.filter(id__in=answer["cancelled"]).order_by("-created_at"))
