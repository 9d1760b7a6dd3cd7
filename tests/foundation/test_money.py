"""Money text at the edges: exact in both directions, whatever the size NUMERIC(38, 18) allows."""

from __future__ import annotations

from decimal import Decimal, localcontext

from hypothesis import given
from hypothesis import strategies as st

from exchange.money import fmt
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
