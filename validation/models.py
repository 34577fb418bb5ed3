from django.conf import settings
from django.db import models
from django.utils import timezone


class RunStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    FINISHED = "finished"
    ERROR = "error"


class Decision(models.TextChoices):
    GO = "GO"
    NO_GO = "NO_GO"


class ValidationRun(models.Model):
    """One run of the validation suite (SPEC V4): who or what started it, on which code and
    configuration, in which mode, with every check's result."""

    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    trigger = models.CharField(max_length=16, help_text="api, cli, dashboard, schedule or ci")
    mode = models.CharField(
        max_length=16, choices=[("quick", "quick"), ("standard", "standard"), ("thorough", "thorough")]
    )
    code_version = models.CharField(max_length=64, blank=True)
    config_hash = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING)
    decision = models.CharField(max_length=8, choices=Decision.choices, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self):
        return f"run {self.pk} {self.mode} {self.status} {self.decision}"


class CheckStatus(models.TextChoices):
    PASSED = "passed"
    FAILED = "failed"
    WARNING = "warning"
    SKIPPED = "skipped"


class CheckResult(models.Model):
    run = models.ForeignKey(ValidationRun, on_delete=models.CASCADE, related_name="results")
    check_id = models.CharField(max_length=32)
    name = models.CharField(max_length=64)
    status = models.CharField(max_length=8, choices=CheckStatus.choices)
    details = models.TextField(blank=True)
    evidence = models.JSONField(default=dict, blank=True)
    blocking = models.BooleanField(default=True)
    duration_seconds = models.FloatField(default=0)
    finished_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "name"], name="check_result_unique_per_run")]

    def __str__(self):
        return f"{self.check_id} {self.status}"
