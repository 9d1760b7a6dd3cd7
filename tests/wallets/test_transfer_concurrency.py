"""Fifty transfers of one user racing in both directions: no deadlock, no negative side, and spot
plus perp end exactly where they started (row locks always spot first, then perp)."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connections

from tests.conftest import Api, fund
from tests.wallets.helpers import assert_ledgers_match_balances, perp, spot
from wallets.models import Transfer
from wallets.services import credit_perp

TRANSFERS = 50


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_transfers_both_ways_keep_the_sum(settings):
    settings.RATE_LIMIT_USER = "10000/second"
    owner = Api("transfer-racer")
    fund(owner.user_id, "USDT", "100")
    credit_perp(user_id=owner.user_id, amount="100")
    # Amounts large enough that some transfers find their source side short.
    plan = [("spot_to_perp" if i % 2 else "perp_to_spot", Decimal(7 + i % 5)) for i in range(TRANSFERS)]
    start = threading.Barrier(TRANSFERS)
    answers: list[tuple[str, Decimal, int, dict]] = []
    lock = threading.Lock()

    def move(direction: str, amount: Decimal) -> None:
        try:
            api = Api(owner.username)
            start.wait(timeout=30)
            response = api.post("/spot/transfer", {"direction": direction, "token": "USDT", "amount": str(amount)})
            with lock:
                answers.append((direction, amount, response.status_code, response.json()))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=move, args=step) for step in plan]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a transfer hung (deadlock?)"

    assert len(answers) == TRANSFERS
    for _, _, status, body in answers:
        assert status == 200 or (status, body) == (400, {"error": "INSUFFICIENT_BALANCE"}), (status, body)
    done = [(d, a) for d, a, status, _ in answers if status == 200]
    assert len(done) == Transfer.objects.count() > 0
    into_perp = sum((a for d, a in done if d == "spot_to_perp"), Decimal(0))
    into_spot = sum((a for d, a in done if d == "perp_to_spot"), Decimal(0))
    available, locked = spot(owner.user_id)
    assert available == Decimal(100) - into_perp + into_spot and locked == 0
    assert perp(owner.user_id) == Decimal(100) + into_perp - into_spot
    assert available + perp(owner.user_id) == Decimal(200)
    assert available >= 0 and perp(owner.user_id) >= 0
    assert_ledgers_match_balances()
