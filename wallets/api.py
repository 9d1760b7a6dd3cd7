"""Balance endpoints and the testnet credit."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from exchange.permissions import IsStaff, JwtOnly
from exchange.schema import errors
from wallets import services
from wallets.models import Balance
from wallets.selectors import balances_of, serialize_balance, serialize_transfer

BALANCE_SHAPE = OpenApiResponse(description='[{"token", "available", "locked"}]')


class BalancesView(APIView):
    @extend_schema(responses={200: BALANCE_SHAPE, **errors(401)})
    def get(self, request: Request) -> Response:
        return Response([serialize_balance(b) for b in balances_of(request.user.user_id)])


class AdminCreditView(APIView):
    permission_classes = [*APIView.permission_classes, IsStaff]

    @extend_schema(
        request=inline_serializer(
            "Credit",
            {"user_id": serializers.CharField(), "token": serializers.CharField(), "amount": serializers.CharField()},
        ),
        responses={
            200: BALANCE_SHAPE,
            **errors(
                401, "FORBIDDEN", "DISABLED", "AMOUNT_NON_POSITIVE", "UNSUPPORTED_TOKEN", "invalid id", "DB_ERROR"
            ),
        },
    )
    def post(self, request: Request) -> Response:
        credit = services.credit_testnet(
            operator_id=request.user.user_id,
            user_id=request.data.get("user_id"),
            token=request.data.get("token"),
            amount=request.data.get("amount"),
            via="api",
        )
        balance = Balance.objects.get(user_id=credit.user_id, token=credit.token)
        return Response(serialize_balance(balance))


TRANSFER_SHAPE = OpenApiResponse(description='{"id", "direction", "token", "amount", "created_at"}')


class TransferView(APIView):
    """Spot <-> perp USDT transfer (JWT only)."""

    permission_classes = [*APIView.permission_classes, JwtOnly]

    @extend_schema(
        request=inline_serializer(
            "TransferRequest",
            {
                "direction": serializers.ChoiceField(["spot_to_perp", "perp_to_spot"]),
                "token": serializers.CharField(),
                "amount": serializers.CharField(),
            },
        ),
        responses={
            200: TRANSFER_SHAPE,
            **errors(
                401,
                "API Key permission denied",
                "INVALID_DIRECTION",
                "UNSUPPORTED_TOKEN",
                "AMOUNT_NON_POSITIVE",
                "INSUFFICIENT_BALANCE",
                "DB_ERROR",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        record = services.transfer(
            user_id=request.user.user_id,
            direction=data.get("direction"),
            token=data.get("token"),
            amount=data.get("amount"),
        )
        return Response(serialize_transfer(record))
