"""Fifty testnet credits racing on one balance end exactly at their sum (row lock + ledger)."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import Sum

from tests.conftest import Api
from wallets.models import Balance, LedgerEntry, TestnetCredit

CREDITS = 50


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_credits_to_one_balance_sum_exactly(settings):
    settings.TESTNET_ONLY = True
    settings.RATE_LIMIT_USER = "10000/second"
    staff = Api("staff-concurrency")
    get_user_model().objects.filter(pk=staff.user_id).update(is_staff=True)
    amounts = [Decimal(i) + Decimal(i) / Decimal(1000) for i in range(1, CREDITS + 1)]  # 1.001, 2.002, ...
    start = threading.Barrier(CREDITS)
    statuses: list[int] = []

    def credit(amount: Decimal) -> None:
        try:
            api = Api(staff.username)  # one client per thread; the same operator
            start.wait(timeout=30)
            response = api.post(
                "/admin/spot/balances/credit", {"user_id": "whale", "token": "USDT", "amount": str(amount)}
            )
            statuses.append(response.status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=credit, args=(amount,)) for amount in amounts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)

    assert statuses == [200] * CREDITS
    balance = Balance.objects.get(user__username="whale", token="USDT")
    assert balance.available == sum(amounts) and balance.locked == 0
    entries = LedgerEntry.objects.filter(user__username="whale", token="USDT")
    assert entries.count() == CREDITS
    assert entries.aggregate(total=Sum("delta_available"))["total"] == balance.available
    assert sorted(entries.values_list("delta_available", flat=True)) == amounts
    assert TestnetCredit.objects.filter(user__username="whale").count() == CREDITS
