"""Client text on its way to PostgreSQL.

PostgreSQL refuses the NUL character in any text value ("text fields cannot contain NUL (0x00)
bytes"), so a value holding one can match nothing stored and cannot be stored: each field that
reaches a query answers it as the contract answers any value it does not know (a symbol is
``MARKET_NOT_FOUND``, a client order id ``invalid id``, a credential 401), never a 500.
"""

from __future__ import annotations

from typing import TypeGuard

NUL = "\x00"


def is_text(value: object, max_len: int) -> TypeGuard[str]:
    """A str of 1 to ``max_len`` characters that PostgreSQL can hold (no NUL)."""
    return isinstance(value, str) and 0 < len(value) <= max_len and NUL not in value
