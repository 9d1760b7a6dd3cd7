"""Operators in the Django admin: find withdrawals, retry, fail (refund), resolve an unknown one;
every action audited with who did it. PerpAccount is read-only."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.wallets.helpers import assert_ledgers_match_balances, spot
from tests.withdrawals.conftest import ADDRESS, queued_tasks
from wallets.services import credit_perp
from withdrawals import tasks
from withdrawals.models import Withdrawal, WithdrawalAudit

CHANGELIST = "/admin/withdrawals/withdrawal/"


@pytest.fixture
def operator(db):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-ops-123456")
    browser = Client()
    browser.force_login(user)
    browser.user = user
    return browser


@pytest.fixture
def withdrawal(holder):
    response = holder.post("/spot/withdraw/request", {"token": "DF", "amount": "40", "address": ADDRESS})
    return Withdrawal.objects.get(pk=response.json()["id"])


def last_audit(withdrawal):
    return WithdrawalAudit.objects.filter(withdrawal=withdrawal).order_by("pk").last()


@pytest.mark.parametrize(
    "query", ["", "?status__exact=pending", "?token__exact=DF", "?q=abab", "?q=not-a-uuid", "?q=user-"]
)
def test_changelist_filters_and_search(operator, withdrawal, query):
    response = operator.get(CHANGELIST + query)
    assert response.status_code == 200


def test_search_by_id_finds_it(operator, withdrawal):
    response = operator.get(f"{CHANGELIST}?q={withdrawal.pk}")
    assert response.status_code == 200 and str(withdrawal.pk) in response.content.decode()


def test_fail_and_refund_action(operator, holder, withdrawal):
    response = operator.post(CHANGELIST, {"action": "fail_and_refund", "_selected_action": [str(withdrawal.pk)]})
    assert response.status_code == 302
    withdrawal.refresh_from_db()
    assert withdrawal.status == "failed"
    assert spot(holder.user_id, "DF") == (Decimal("100"), 0)
    audit = last_audit(withdrawal)
    assert (audit.actor_id, audit.from_status, audit.to_status) == (operator.user.pk, "pending", "failed")
    assert_ledgers_match_balances()


def test_retry_action_requeues_the_next_step_and_is_audited(operator, withdrawal, django_capture_on_commit_callbacks):
    tasks.sign_withdrawal(str(withdrawal.pk))
    with django_capture_on_commit_callbacks(execute=True):
        operator.post(CHANGELIST, {"action": "retry_next_step", "_selected_action": [str(withdrawal.pk)]})
    assert queued_tasks() == [("withdrawals.tasks.broadcast_withdrawal", [str(withdrawal.pk)])]
    audit = last_audit(withdrawal)
    assert (audit.actor_id, audit.from_status, audit.to_status) == (operator.user.pk, "signed", "signed")


def test_retry_action_skips_unknown_ones(operator, withdrawal, remote_signer):
    remote_signer.signing = "fail"
    tasks.sign_withdrawal(str(withdrawal.pk))
    operator.post(CHANGELIST, {"action": "retry_next_step", "_selected_action": [str(withdrawal.pk)]})
    assert Withdrawal.objects.get(pk=withdrawal.pk).status == "unknown"
    assert last_audit(withdrawal).actor_id is None  # no operator action was recorded
    assert len(remote_signer.sign_calls()) == 1


def test_resolve_unknown_through_its_form(operator, holder, withdrawal, remote_signer):
    remote_signer.signing = "slow"
    tasks.sign_withdrawal(str(withdrawal.pk))
    response = operator.post(CHANGELIST, {"action": "resolve_unknown", "_selected_action": [str(withdrawal.pk)]})
    assert response.status_code == 302
    form_url = response["Location"]
    assert operator.get(form_url).status_code == 200

    refused = operator.post(form_url, {"signer_signed": "yes", "note": "it did"})  # no signature: form error
    assert refused.status_code == 200 and Withdrawal.objects.get(pk=withdrawal.pk).status == "unknown"

    operator.post(form_url, {"signer_signed": "no", "note": "signer log: request rejected before KMS"})
    assert Withdrawal.objects.get(pk=withdrawal.pk).status == "pending"
    audit = last_audit(withdrawal)
    assert (audit.actor_id, audit.from_status, audit.to_status) == (operator.user.pk, "unknown", "pending")
    assert "did NOT sign" in audit.note and "request rejected before KMS" in audit.note
    assert spot(holder.user_id, "DF") == (Decimal("60"), Decimal("40"))


def test_change_page_shows_the_audit_trail(operator, withdrawal):
    response = operator.get(f"{CHANGELIST}{withdrawal.pk}/change/")
    assert response.status_code == 200 and "requested" in response.content.decode()


def test_perp_accounts_are_read_only(operator, holder):
    credit_perp(user_id=holder.user_id, amount="5")
    assert operator.get("/admin/wallets/perpaccount/").status_code == 200
    assert operator.get("/admin/wallets/perpaccount/add/").status_code == 403
