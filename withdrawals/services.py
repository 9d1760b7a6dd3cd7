"""Withdrawal use cases: request, cancel, the worker's steps, and the operator's powers.

Lifecycle (docs/decisions/0004-withdrawal-signer.md):
``pending -> signing -> signed -> sent -> completed``; ``pending -> cancelled`` (owner);
``signing -> failed`` (signer refused) or ``-> unknown`` (ambiguous answer); operators move
``unknown`` on, or fail ``pending/signed/unknown`` ones. Funds are held (available -> locked) at
request; ``failed`` and ``cancelled`` return them; ``completed`` removes them from locked.

Every step locks the withdrawal row, checks its status and does nothing if another run already
did it, so any step can be retried after a crash. Locks: the withdrawal row, then the balance row.
The signer is called with no lock held and at most once per withdrawal: ``signing`` is
committed before the call, and a run that finds ``signing`` never calls again.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from exchange.errors import InsufficientBalance, SignerUnavailable, UnsupportedToken, WithdrawalNotFound
from wallets.locks import lock_balance
from wallets.models import Balance, LedgerKind
from wallets.services import change_balance, check_positive_amount, check_token
from withdrawals.addresses import check_address
from withdrawals.broadcast import get_broadcaster
from withdrawals.models import Withdrawal, WithdrawalAudit, WithdrawalStatus
from withdrawals.signer import (
    SignedWithdrawal,
    SignerOutcomeUnknown,
    SignerRefused,
    SignerUnreachable,
    SignRequest,
    get_signer,
)

logger = logging.getLogger("withdrawals")

S = WithdrawalStatus
# The worker step that moves a withdrawal on from each status.
NEXT_STEP = {S.PENDING: "sign", S.SIGNED: "broadcast", S.SENT: "complete"}


def _enqueue(step: str, withdrawal_id: uuid.UUID | str, *, countdown_s: float = 0) -> None:
    """Queue a worker step once the current transaction commits (a lost message is picked up by the sweep)."""
    from withdrawals import tasks

    task = {
        "sign": tasks.sign_withdrawal,
        "broadcast": tasks.broadcast_withdrawal,
        "complete": tasks.complete_withdrawal,
    }[step]
    transaction.on_commit(
        lambda: task.apply_async(args=[str(withdrawal_id)], queue="default", countdown=countdown_s or None), robust=True
    )


def _lock(withdrawal_id: uuid.UUID | str) -> Withdrawal | None:
    return Withdrawal.objects.select_for_update().filter(pk=withdrawal_id).first()


def _move(
    withdrawal: Withdrawal, to: str, *, actor_id: int | None = None, note: str = "", fields: tuple[str, ...] = ()
) -> None:
    """Change the status of a locked withdrawal and audit it."""
    WithdrawalAudit.objects.create(
        withdrawal=withdrawal, actor_id=actor_id, from_status=withdrawal.status, to_status=to, note=note
    )
    withdrawal.status = to
    withdrawal.save(update_fields=["status", "updated_at", *fields])


def _release(withdrawal: Withdrawal) -> None:
    """The held amount back to available (caller holds the withdrawal's row lock)."""
    lock_balance(user_id=withdrawal.user_id, token=withdrawal.token)
    change_balance(
        user_id=withdrawal.user_id, token=withdrawal.token, delta_available=withdrawal.amount,
        delta_locked=-withdrawal.amount, kind=LedgerKind.WITHDRAW_RELEASE, ref=str(withdrawal.pk),
    )  # fmt: skip


# --- The owner's use cases ---


def request_withdrawal(*, user_id: int, token: object, amount: object, address: object) -> Withdrawal:
    """Hold ``amount`` of ``token`` for a withdrawal to ``address`` and queue its signing.

    Checks in this order: token, address, amount, balance, signer health. Raises
    UnsupportedToken (token not in WITHDRAW_TOKENS, or an address the token cannot reach),
    AmountNonPositive, InsufficientBalance, SignerUnavailable (nothing changed).
    """
    token = check_token(token)
    if token not in settings.WITHDRAW_TOKENS:
        raise UnsupportedToken()
    address = check_address(token=token, address=address)
    value = check_positive_amount(amount)
    # A request that cannot succeed is told so even while the signer is down; re-checked under the lock.
    balance = Balance.objects.filter(user_id=user_id, token=token).first()
    if balance is None or balance.available < value:
        raise InsufficientBalance()
    try:
        get_signer().check_health()  # no lock held during this call
    except SignerUnreachable as error:
        logger.warning("withdrawal refused, signer unavailable: %s", error)
        raise SignerUnavailable() from None
    return _hold(user_id=user_id, token=token, amount=value, address=address)


@transaction.atomic
def _hold(*, user_id: int, token: str, amount: Decimal, address: str) -> Withdrawal:
    balance = lock_balance(user_id=user_id, token=token)
    if balance.available < amount:
        raise InsufficientBalance()
    withdrawal = Withdrawal.objects.create(
        id=uuid.uuid4(), user_id=user_id, token=token, amount=amount, address=address
    )
    change_balance(
        user_id=user_id, token=token, delta_available=-amount, delta_locked=amount,
        kind=LedgerKind.WITHDRAW_HOLD, ref=str(withdrawal.pk),
    )  # fmt: skip
    WithdrawalAudit.objects.create(
        withdrawal=withdrawal, actor_id=user_id, from_status="", to_status=S.PENDING, note="requested"
    )
    _enqueue("sign", withdrawal.pk)
    return withdrawal


@transaction.atomic
def cancel_withdrawal(*, user_id: int, withdrawal_id: uuid.UUID) -> Withdrawal:
    """Cancel the caller's pending withdrawal and return its funds.

    Raises WithdrawalNotFound if it does not exist, is another user's, or is no longer pending.
    """
    withdrawal = _lock(withdrawal_id)
    if withdrawal is None or withdrawal.user_id != user_id or withdrawal.status != S.PENDING:
        raise WithdrawalNotFound()
    _release(withdrawal)
    _move(withdrawal, S.CANCELLED, actor_id=user_id, note="cancelled by owner")
    return withdrawal


# --- The worker's steps (withdrawals.tasks); each returns the status it leaves ---


@transaction.atomic
def _begin_signing(withdrawal_id: str) -> tuple[str, SignRequest | None]:
    withdrawal = _lock(withdrawal_id)
    if withdrawal is None:
        return "missing", None
    if withdrawal.status != S.PENDING:
        return withdrawal.status, None
    withdrawal.signing_started_at = timezone.now()
    _move(withdrawal, S.SIGNING, note="calling the signer", fields=("signing_started_at",))
    request = SignRequest(
        withdrawal_id=str(withdrawal.pk), token=withdrawal.token, amount=withdrawal.amount, address=withdrawal.address
    )
    return S.SIGNING, request


@transaction.atomic
def _finish_signing(withdrawal_id: str, signed: SignedWithdrawal | None, failure: Exception | None) -> str:
    withdrawal = _lock(withdrawal_id)
    assert withdrawal is not None, withdrawal_id
    if signed is not None:
        if withdrawal.status not in (S.SIGNING, S.UNKNOWN):
            # An operator settled it meanwhile: keep their decision, but never lose a signature.
            logger.error(
                "withdrawal %s is %s but the signer signed it: tx %s", withdrawal.pk, withdrawal.status, signed.tx_id
            )
            WithdrawalAudit.objects.create(
                withdrawal=withdrawal, from_status=withdrawal.status, to_status=withdrawal.status,
                note=f"LATE SIGNATURE: signer signed tx_id={signed.tx_id} signature={signed.signature}",
            )  # fmt: skip
            return withdrawal.status
        withdrawal.signature, withdrawal.tx_id = signed.signature, signed.tx_id
        _move(withdrawal, S.SIGNED, note=f"signed: tx_id={signed.tx_id}", fields=("signature", "tx_id"))
        _enqueue("broadcast", withdrawal.pk)
        return S.SIGNED
    if withdrawal.status != S.SIGNING:
        return withdrawal.status
    if isinstance(failure, SignerUnreachable):
        _move(withdrawal, S.PENDING, note=f"signer unreachable, request never sent: {failure}")
    elif isinstance(failure, SignerRefused):
        _release(withdrawal)
        _move(withdrawal, S.FAILED, note=f"signer refused: {failure}")
    else:
        _move(withdrawal, S.UNKNOWN, note=f"signer outcome unknown, operator needed: {failure}")
    return withdrawal.status


def sign_withdrawal(*, withdrawal_id: str) -> str:
    """pending -> signing -> signed (or back to pending if the signer could not be reached,
    failed if it refused, unknown if its answer is ambiguous). Other statuses: nothing to do."""
    status, request = _begin_signing(withdrawal_id)
    if request is None:
        return status
    try:
        signed: SignedWithdrawal | None = get_signer().sign(request)
        failure: Exception | None = None
    except (SignerUnreachable, SignerRefused, SignerOutcomeUnknown) as error:
        signed, failure = None, error
    except Exception as error:  # noqa: BLE001 - anything else after the call began may have signed
        logger.exception("withdrawal %s: unexpected error around the signer", withdrawal_id)
        signed, failure = None, SignerOutcomeUnknown(repr(error))
    return _finish_signing(withdrawal_id, signed, failure)


@transaction.atomic
def broadcast_withdrawal(*, withdrawal_id: str) -> str:
    """signed -> sent: hand the signed transaction to the network (idempotent by tx_id)."""
    withdrawal = _lock(withdrawal_id)
    if withdrawal is None:
        return "missing"
    if withdrawal.status != S.SIGNED:
        return withdrawal.status
    get_broadcaster().broadcast(withdrawal=withdrawal)
    _move(withdrawal, S.SENT, note=f"broadcast tx_id={withdrawal.tx_id}")
    _enqueue("complete", withdrawal.pk)
    return S.SENT


@transaction.atomic
def complete_withdrawal(*, withdrawal_id: str) -> str:
    """sent -> completed once the network confirms: the held amount leaves ``locked``."""
    withdrawal = _lock(withdrawal_id)
    if withdrawal is None:
        return "missing"
    if withdrawal.status != S.SENT:
        return withdrawal.status
    assert withdrawal.tx_id, withdrawal.pk
    if not get_broadcaster().is_confirmed(tx_id=withdrawal.tx_id):
        return S.SENT
    lock_balance(user_id=withdrawal.user_id, token=withdrawal.token)
    change_balance(
        user_id=withdrawal.user_id, token=withdrawal.token, delta_available=Decimal(0),
        delta_locked=-withdrawal.amount, kind=LedgerKind.WITHDRAW_COMPLETE, ref=str(withdrawal.pk),
    )  # fmt: skip
    _move(withdrawal, S.COMPLETED, note="confirmed")
    return S.COMPLETED


STUCK_AFTER = timedelta(minutes=2)


def sweep_withdrawals(*, now: datetime | None = None) -> dict[str, int]:
    """Re-queue the next step of withdrawals idle for STUCK_AFTER (a lost message, a worker crash),
    and park as ``unknown`` those left ``signing`` that long (the call may have happened)."""
    now = now or timezone.now()
    idle_since = now - STUCK_AFTER
    counts = {"requeued": 0, "parked": 0}
    for withdrawal_id in Withdrawal.objects.filter(status=S.SIGNING, signing_started_at__lt=idle_since).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            withdrawal = _lock(withdrawal_id)
            if withdrawal is not None and withdrawal.status == S.SIGNING:
                _move(withdrawal, S.UNKNOWN, note="left signing: the worker stopped during the signer call")
                counts["parked"] += 1
    for withdrawal_id, status in Withdrawal.objects.filter(
        status__in=list(NEXT_STEP), updated_at__lt=idle_since
    ).values_list("pk", "status"):
        with transaction.atomic():
            _enqueue(NEXT_STEP[status], withdrawal_id)
        counts["requeued"] += 1
    return counts


# --- Operators (Django admin); every action writes an audit row naming them ---


def retry_withdrawal(*, actor_id: int, withdrawal_id: uuid.UUID | str, note: str = "") -> str:
    """Queue the next step of a pending, signed or sent withdrawal again. Returns its status.
    Raises WithdrawalNotFound for any other status (``unknown`` needs resolve_unknown_withdrawal)."""
    with transaction.atomic():
        withdrawal = _lock(withdrawal_id)
        if withdrawal is None or withdrawal.status not in NEXT_STEP:
            raise WithdrawalNotFound()
        WithdrawalAudit.objects.create(
            withdrawal=withdrawal, actor_id=actor_id, from_status=withdrawal.status, to_status=withdrawal.status,
            note=note or f"operator re-queued step {NEXT_STEP[withdrawal.status]}",
        )  # fmt: skip
        _enqueue(NEXT_STEP[withdrawal.status], withdrawal.pk)
        return withdrawal.status


OPERATOR_FAILABLE = (S.PENDING, S.SIGNED, S.UNKNOWN)


@transaction.atomic
def fail_withdrawal(*, actor_id: int, withdrawal_id: uuid.UUID | str, note: str) -> Withdrawal:
    """Fail a pending, signed or unknown withdrawal and return its funds (the operator vouches
    that a signed transaction will never be broadcast). Raises WithdrawalNotFound otherwise."""
    withdrawal = _lock(withdrawal_id)
    if withdrawal is None or withdrawal.status not in OPERATOR_FAILABLE:
        raise WithdrawalNotFound()
    _release(withdrawal)
    _move(withdrawal, S.FAILED, actor_id=actor_id, note=note or "failed by operator")
    return withdrawal


@transaction.atomic
def resolve_unknown_withdrawal(
    *,
    actor_id: int,
    withdrawal_id: uuid.UUID | str,
    signer_signed: bool,
    signature: str = "",
    tx_id: str = "",
    note: str,
) -> Withdrawal:
    """An operator's answer for an ``unknown`` withdrawal, after asking the signer's operators:
    it did not sign -> back to ``pending`` (signed afresh); it signed -> ``signed`` with the
    signature and tx_id it produced (then broadcast). Raises WithdrawalNotFound if not unknown,
    ValueError if ``signer_signed`` comes without a signature and tx_id or without a note."""
    if not note.strip():
        raise ValueError("an operator's note is required")
    if signer_signed and not (signature.strip() and tx_id.strip() and len(tx_id.strip()) <= 128):
        raise ValueError("the signature and tx_id the signer produced are required")
    withdrawal = _lock(withdrawal_id)
    if withdrawal is None or withdrawal.status != S.UNKNOWN:
        raise WithdrawalNotFound()
    if signer_signed:
        withdrawal.signature, withdrawal.tx_id = signature.strip(), tx_id.strip()
        _move(
            withdrawal,
            S.SIGNED,
            actor_id=actor_id,
            note=f"operator: signer DID sign. {note}",
            fields=("signature", "tx_id"),
        )
        _enqueue("broadcast", withdrawal.pk)
    else:
        _move(withdrawal, S.PENDING, actor_id=actor_id, note=f"operator: signer did NOT sign. {note}")
        _enqueue("sign", withdrawal.pk)
    return withdrawal
