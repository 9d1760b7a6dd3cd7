"""The withdrawal signer: one interface, a local-key signer for development, an HTTP client for
a remote KMS-backed signer (docs/decisions/0004-withdrawal-signer.md has the protocol).

``get_signer()`` picks one: ``SIGNER_URL`` unset means the local key (``SIGNER_LOCAL_KEY``).

The three ways a signature request can go wrong are three exception types, because the caller
must treat them differently:
- ``SignerUnreachable``: nothing reached the signer (connection refused, connect timeout, health
  check failed). Safe to try again later.
- ``SignerRefused``: the signer answered that it did not and will not sign this request.
- ``SignerOutcomeUnknown``: the request went out and no clear answer came back (read timeout, a
  dropped connection, a 5xx). It may have signed: never retried, never refunded automatically.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import requests
import urllib3.exceptions
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings

from exchange.money import fmt

logger = logging.getLogger("withdrawals.signer")

CONNECT_ATTEMPTS = 3  # tries while the connection cannot be opened (the request never went out)
BACKOFF_S = 0.1  # 0.1 s, 0.2 s between those tries


@dataclass(frozen=True, slots=True)
class SignRequest:
    withdrawal_id: str
    token: str
    amount: Decimal
    address: str

    def payload(self) -> dict[str, str]:
        return {
            "withdrawal_id": self.withdrawal_id,
            "token": self.token,
            "amount": fmt(self.amount) or "0",
            "address": self.address,
        }

    def message(self) -> bytes:
        """The bytes signed: the payload's four fields, newline-separated, in this order."""
        p = self.payload()
        return f"{p['withdrawal_id']}\n{p['token']}\n{p['amount']}\n{p['address']}".encode()


@dataclass(frozen=True, slots=True)
class SignedWithdrawal:
    signature: str  # hex
    tx_id: str


class SignerError(Exception):
    pass


class SignerUnreachable(SignerError):
    """Nothing reached the signer; safe to try again later."""


class SignerRefused(SignerError):
    """The signer answered that it did not sign (and will not sign this request)."""


class SignerOutcomeUnknown(SignerError):
    """The request went out and no clear answer came back: the signer may have signed."""


class Signer(Protocol):
    def check_health(self) -> None:
        """Return if the signer (and its KMS) can sign now; raise SignerUnreachable otherwise."""
        ...

    def sign(self, request: SignRequest) -> SignedWithdrawal:
        """Sign one withdrawal. Raises SignerUnreachable, SignerRefused or SignerOutcomeUnknown."""
        ...


class LocalKeySigner:
    """Ed25519 with a key derived (HKDF-SHA256) from ``SIGNER_LOCAL_KEY``. For development only."""

    def __init__(self, key_material: str) -> None:
        seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"exchange withdrawal signer v1").derive(
            key_material.encode()
        )
        self._key = Ed25519PrivateKey.from_private_bytes(seed)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    def public_key_hex(self) -> str:
        return self.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()

    def check_health(self) -> None:
        return None

    def sign(self, request: SignRequest) -> SignedWithdrawal:
        signature = self._key.sign(request.message())
        return SignedWithdrawal(signature=signature.hex(), tx_id="0x" + hashlib.sha256(signature).hexdigest())


def _never_sent(error: requests.ConnectionError) -> bool:
    """True when the connection could not be opened, so no byte of the request left this process."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason: Any = error.args[0] if error.args else None
    if isinstance(reason, urllib3.exceptions.MaxRetryError):
        reason = reason.reason
    # NewConnectionError (refused, unreachable, DNS) is a ConnectTimeoutError in urllib3 2.
    return isinstance(reason, urllib3.exceptions.ConnectTimeoutError)


class HttpSigner:
    """Client of the remote signer: ``GET /health``, ``POST /sign`` (protocol in ADR 0004).

    Connection failures before the request went out are retried ``connect_attempts`` times with
    exponential backoff; nothing after that point is ever retried. Each call opens a fresh
    connection, so a stale pooled one cannot turn a harmless retry into an ambiguous one.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float,
        connect_attempts: int = CONNECT_ATTEMPTS,
        backoff_s: float = BACKOFF_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.connect_attempts = max(1, connect_attempts)
        self.backoff_s = backoff_s
        self._sleep = sleep

    def _send(self, method: str, path: str, body: dict[str, str] | None = None) -> requests.Response:
        """One request; raises SignerUnreachable (never sent) or SignerOutcomeUnknown (sent, no answer)."""
        url = f"{self.base_url}{path}"
        for attempt in range(self.connect_attempts):
            try:
                with requests.Session() as session:
                    return session.request(
                        method, url, json=body, timeout=(self.timeout_s, self.timeout_s), headers={"Connection": "close"},
                        allow_redirects=False,
                    )  # fmt: skip
            except requests.ConnectionError as error:
                if not _never_sent(error):
                    raise SignerOutcomeUnknown(f"{method} {path}: connection lost after sending: {error}") from error
                logger.warning("signer %s %s: cannot connect (attempt %d): %s", method, path, attempt + 1, error)
                if attempt + 1 < self.connect_attempts:
                    self._sleep(self.backoff_s * 2**attempt)
            except requests.RequestException as error:  # read timeout, broken answer
                raise SignerOutcomeUnknown(f"{method} {path}: no answer: {error}") from error
        raise SignerUnreachable(f"{method} {path}: cannot connect to {self.base_url}")

    def check_health(self) -> None:
        try:
            response = self._send("GET", "/health")
        except SignerOutcomeUnknown as error:  # a health check has no side effect: just "down"
            raise SignerUnreachable(str(error)) from error
        if response.status_code != 200:
            raise SignerUnreachable(f"GET /health answered {response.status_code}")

    def sign(self, request: SignRequest) -> SignedWithdrawal:
        response = self._send("POST", "/sign", request.payload())
        if 400 <= response.status_code < 500:
            raise SignerRefused(f"POST /sign answered {response.status_code}: {response.text[:200]}")
        if response.status_code != 200:
            raise SignerOutcomeUnknown(f"POST /sign answered {response.status_code}")
        try:
            body = response.json()
            signature, tx_id = body["signature"], body["tx_id"]
        except (ValueError, KeyError, TypeError) as error:
            raise SignerOutcomeUnknown(
                f"POST /sign answered 200 with an unreadable body: {response.text[:200]}"
            ) from error
        if not (isinstance(signature, str) and isinstance(tx_id, str) and signature and 0 < len(tx_id) <= 128):
            raise SignerOutcomeUnknown(f"POST /sign answered 200 without a signature and tx_id: {response.text[:200]}")
        return SignedWithdrawal(signature=signature, tx_id=tx_id)


def get_signer() -> Signer:
    """The signer the settings name: ``SIGNER_URL`` (remote) or else the local key."""
    if settings.SIGNER_URL:
        return HttpSigner(settings.SIGNER_URL, timeout_s=settings.SIGNER_TIMEOUT_S)
    return LocalKeySigner(settings.SIGNER_LOCAL_KEY)
