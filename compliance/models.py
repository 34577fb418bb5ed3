from django.db import models
from django.utils import timezone


class ActorType(models.TextChoices):
    USER = "user"
    BOT = "bot"
    SYSTEM = "system"


class AuditEvent(models.Model):
    """One link of the append-only, hash-chained audit trail (SPEC C1).

    `hash` is SHA-256 over the canonical serialization of every other field including
    `prev_hash`, so changing any byte of any row breaks the chain at that row's sequence.
    Written only by compliance.services.audit_append, in the transaction of the change."""

    sequence = models.PositiveBigIntegerField(unique=True)
    ts = models.DateTimeField(default=timezone.now, db_index=True)
    actor_type = models.CharField(max_length=8, choices=ActorType.choices)
    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    payload = models.JSONField(default=dict)
    config_hash = models.CharField(max_length=64, blank=True)
    correlation_id = models.CharField(max_length=64, blank=True, db_index=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["sequence"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self):
        return f"#{self.sequence} {self.action} {self.object_type}:{self.object_id}"


class AuditChainHead(models.Model):
    """The single row every appender locks: it serializes writers so sequences have no gaps
    and two concurrent appends can never both link to the same predecessor (no fork)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    sequence = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="audit_chain_head_singleton")]

    def __str__(self):
        return f"head #{self.sequence}"


class SignOffRole(models.TextChoices):
    LEGAL = "legal"
    COMPLIANCE = "compliance"
    RISK = "risk"
    OPERATIONS = "operations"


class SignOffSubject(models.TextChoices):
    GO_LIVE = "go_live", "Go-live decision"
    CAPITAL_STEP = "capital_step", "Capital-ladder step"


class SignOffDecision(models.TextChoices):
    APPROVE = "approve"
    REJECT = "reject"


class SignOff(models.Model):
    """One role's approval or rejection of a go-live decision or a capital-ladder step (SPEC C2).

    Rows are never edited: a changed mind is a new row, so the history is the table. The
    current verdict of a role for a subject is its latest row. `config_hash` binds the
    sign-off to the configuration it was given for: a new config version needs new ones."""

    account = models.ForeignKey("trading.TradingAccount", on_delete=models.PROTECT, related_name="sign_offs")
    subject = models.CharField(max_length=16, choices=SignOffSubject.choices)
    subject_ref = models.CharField(
        max_length=64, help_text="What is signed: the decision id, or the ladder step (e.g. 1000 for $1k)."
    )
    config_hash = models.CharField(max_length=64)
    role = models.CharField(max_length=16, choices=SignOffRole.choices)
    decision = models.CharField(max_length=8, choices=SignOffDecision.choices)
    comment = models.TextField()
    signed_by = models.ForeignKey("auth.User", on_delete=models.PROTECT, related_name="sign_offs")
    signed_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-signed_at", "-pk"]
        indexes = [models.Index(fields=["account", "subject", "subject_ref", "config_hash"], name="signoff_subject")]
        permissions = [
            ("sign_as_legal", "Can sign off as legal"),
            ("sign_as_compliance", "Can sign off as compliance"),
            ("sign_as_risk", "Can sign off as risk"),
            ("sign_as_operations", "Can sign off as operations"),
        ]

    def __str__(self):
        return f"{self.role} {self.decision} {self.subject}:{self.subject_ref} by {self.signed_by_id}"


class RecordType(models.TextChoices):
    ORDERS = "orders", "Orders and fills"
    POSITIONS = "positions", "Closed positions"
    METRICS = "metrics", "Equity snapshots and candles"
    ERROR_LOGS = "error_logs", "Error logs"


class RetentionPolicy(models.Model):
    """How long each record type is kept (SPEC C5). The audit chain has no policy: it is
    never purged."""

    record_type = models.CharField(max_length=16, choices=RecordType.choices, unique=True)
    keep_days = models.PositiveIntegerField()
    enabled = models.BooleanField(default=True)

    class Meta:
        verbose_name_plural = "retention policies"
        constraints = [
            models.CheckConstraint(condition=models.Q(keep_days__gte=1), name="retention_keep_at_least_a_day")
        ]

    def __str__(self):
        return f"{self.record_type}: {self.keep_days} days"


class Purge(models.Model):
    """One applied retention purge: what was archived (where, checksum) and then deleted."""

    record_type = models.CharField(max_length=16, choices=RecordType.choices)
    cutoff = models.DateTimeField(help_text="Rows older than this were purged.")
    rows = models.JSONField(default=dict, help_text="Rows archived and deleted, per table.")
    archive_path = models.CharField(max_length=512, blank=True)
    archive_sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"purge {self.record_type} < {self.cutoff:%Y-%m-%d} ({self.rows})"
