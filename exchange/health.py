"""Engine shard liveness as the API sees it. The orders app registers the real probe."""

from __future__ import annotations

from collections.abc import Callable

_probe: Callable[[], dict[str, str]] | None = None


def register_engine_probe(probe: Callable[[], dict[str, str]]) -> None:
    global _probe
    _probe = probe


def engine_shards() -> dict[str, str]:
    return _probe() if _probe is not None else {}
