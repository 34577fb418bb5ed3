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
