"""JSON in and out with orjson. A body that is not a JSON object reads as ``{}``, so the
first missing field gets its contract code instead of a framework error body."""

from __future__ import annotations

from typing import Any

import orjson
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
