"""Integer units: exact conversions, never rounding."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orders.engine.commands import MarketSpec
from orders.engine.units import ATOMS_PER_UNIT, FEE_SCALE, fee_rate_e8, from_atoms, to_atoms, to_steps


def test_to_atoms_is_exact_to_18_decimals() -> None:
    assert ATOMS_PER_UNIT == 10**18 and FEE_SCALE == 10**8
    assert to_atoms(Decimal("1")) == 10**18
    assert to_atoms(Decimal("0.000000000000000001")) == 1
    assert to_atoms(Decimal("-2.5")) == -25 * 10**17
    assert to_atoms(Decimal("1.0000000000000000000000")) == 10**18  # trailing zeros are fine
    assert to_atoms(Decimal("123456789012345678901234567890.1")) == 1234567890123456789012345678901 * 10**17


def test_to_atoms_refuses_a_19th_decimal_and_non_finite() -> None:
    with pytest.raises(ValueError):
        to_atoms(Decimal("0.0000000000000000001"))
    with pytest.raises(ValueError):
        to_atoms(Decimal("NaN"))
    with pytest.raises(ValueError):
        to_atoms(Decimal("Infinity"))


def test_from_atoms_round_trips() -> None:
    for text in ("0", "1", "0.000000000000000001", "-3.25", "98765432109876543210.123456789012345678"):
        assert from_atoms(to_atoms(Decimal(text))) == Decimal(text)


def test_to_steps_needs_an_exact_multiple() -> None:
    assert to_steps(Decimal("123.45"), Decimal("0.05")) == 2469
    assert to_steps(Decimal("10"), Decimal("0.001")) == 10000
    assert to_steps(Decimal("1E+3"), Decimal("10")) == 100
    with pytest.raises(ValueError):
        to_steps(Decimal("123.46"), Decimal("0.05"))
    with pytest.raises(ValueError):
        to_steps(Decimal("1"), Decimal("0"))


def test_fee_rate_is_parts_per_hundred_million() -> None:
    assert fee_rate_e8(Decimal("0.001")) == 100000
    assert fee_rate_e8(Decimal("0")) == 0
    assert fee_rate_e8(Decimal("0.00000001")) == 1
    with pytest.raises(ValueError):
        fee_rate_e8(Decimal("0.000000001"))
    with pytest.raises(ValueError):
        fee_rate_e8(Decimal("1"))


def test_market_spec_derives_integer_units() -> None:
    spec = MarketSpec("BTC_USDT", "BTC", "USDT", Decimal("0.01"), Decimal("0.0001"), Decimal("0.001"),
                      Decimal("0.002"), "active")  # fmt: skip
    assert spec.lot_atoms == 10**14
    assert spec.unit_atoms == 10**12  # 0.01 * 0.0001 * 10**18
    assert (spec.maker_fee_e8, spec.taker_fee_e8) == (100000, 200000)


def test_market_spec_refuses_units_finer_than_an_atom() -> None:
    with pytest.raises(ValueError):
        MarketSpec("X_Y", "X", "Y", Decimal("0.000000001"), Decimal("0.0000000001"), Decimal("0"), Decimal("0"),
                   "active")  # fmt: skip
    with pytest.raises(ValueError):
        MarketSpec("X_Y", "X", "Y", Decimal("1"), Decimal("1"), Decimal("0"), Decimal("0"), "paused")
