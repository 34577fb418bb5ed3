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
        constraints = [
            models.UniqueConstraint(fields=["account", "version"], name="config_version_unique_per_account"),
            models.UniqueConstraint(
                fields=["account"], condition=Q(is_active=True), name="config_version_one_active_per_account"
            ),
        ]

    def __str__(self):
        return f"v{self.version} {self.sha256[:12]}"


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
