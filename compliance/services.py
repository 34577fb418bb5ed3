from dataclasses import dataclass

from django.db import models, transaction
from django.utils import timezone

from compliance.chain import GENESIS_HASH, event_hash, json_safe
from compliance.models import ActorType, AuditChainHead, AuditEvent


@dataclass(frozen=True)
class Actor:
    type: str
    name: str

    @classmethod
    def system(cls, name: str = "engine") -> "Actor":
        return cls(ActorType.SYSTEM, name)

    @classmethod
    def from_user(cls, user, *, bot: bool = False) -> "Actor":
        return cls(ActorType.BOT if bot else ActorType.USER, user.get_username())


def audit_append(
    *,
    actor: Actor,
    action: str,
    obj: models.Model | None = None,
    payload: dict | None = None,
    config_hash: str = "",
    correlation_id: str = "",
) -> AuditEvent:
    """Append one event to the chain. Must run inside the transaction of the change it
    records, so the event and the change commit or roll back together."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_append must run inside the transaction of the change it records")
    # Locking the head row serializes appenders: the sequence is gap-free and no two events
    # can link to the same predecessor, whatever the number of concurrent workers.
    head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        head = AuditChainHead.objects.create(pk=1, sequence=0, hash=GENESIS_HASH)
    fields = {
        "sequence": head.sequence + 1,
        "ts": timezone.now(),
        "actor_type": actor.type,
        "actor": actor.name,
        "action": action,
        "object_type": obj._meta.label_lower if obj is not None else "",
        "object_id": str(obj.pk) if obj is not None else "",
        "payload": json_safe(payload or {}),
        "config_hash": config_hash,
        "correlation_id": correlation_id,
        "prev_hash": head.hash,
    }
    event = AuditEvent.objects.create(**fields, hash=event_hash(**fields))
    AuditChainHead.objects.filter(pk=1).update(sequence=event.sequence, hash=event.hash)
    return event
