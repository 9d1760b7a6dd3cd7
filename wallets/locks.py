"""Row locks on balances. Always taken in (user_id, token) order so two writers cannot deadlock."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from wallets.models import Balance


def ensure_balances(keys: Iterable[tuple[int, str]]) -> None:
    """Create missing balance rows (zero) without taking locks on existing ones."""
    keys = sorted(set(keys))
    if not keys:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO wallets_balance (user_id, token, available, locked) "
            "SELECT u, t, 0, 0 FROM unnest(%s::bigint[], %s::text[]) AS k(u, t) "
            "ON CONFLICT (user_id, token) DO NOTHING",
            [[k[0] for k in keys], [k[1] for k in keys]],
        )


def lock_balance(*, user_id: int, token: str) -> Balance:
    """The balance row, created if missing, locked FOR UPDATE. Caller must be in a transaction."""
    ensure_balances([(user_id, token)])
    return Balance.objects.select_for_update().get(user_id=user_id, token=token)
