"""The OpenAPI schema covers every endpoint and is generated without a warning."""

from __future__ import annotations

import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient

FOUNDATION_PATHS = {
    "/healthz": {"get"},
    "/auth/token": {"post"},
    "/spot/api-keys": {"get", "post"},
    "/spot/api-keys/{api_key}": {"delete"},
    "/spot/markets": {"get"},
    "/spot/markets/{symbol}": {"get"},
    "/spot/balances": {"get"},
    "/admin/spot/markets": {"post"},
    "/admin/spot/markets/{symbol}/status": {"post"},
    "/admin/spot/balances/credit": {"post"},
}


@pytest.fixture
def schema(db) -> dict:
    response = APIClient().get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_schema_names_every_foundation_endpoint_and_method(schema):
    for path, methods in FOUNDATION_PATHS.items():
        assert path in schema["paths"], path
        assert methods <= set(schema["paths"][path]), path


def test_schema_documents_both_doors_and_the_error_codes(schema):
    assert set(schema["components"]["securitySchemes"]) == {"jwt", "apiKey"}
    assert schema["components"]["securitySchemes"]["jwt"]["scheme"] == "bearer"
    credit = schema["paths"]["/admin/spot/balances/credit"]["post"]
    assert {"jwt": []} in credit["security"]
    examples = credit["responses"]["400"]["content"]["application/json"]["examples"]
    assert {"error": "AMOUNT_NON_POSITIVE"} in [e["value"] for e in examples.values()]
    assert credit["responses"]["404"]["content"]["application/json"]["examples"]["DISABLED"]["value"] == {
        "error": "DISABLED"
    }
    assert "401" in schema["paths"]["/spot/balances"]["get"]["responses"]


def test_operation_ids_are_unique(schema):
    ids = [op["operationId"] for item in schema["paths"].values() for op in item.values() if isinstance(op, dict)]
    assert len(ids) == len(set(ids))
    assert not [i for i in ids if i[-1].isdigit()]  # no numeral suffixes from collisions


def test_schema_generates_without_warnings(db, tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert "/spot/balances" in (tmp_path / "schema.yaml").read_text()


def test_schema_docs_page_renders(db):
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


def test_docs_page_needs_no_internet(client, db):
    """Swagger UI comes from our own static files (drf-spectacular-sidecar), not from a CDN."""
    page = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn.jsdelivr" not in page
