"""Twenty simultaneous withdrawals, each of the whole balance: exactly one holds it."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connections

from tests.conftest import Api, fund
from tests.wallets.helpers import assert_ledgers_match_balances, spot
from tests.withdrawals.conftest import ADDRESS
from wallets.reconcile import withdrawal_holds
from withdrawals.models import Withdrawal

RACERS = 20


@pytest.mark.django_db(transaction=True)
def test_twenty_withdrawals_of_the_full_balance_exactly_one_wins(settings):
    settings.RATE_LIMIT_USER = "10000/second"
    owner = Api("withdraw-racer")
    fund(owner.user_id, "DF", "250.5")
    start = threading.Barrier(RACERS)
    answers: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def withdraw() -> None:
        try:
            api = Api(owner.username)
            start.wait(timeout=30)
            response = api.post("/spot/withdraw/request", {"token": "DF", "amount": "250.5", "address": ADDRESS})
            with lock:
                answers.append((response.status_code, response.json()))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=withdraw) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)

    won = [body for status, body in answers if status == 201]
    assert len(won) == 1
    assert sorted(status for status, _ in answers) == [201] + [400] * (RACERS - 1)
    assert all(body == {"error": "INSUFFICIENT_BALANCE"} for status, body in answers if status == 400)
    assert Withdrawal.objects.count() == 1 and Withdrawal.objects.get().pk.hex == won[0]["id"].replace("-", "")
    assert spot(owner.user_id, "DF") == (0, Decimal("250.5"))
    assert withdrawal_holds() == {(owner.user_id, "DF"): Decimal("250.5")}
    assert_ledgers_match_balances()
