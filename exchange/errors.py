"""The error contract: one exception type per code of the seed page, rendered once.

Application code raises these anywhere; ``exception_handler`` (DRF's hook) turns them into
``{"error": CODE}`` with the contract's status. Codes are byte-exact copies of
``seed/error-codes.md`` (some are lower-case phrases). 401 is always an empty body.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DatabaseError
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import set_rollback

logger = logging.getLogger("exchange.errors")


class ApiError(Exception):
    status: int = 400
    code: str = ""

    def __init__(self) -> None:
        super().__init__(self.code)


def _error(name: str, status: int, code: str) -> type[ApiError]:
    return type(name, (ApiError,), {"status": status, "code": code, "__doc__": f"{status} {code}"})


# Auth & permission (401 has no code: see Unauthenticated)
ApiKeyPermissionDenied = _error("ApiKeyPermissionDenied", 403, "API Key permission denied")
Forbidden = _error("Forbidden", 403, "FORBIDDEN")
# Market state
MarketNotFound = _error("MarketNotFound", 404, "MARKET_NOT_FOUND")
MarketHalted = _error("MarketHalted", 409, "MARKET_HALTED")
MarketDelisted = _error("MarketDelisted", 410, "MARKET_DELISTED")
# Order placement
InvalidSide = _error("InvalidSide", 400, "invalid side")
InvalidType = _error("InvalidType", 400, "invalid type")
InvalidTif = _error("InvalidTif", 400, "invalid tif")
QuantityRequiredForLimit = _error("QuantityRequiredForLimit", 400, "quantity required for limit")
QuantityRequiredForMarketSell = _error("QuantityRequiredForMarketSell", 400, "quantity required for market sell")
QuoteQuantityRequiredForMarketBuy = _error(
    "QuoteQuantityRequiredForMarketBuy", 400, "quote_quantity required for market buy"
)
InvalidTick = _error("InvalidTick", 400, "INVALID_TICK")
InvalidLot = _error("InvalidLot", 400, "INVALID_LOT")
BelowMinNotional = _error("BelowMinNotional", 400, "BELOW_MIN_NOTIONAL")
InsufficientBalance = _error("InsufficientBalance", 400, "INSUFFICIENT_BALANCE")
PostOnlyReject = _error("PostOnlyReject", 400, "POST_ONLY_REJECT")
SelfTrade = _error("SelfTrade", 400, "SELF_TRADE")
# Order management
InvalidId = _error("InvalidId", 400, "invalid id")
OrderNotFound = _error("OrderNotFound", 404, "ORDER_NOT_FOUND")
WithdrawalNotFound = _error("WithdrawalNotFound", 404, "WITHDRAWAL_NOT_FOUND")
# Engine availability
SpotTradingDisabled = _error("SpotTradingDisabled", 503, "spot trading disabled")
EngineBusy = _error("EngineBusy", 503, "ENGINE_BUSY")
EngineRestarting = _error("EngineRestarting", 503, "ENGINE_RESTARTING")
TickerNotFound = _error("TickerNotFound", 503, "TICKER_NOT_FOUND")
# Transfer and withdraw
InvalidDirection = _error("InvalidDirection", 400, "INVALID_DIRECTION")
AmountNonPositive = _error("AmountNonPositive", 400, "AMOUNT_NON_POSITIVE")
UnsupportedToken = _error("UnsupportedToken", 400, "UNSUPPORTED_TOKEN")
SignerUnavailable = _error("SignerUnavailable", 503, "SIGNER_UNAVAILABLE")
# Admin
InvalidStatus = _error("InvalidStatus", 400, "INVALID_STATUS")
Disabled = _error("Disabled", 404, "DISABLED")
MarketExists = _error("MarketExists", 409, "MARKET_EXISTS")
# Server faults
DbError = _error("DbError", 500, "DB_ERROR")
# The contract's two additions (SPEC §1)
RateLimited = _error("RateLimited", 429, "RATE_LIMITED")
ClientOrderIdReused = _error("ClientOrderIdReused", 409, "CLIENT_ORDER_ID_REUSED")
# HTTP-level answers the seed does not list (a wrong method or path, not a business error)
MethodNotAllowed = _error("MethodNotAllowed", 405, "METHOD_NOT_ALLOWED")
NotFound = _error("NotFound", 404, "NOT_FOUND")
UnsupportedMediaType = _error("UnsupportedMediaType", 415, "UNSUPPORTED_MEDIA_TYPE")
NotAcceptable = _error("NotAcceptable", 406, "NOT_ACCEPTABLE")

# Engine refusal codes (strings from orders.engine) back to their types.
BY_CODE: dict[str, type[ApiError]] = {
    cls.code: cls
    for cls in ApiError.__subclasses__()
    if cls.code  # type: ignore[misc]
}


def error_response(error: ApiError | type[ApiError]) -> Response:
    return Response({"error": error.code}, status=error.status)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's hook: the only place an error becomes a response."""
    if isinstance(exc, ApiError):
        set_rollback()
        return error_response(exc)
    if isinstance(exc, (drf_exceptions.NotAuthenticated, drf_exceptions.AuthenticationFailed)):
        response = Response(status=401)
        auth_header = getattr(exc, "auth_header", None)
        if auth_header:
            response["WWW-Authenticate"] = auth_header
        return response
    if isinstance(exc, drf_exceptions.Throttled):
        response = error_response(RateLimited)
        response["Retry-After"] = str(max(1, int(exc.wait or 1)))  # DRF rounds the wait up
        return response
    if isinstance(exc, (drf_exceptions.PermissionDenied, DjangoPermissionDenied)):
        return error_response(Forbidden)
    if isinstance(exc, drf_exceptions.MethodNotAllowed):
        return error_response(MethodNotAllowed)
    if isinstance(exc, (drf_exceptions.NotFound, Http404)):
        return error_response(NotFound)
    # A client's wrong content type or Accept header is its mistake, not a crash (500).
    if isinstance(exc, drf_exceptions.UnsupportedMediaType):
        return error_response(UnsupportedMediaType)
    if isinstance(exc, drf_exceptions.NotAcceptable):
        return error_response(NotAcceptable)
    if isinstance(exc, DatabaseError):
        set_rollback()
        request = context.get("request")
        logger.exception("database error during %s %s", getattr(request, "method", "?"), getattr(request, "path", "?"))
        return error_response(DbError)
    return None  # anything else is a crash: Django's own 500 page
