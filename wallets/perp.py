"""The perp side's USDT account, behind one small interface.

The perp exchange is another system. The spot wallet only needs to lock a user's perp USDT
account inside its own transaction, read how much is free, and move money in or out, so a
real perp ledger can replace ``DatabasePerpAccounts`` as long as it can join the transaction
(or offers the same all-or-nothing guarantee).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from django.db import connection

from exchange.errors import InsufficientBalance
from wallets.models import PerpAccount, PerpLedgerEntry

PERP_TOKEN = "USDT"


class PerpUsdtAccounts(Protocol):
    """A user's USDT on the perp side. Every call runs inside the caller's transaction."""

    def lock(self, *, user_id: int) -> Decimal:
        """Lock the user's account until the transaction ends (created at zero if missing); its free USDT."""
        ...

    def credit(self, *, user_id: int, amount: Decimal, kind: str, ref: str) -> None:
        """Add ``amount`` (> 0) to a locked account."""
        ...

    def debit(self, *, user_id: int, amount: Decimal, kind: str, ref: str) -> None:
        """Take ``amount`` (> 0) from a locked account. Raises InsufficientBalance if not free."""
        ...


class DatabasePerpAccounts:
    """PerpUsdtAccounts in this PostgreSQL: a PerpAccount row (CHECK >= 0) and its ledger rows."""

    def _ensure(self, user_id: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO wallets_perpaccount (user_id, token, balance) VALUES (%s, %s, 0) "
                "ON CONFLICT (user_id, token) DO NOTHING",
                [user_id, PERP_TOKEN],
            )

    def lock(self, *, user_id: int) -> Decimal:
        self._ensure(user_id)
        return PerpAccount.objects.select_for_update().get(user_id=user_id, token=PERP_TOKEN).balance

    def _apply(self, *, user_id: int, delta: Decimal, kind: str, ref: str) -> None:
        account = PerpAccount.objects.select_for_update().get(user_id=user_id, token=PERP_TOKEN)
        if account.balance + delta < 0:
            raise InsufficientBalance()
        account.balance += delta
        account.save(update_fields=["balance"])
        PerpLedgerEntry.objects.create(account=account, delta=delta, kind=kind, ref=ref)

    def credit(self, *, user_id: int, amount: Decimal, kind: str, ref: str) -> None:
        assert amount > 0, amount
        self._apply(user_id=user_id, delta=amount, kind=kind, ref=ref)

    def debit(self, *, user_id: int, amount: Decimal, kind: str, ref: str) -> None:
        assert amount > 0, amount
        self._apply(user_id=user_id, delta=-amount, kind=kind, ref=ref)


def perp_accounts() -> PerpUsdtAccounts:
    """The perp side this server talks to."""
    return DatabasePerpAccounts()
