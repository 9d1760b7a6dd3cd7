"""The engine core's tests: pure Python, no database, no Redis, no Django.

They run under the project's pytest-django suite and on their own:
``.venv/bin/python -m pytest tests/engine -p no:django -o addopts= --confcutdir=tests/engine``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(os.path.dirname(_HERE))
for path in (_ROOT, _HERE):  # orders.engine, and this folder's helper modules
    if path not in sys.path:
        sys.path.insert(0, path)

settings.register_profile(
    "engine-default", max_examples=1000, stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow], database=None,
)  # fmt: skip
settings.register_profile(
    "engine-thorough", max_examples=2000, stateful_step_count=80, deadline=None,
    suppress_health_check=[HealthCheck.too_slow], database=None,
)  # fmt: skip


@pytest.fixture(autouse=True)
def _clean_redis_and_caches() -> Iterator[None]:
    """Overrides the suite-wide Redis cleanup: the engine core touches no Redis."""
    yield
