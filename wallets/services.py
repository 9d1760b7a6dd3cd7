"""Use cases that change balances. Every change writes its ledger entry in the same transaction."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F

from exchange.errors import (
    AmountNonPositive,
    Disabled,
    InsufficientBalance,
    InvalidDirection,
    InvalidId,
    UnsupportedToken,
)
from exchange.money import parse_decimal
from wallets.locks import lock_balance
from wallets.models import Balance, LedgerEntry, LedgerKind, PerpLedgerKind, TestnetCredit, Transfer, TransferDirection
from wallets.perp import PERP_TOKEN, perp_accounts

TOKEN_MAX_LEN = 16


def check_token(token: object) -> str:
    # ASCII only: str.isalnum() also accepts "²" or "Ü", and "ß".upper() is "SS".
    if (
        not isinstance(token, str)
        or not token
        or len(token) > TOKEN_MAX_LEN
        or not (token.isascii() and token.isalnum())
    ):
        raise UnsupportedToken()
    return token.upper()


def check_positive_amount(raw: object) -> Decimal:
    amount = parse_decimal(raw)
    if amount is None or amount <= 0:
        raise AmountNonPositive()
    return amount


def change_balance(
    *, user_id: int, token: str, delta_available: Decimal, delta_locked: Decimal, kind: str, ref: str = ""
) -> LedgerEntry:
    """Apply one change to a balance and write its ledger entry. Caller holds the transaction;
    the CHECK constraints refuse a change that would make either side negative."""
    Balance.objects.filter(user_id=user_id, token=token).update(
        available=F("available") + delta_available, locked=F("locked") + delta_locked
    )
    return LedgerEntry.objects.create(
        user_id=user_id, token=token, delta_available=delta_available, delta_locked=delta_locked, kind=kind, ref=ref
    )


@transaction.atomic
def credit_testnet(
    *, operator_id: int | None, user_id: object, token: object, amount: object, via: str
) -> TestnetCredit:
    """Credit test funds to a user (created on first sight, like a JWT's ``sub``).

    Raises Disabled unless TESTNET_ONLY, AmountNonPositive, UnsupportedToken, InvalidId (no user id).
    """
    if not settings.TESTNET_ONLY:
        raise Disabled()
    value = check_positive_amount(amount)
    token = check_token(token)
    if isinstance(user_id, bool) or not isinstance(user_id, (str, int)) or not 0 < len(str(user_id).strip()) <= 150:
        raise InvalidId()
    user, _ = get_user_model().objects.get_or_create(username=str(user_id).strip())
    lock_balance(user_id=user.pk, token=token)
    change_balance(user_id=user.pk, token=token, delta_available=value, delta_locked=Decimal(0), kind=LedgerKind.CREDIT)
    return TestnetCredit.objects.create(user=user, operator_id=operator_id, token=token, amount=value, via=via)


# --- Transfers between the spot wallet and the perp account (SPEC §7) ---


def check_transfer_direction(direction: object) -> str:
    if not isinstance(direction, str) or direction not in TransferDirection.values:
        raise InvalidDirection()
    return direction


@transaction.atomic
def transfer(*, user_id: int, direction: object, token: object, amount: object) -> Transfer:
    """Move USDT between the caller's spot wallet and perp account, both sides in this transaction.

    Checks in this order: direction, token, amount, then the source side's free USDT.
    Raises InvalidDirection, UnsupportedToken, AmountNonPositive, InsufficientBalance.
    Locks the spot balance row, then the perp account, whatever the direction, so two opposite
    transfers of one user queue behind each other instead of deadlocking.
    """
    direction = check_transfer_direction(direction)
    if check_token(token) != PERP_TOKEN:
        raise UnsupportedToken()
    value = check_positive_amount(amount)
    perp = perp_accounts()
    spot = lock_balance(user_id=user_id, token=PERP_TOKEN)
    perp_free = perp.lock(user_id=user_id)
    transfer_id = uuid.uuid4()
    ref = str(transfer_id)
    if direction == TransferDirection.SPOT_TO_PERP:
        if spot.available < value:
            raise InsufficientBalance()
        change_balance(
            user_id=user_id, token=PERP_TOKEN, delta_available=-value, delta_locked=Decimal(0),
            kind=LedgerKind.TRANSFER_OUT, ref=ref,
        )  # fmt: skip
        perp.credit(user_id=user_id, amount=value, kind=PerpLedgerKind.TRANSFER_IN, ref=ref)
    else:
        if perp_free < value:
            raise InsufficientBalance()
        perp.debit(user_id=user_id, amount=value, kind=PerpLedgerKind.TRANSFER_OUT, ref=ref)
        change_balance(
            user_id=user_id, token=PERP_TOKEN, delta_available=value, delta_locked=Decimal(0),
            kind=LedgerKind.TRANSFER_IN, ref=ref,
        )  # fmt: skip
    return Transfer.objects.create(id=transfer_id, user_id=user_id, direction=direction, token=PERP_TOKEN, amount=value)


@transaction.atomic
def credit_perp(*, user_id: int, amount: object, ref: str = "") -> None:
    """Money that reached the perp side from elsewhere (its PnL, an operator, a test). Raises AmountNonPositive."""
    value = check_positive_amount(amount)
    perp = perp_accounts()
    perp.lock(user_id=user_id)
    perp.credit(user_id=user_id, amount=value, kind=PerpLedgerKind.CREDIT, ref=ref)
