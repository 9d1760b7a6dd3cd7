"""Auth, API keys and health endpoints."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django_redis import get_redis_connection
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from exchange import services
from exchange.errors import NotFound
from exchange.models import ApiKey
from exchange.pagination import paginate
from exchange.permissions import JwtOnly
from exchange.schema import errors


def serialize_key(key: ApiKey) -> dict[str, Any]:
    return {
        "api_key": key.api_key,
        "label": key.label,
        "permissions": key.permissions,
        "created_at": int(key.created_at.timestamp() * 1000),
    }


class TokenView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=inline_serializer(
            "TokenRequest", {"username": serializers.CharField(), "password": serializers.CharField()}
        ),
        responses={
            200: inline_serializer(
                "Token", {"token": serializers.CharField(), "expires_at": serializers.IntegerField()}
            ),
            **errors(401),
        },
        summary="A JWT for a local user",
    )
    def post(self, request: Request) -> Response:
        token, expires_at = services.issue_token(
            username=request.data.get("username"), password=request.data.get("password")
        )
        return Response({"token": token, "expires_at": expires_at})


class ApiKeysView(APIView):
    permission_classes = [*APIView.permission_classes, JwtOnly]

    @extend_schema(
        responses={200: OpenApiResponse(description="{results, next}"), **errors(401, "API Key permission denied")}
    )
    def get(self, request: Request) -> Response:
        keys = ApiKey.objects.filter(user_id=request.user.user_id, revoked_at__isnull=True)
        return Response(paginate(keys, request.query_params, serialize_key))

    @extend_schema(
        request=inline_serializer(
            "ApiKeyRequest",
            {
                "label": serializers.CharField(),
                "permissions": serializers.ListField(child=serializers.ChoiceField(["read", "trade"])),
            },
        ),
        responses={
            201: OpenApiResponse(description="api_key, secret (shown once), label, permissions, created_at"),
            **errors(401, "API Key permission denied"),
        },
    )
    def post(self, request: Request) -> Response:
        key, secret = services.create_api_key(
            user_id=request.user.user_id, label=request.data.get("label"), permissions=request.data.get("permissions")
        )
        return Response({**serialize_key(key), "secret": secret}, status=201)


class ApiKeyView(APIView):
    permission_classes = [*APIView.permission_classes, JwtOnly]

    @extend_schema(responses={204: None, **errors(401, "API Key permission denied", "NOT_FOUND")})
    def delete(self, request: Request, api_key: str) -> Response:
        if not services.revoke_api_key(user_id=request.user.user_id, api_key=api_key):
            raise NotFound()
        return Response(status=204)


def health_report() -> tuple[bool, dict[str, Any]]:
    report: dict[str, Any] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        report["database"] = "ok"
    except Exception:  # noqa: BLE001 - any failure means "down"
        report["database"] = "down"
    try:
        get_redis_connection("default").ping()
        report["redis"] = "ok"
    except Exception:  # noqa: BLE001
        report["redis"] = "down"
    from exchange import health

    report["engine"] = health.engine_shards()
    healthy = (
        report["database"] == "ok" and report["redis"] == "ok" and all(v == "ok" for v in report["engine"].values())
    )
    return healthy, report


class HealthView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(
        responses={
            200: OpenApiResponse(description="all parts answer"),
            503: OpenApiResponse(description="what is down"),
        }
    )
    def get(self, request: Request) -> Response:
        healthy, report = health_report()
        return Response({"status": "ok" if healthy else "down", **report}, status=200 if healthy else 503)
