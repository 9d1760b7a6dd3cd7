"""Money text at the edges: exact in both directions, whatever the size NUMERIC(38, 18) allows."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.money import fmt, parse_decimal
from orders.batch_store import atoms_text
from orders.engine.units import from_atoms

LARGEST_ATOMS = 10**38 - 1  # NUMERIC(38, 18) in atoms


def test_fmt_keeps_all_38_digits():
    # 20 integer digits and 18 decimals: more than Decimal's default 28-digit context holds
    assert fmt(Decimal("12345678901234567890.123456789012345678")) == "12345678901234567890.123456789012345678"
    assert fmt(Decimal("99999999999999999999.000000000000000001")) == "99999999999999999999.000000000000000001"


def test_fmt_plain_text():
    assert fmt(Decimal("100.000")) == "100"
    assert fmt(Decimal("0.0150")) == "0.015"
    assert fmt(Decimal("0E-18")) == "0"
    assert fmt(Decimal("-2.50")) == "-2.5"
    assert fmt(None) is None


@given(st.integers(min_value=-LARGEST_ATOMS, max_value=LARGEST_ATOMS))
def test_atoms_text_is_fmt_of_the_exact_value(atoms):
    text = atoms_text(atoms)
    assert text == fmt(from_atoms(atoms))
    with localcontext() as context:
        context.prec = 80
        assert Decimal(text).scaleb(18) == atoms
    assert "e" not in text.lower() and not text.endswith(".")


def test_atoms_text_examples():
    assert atoms_text(0) == "0"
    assert atoms_text(1) == "0.000000000000000001"
    assert atoms_text(1_500_000_000_000_000_000) == "1.5"
    assert atoms_text(-25 * 10**17) == "-2.5"
    assert atoms_text(100 * 10**18) == "100"


@pytest.mark.parametrize(
    "text,value",
    [("5", "5"), (" 5 ", "5"), ("+5", "5"), ("-5", "-5"), ("0.001", "0.001"), (".5", "0.5"), ("5.", "5"),
     ("1e-3", "0.001"), ("1E+2", "100"), (7, "7"), ("0.000000000000000001", "1E-18")],
)  # fmt: skip
def test_parse_decimal_reads_plain_decimal_text(text, value):
    assert parse_decimal(text) == Decimal(value)


@pytest.mark.parametrize(
    "text",
    # Decimal() itself reads the first five: 5_0 as 50, and Unicode digits (Arabic-Indic, fullwidth)
    ["5_0", "1_000.5", "\u0665", "\uff15", "5\u0660", "0x10", "1e", ".", "", " ", "5..0", "--5", "NaN", "Infinity",
     "1e999999", "0.0000000000000000001", 5.0, True, None, [], "1" * 65],
)  # fmt: skip
def test_parse_decimal_refuses_anything_else(text):
    assert parse_decimal(text) is None
