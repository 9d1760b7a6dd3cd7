from __future__ import annotations

from django.conf import settings
from django.db import models


class ApiKey(models.Model):
    """An API key of a user. The secret is stored encrypted (exchange.crypto), never in plain text."""

    PERMISSION_READ = "read"
    PERMISSION_TRADE = "trade"

    api_key = models.CharField(max_length=64, primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    label = models.CharField(max_length=100, blank=True, default="")
    secret_encrypted = models.BinaryField()
    can_trade = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.api_key} ({self.label})"

    @property
    def permissions(self) -> list[str]:
        return [self.PERMISSION_READ, self.PERMISSION_TRADE] if self.can_trade else [self.PERMISSION_READ]
