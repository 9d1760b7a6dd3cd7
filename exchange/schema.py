"""OpenAPI helpers: the error responses an endpoint can give, by contract code."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse

from exchange.errors import BY_CODE


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
            description=" | ".join(names),
            examples=[OpenApiExample(name, value={"error": name}, status_codes=[str(status)]) for name in names],
        )
    return responses
