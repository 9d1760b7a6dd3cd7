"""Access use cases: local-user tokens and API keys."""

from __future__ import annotations

import secrets

from django.contrib.auth import authenticate
from django.db import transaction
from django.utils import timezone
from rest_framework import exceptions

from exchange.auth import forget_api_key, mint_token
from exchange.crypto import encrypt_secret
from exchange.models import ApiKey
from exchange.text import NUL, is_text

LABEL_MAX_LEN = 100
USERNAME_MAX_LEN = 150  # Django's User.username


def issue_token(*, username: object, password: object) -> tuple[str, int]:
    """A JWT for a local user; wrong credentials are a 401."""
    if not is_text(username, USERNAME_MAX_LEN) or not isinstance(password, str):
        raise exceptions.AuthenticationFailed()
    user = authenticate(username=username, password=password)
    if user is None:
        raise exceptions.AuthenticationFailed()
    return mint_token(user.get_username())


@transaction.atomic
def create_api_key(*, user_id: int, label: object, permissions: object) -> tuple[ApiKey, str]:
    """A new key with ``read`` (always) and ``trade`` if asked; returns it and its secret (shown once)."""
    label_text = label.replace(NUL, "").strip()[:LABEL_MAX_LEN] if isinstance(label, str) else ""
    wanted = permissions if isinstance(permissions, list) else []
    secret = secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        api_key="ak_" + secrets.token_hex(16),
        user_id=user_id,
        label=label_text,
        secret_encrypted=encrypt_secret(secret),
        can_trade=ApiKey.PERMISSION_TRADE in wanted,
    )
    return key, secret


def revoke_api_key(*, user_id: int, api_key: str) -> bool:
    """Revoke one of the caller's keys; False if it is not theirs or already revoked."""
    with transaction.atomic():
        updated = ApiKey.objects.filter(api_key=api_key, user_id=user_id, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    forget_api_key(api_key)
    return updated == 1
