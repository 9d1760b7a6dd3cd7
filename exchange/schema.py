"""OpenAPI helpers: the error responses an endpoint can give, by contract code."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, inline_serializer
from rest_framework import serializers

from exchange.errors import BY_CODE

# The body of every error but 401: {"error": CODE} (without a schema, the examples are dropped).
ERROR_BODY = inline_serializer("Error", {"error": serializers.CharField()})


def errors(*codes: object) -> dict[int, OpenApiResponse]:
    """``errors(401, "MARKET_NOT_FOUND", ...)``: responses grouped by status, one example per code."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        if code == 401:
            by_status.setdefault(401, [])
            continue
        error = BY_CODE[str(code)]
        by_status.setdefault(error.status, []).append(error.code)
    responses = {}
    for status, names in sorted(by_status.items()):
        if status == 401:
            responses[401] = OpenApiResponse(description="Missing or invalid credentials (empty body)")
            continue
        responses[status] = OpenApiResponse(
            response=ERROR_BODY,
            description=" | ".join(names),
            examples=[OpenApiExample(name, value={"error": name}, status_codes=[str(status)]) for name in names],
        )
    return responses


class JWTScheme(OpenApiAuthenticationExtension):
    """``Authorization: Bearer <JWT>`` (HS256, ``sub`` and ``exp`` required)."""

    target_class = "exchange.auth.JWTAuthentication"
    name = "jwt"

    def get_security_definition(self, auto_schema: object) -> dict:
        return build_bearer_security_scheme_object(
            header_name="Authorization", token_prefix="Bearer", bearer_format="JWT"
        )


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """An API key with its HMAC signature (SPEC §2)."""

    target_class = "exchange.auth.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: object) -> dict:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-KEY",
            "description": "With X-TIMESTAMP (ms, within 5000 ms of the server) and X-SIGNATURE = hex "
            "HMAC-SHA256(secret, timestamp \\n METHOD \\n path?query \\n body).",
        }


class ExchangeAutoSchema(AutoSchema):
    """Operation ids that tell a collection from one of its items: plain APIViews have no
    serializer to say "list", so ``GET /spot/orders`` and ``GET /spot/orders/{id}`` collided."""

    def get_operation_id(self) -> str:
        operation_id = super().get_operation_id()
        if self.path.rstrip("/").endswith("}"):
            return operation_id
        collection_action = {"GET": "list", "DELETE": "destroy_all"}.get(self.method)
        action = self.method_mapping[self.method.lower()]
        if collection_action and operation_id.endswith("_" + action):
            return operation_id[: -len(action)] + collection_action
        return operation_id
