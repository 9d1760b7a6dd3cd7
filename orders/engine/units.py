"""Integer units of the engine, converted at one edge only.

Every balance and amount inside the engine is an ``int`` number of atoms, 10**-18 of a
unit of its asset; prices are ``int`` ticks, quantities ``int`` lots, fee rates ``int``
parts per 10**8. These helpers are exact: they never round and raise ``ValueError``
instead of losing a digit.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Context, Decimal, DecimalException, Inexact, InvalidOperation, Overflow, Rounded

ATOMS_PER_UNIT = 10**18
ATOM_DECIMALS = 18
FEE_SCALE = 10**8
FEE_DECIMALS = 8

# Arithmetic that is exact or raises: 100 digits hold any amount of NUMERIC(38, 18) in atoms and
# any whole number of steps in one (at most 10**38), and whatever would round raises instead.
_EXACT = Context(prec=100, traps=[Inexact, Rounded, InvalidOperation, Overflow])


def _exactly_whole(operation: Callable[..., Decimal], *args: object) -> int | None:
    """The int that ``operation(*args)`` gives exactly; None if it would round or has a fraction."""
    try:
        exact = operation(*args)
    except DecimalException:
        return None
    whole = int(exact)
    return whole if exact == whole else None


def _exact_int(value: Decimal, decimals: int) -> int:
    """``value * 10**decimals`` as an int, or ValueError if that is not a whole number."""
    if not isinstance(value, Decimal):
        raise TypeError(f"expected Decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"not a finite number: {value}")
    result = _exactly_whole(value.scaleb, decimals, _EXACT)  # only the exponent moves
    if result is None:
        raise ValueError(f"{value} has more than {decimals} decimals")
    return result


def to_atoms(d: Decimal) -> int:
    """Exact number of atoms (10**-18) in ``d``; ValueError if it has more than 18 decimals."""
    return _exact_int(d, ATOM_DECIMALS)


def from_atoms(n: int) -> Decimal:
    """The exact Decimal value of ``n`` atoms, with exponent -18 (quantize it for display)."""
    if not isinstance(n, int):
        raise TypeError(f"expected int, got {type(n).__name__}")
    digits = tuple(int(c) for c in str(abs(n)))
    return Decimal((1 if n < 0 else 0, digits, -ATOM_DECIMALS))


def to_steps(value: Decimal, step: Decimal) -> int:
    """How many ``step`` make ``value`` exactly (e.g. price -> ticks); ValueError otherwise."""
    if not isinstance(step, Decimal) or not step.is_finite() or step <= 0:
        raise ValueError(f"step must be a positive finite Decimal, got {step!r}")
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"value must be a finite Decimal, got {value!r}")
    steps = _exactly_whole(_EXACT.divide, value, step)  # a quotient that does not end raises: None
    if steps is None:
        raise ValueError(f"{value} is not a multiple of {step}")
    return steps


def fee_rate_e8(rate: Decimal) -> int:
    """A fee rate as parts per 10**8 (0.001 -> 100000); ValueError if finer or outside [0, 1)."""
    rate_e8 = _exact_int(rate, FEE_DECIMALS)
    if not 0 <= rate_e8 < FEE_SCALE:
        raise ValueError(f"fee rate {rate} outside [0, 1)")
    return rate_e8
