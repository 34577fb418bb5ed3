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
    actor = models.CharField(max_length=150, blank=True, help_text="Who started it: user, bot or system name.")
    trigger = models.CharField(max_length=16, help_text="api, cli, dashboard, schedule or ci")
    account = models.ForeignKey(
        "trading.TradingAccount",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="validation_runs",
        help_text="The account whose active configuration the run validates.",
    )
    only = models.JSONField(default=list, blank=True, help_text="Validators or groups the run was narrowed to.")
    checks_planned = models.JSONField(default=list, blank=True, help_text="Validator names the run will execute.")
    criteria_sha256 = models.CharField(max_length=64, blank=True)
    score = models.FloatField(null=True, blank=True, help_text="Share of planned checks passed, 0-100.")
    error = models.TextField(blank=True)
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
        ordering = ["-started_at", "-pk"]
        permissions = [
            ("start_validation", "Can start a validation run"),
            ("decide_golive", "Can ask for a go-live decision"),
            ("override_golive", "Can override a go-live decision"),
        ]

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
        ordering = ["pk"]
        indexes = [models.Index(fields=["name", "finished_at"], name="check_result_trend")]
        constraints = [models.UniqueConstraint(fields=["run", "name"], name="check_result_unique_per_run")]

    def __str__(self):
        return f"{self.check_id} {self.status}"


class GoLiveDecision(models.Model):
    """A GO/NO-GO decision for one account's configuration version (SPEC V5).

    Bound to `config_hash`: it speaks only for that exact configuration; activating another
    version leaves no GO for the account until a new decision is made. Rows are never edited:
    an override is a new row that names the decision it overrides."""

    account = models.ForeignKey("trading.TradingAccount", on_delete=models.PROTECT, related_name="golive_decisions")
    config_hash = models.CharField(max_length=64, db_index=True)
    run = models.ForeignKey(ValidationRun, on_delete=models.PROTECT, null=True, blank=True, related_name="decisions")
    decision = models.CharField(max_length=8, choices=Decision.choices)
    score = models.FloatField(help_text="Share of checklist items passed, 0-100.")
    checklist = models.JSONField(default=dict, help_text="Check id -> status, details.")
    blocking_issues = models.JSONField(default=list)
    warnings = models.JSONField(default=list)
    recommendation = models.TextField()
    signoffs = models.ManyToManyField("compliance.SignOff", blank=True, related_name="golive_decisions")
    decided_by = models.CharField(max_length=150)
    decided_at = models.DateTimeField(default=timezone.now, db_index=True)
    overrides = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="overridden_by")
    override_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-decided_at", "-pk"]

    def __str__(self):
        kind = " (override)" if self.overrides_id else ""
        return f"{self.decision}{kind} account {self.account_id} config {self.config_hash[:12]}"
