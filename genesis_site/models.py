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


class ErrorEvent(models.Model):
    """An error-level log record of any process (web, worker, beat, embedded scheduler),
    categorized (SPEC M7), read by GET /api/v1/logs and purged after 30 days (SPEC C5).
    Written by genesis_site.errorlog on a connection of its own, so it survives a rollback of
    the transaction that logged it."""

    ts = models.DateTimeField(db_index=True)
    level = models.CharField(max_length=10)
    category = models.CharField(max_length=12, db_index=True)
    severity = models.CharField(max_length=10)
    source = models.CharField(max_length=200, help_text="Logger name, or the task that failed.")
    process = models.CharField(max_length=64, blank=True, help_text="host:pid of the process that logged it.")
    message = models.TextField()
    error_class = models.CharField(max_length=200, blank=True)
    correlation_id = models.CharField(max_length=64, blank=True, db_index=True)
    hint = models.CharField(max_length=300, blank=True)
    suppressed = models.PositiveIntegerField(
        default=0, help_text="Records of the same source and error not stored since the previous row (throttled)."
    )

    class Meta:
        ordering = ["-ts", "-pk"]

    def __str__(self):
        return f"{self.ts:%Y-%m-%d %H:%M:%S} {self.category}/{self.severity} {self.source}"


class FailedTaskStatus(models.TextChoices):
    DEAD = "dead"
    RETRIED = "retried"
    DISCARDED = "discarded"


class FailedTask(models.Model):
    """The dead-letter table (SPEC M7): a Celery task that failed for good (retries exhausted,
    or no retries). Operators retry it (the same task, arguments and correlation id) or
    discard it, with a reason, both audited. Repeats of the same failure (same task,
    arguments and error class) while it is dead raise `occurrences` instead of adding rows."""

    task_name = models.CharField(max_length=200, db_index=True)
    task_id = models.CharField(max_length=64, blank=True)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    fingerprint = models.CharField(max_length=64, db_index=True)
    correlation_id = models.CharField(max_length=64, blank=True)
    exception = models.TextField(help_text="Error class and message of the last failure.")
    error_class = models.CharField(max_length=200)
    category = models.CharField(max_length=12)
    severity = models.CharField(max_length=10)
    hint = models.CharField(max_length=300)
    retries = models.PositiveIntegerField(default=0, help_text="Retries Celery made before giving up.")
    occurrences = models.PositiveIntegerField(default=1)
    first_failed_at = models.DateTimeField(default=timezone.now)
    failed_at = models.DateTimeField(default=timezone.now, db_index=True)
    status = models.CharField(
        max_length=10, choices=FailedTaskStatus.choices, default=FailedTaskStatus.DEAD, db_index=True
    )
    acted_by = models.CharField(max_length=150, blank=True)
    acted_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    retry_task_id = models.CharField(max_length=64, blank=True, help_text="Celery id of the re-sent task.")

    class Meta:
        ordering = ["-failed_at", "-pk"]
        permissions = [("handle_failed_task", "Can retry or discard a dead-lettered task")]
        constraints = [
            # One dead row per failure: two workers recording the same one race to insert.
            models.UniqueConstraint(
                fields=["fingerprint"], condition=models.Q(status="dead"), name="failed_task_one_dead_per_fingerprint"
            )
        ]

    def __str__(self):
        return f"{self.task_name} {self.status} ({self.error_class})"


class TickOutcome(models.Model):
    """Engine tick outcomes per account and UTC hour, the input of the error budget
    (SPEC M7): one row per hour, counters raised with F() at the end of every tick."""

    account = models.ForeignKey("trading.TradingAccount", on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField(help_text="Start of the UTC hour.")
    ok = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "hour"], name="tick_outcome_account_hour")]
        indexes = [models.Index(fields=["hour"])]

    def __str__(self):
        return f"{self.account_id} {self.hour:%Y-%m-%d %H}h ok={self.ok} failed={self.failed}"
