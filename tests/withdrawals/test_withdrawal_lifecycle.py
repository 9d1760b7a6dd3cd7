"""The worker's steps, called directly (synchronously) as Celery would run them:
pending -> signing -> signed -> sent -> completed, failed (funds back), unknown (funds held)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from orders.reconcile import locked_matches_holds
from tests.wallets.helpers import assert_ledgers_match_balances, spot
from tests.withdrawals.conftest import ADDRESS, closed_port_url, queued_tasks
from wallets.models import LedgerEntry
from wallets.reconcile import withdrawal_holds
from withdrawals import services, tasks
from withdrawals.models import BroadcastTx, Withdrawal, WithdrawalAudit
from withdrawals.signer import LocalKeySigner, SignRequest


@pytest.fixture
def withdrawal(holder):
    response = holder.post("/spot/withdraw/request", {"token": "DF", "amount": "40", "address": ADDRESS})
    assert response.status_code == 201
    return Withdrawal.objects.get(pk=response.json()["id"])


def statuses(withdrawal):
    return list(
        WithdrawalAudit.objects.filter(withdrawal=withdrawal).order_by("pk").values_list("to_status", flat=True)
    )


def kinds(withdrawal):
    return list(LedgerEntry.objects.filter(ref=str(withdrawal.pk)).order_by("pk").values_list("kind", flat=True))


def test_local_signer_takes_it_all_the_way_to_completed(
    holder, withdrawal, settings, django_capture_on_commit_callbacks
):
    wid = str(withdrawal.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.sign_withdrawal(wid) == "signed"
    withdrawal.refresh_from_db()
    assert withdrawal.tx_id and withdrawal.signature
    # A real Ed25519 signature over the withdrawal's fields, by the key of SIGNER_LOCAL_KEY.
    signer = LocalKeySigner(settings.SIGNER_LOCAL_KEY)
    signer.public_key.verify(
        bytes.fromhex(withdrawal.signature), SignRequest(wid, "DF", Decimal("40"), ADDRESS).message()
    )
    assert queued_tasks() == [("withdrawals.tasks.broadcast_withdrawal", [wid])]

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.broadcast_withdrawal(wid) == "sent"
    assert BroadcastTx.objects.get(withdrawal=withdrawal).tx_id == withdrawal.tx_id
    assert queued_tasks()[-1] == ("withdrawals.tasks.complete_withdrawal", [wid])
    assert spot(holder.user_id, "DF") == (Decimal("60"), Decimal("40"))

    assert tasks.complete_withdrawal(wid) == "completed"
    assert spot(holder.user_id, "DF") == (Decimal("60"), 0)
    assert kinds(withdrawal) == ["withdraw_hold", "withdraw_complete"]
    assert statuses(withdrawal) == ["pending", "signing", "signed", "sent", "completed"]
    body = holder.get(f"/spot/withdrawals/{wid}").json()
    assert (body["status"], body["tx_id"]) == ("completed", withdrawal.tx_id)
    assert withdrawal_holds() == {}
    assert_ledgers_match_balances()


def test_every_step_run_twice_does_its_work_once(holder, withdrawal, remote_signer):
    wid = str(withdrawal.pk)
    assert [tasks.sign_withdrawal(wid), tasks.sign_withdrawal(wid)] == ["signed", "signed"]
    assert [tasks.broadcast_withdrawal(wid), tasks.broadcast_withdrawal(wid)] == ["sent", "sent"]
    assert [tasks.complete_withdrawal(wid), tasks.complete_withdrawal(wid)] == ["completed", "completed"]
    assert tasks.sign_withdrawal(wid) == "completed"
    assert len(remote_signer.sign_calls()) == 1
    assert remote_signer.sign_calls()[0] == {"withdrawal_id": wid, "token": "DF", "amount": "40", "address": ADDRESS}
    assert kinds(withdrawal) == ["withdraw_hold", "withdraw_complete"]
    assert spot(holder.user_id, "DF") == (Decimal("60"), 0)
    assert_ledgers_match_balances()


def test_remote_signature_is_recorded(withdrawal, remote_signer):
    tasks.sign_withdrawal(str(withdrawal.pk))
    withdrawal.refresh_from_db()
    expected = remote_signer.key.sign(SignRequest(str(withdrawal.pk), "DF", Decimal("40"), ADDRESS))
    assert (withdrawal.status, withdrawal.signature, withdrawal.tx_id) == ("signed", expected.signature, expected.tx_id)


def test_signer_refusal_fails_it_and_returns_the_funds(holder, withdrawal, remote_signer):
    remote_signer.signing = "refuse"
    assert tasks.sign_withdrawal(str(withdrawal.pk)) == "failed"
    assert spot(holder.user_id, "DF") == (Decimal("100"), 0)
    assert kinds(withdrawal) == ["withdraw_hold", "withdraw_release"]
    assert statuses(withdrawal) == ["pending", "signing", "failed"]
    assert holder.get(f"/spot/withdrawals/{withdrawal.pk}").json()["status"] == "failed"
    assert_ledgers_match_balances()


@pytest.mark.parametrize("mode", ["slow", "fail", "drop"])
def test_ambiguous_answer_parks_it_as_unknown_with_funds_held(holder, withdrawal, remote_signer, mode):
    remote_signer.signing = mode  # timeout after sending, 500, connection dropped after sending
    assert tasks.sign_withdrawal(str(withdrawal.pk)) == "unknown"
    assert spot(holder.user_id, "DF") == (Decimal("60"), Decimal("40"))
    assert kinds(withdrawal) == ["withdraw_hold"]
    assert withdrawal_holds() == {(holder.user_id, "DF"): Decimal("40")}
    assert locked_matches_holds() == []  # manage.py reconcile's check: locked = orders + withdrawals
    # Never signed again by the worker, however often the step is retried.
    remote_signer.signing = "ok"
    assert tasks.sign_withdrawal(str(withdrawal.pk)) == "unknown"
    assert len(remote_signer.sign_calls()) == 1
    assert_ledgers_match_balances()


def test_unreachable_signer_leaves_it_pending_and_retries_later(holder, withdrawal, settings):
    settings.SIGNER_URL = closed_port_url()
    assert tasks.sign_withdrawal(str(withdrawal.pk)) == "pending"
    assert statuses(withdrawal) == ["pending", "signing", "pending"]
    assert spot(holder.user_id, "DF") == (Decimal("60"), Decimal("40"))
    assert queued_tasks() == [("withdrawals.tasks.sign_withdrawal", [str(withdrawal.pk)])]  # with a countdown


def test_a_step_for_a_missing_withdrawal_does_nothing(db):
    missing = "00000000-0000-4000-8000-000000000000"
    assert tasks.sign_withdrawal(missing) == "missing"
    assert tasks.broadcast_withdrawal(missing) == "missing"
    assert tasks.complete_withdrawal(missing) == "missing"


def test_crash_during_the_signer_call_is_parked_unknown_by_the_sweep_and_never_signed_again(
    holder, withdrawal, remote_signer
):
    wid = str(withdrawal.pk)
    services._begin_signing(wid)  # the worker recorded "signing", then died during the call
    assert tasks.sign_withdrawal(wid) == "signing"  # a redelivered step does not call the signer
    assert remote_signer.sign_calls() == []
    assert services.sweep_withdrawals() == {"requeued": 0, "parked": 0}  # not stale yet

    later = timezone.now() + timedelta(minutes=3)
    assert services.sweep_withdrawals(now=later) == {"requeued": 0, "parked": 1}
    assert Withdrawal.objects.get(pk=wid).status == "unknown"
    assert remote_signer.sign_calls() == []
    assert spot(holder.user_id, "DF") == (Decimal("60"), Decimal("40"))


def test_sweep_requeues_steps_whose_message_was_lost(withdrawal, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        counts = services.sweep_withdrawals(now=timezone.now() + timedelta(minutes=3))
    assert counts == {"requeued": 1, "parked": 0}
    assert queued_tasks() == [("withdrawals.tasks.sign_withdrawal", [str(withdrawal.pk)])]


def test_a_late_signature_after_a_parked_unknown_is_kept(holder, withdrawal):
    wid = str(withdrawal.pk)
    services._begin_signing(wid)
    services.sweep_withdrawals(now=timezone.now() + timedelta(minutes=3))  # parked while the call was in flight
    signed = LocalKeySigner("k").sign(SignRequest(wid, "DF", Decimal("40"), ADDRESS))
    assert services._finish_signing(wid, signed, None) == "signed"
    withdrawal.refresh_from_db()
    assert withdrawal.tx_id == signed.tx_id


def test_operator_fails_an_unknown_one_and_the_funds_return(holder, withdrawal, remote_signer, staff_api):
    remote_signer.signing = "slow"
    tasks.sign_withdrawal(str(withdrawal.pk))
    services.fail_withdrawal(actor_id=staff_api.user_id, withdrawal_id=withdrawal.pk, note="signer log: never signed")
    assert spot(holder.user_id, "DF") == (Decimal("100"), 0)
    audit = WithdrawalAudit.objects.filter(withdrawal=withdrawal).order_by("pk").last()
    assert (audit.actor_id, audit.from_status, audit.to_status, audit.note) == (
        staff_api.user_id,
        "unknown",
        "failed",
        "signer log: never signed",
    )
    assert_ledgers_match_balances()


def test_operator_states_the_signer_did_not_sign_and_it_is_signed_again(holder, withdrawal, remote_signer, staff_api):
    remote_signer.signing = "fail"
    tasks.sign_withdrawal(str(withdrawal.pk))
    remote_signer.signing = "ok"
    services.resolve_unknown_withdrawal(
        actor_id=staff_api.user_id,
        withdrawal_id=withdrawal.pk,
        signer_signed=False,
        note="signer log shows a crash before KMS",
    )
    assert tasks.sign_withdrawal(str(withdrawal.pk)) == "signed"
    assert len(remote_signer.sign_calls()) == 2
    assert statuses(withdrawal) == ["pending", "signing", "unknown", "pending", "signing", "signed"]


def test_operator_states_the_signer_did_sign_and_it_is_broadcast(holder, withdrawal, remote_signer, staff_api):
    remote_signer.signing = "slow"
    tasks.sign_withdrawal(str(withdrawal.pk))
    with pytest.raises(ValueError):
        services.resolve_unknown_withdrawal(
            actor_id=staff_api.user_id, withdrawal_id=withdrawal.pk, signer_signed=True, note="x"
        )
    services.resolve_unknown_withdrawal(
        actor_id=staff_api.user_id, withdrawal_id=withdrawal.pk, signer_signed=True,
        signature="ab" * 64, tx_id="0x" + "cd" * 32, note="signer log has it",
    )  # fmt: skip
    assert tasks.broadcast_withdrawal(str(withdrawal.pk)) == "sent"
    assert tasks.complete_withdrawal(str(withdrawal.pk)) == "completed"
    assert spot(holder.user_id, "DF") == (Decimal("60"), 0)
    assert len(remote_signer.sign_calls()) == 1
    assert_ledgers_match_balances()


def test_sent_or_finished_withdrawals_cannot_be_failed_by_an_operator(withdrawal, staff_api):
    from exchange.errors import WithdrawalNotFound

    tasks.sign_withdrawal(str(withdrawal.pk))
    tasks.broadcast_withdrawal(str(withdrawal.pk))
    with pytest.raises(WithdrawalNotFound):
        services.fail_withdrawal(actor_id=staff_api.user_id, withdrawal_id=withdrawal.pk, note="no")
    with pytest.raises(WithdrawalNotFound):
        services.resolve_unknown_withdrawal(
            actor_id=staff_api.user_id, withdrawal_id=withdrawal.pk, signer_signed=False, note="no"
        )
