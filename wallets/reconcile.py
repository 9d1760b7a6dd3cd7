"""Reconcile support for the wallet: what withdrawals hold, and the perp side's totals (SPEC §9).

``orders.reconcile`` (``manage.py reconcile``) adds ``withdrawal_holds()`` to the open orders'
locks and compares with each balance's ``locked``.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.apps import apps
from django.db.models import Sum

from wallets.models import Balance, PerpAccount, PerpLedgerEntry

Key = tuple[int, str]


def withdrawal_holds() -> dict[Key, Decimal]:
    """Per (user_id, token): the amount of withdrawals whose funds are still held in ``locked``
    (pending, signing, signed, sent, unknown)."""
    withdrawal_model = apps.get_model("withdrawals", "Withdrawal")
    from withdrawals.models import HELD_STATUSES

    rows = (
        withdrawal_model.objects.filter(status__in=HELD_STATUSES)
        .values_list("user_id", "token")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    return {(user_id, token): total for user_id, token, total in rows}


def perp_and_spot_totals() -> dict[str, dict[str, Decimal]]:
    """Per token: ``spot`` (available + locked over all users) and ``perp`` (all perp accounts).
    A transfer moves money between the two and leaves their sum unchanged."""
    totals: dict[str, dict[str, Decimal]] = defaultdict(lambda: {"spot": Decimal(0), "perp": Decimal(0)})
    for token, available, locked in (
        Balance.objects.values_list("token").annotate(a=Sum("available"), lk=Sum("locked")).order_by()
    ):
        totals[token]["spot"] = available + locked
    for token, balance in PerpAccount.objects.values_list("token").annotate(b=Sum("balance")).order_by():
        totals[token]["perp"] = balance
    return dict(totals)


def perp_ledger_matches_accounts() -> list[str]:
    """Every perp account equals the sum of its ledger rows; a list of what is off."""
    sums = dict(PerpLedgerEntry.objects.values_list("account_id").annotate(s=Sum("delta")).order_by())
    problems = []
    for account_id, user_id, token, balance in PerpAccount.objects.values_list("pk", "user_id", "token", "balance"):
        ledger = sums.get(account_id, Decimal(0))
        if ledger != balance:
            problems.append(f"perp ledger mismatch user={user_id} token={token}: account {balance}, ledger {ledger}")
    return problems
