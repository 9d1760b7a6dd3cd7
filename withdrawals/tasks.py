"""Celery steps of a withdrawal (queue ``default``). Each is idempotent: it locks the row,
checks the status, and does nothing if the step is already done, so redelivery is harmless."""

from __future__ import annotations

from celery import shared_task

from exchange.celery import app
from withdrawals import services

SIGNER_RETRY_S = 30  # signer unreachable: try again this much later (the request never went out)
CONFIRM_RETRY_S = 10  # broadcast not confirmed yet: look again this much later
SWEEP_EVERY_S = 60

# Beat re-queues lost steps and parks withdrawals left ``signing`` by a dead worker.
app.conf.beat_schedule = {
    **(app.conf.beat_schedule or {}),
    "withdrawals-sweep": {
        "task": "withdrawals.tasks.sweep_withdrawals",
        "schedule": float(SWEEP_EVERY_S),
        "options": {"queue": "default"},
    },
}


@shared_task(name="withdrawals.tasks.sign_withdrawal", ignore_result=True)
def sign_withdrawal(withdrawal_id: str) -> str:
    status = services.sign_withdrawal(withdrawal_id=withdrawal_id)
    if status == services.S.PENDING:  # the signer could not be reached; nothing was signed
        sign_withdrawal.apply_async(args=[withdrawal_id], queue="default", countdown=SIGNER_RETRY_S)
    return status


@shared_task(name="withdrawals.tasks.broadcast_withdrawal", ignore_result=True)
def broadcast_withdrawal(withdrawal_id: str) -> str:
    return services.broadcast_withdrawal(withdrawal_id=withdrawal_id)


@shared_task(name="withdrawals.tasks.complete_withdrawal", ignore_result=True)
def complete_withdrawal(withdrawal_id: str) -> str:
    status = services.complete_withdrawal(withdrawal_id=withdrawal_id)
    if status == services.S.SENT:
        complete_withdrawal.apply_async(args=[withdrawal_id], queue="default", countdown=CONFIRM_RETRY_S)
    return status


@shared_task(name="withdrawals.tasks.sweep_withdrawals", ignore_result=True)
def sweep_withdrawals() -> dict[str, int]:
    return services.sweep_withdrawals()
