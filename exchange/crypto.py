"""Encryption of API-key secrets at rest: Fernet with a key derived from settings."""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


@lru_cache(maxsize=4)
def _fernet(material: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"exchange api-key secrets").derive(
        material.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_secret(secret: str) -> bytes:
    return _fernet(settings.API_KEY_ENCRYPTION_KEY).encrypt(secret.encode())


def decrypt_secret(token: bytes) -> str:
    return _fernet(settings.API_KEY_ENCRYPTION_KEY).decrypt(bytes(token)).decode()
