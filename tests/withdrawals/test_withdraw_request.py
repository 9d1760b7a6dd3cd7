"""POST /spot/withdraw/request: every code of the seed's Withdraw table, the hold, JWT only."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from tests.conftest import fund
from tests.wallets.helpers import KeyCaller, assert_ledgers_match_balances, spot
from tests.withdrawals.conftest import ADDRESS, closed_port_url, queued_tasks
from wallets.models import LedgerEntry
from withdrawals.models import Withdrawal, WithdrawalAudit


def request(api, **overrides):
    body = {"token": "DF", "amount": "40", "address": ADDRESS, **overrides}
    return api.post("/spot/withdraw/request", {k: v for k, v in body.items() if v is not None})


def assert_nothing_changed(api):
    assert spot(api.user_id, "DF") == (Decimal("100"), 0)
    assert Withdrawal.objects.count() == 0
    assert not LedgerEntry.objects.filter(kind__startswith="withdraw").exists()
    assert queued_tasks() == []


def test_request_holds_the_amount_and_answers_the_withdrawal(holder, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = request(holder, amount="40.25")

    assert response.status_code == 201, response.content
    withdrawal = Withdrawal.objects.get()
    assert response.json() == {
        "id": str(withdrawal.pk), "token": "DF", "amount": "40.25", "address": ADDRESS, "status": "pending",
        "tx_id": None, "created_at": int(withdrawal.created_at.timestamp() * 1000),
        "updated_at": int(withdrawal.updated_at.timestamp() * 1000),
    }  # fmt: skip
    assert spot(holder.user_id, "DF") == (Decimal("59.75"), Decimal("40.25"))
    entry = LedgerEntry.objects.get(kind="withdraw_hold")
    assert (entry.delta_available, entry.delta_locked, entry.ref) == (
        Decimal("-40.25"),
        Decimal("40.25"),
        str(withdrawal.pk),
    )
    assert list(WithdrawalAudit.objects.values_list("from_status", "to_status", "actor_id")) == [
        ("", "pending", holder.user_id)
    ]
    # Signing is queued once the hold is committed: a real message on the ``default`` queue.
    assert len(callbacks) == 1
    assert queued_tasks() == [("withdrawals.tasks.sign_withdrawal", [str(withdrawal.pk)])]
    assert_ledgers_match_balances()


def test_address_is_accepted_in_any_case_and_stored_lower_case(holder):
    response = request(holder, address="0x" + "AbCdEf0123" * 4)
    assert response.status_code == 201
    assert response.json()["address"] == "0x" + "abcdef0123" * 4


def test_the_whole_available_balance_can_be_withdrawn(holder):
    assert request(holder, amount="100").status_code == 201
    assert spot(holder.user_id, "DF") == (0, Decimal("100"))


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"token": "USDT"}, "UNSUPPORTED_TOKEN"),
        ({"token": "BTC", "amount": "-1"}, "UNSUPPORTED_TOKEN"),
        ({"token": None}, "UNSUPPORTED_TOKEN"),
        ({"token": 7}, "UNSUPPORTED_TOKEN"),
        # an address the token cannot reach (docs/decisions/0003-withdrawal-address.md)
        ({"address": None}, "UNSUPPORTED_TOKEN"),
        ({"address": "0x" + "ab" * 19}, "UNSUPPORTED_TOKEN"),
        ({"address": "0x" + "ab" * 21}, "UNSUPPORTED_TOKEN"),
        ({"address": "ab" * 20}, "UNSUPPORTED_TOKEN"),
        ({"address": "0x" + "zz" * 20}, "UNSUPPORTED_TOKEN"),
        ({"address": "0x" + "00" * 20}, "UNSUPPORTED_TOKEN"),
        ({"address": " 0x" + "ab" * 20}, "UNSUPPORTED_TOKEN"),
        ({"address": "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh"}, "UNSUPPORTED_TOKEN"),
        ({"address": ["0x" + "ab" * 20]}, "UNSUPPORTED_TOKEN"),
        ({"address": "0x" + "ab" * 20, "amount": "0"}, "AMOUNT_NON_POSITIVE"),
        ({"amount": "-0.1"}, "AMOUNT_NON_POSITIVE"),
        ({"amount": "ten"}, "AMOUNT_NON_POSITIVE"),
        ({"amount": 12.5}, "AMOUNT_NON_POSITIVE"),
        ({"amount": None}, "AMOUNT_NON_POSITIVE"),
        ({"amount": "Infinity"}, "AMOUNT_NON_POSITIVE"),
        ({"amount": "100.000000000000000001"}, "INSUFFICIENT_BALANCE"),
        ({"amount": "1" + "0" * 19}, "INSUFFICIENT_BALANCE"),
    ],
)
def test_refused_request_answers_its_code_and_changes_nothing(
    holder, overrides, code, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = request(holder, **overrides)

    assert response.status_code == 400
    assert response.json() == {"error": code}
    assert_nothing_changed(holder)


def test_locked_funds_are_not_available_for_a_withdrawal(holder):
    assert request(holder, amount="70").status_code == 201
    response = request(holder, amount="30.000000001")
    assert (response.status_code, response.json()) == (400, {"error": "INSUFFICIENT_BALANCE"})
    assert spot(holder.user_id, "DF") == (Decimal("30"), Decimal("70"))


def test_a_user_without_the_token_gets_insufficient_balance(make_api):
    api = make_api()
    response = request(api, amount="1")
    assert (response.status_code, response.json()) == (400, {"error": "INSUFFICIENT_BALANCE"})


def test_supported_tokens_come_from_settings(settings, make_api):
    settings.WITHDRAW_TOKENS = ["DF", "ETH"]
    api = make_api()
    fund(api.user_id, "ETH", "2")
    assert request(api, token="ETH", amount="1.5").status_code == 201
    assert spot(api.user_id, "ETH") == (Decimal("0.5"), Decimal("1.5"))
    settings.WITHDRAW_TOKENS = ["ETH"]
    fund(api.user_id, "DF", "5")
    assert request(api, token="DF", amount="1").json() == {"error": "UNSUPPORTED_TOKEN"}


def test_signer_down_is_503_and_nothing_changes(holder, settings, django_capture_on_commit_callbacks):
    settings.SIGNER_URL = closed_port_url()
    settings.SIGNER_TIMEOUT_S = 0.3
    with django_capture_on_commit_callbacks(execute=True):
        response = request(holder)
    assert response.status_code == 503
    assert response.json() == {"error": "SIGNER_UNAVAILABLE"}
    assert_nothing_changed(holder)


@pytest.mark.parametrize("health", ["fail", "slow", "drop", "refuse"])
def test_signer_unhealthy_is_503_and_nothing_changes(holder, remote_signer, health):
    remote_signer.health = health
    response = request(holder)
    assert (response.status_code, response.json()) == (503, {"error": "SIGNER_UNAVAILABLE"})
    assert_nothing_changed(holder)
    assert remote_signer.sign_calls() == []  # a request never reaches /sign


def test_healthy_remote_signer_lets_the_request_through(holder, remote_signer):
    assert request(holder).status_code == 201
    assert remote_signer.calls == [("GET", "/health")]
    assert remote_signer.sign_calls() == []  # signing is the worker's job


def test_bad_request_is_refused_before_asking_the_signer(holder, remote_signer):
    assert request(holder, amount="0").json() == {"error": "AMOUNT_NON_POSITIVE"}
    assert request(holder, amount="1000").json() == {"error": "INSUFFICIENT_BALANCE"}
    assert remote_signer.calls == []


@pytest.mark.parametrize("permissions", [["read"], ["read", "trade"]])
def test_api_key_caller_is_refused(holder, permissions):
    key = KeyCaller(holder, permissions)
    response = key.call("POST", "/spot/withdraw/request", {"token": "DF", "amount": "1", "address": ADDRESS})
    assert response.status_code == 403
    assert response.json() == {"error": "API Key permission denied"}
    assert_nothing_changed(holder)


def test_anonymous_caller_gets_empty_401(client, db):
    response = client.post("/spot/withdraw/request", {"token": "DF"}, content_type="application/json")
    assert response.status_code == 401 and response.content == b""


def test_withdrawal_ids_are_uuids(holder):
    assert uuid.UUID(request(holder, amount="1").json()["id"])
