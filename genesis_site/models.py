import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


class BotToken(models.Model):
    """An API token for a ChatOps bot. Only the SHA-256 of the token is stored (DRF's own
    token model keeps plaintext); the token acts as its user, whose groups give its role."""

    name = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bot_tokens")
    prefix = models.CharField(max_length=8, help_text="First characters of the token, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash_key(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @staticmethod
    def generate_key() -> str:
        return secrets.token_urlsafe(32)

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class Heartbeat(models.Model):
    """Last sign of life of a worker or the scheduler, read by /readyz and the dead man's switch."""

    name = models.CharField(max_length=128, unique=True)
    beat_at = models.DateTimeField()

    def __str__(self):
        return f"{self.name} @ {self.beat_at:%H:%M:%S}"
