"""POST /spot/transfer: USDT between the spot wallet and the perp account, every code of the seed's
Transfer table, JWT only, both sides and both ledgers checked after every call."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from tests.conftest import fund
from tests.wallets.helpers import KeyCaller, assert_ledgers_match_balances, perp, spot
from wallets.models import LedgerEntry, PerpLedgerEntry, Transfer
from wallets.reconcile import perp_and_spot_totals, perp_ledger_matches_accounts
from wallets.services import credit_perp


@pytest.fixture
def trader(make_api):
    api = make_api()
    fund(api.user_id, "USDT", "100")
    credit_perp(user_id=api.user_id, amount="50")
    return api


def test_spot_to_perp_moves_usdt_and_writes_both_ledgers(trader):
    response = trader.post("/spot/transfer", {"direction": "spot_to_perp", "token": "USDT", "amount": "40.5"})

    assert response.status_code == 200, response.content
    body = response.json()
    transfer = Transfer.objects.get(pk=body["id"])
    assert body == {
        "id": str(transfer.pk), "direction": "spot_to_perp", "token": "USDT", "amount": "40.5",
        "created_at": int(transfer.created_at.timestamp() * 1000),
    }  # fmt: skip
    assert spot(trader.user_id) == (Decimal("59.5"), 0)
    assert perp(trader.user_id) == Decimal("90.5")
    entry = LedgerEntry.objects.get(ref=body["id"])
    assert (entry.kind, entry.delta_available, entry.delta_locked) == ("transfer_out", Decimal("-40.5"), 0)
    perp_entry = PerpLedgerEntry.objects.get(ref=body["id"])
    assert (perp_entry.kind, perp_entry.delta) == ("transfer_in", Decimal("40.5"))
    assert_ledgers_match_balances()


def test_perp_to_spot_moves_usdt_back(trader):
    response = trader.post("/spot/transfer", {"direction": "perp_to_spot", "token": "USDT", "amount": "50"})

    assert response.status_code == 200, response.content
    assert response.json()["direction"] == "perp_to_spot" and response.json()["amount"] == "50"
    assert spot(trader.user_id) == (Decimal("150"), 0)
    assert perp(trader.user_id) == 0
    assert LedgerEntry.objects.get(ref=response.json()["id"]).kind == "transfer_in"
    assert PerpLedgerEntry.objects.get(ref=response.json()["id"]).kind == "transfer_out"
    assert_ledgers_match_balances()
    assert perp_ledger_matches_accounts() == []


def test_the_whole_free_balance_can_move(trader):
    assert (
        trader.post("/spot/transfer", {"direction": "spot_to_perp", "token": "USDT", "amount": "100"}).status_code
        == 200
    )
    assert spot(trader.user_id) == (0, 0) and perp(trader.user_id) == Decimal("150")


REFUSALS = [
    # direction first
    ({"direction": "sideways", "token": "USDT", "amount": "1"}, "INVALID_DIRECTION"),
    ({"direction": "SPOT_TO_PERP", "token": "USDT", "amount": "1"}, "INVALID_DIRECTION"),
    ({"token": "USDT", "amount": "1"}, "INVALID_DIRECTION"),
    ({"direction": ["spot_to_perp"], "token": "USDT", "amount": "1"}, "INVALID_DIRECTION"),
    ({"direction": "nope", "token": "BTC", "amount": "-1"}, "INVALID_DIRECTION"),
    # then token
    ({"direction": "spot_to_perp", "token": "BTC", "amount": "1"}, "UNSUPPORTED_TOKEN"),
    ({"direction": "perp_to_spot", "amount": "1"}, "UNSUPPORTED_TOKEN"),
    ({"direction": "spot_to_perp", "token": "US-DT", "amount": "1"}, "UNSUPPORTED_TOKEN"),
    ({"direction": "spot_to_perp", "token": "DF", "amount": "0"}, "UNSUPPORTED_TOKEN"),
    # then amount
    ({"direction": "spot_to_perp", "token": "USDT", "amount": "0"}, "AMOUNT_NON_POSITIVE"),
    ({"direction": "spot_to_perp", "token": "USDT", "amount": "-5"}, "AMOUNT_NON_POSITIVE"),
    ({"direction": "perp_to_spot", "token": "USDT", "amount": "abc"}, "AMOUNT_NON_POSITIVE"),
    ({"direction": "perp_to_spot", "token": "USDT", "amount": 1.5}, "AMOUNT_NON_POSITIVE"),
    ({"direction": "perp_to_spot", "token": "USDT", "amount": "NaN"}, "AMOUNT_NON_POSITIVE"),
    ({"direction": "perp_to_spot", "token": "USDT", "amount": "1e-19"}, "AMOUNT_NON_POSITIVE"),
    ({"direction": "perp_to_spot", "token": "USDT"}, "AMOUNT_NON_POSITIVE"),
    ({"direction": "spot_to_perp", "token": "USDT", "amount": "1000"}, "INSUFFICIENT_BALANCE"),
    # and the source side's balance last
    ({"direction": "spot_to_perp", "token": "USDT", "amount": "100.000000000000000001"}, "INSUFFICIENT_BALANCE"),
    ({"direction": "perp_to_spot", "token": "USDT", "amount": "50.01"}, "INSUFFICIENT_BALANCE"),
]


@pytest.mark.parametrize(("body", "code"), REFUSALS)
def test_refused_transfer_answers_its_code_and_changes_nothing(trader, body, code):
    response = trader.post("/spot/transfer", body)

    assert response.status_code == 400
    assert response.json() == {"error": code}
    assert spot(trader.user_id) == (Decimal("100"), 0)
    assert perp(trader.user_id) == Decimal("50")
    assert Transfer.objects.count() == 0
    assert LedgerEntry.objects.filter(kind__in=["transfer_in", "transfer_out"]).count() == 0
    assert_ledgers_match_balances()


def test_locked_spot_usdt_is_not_free_to_transfer(trader):
    from django.db import transaction

    from wallets.locks import lock_balance
    from wallets.services import change_balance

    with transaction.atomic():  # an open order holds 80 of the 100
        lock_balance(user_id=trader.user_id, token="USDT")
        change_balance(
            user_id=trader.user_id,
            token="USDT",
            delta_available=Decimal(-80),
            delta_locked=Decimal(80),
            kind="order_lock",
        )

    response = trader.post("/spot/transfer", {"direction": "spot_to_perp", "token": "USDT", "amount": "20.01"})
    assert (response.status_code, response.json()) == (400, {"error": "INSUFFICIENT_BALANCE"})
    assert spot(trader.user_id) == (Decimal("20"), Decimal("80"))


def test_a_user_with_no_balances_at_all_gets_insufficient_balance(make_api):
    api = make_api()
    for direction in ("spot_to_perp", "perp_to_spot"):
        response = api.post("/spot/transfer", {"direction": direction, "token": "USDT", "amount": "1"})
        assert (response.status_code, response.json()) == (400, {"error": "INSUFFICIENT_BALANCE"})
    assert spot(api.user_id) == (0, 0) and perp(api.user_id) == 0


@pytest.mark.parametrize("permissions", [["read"], ["read", "trade"]])
def test_api_key_caller_is_refused_even_with_trade_permission(trader, permissions):
    key = KeyCaller(trader, permissions)

    response = key.call("POST", "/spot/transfer", {"direction": "spot_to_perp", "token": "USDT", "amount": "1"})

    assert response.status_code == 403
    assert response.json() == {"error": "API Key permission denied"}
    assert spot(trader.user_id) == (Decimal("100"), 0) and perp(trader.user_id) == Decimal("50")
    assert key.call("GET", "/spot/balances").status_code == 200  # the key itself works


def test_api_key_refusal_comes_before_validation(trader):
    key = KeyCaller(trader, ["read", "trade"])
    response = key.call("POST", "/spot/transfer", {"direction": "sideways"})
    assert (response.status_code, response.json()) == (403, {"error": "API Key permission denied"})


def test_anonymous_caller_gets_empty_401(client, db):
    response = client.post(
        "/spot/transfer", {"direction": "spot_to_perp", "token": "USDT", "amount": "1"}, content_type="application/json"
    )
    assert response.status_code == 401 and response.content == b""


def test_transfers_keep_spot_plus_perp_constant(trader, make_api):
    other = make_api()
    fund(other.user_id, "USDT", "7")
    before = perp_and_spot_totals()["USDT"]
    trader.post("/spot/transfer", {"direction": "spot_to_perp", "token": "USDT", "amount": "33"})
    other.post("/spot/transfer", {"direction": "spot_to_perp", "token": "USDT", "amount": "7"})
    trader.post("/spot/transfer", {"direction": "perp_to_spot", "token": "USDT", "amount": "80"})
    after = perp_and_spot_totals()["USDT"]
    assert before == {"spot": Decimal("107"), "perp": Decimal("50")}
    assert after == {"spot": Decimal("147"), "perp": Decimal("10")}  # the same 157 in all
    assert spot(other.user_id) == (0, 0) and perp(other.user_id) == Decimal("7")
    assert_ledgers_match_balances()


def test_transfer_id_is_a_uuid(trader):
    body = trader.post("/spot/transfer", {"direction": "spot_to_perp", "token": "USDT", "amount": "1"}).json()
    assert uuid.UUID(body["id"])
