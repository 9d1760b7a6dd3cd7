"""Ids of orders and trades: UUID version 7 (RFC 9562), time-ordered.

An order or trade id is the primary key of a table that only grows. Random (version 4) keys
land anywhere in the primary-key index, so every insert dirties a different leaf page (and
after a checkpoint writes a full image of it to the WAL); time-ordered keys append to the
right-hand edge, where a batch's rows share a few pages. The first 48 bits are the Unix time
in milliseconds, the rest random (74 bits), so ids stay unguessable and unique across processes.
"""

from __future__ import annotations

import os
import time

_VERSION_7 = 0x7 << 76
_VARIANT = 0x2 << 62


def _text(value: int) -> str:
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def uuid7_int(now_ms: int | None = None, random_bits: int | None = None) -> int:
    """A version-7 UUID as an int: 48 bits of milliseconds, version, 12 + 62 random bits, variant."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big") if random_bits is None else random_bits
    rand_a = (rand >> 62) & 0xFFF  # 12 bits
    rand_b = rand & ((1 << 62) - 1)  # 62 bits
    return ((ms & ((1 << 48) - 1)) << 80) | _VERSION_7 | (rand_a << 64) | _VARIANT | rand_b


def uuid7() -> str:
    """A new version-7 UUID as text."""
    return _text(uuid7_int())


class SequentialIds:
    """Many ids for one moment (a batch's trades): one version-7 UUID drawn at random, then
    counting up in its low bits, so they sort in the order they were made."""

    def __init__(self, now_ms: int | None = None) -> None:
        self._next = uuid7_int(now_ms) & ~((1 << 32) - 1)  # 42 random bits left, 32 for counting

    def __call__(self) -> str:
        self._next += 1
        return _text(self._next)
