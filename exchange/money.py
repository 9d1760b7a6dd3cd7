"""Decimal money at the edge: parse what a client sent, format what we send back."""

from __future__ import annotations

from decimal import Context, Decimal, InvalidOperation
from typing import Any

MAX_DECIMALS = 18  # NUMERIC(38, 18) in the database
MAX_DIGITS = 38
_EXACT = Context(prec=MAX_DIGITS + MAX_DECIMALS)  # normalize() rounds to its context's precision


def parse_decimal(value: Any) -> Decimal | None:
    """A finite Decimal that fits NUMERIC(38,18), from a string (or an int); None otherwise.

    Floats are refused: JSON numbers with a fraction arrive as float and may already be off.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_DECIMALS:
        return None
    if number.adjusted() >= MAX_DIGITS - MAX_DECIMALS:
        return None
    return number


def fmt(value: Decimal | None) -> str | None:
    """Plain decimal string without exponent or trailing zeros: ``"0.015"``, ``"100"``."""
    if value is None:
        return None
    if value == 0:
        return "0"
    return format(value.normalize(_EXACT), "f")
