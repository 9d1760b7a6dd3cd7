from __future__ import annotations

from typing import Any

from exchange.money import fmt
from wallets.models import Balance


def balances_of(user_id: int) -> list[Balance]:
    return list(Balance.objects.filter(user_id=user_id).order_by("token"))


def serialize_balance(balance: Balance) -> dict[str, Any]:
    return {"token": balance.token, "available": fmt(balance.available), "locked": fmt(balance.locked)}


def serialize_transfer(transfer: Any) -> dict[str, Any]:
    return {
        "id": str(transfer.id),
        "direction": transfer.direction,
        "token": transfer.token,
        "amount": fmt(transfer.amount),
        "created_at": int(transfer.created_at.timestamp() * 1000),
    }
