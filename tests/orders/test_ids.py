"""Order and trade ids: version-7 UUIDs, time-ordered so the tables' primary keys grow at one end."""

from __future__ import annotations

import time
import uuid

from orders.ids import SequentialIds, uuid7, uuid7_int


def _check(text: str) -> uuid.UUID:
    parsed = uuid.UUID(text)
    assert str(parsed) == text
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    return parsed


def test_uuid7_carries_the_time_in_its_first_48_bits():
    before = int(time.time() * 1000)
    parsed = _check(uuid7())
    after = int(time.time() * 1000)
    assert before <= parsed.int >> 80 <= after


def test_uuid7_orders_by_time_and_never_repeats():
    early = [uuid7_int(now_ms=1_000) for _ in range(500)]
    late = [uuid7_int(now_ms=1_001) for _ in range(500)]
    assert max(early) < min(late)
    made = [uuid7() for _ in range(5000)]
    assert len(set(made)) == len(made)


def test_sequential_ids_count_up_and_differ_between_batches():
    first, second = SequentialIds(), SequentialIds()
    a = [first() for _ in range(1000)]
    b = [second() for _ in range(1000)]
    assert a == sorted(a) and b == sorted(b)
    assert not set(a) & set(b)
    for text in (a[0], a[-1], b[0]):
        _check(text)
