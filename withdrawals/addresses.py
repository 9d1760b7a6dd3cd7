"""Which destination addresses a token accepts (docs/decisions/0003-withdrawal-address.md).

Every withdrawable token today lives on an EVM-like chain: ``0x`` followed by 40 hex digits,
any case, not the zero address. Stored lower-case. A token on another kind of chain gets its
own rule here.
"""

from __future__ import annotations

import re

from exchange.errors import UnsupportedToken

_EVM = re.compile(r"0x[0-9a-fA-F]{40}")
_EVM_ZERO = "0x" + "0" * 40


def check_address(*, token: str, address: object) -> str:
    """The normalised address, or UnsupportedToken: this token cannot be sent there."""
    if not isinstance(address, str) or not _EVM.fullmatch(address):
        raise UnsupportedToken()
    normalised = address.lower()
    if normalised == _EVM_ZERO:
        raise UnsupportedToken()
    return normalised
