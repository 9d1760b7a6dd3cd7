"""Keyset pagination for lists (SPEC §3): ``{"results": [...], "next": cursor|null}``, newest first."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Field, Q, QuerySet

from exchange.text import NUL

LIMIT_DEFAULT = 100
LIMIT_MAX = 1000


def parse_limit(raw: str | None, default: int = LIMIT_DEFAULT, maximum: int = LIMIT_MAX) -> int:
    if raw is None or not raw.isdigit():
        return default
    return max(1, min(int(raw), maximum))


def _encode(created_at: datetime, pk: Any) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{pk}".encode()).decode()


def _decode(cursor: str, pk_field: Field) -> tuple[datetime, Any] | None:
    """The (created_at, pk) a cursor names; None for one this list cannot have made: not
    base64 text, no timestamp, text PostgreSQL cannot hold, or a pk of the wrong shape."""
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        if NUL in text:
            return None
        stamp, pk = text.split("|", 1)
        return datetime.fromisoformat(stamp), pk_field.to_python(pk)
    except (ValueError, UnicodeDecodeError, ValidationError):
        return None


def paginate(queryset: QuerySet, params: Any, serialize: Callable[[Any], dict]) -> dict:
    """One page of ``queryset`` newest first; an unreadable cursor starts from the top."""
    limit = parse_limit(params.get("limit"))
    queryset = queryset.order_by("-created_at", "-pk")
    cursor = params.get("cursor")
    position = _decode(cursor, queryset.model._meta.pk) if cursor else None
    if position is not None:
        created_at, pk = position
        queryset = queryset.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk))
    rows = list(queryset[: limit + 1])
    following = _encode(rows[limit - 1].created_at, rows[limit - 1].pk) if len(rows) > limit else None
    return {"results": [serialize(row) for row in rows[:limit]], "next": following}
