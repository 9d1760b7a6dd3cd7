"""JSON in and out with orjson. A body that is not a JSON object reads as ``{}``, so the
first missing field gets its contract code instead of a framework error body."""

from __future__ import annotations

from typing import Any

import orjson
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer


class OrjsonRenderer(BaseRenderer):
    media_type = "application/json"
    format = "json"
    charset = None

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if data is None:
            return b""
        return orjson.dumps(data, default=str)


class OrjsonParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> dict:
        raw = stream.read() if stream is not None else b""
        try:
            data = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            return {}
        return data if isinstance(data, dict) else {}


JSON = "application/json"


class JsonFirstNegotiation(DefaultContentNegotiation):
    """DRF's negotiation, with the everyday request decided without parsing media types:
    ``Content-Type: application/json`` in, no (or a ``*/*`` or JSON) ``Accept`` and no query
    string out. It picks what DRF would pick; anything else goes through DRF's own rules."""

    def select_parser(self, request: Any, parsers: Any) -> Any:
        if request.content_type == JSON and len(parsers) == 1 and parsers[0].media_type == JSON:
            return parsers[0]
        return super().select_parser(request, parsers)

    def select_renderer(self, request: Any, renderers: Any, format_suffix: Any = None) -> Any:
        meta = getattr(request, "_request", request).META
        if (
            format_suffix is None
            and len(renderers) == 1
            and renderers[0].media_type == JSON
            and meta.get("HTTP_ACCEPT", "*/*") in ("*/*", JSON)
            and not meta.get("QUERY_STRING")
        ):
            return renderers[0], JSON
        return super().select_renderer(request, renderers, format_suffix)
