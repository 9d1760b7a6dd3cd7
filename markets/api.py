"""Market endpoints: public market list, and the staff powers under /admin/spot/markets."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from exchange.pagination import parse_limit
from exchange.permissions import IsStaff
from exchange.schema import errors
from markets import marketdata, services
from markets.models import Market
from markets.selectors import get_market, serialize_market

MARKET_SHAPE = OpenApiResponse(
    description="symbol, base, quote, status, tick_size, lot_size, min_notional, maker_fee, taker_fee"
)


class MarketsView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses={200: MARKET_SHAPE})
    def get(self, request: Request) -> Response:
        return Response([serialize_market(m) for m in Market.objects.all()])


class MarketView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses={200: MARKET_SHAPE, **errors("MARKET_NOT_FOUND")})
    def get(self, request: Request, symbol: str) -> Response:
        return Response(serialize_market(get_market(symbol)))


class AdminMarketsView(APIView):
    permission_classes = [*APIView.permission_classes, IsStaff]

    @extend_schema(
        request=inline_serializer(
            "MarketCreate",
            {
                name: serializers.CharField(required=name not in {"maker_fee", "taker_fee"})
                for name in (
                    "symbol",
                    "base",
                    "quote",
                    "tick_size",
                    "lot_size",
                    "min_notional",
                    "maker_fee",
                    "taker_fee",
                )
            },
        ),
        responses={
            201: MARKET_SHAPE,
            **errors(401, "FORBIDDEN", "MARKET_EXISTS", "INVALID_TICK", "UNSUPPORTED_TOKEN", "DB_ERROR"),
        },
    )
    def post(self, request: Request) -> Response:
        data = request.data
        market = services.create_market(
            symbol=data.get("symbol"),
            base=data.get("base"),
            quote=data.get("quote"),
            tick_size=data.get("tick_size"),
            lot_size=data.get("lot_size"),
            min_notional=data.get("min_notional"),
            maker_fee=data.get("maker_fee"),
            taker_fee=data.get("taker_fee"),
            actor_id=request.user.user_id,
        )
        return Response(serialize_market(market), status=201)


class AdminMarketStatusView(APIView):
    permission_classes = [*APIView.permission_classes, IsStaff]

    @extend_schema(
        request=inline_serializer(
            "MarketStatusChange", {"status": serializers.ChoiceField(["active", "halted", "delisted"])}
        ),
        responses={200: MARKET_SHAPE, **errors(401, "FORBIDDEN", "INVALID_STATUS", "MARKET_NOT_FOUND", "DB_ERROR")},
    )
    def post(self, request: Request, symbol: str) -> Response:
        market = services.set_market_status(
            actor_id=request.user.user_id, symbol=symbol, status=request.data.get("status"), via="api"
        )
        return Response(serialize_market(market))


class DepthView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        parameters=[
            OpenApiParameter("symbol", OpenApiTypes.STR, required=True),
            OpenApiParameter("limit", OpenApiTypes.INT),
        ],
        responses={
            200: OpenApiResponse(description='{"symbol", "bids": [["price", "quantity"]], "asks": [...], "sequence"}'),
            **errors("MARKET_NOT_FOUND"),
        },
    )
    def get(self, request: Request) -> Response:
        market = get_market(request.query_params.get("symbol"))
        return Response(marketdata.depth(market, parse_limit(request.query_params.get("limit"), 100, 1000)))


class TradesView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        parameters=[
            OpenApiParameter("symbol", OpenApiTypes.STR, required=True),
            OpenApiParameter("limit", OpenApiTypes.INT),
            OpenApiParameter("cursor", OpenApiTypes.STR),
        ],
        responses={
            200: OpenApiResponse(description="{results: [trade], next} newest first"),
            **errors("MARKET_NOT_FOUND"),
        },
    )
    def get(self, request: Request) -> Response:
        market = get_market(request.query_params.get("symbol"))
        return Response(marketdata.recent_trades(market, request.query_params))


class TickerView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        parameters=[OpenApiParameter("symbol", OpenApiTypes.STR, required=True)],
        responses={200: OpenApiResponse(description="open, high, low, last, volume, quote_volume, change, change_percent, trade_count"),
                   **errors("MARKET_NOT_FOUND", "TICKER_NOT_FOUND")},
    )  # fmt: skip
    def get(self, request: Request) -> Response:
        return Response(marketdata.ticker_24h(get_market(request.query_params.get("symbol"))))
