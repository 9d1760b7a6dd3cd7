"""Balance endpoints and the testnet credit."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from exchange.permissions import IsStaff
from exchange.schema import errors
from wallets import services
from wallets.models import Balance
from wallets.selectors import balances_of, serialize_balance

BALANCE_SHAPE = OpenApiResponse(description='[{"token", "available", "locked"}]')


class BalancesView(APIView):
    @extend_schema(responses={200: BALANCE_SHAPE, **errors(401)})
    def get(self, request: Request) -> Response:
        return Response([serialize_balance(b) for b in balances_of(request.user.user_id)])


class AdminCreditView(APIView):
    permission_classes = [*APIView.permission_classes, IsStaff]

    @extend_schema(
        request=inline_serializer(
            "Credit", {"user_id": serializers.CharField(), "token": serializers.CharField(), "amount": serializers.CharField()}
        ),
        responses={200: BALANCE_SHAPE, **errors(401, "FORBIDDEN", "DISABLED", "AMOUNT_NON_POSITIVE", "UNSUPPORTED_TOKEN", "invalid id", "DB_ERROR")},
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
