from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class ConfigVersion(models.Model):
    """An immutable version of an account's risk policy (SPEC R1). Exactly one per account
    is active; activation and rollback go through risk.services and are audited."""

    account = models.ForeignKey("trading.TradingAccount", on_delete=models.CASCADE, related_name="config_versions")
    version = models.PositiveIntegerField()
    content = models.TextField()
    sha256 = models.CharField(max_length=64)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True)
    reason = models.TextField()
    parent = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="children")
    is_active = models.BooleanField(default=False)
    warnings = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["account", "-version"]
        permissions = [
            ("activate_config", "Can create and activate a risk configuration version"),
            ("rollback_config", "Can roll back to an earlier configuration version"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["account", "version"], name="config_version_unique_per_account"),
            models.UniqueConstraint(
                fields=["account"], condition=Q(is_active=True), name="config_version_one_active_per_account"
            ),
        ]

    def __str__(self):
        return f"v{self.version} {self.sha256[:12]}"


# The breaker that paper and live order rejections feed (SPEC R5).
REJECTION_BREAKER = "order_rejection_burst"


class CircuitBreakerState(models.Model):
    """The persisted state of one breaker (SPEC R5), so a restart does not close it."""

    account = models.ForeignKey("trading.TradingAccount", on_delete=models.CASCADE, related_name="breakers")
    source = models.CharField(max_length=32)
    state = models.CharField(max_length=10, default="closed")
    failures = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(null=True, blank=True)
    probes_in_flight = models.PositiveIntegerField(default=0)
    probe_successes = models.PositiveIntegerField(default=0)
    trips = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "source"], name="breaker_unique_source_per_account")]

    def __str__(self):
        return f"{self.source}: {self.state}"


class SymbolLock(models.Model):
    """No new entries in `symbol` until `until` (SPEC R6, pause per symbol); exits still run."""

    account = models.ForeignKey("trading.TradingAccount", on_delete=models.CASCADE, related_name="symbol_locks")
    symbol = models.CharField(max_length=32)
    until = models.DateTimeField()
    reason = models.TextField()
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["account", "symbol", "until"], name="symbol_lock_active")]

    def __str__(self):
        return f"{self.symbol} locked until {self.until:%Y-%m-%d %H:%M}"


class AlertType(models.TextChoices):
    KILL_SWITCH = "kill_switch"
    DAILY_STOP = "daily_stop"
    WEEKLY_STOP = "weekly_stop"
    MAX_DRAWDOWN = "max_drawdown"
    LATENCY_VIOLATION = "latency_violation"
    API_ERROR_BURST = "api_error_burst"
    ORDER_REJECTION_BURST = "order_rejection_burst"
    EMPTY_UNIVERSE = "empty_universe"
    EXCEPTION_BURST = "exception_burst"
    BREAKER_TRIP = "breaker_trip"
    VALIDATION_FAILED = "validation_failed"
    # Named outside the R8 list: the engine-silent alert of R6 and the bad-tick alert of R7.
    ENGINE_SILENT = "engine_silent"
    BAD_TICK = "bad_tick"
    OPERATOR_TILT = "operator_tilt"  # SPEC R10
    UNKNOWN_ORDER = "unknown_order"  # SPEC T5: an exchange order with no local record, adopted
    FEE_UNPRICED = "fee_unpriced"  # SPEC T6: a fee in a third currency with no price: P&L incomplete


class AlertSeverity(models.TextChoices):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


SEVERITY_RANK = {AlertSeverity.INFO: 0, AlertSeverity.WARNING: 1, AlertSeverity.CRITICAL: 2}


class AlertStatus(models.TextChoices):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Alert(models.Model):
    """One alert (SPEC R8). Repeats of the same type on the same account within the
    deduplication window bump `count` and `last_seen` instead of adding rows; changes go
    through risk.alerts and are audited."""

    account = models.ForeignKey("trading.TradingAccount", on_delete=models.CASCADE, related_name="alerts")
    type = models.CharField(max_length=32, choices=AlertType.choices)
    severity = models.CharField(max_length=10, choices=AlertSeverity.choices)
    status = models.CharField(max_length=12, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    message = models.TextField()
    details = models.JSONField(default=dict, blank=True)
    count = models.PositiveIntegerField(default=1)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    escalated_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledge_comment = models.TextField(blank=True)
    resolved_by = models.CharField(max_length=150, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolve_comment = models.TextField(blank=True)

    class Meta:
        ordering = ["-last_seen"]
        permissions = [("acknowledge_alert", "Can acknowledge and resolve alerts")]
        indexes = [
            models.Index(fields=["account", "type", "status", "last_seen"], name="alert_dedup"),
            models.Index(fields=["status", "escalated_at", "first_seen"], name="alert_escalation"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(count__gte=1), name="alert_count_positive"),
        ]

    def __str__(self):
        return f"{self.type} ({self.severity}, {self.status})"

    @property
    def dedup_key(self) -> str:
        """Stable per alert, so a PagerDuty trigger, acknowledge and resolve hit one incident."""
        return f"genesis-alert-{self.pk}"


class AlertChannelKind(models.TextChoices):
    SLACK = "slack"
    PAGERDUTY = "pagerduty"


class AlertChannel(models.Model):
    """A delivery target: a Slack-compatible incoming webhook or a PagerDuty Events v2
    endpoint. The URL and routing key are stored only as Fernet ciphertext (SPEC S2) and are
    decrypted at send time; nothing here shows the plaintext."""

    account = models.ForeignKey(
        "trading.TradingAccount",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="alert_channels",
        help_text="Empty means every account.",
    )
    kind = models.CharField(max_length=12, choices=AlertChannelKind.choices)
    name = models.CharField(max_length=100, unique=True)
    url_encrypted = models.TextField()
    routing_key_encrypted = models.TextField(blank=True)
    min_severity = models.CharField(max_length=10, choices=AlertSeverity.choices, default=AlertSeverity.INFO)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.kind}: {self.name}"


class AlertDeliveryEvent(models.TextChoices):
    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


class AlertDeliveryStatus(models.TextChoices):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class AlertDelivery(models.Model):
    """The transactional outbox for channel deliveries: written with the alert change,
    sent after commit by the risk.alert_deliver task, which records every attempt."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(AlertChannel, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=12, choices=AlertDeliveryEvent.choices)
    status = models.CharField(max_length=8, choices=AlertDeliveryStatus.choices, default=AlertDeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"], name="alert_delivery_status")]

    def __str__(self):
        return f"{self.event} alert {self.alert_id} via channel {self.channel_id}: {self.status}"


class RiskReport(models.Model):
    """Risk analytics of an account at a moment (SPEC R9), computed on a schedule or on demand."""

    account = models.ForeignKey("trading.TradingAccount", on_delete=models.CASCADE, related_name="risk_reports")
    computed_at = models.DateTimeField(default=timezone.now, db_index=True)
    trigger = models.CharField(max_length=12, choices=[("schedule", "schedule"), ("on_demand", "on demand")])
    figures = models.JSONField(default=dict, help_text="Ratios as numbers, money as decimal strings.")

    class Meta:
        ordering = ["-computed_at"]

    def __str__(self):
        return f"risk report {self.account_id} {self.computed_at:%Y-%m-%d %H:%M}"
