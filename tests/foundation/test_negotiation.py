"""The shortcut negotiation picks exactly what DRF's own would, for everyday and odd requests."""

from __future__ import annotations

import pytest
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer, TemplateHTMLRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from exchange.rendering import JsonFirstNegotiation, OrjsonParser, OrjsonRenderer

ACCEPTS = [None, "*/*", "application/json", "application/json; indent=4", "text/html", "application/*", "", "x" * 300]
QUERIES = ["", "?format=json", "?format=xml", "?limit=5"]
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "multipart/form-data",
    "APPLICATION/JSON",
]
RENDERER_SETS = [[OrjsonRenderer()], [TemplateHTMLRenderer()], [JSONRenderer(), BrowsableAPIRenderer()]]
PARSER_SETS = [[OrjsonParser()], [JSONParser()]]


def outcome(call):
    try:
        chosen = call()
    except Exception as error:  # the exception's type is the outcome
        return type(error)
    if isinstance(chosen, tuple):
        return type(chosen[0]), chosen[1]
    return type(chosen)


def request(accept: str | None, query: str, content_type: str) -> Request:
    extra = {} if accept is None else {"HTTP_ACCEPT": accept}
    django_request = APIRequestFactory().post(f"/spot/orders{query}", b"{}", content_type=content_type, **extra)
    return Request(django_request)


@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("renderers", RENDERER_SETS, ids=["orjson", "html", "json+browsable"])
def test_renderer_choice_matches_drf(accept, query, renderers):
    r = request(accept, query, "application/json")
    assert outcome(lambda: JsonFirstNegotiation().select_renderer(r, renderers)) == outcome(
        lambda: DefaultContentNegotiation().select_renderer(r, renderers)
    )


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
@pytest.mark.parametrize("parsers", PARSER_SETS, ids=["orjson", "drf-json"])
def test_parser_choice_matches_drf(content_type, parsers):
    r = request(None, "", content_type)
    assert outcome(lambda: JsonFirstNegotiation().select_parser(r, parsers)) == outcome(
        lambda: DefaultContentNegotiation().select_parser(r, parsers)
    )
