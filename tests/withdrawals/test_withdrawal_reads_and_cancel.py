"""GET /spot/withdrawals, GET /spot/withdrawals/{id}, DELETE /spot/withdrawals/{id}."""

from __future__ import annotations

from decimal import Decimal

from tests.wallets.helpers import KeyCaller, assert_ledgers_match_balances, spot
from tests.withdrawals.conftest import ADDRESS
from wallets.models import LedgerEntry
from withdrawals import tasks
from withdrawals.models import Withdrawal
from withdrawals.selectors import serialize_withdrawal


def withdraw(api, amount="10"):
    response = api.post("/spot/withdraw/request", {"token": "DF", "amount": amount, "address": ADDRESS})
    assert response.status_code == 201, response.content
    return response.json()


def test_list_is_mine_newest_first_and_paged(holder, make_api):
    from tests.conftest import fund

    other = make_api()
    fund(other.user_id, "DF", "5")
    withdraw(other, "5")
    mine = [withdraw(holder, str(n)) for n in (1, 2, 3)]

    page = holder.get("/spot/withdrawals", limit="2").json()
    assert page["results"] == [mine[2], mine[1]]
    assert page["next"]
    rest = holder.get("/spot/withdrawals", limit="2", cursor=page["next"]).json()
    assert rest == {"results": [mine[0]], "next": None}


def test_read_one(holder):
    created = withdraw(holder)
    response = holder.get(f"/spot/withdrawals/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created


def test_read_one_codes(holder, make_api):
    created = withdraw(holder)
    assert (
        holder.get("/spot/withdrawals/not-a-uuid").status_code,
        holder.get("/spot/withdrawals/not-a-uuid").json(),
    ) == (400, {"error": "invalid id"})
    missing = holder.get("/spot/withdrawals/00000000-0000-4000-8000-000000000000")
    assert (missing.status_code, missing.json()) == (404, {"error": "WITHDRAWAL_NOT_FOUND"})
    stranger = make_api().get(f"/spot/withdrawals/{created['id']}")
    assert (stranger.status_code, stranger.json()) == (403, {"error": "FORBIDDEN"})


def test_api_key_may_read_withdrawals(holder):
    created = withdraw(holder)
    key = KeyCaller(holder, ["read"])
    assert key.call("GET", f"/spot/withdrawals/{created['id']}").json() == created
    assert key.call("GET", "/spot/withdrawals").json() == {"results": [created], "next": None}


def test_cancel_a_pending_one_returns_its_funds(holder):
    created = withdraw(holder, "30")
    assert spot(holder.user_id, "DF") == (Decimal("70"), Decimal("30"))

    response = holder.delete(f"/spot/withdrawals/{created['id']}")

    assert response.status_code == 200
    withdrawal = Withdrawal.objects.get(pk=created["id"])
    assert response.json() == serialize_withdrawal(withdrawal)
    assert response.json()["status"] == "cancelled"
    assert spot(holder.user_id, "DF") == (Decimal("100"), 0)
    assert list(LedgerEntry.objects.filter(ref=created["id"]).order_by("pk").values_list("kind", flat=True)) == [
        "withdraw_hold",
        "withdraw_release",
    ]
    again = holder.delete(f"/spot/withdrawals/{created['id']}")
    assert (again.status_code, again.json()) == (404, {"error": "WITHDRAWAL_NOT_FOUND"})
    assert spot(holder.user_id, "DF") == (Decimal("100"), 0)
    assert tasks.sign_withdrawal(created["id"]) == "cancelled"  # its queued step finds nothing to do
    assert_ledgers_match_balances()


def test_cancel_codes(holder, make_api):
    created = withdraw(holder, "30")
    bad = holder.delete("/spot/withdrawals/123")
    assert (bad.status_code, bad.json()) == (400, {"error": "invalid id"})
    missing = holder.delete("/spot/withdrawals/00000000-0000-4000-8000-000000000000")
    assert (missing.status_code, missing.json()) == (404, {"error": "WITHDRAWAL_NOT_FOUND"})
    stranger = make_api().delete(f"/spot/withdrawals/{created['id']}")
    assert (stranger.status_code, stranger.json()) == (404, {"error": "WITHDRAWAL_NOT_FOUND"})
    assert Withdrawal.objects.get(pk=created["id"]).status == "pending"

    tasks.sign_withdrawal(created["id"])  # no longer pending
    signed = holder.delete(f"/spot/withdrawals/{created['id']}")
    assert (signed.status_code, signed.json()) == (404, {"error": "WITHDRAWAL_NOT_FOUND"})
    assert spot(holder.user_id, "DF") == (Decimal("70"), Decimal("30"))
    assert_ledgers_match_balances()
