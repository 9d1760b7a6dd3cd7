"""Decimal money at the edge: parse what a client sent, format what we send back."""

from __future__ import annotations

import re
from decimal import Context, Decimal, InvalidOperation
from typing import Any

MAX_DECIMALS = 18  # NUMERIC(38, 18) in the database
MAX_DIGITS = 38
_EXACT = Context(prec=MAX_DIGITS + MAX_DECIMALS)  # normalize() rounds to its context's precision
# What a decimal string may be: ASCII digits, one optional point, an optional exponent. Python's
# Decimal() also reads "5_0" as 50 and any Unicode digit ("٥" as 5): a typo must not become a price.
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_decimal(value: Any) -> Decimal | None:
    """A finite Decimal that fits NUMERIC(38,18), from a string (or an int); None otherwise.

    Floats are refused: JSON numbers with a fraction arrive as float and may already be off.
    The string is plain decimal notation (``_DECIMAL_TEXT``), surrounding whitespace allowed.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str) or len(value) > 64:
        return None
    text = value.strip()
    if _DECIMAL_TEXT.fullmatch(text) is None:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:  # not expected: the pattern admits only what Decimal reads
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
