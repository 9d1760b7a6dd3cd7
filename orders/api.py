"""Order endpoints. POST /spot/orders is the hot path: no serializer classes, one optional
query (a repeated client_order_id), then the engine round trip."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from exchange.errors import Forbidden, OrderNotFound
from exchange.pagination import paginate
from exchange.schema import errors
from exchange.throttling import CallerRateThrottle, DeferredRateLimit, window_for
from orders import selectors, services
from orders.models import Order

ORDER_SHAPE = OpenApiResponse(
    description="id, client_order_id, symbol, side, type, tif, price, quantity, quote_quantity, filled_quantity, "
    "filled_quote, fee, status, created_at, updated_at (+ fills on placement)"
)
PLACEMENT_ERRORS = errors(
    401, "API Key permission denied", "MARKET_NOT_FOUND", "MARKET_HALTED", "MARKET_DELISTED", "invalid side",
    "invalid type", "invalid tif", "quantity required for limit", "quantity required for market sell",
    "quote_quantity required for market buy", "INVALID_TICK", "INVALID_LOT", "BELOW_MIN_NOTIONAL",
    "INSUFFICIENT_BALANCE", "POST_ONLY_REJECT", "SELF_TRADE", "CLIENT_ORDER_ID_REUSED", "spot trading disabled",
    "ENGINE_BUSY", "ENGINE_RESTARTING", "RATE_LIMITED", "invalid id",
)  # fmt: skip
SYMBOL = OpenApiParameter("symbol", OpenApiTypes.STR)
PAGING = [OpenApiParameter("limit", OpenApiTypes.INT), OpenApiParameter("cursor", OpenApiTypes.STR)]


class OrdersView(APIView):
    rate_limit: DeferredRateLimit

    def check_throttles(self, request: Request) -> None:
        if request.method != "POST" or list(self.throttle_classes) != [CallerRateThrottle]:
            super().check_throttles(request)
            return
        # Placing: the rate limit rides on the engine push (one Redis round trip fewer); a request
        # that stops before the push is checked on its own in post(), so 429 still wins over any error.
        self.rate_limit = DeferredRateLimit(window_for(request))

    @extend_schema(
        request=inline_serializer(
            "OrderRequest",
            {
                "symbol": serializers.CharField(),
                "side": serializers.ChoiceField(["buy", "sell"]),
                "type": serializers.ChoiceField(["limit", "market"]),
                "tif": serializers.ChoiceField(["gtc", "ioc", "fok", "post_only"], required=False),
                "price": serializers.CharField(required=False),
                "quantity": serializers.CharField(required=False),
                "quote_quantity": serializers.CharField(required=False),
                "client_order_id": serializers.CharField(required=False),
            },
        ),
        responses={
            201: ORDER_SHAPE,
            200: OpenApiResponse(description="the first order of a repeated client_order_id"),
            **PLACEMENT_ERRORS,
        },
        summary="Place an order",
    )
    def post(self, request: Request) -> HttpResponse:
        body, status = services.place_order_answer(caller=request.user, data=request.data, rate_limit=self.rate_limit)
        # The renderer's bytes and Content-Type, without a template response to render them.
        content = request.accepted_renderer.render(body)
        return HttpResponse(content, status=status, content_type=request.accepted_media_type)

    @extend_schema(
        parameters=[SYMBOL, OpenApiParameter("status", OpenApiTypes.STR, enum=["open", "all"]), *PAGING],
        responses={200: OpenApiResponse(description="{results: [order], next}"), **errors(401)},
        summary="My orders, newest first",
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        query = selectors.orders_of(request.user.user_id, symbol=params.get("symbol"), status=params.get("status"))
        return Response(paginate(query, params, selectors.serialize_order))

    @extend_schema(
        parameters=[OpenApiParameter("symbol", OpenApiTypes.STR, required=True)],
        responses={200: OpenApiResponse(description="{results: [cancelled order], next: null}"),
                   **errors(401, "API Key permission denied", "MARKET_NOT_FOUND", "ENGINE_BUSY", "ENGINE_RESTARTING")},
        summary="Cancel all my open orders in a market",
    )  # fmt: skip
    def delete(self, request: Request) -> Response:
        cancelled = services.cancel_all_orders(caller=request.user, symbol=request.query_params.get("symbol"))
        return Response({"results": [selectors.serialize_order(o) for o in cancelled], "next": None})


class OrderView(APIView):
    @extend_schema(responses={200: ORDER_SHAPE, **errors(401, "invalid id", "FORBIDDEN", "ORDER_NOT_FOUND")})
    def get(self, request: Request, order_id: str) -> Response:
        oid = services.parse_order_id(order_id)
        order = Order.objects.filter(id=oid).first()
        if order is None:
            raise OrderNotFound()
        if order.user_id != request.user.user_id:
            raise Forbidden()
        return Response(selectors.serialize_order_with_fills(order))

    @extend_schema(
        responses={
            200: ORDER_SHAPE,
            **errors(
                401, "invalid id", "API Key permission denied", "ORDER_NOT_FOUND", "ENGINE_BUSY", "ENGINE_RESTARTING"
            ),
        },
        summary="Cancel an open order",
    )
    def delete(self, request: Request, order_id: str) -> Response:
        order = services.cancel_order(caller=request.user, order_id=order_id)
        return Response(selectors.serialize_order(order))


class FillsView(APIView):
    @extend_schema(
        parameters=[SYMBOL, *PAGING],
        responses={200: OpenApiResponse(description="{results: [fill], next}"), **errors(401)},
    )
    def get(self, request: Request) -> Response:
        user_id = request.user.user_id
        query = selectors.fills_of(user_id, symbol=request.query_params.get("symbol"))
        return Response(paginate(query, request.query_params, lambda t: selectors.serialize_fill(t, user_id)))
