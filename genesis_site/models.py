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


class SlackUser(models.Model):
    """Maps a Slack user to the Genesis user whose roles decide what that person may do
    through ChatOps (SPEC O3): the same permissions as through the API."""

    slack_user_id = models.CharField(max_length=32, unique=True, help_text="Slack's user id, e.g. U024BE7LH.")
    slack_team_id = models.CharField(max_length=32, blank=True, help_text="Workspace id; empty matches any.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="slack_users")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.slack_user_id} -> {self.user}"


class DeploymentHealth(models.TextChoices):
    PENDING = "pending"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    ROLLED_BACK = "rolled_back"


class Deployment(models.Model):
    """One deployment (SPEC M4): the code version, the configuration it runs with, who and
    when, and its post-deploy health. An unhealthy deployment rolls the configuration back to
    the last healthy deployment's version (genesis_site.services.deployment_health_record)."""

    account = models.ForeignKey("trading.TradingAccount", on_delete=models.PROTECT, related_name="deployments")
    version = models.CharField(max_length=64, help_text="Code version: git sha or image tag.")
    config_version = models.ForeignKey("risk.ConfigVersion", on_delete=models.PROTECT, related_name="deployments")
    config_hash = models.CharField(max_length=64)
    deployed_by = models.CharField(max_length=150)
    reason = models.TextField(blank=True)
    deployed_at = models.DateTimeField(default=timezone.now, db_index=True)
    health = models.CharField(max_length=12, choices=DeploymentHealth.choices, default=DeploymentHealth.PENDING)
    health_detail = models.JSONField(default=dict, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    rolled_back_to = models.ForeignKey(
        "risk.ConfigVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-deployed_at", "-pk"]

    def __str__(self):
        return f"{self.version} on {self.account_id} ({self.health})"
