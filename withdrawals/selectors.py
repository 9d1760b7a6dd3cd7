from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from exchange.errors import Forbidden, InvalidId, WithdrawalNotFound
from exchange.money import fmt
from withdrawals.models import HELD_STATUSES, Withdrawal


def parse_withdrawal_id(raw: str) -> uuid.UUID:
    """The path id as a UUID, or InvalidId."""
    try:
        return uuid.UUID(raw)
    except (ValueError, TypeError, AttributeError):
        raise InvalidId() from None


def withdrawals_of(user_id: int) -> QuerySet[Withdrawal]:
    return Withdrawal.objects.filter(user_id=user_id)


def access_withdrawal(*, user_id: int, withdrawal_id: str) -> Withdrawal:
    """The caller's withdrawal. Raises InvalidId, WithdrawalNotFound, Forbidden (another user's)."""
    withdrawal = Withdrawal.objects.filter(pk=parse_withdrawal_id(withdrawal_id)).first()
    if withdrawal is None:
        raise WithdrawalNotFound()
    if withdrawal.user_id != user_id:
        raise Forbidden()
    return withdrawal


def held_withdrawals() -> QuerySet[Withdrawal]:
    return Withdrawal.objects.filter(status__in=HELD_STATUSES)


def _ms(moment: Any) -> int:
    return int(moment.timestamp() * 1000)


def serialize_withdrawal(withdrawal: Withdrawal) -> dict[str, Any]:
    return {
        "id": str(withdrawal.pk),
        "token": withdrawal.token,
        "amount": fmt(withdrawal.amount),
        "address": withdrawal.address,
        "status": withdrawal.status,
        "tx_id": withdrawal.tx_id,
        "created_at": _ms(withdrawal.created_at),
        "updated_at": _ms(withdrawal.updated_at),
    }
