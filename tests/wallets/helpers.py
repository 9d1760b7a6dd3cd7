"""Helpers shared by the wallet and withdrawal tests: API-key calls signed per SPEC §2, and
the money checks every test ends with (ledger sums equal balances)."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import orjson
from django.db.models import Sum
from rest_framework.test import APIClient

from exchange.auth import signature_for
from wallets.models import Balance, LedgerEntry, PerpAccount, PerpLedgerEntry


class KeyCaller:
    """A user's API key, created by that user through POST /spot/api-keys."""

    def __init__(self, api: Any, permissions: list[str]) -> None:
        response = api.post("/spot/api-keys", {"label": "bot", "permissions": permissions})
        assert response.status_code == 201, response.content
        self.api_key, self.secret = response.json()["api_key"], response.json()["secret"]

    def call(self, method: str, path: str, body: Any = None) -> Any:
        raw = orjson.dumps(body) if body is not None else b""
        stamp = str(int(time.time() * 1000))
        return APIClient().generic(
            method, path, raw, content_type="application/json",
            HTTP_X_API_KEY=self.api_key, HTTP_X_TIMESTAMP=stamp,
            HTTP_X_SIGNATURE=signature_for(self.secret, stamp, method, path, raw),
        )  # fmt: skip


def spot(user_id: int, token: str = "USDT") -> tuple[Decimal, Decimal]:
    """(available, locked); zeros if there is no row."""
    row = Balance.objects.filter(user_id=user_id, token=token).first()
    return (row.available, row.locked) if row else (Decimal(0), Decimal(0))


def perp(user_id: int) -> Decimal:
    row = PerpAccount.objects.filter(user_id=user_id, token="USDT").first()
    return row.balance if row else Decimal(0)


def assert_ledgers_match_balances() -> None:
    """Every spot balance and perp account equals the sum of its ledger rows."""
    for balance in Balance.objects.all():
        sums = LedgerEntry.objects.filter(user_id=balance.user_id, token=balance.token).aggregate(
            a=Sum("delta_available"), lk=Sum("delta_locked")
        )
        assert (sums["a"] or 0, sums["lk"] or 0) == (balance.available, balance.locked), balance
    for account in PerpAccount.objects.all():
        total = PerpLedgerEntry.objects.filter(account=account).aggregate(s=Sum("delta"))["s"] or 0
        assert total == account.balance, account
