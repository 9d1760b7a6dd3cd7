"""Helpers of the foundation tests: API keys created through the API, and HMAC-signed calls."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from exchange.auth import signature_for
from tests.conftest import hot_path_client


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Key:
    """An API key as its owner received it (POST /spot/api-keys)."""

    api_key: str
    secret: str
    body: dict[str, Any]

    def headers(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        timestamp: int | str | None = None,
        signature: str | None = None,
    ) -> dict[str, str]:
        stamp = str(now_ms() if timestamp is None else timestamp)
        return {
            "HTTP_X_API_KEY": self.api_key,
            "HTTP_X_TIMESTAMP": stamp,
            "HTTP_X_SIGNATURE": signature or signature_for(self.secret, stamp, method, path, body),
        }

    def call(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        timestamp: int | str | None = None,
        signature: str | None = None,
        client: APIClient | None = None,
    ) -> Any:
        """One signed request; ``path`` may carry a query string (it is signed with it). Order
        requests go through the hot path first, as the server's do."""
        client = client or hot_path_client()
        return client.generic(
            method,
            path,
            body,
            content_type="application/json",
            **self.headers(method, path, body, timestamp, signature),
        )


@pytest.fixture
def make_key() -> Callable[..., Key]:
    """``make_key(api, permissions=[...])``: a key created by ``api``'s owner through the API."""

    def make(api: Any, permissions: list[str] | None = None, label: str = "bot") -> Key:
        response = api.post("/spot/api-keys", {"label": label, "permissions": permissions or ["read"]})
        assert response.status_code == 201, response.content
        body = response.json()
        return Key(api_key=body["api_key"], secret=body["secret"], body=body)

    return make
