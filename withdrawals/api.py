"""Withdrawal endpoints: request (JWT only), list, read, cancel."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from exchange.pagination import paginate
from exchange.permissions import JwtOnly
from exchange.schema import errors
from withdrawals import services
from withdrawals.selectors import access_withdrawal, parse_withdrawal_id, serialize_withdrawal, withdrawals_of

WITHDRAWAL_SHAPE = OpenApiResponse(description="id, token, amount, address, status, tx_id, created_at, updated_at")


class WithdrawRequestView(APIView):
    permission_classes = [*APIView.permission_classes, JwtOnly]

    @extend_schema(
        request=inline_serializer(
            "WithdrawRequest",
            {"token": serializers.CharField(), "amount": serializers.CharField(), "address": serializers.CharField()},
        ),
        responses={
            201: WITHDRAWAL_SHAPE,
            **errors(
                401,
                "API Key permission denied",
                "UNSUPPORTED_TOKEN",
                "AMOUNT_NON_POSITIVE",
                "INSUFFICIENT_BALANCE",
                "SIGNER_UNAVAILABLE",
                "DB_ERROR",
            ),
        },
        summary="Request a withdrawal (an address the token cannot reach is UNSUPPORTED_TOKEN)",
    )
    def post(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        withdrawal = services.request_withdrawal(
            user_id=request.user.user_id,
            token=data.get("token"),
            amount=data.get("amount"),
            address=data.get("address"),
        )
        return Response(serialize_withdrawal(withdrawal), status=201)


class WithdrawalsView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("limit", int), OpenApiParameter("cursor", str)],
        responses={200: OpenApiResponse(description="{results: [Withdrawal], next}"), **errors(401)},
    )
    def get(self, request: Request) -> Response:
        return Response(paginate(withdrawals_of(request.user.user_id), request.query_params, serialize_withdrawal))


class WithdrawalView(APIView):
    @extend_schema(responses={200: WITHDRAWAL_SHAPE, **errors(401, "invalid id", "FORBIDDEN", "WITHDRAWAL_NOT_FOUND")})
    def get(self, request: Request, withdrawal_id: str) -> Response:
        return Response(
            serialize_withdrawal(access_withdrawal(user_id=request.user.user_id, withdrawal_id=withdrawal_id))
        )

    @extend_schema(
        responses={200: WITHDRAWAL_SHAPE, **errors(401, "invalid id", "WITHDRAWAL_NOT_FOUND", "DB_ERROR")},
        summary="Cancel a pending withdrawal; its funds return to available",
    )
    def delete(self, request: Request, withdrawal_id: str) -> Response:
        withdrawal = services.cancel_withdrawal(
            user_id=request.user.user_id, withdrawal_id=parse_withdrawal_id(withdrawal_id)
        )
        return Response(serialize_withdrawal(withdrawal))
