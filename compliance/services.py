import functools
import threading
from contextlib import contextmanager
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.utils import timezone

from compliance.chain import GENESIS_HASH, HASHED_FIELDS, event_hash, json_safe
from compliance.exceptions import SignOffConflict, SignOffRefused
from compliance.models import (
    ActorType,
    AuditChainHead,
    AuditEvent,
    SignOff,
    SignOffDecision,
    SignOffRole,
    SignOffSubject,
)
from genesis_site.bulk import row_update, rows_insert
from genesis_site.prepared import prepared_objects
from risk.selectors import config_version_active


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


_batch = threading.local()


def _chain_head_locked() -> AuditChainHead:
    # Locking the head row serializes appenders: the sequence is gap-free and no two events
    # can link to the same predecessor, whatever the number of concurrent workers.
    # In a statement compiled once per process (genesis_site.prepared).
    heads = prepared_objects(
        ("audit_chain_head",), AuditChainHead, lambda v: AuditChainHead.objects.select_for_update().filter(pk=1)[:1], {}
    )
    head = heads[0] if heads else None
    if head is None:
        # First event ever: two appenders may both get here. ON CONFLICT DO NOTHING lets one
        # insert win without an error for the other; then both queue on the row lock.
        AuditChainHead.objects.bulk_create([AuditChainHead(pk=1, sequence=0, hash=GENESIS_HASH)], ignore_conflicts=True)
        head = AuditChainHead.objects.select_for_update().get(pk=1)
    return head


def _chain_link(events: list[AuditEvent]) -> None:
    """Give `events` the next sequences and hashes after the locked head, insert them in one
    statement and move the head to the last: three queries however many events."""
    head = _chain_head_locked()
    sequence, prev = head.sequence, head.hash
    for event in events:
        sequence += 1
        event.sequence, event.prev_hash = sequence, prev
        event.hash = prev = event_hash(**{name: getattr(event, name) for name in HASHED_FIELDS})
    rows_insert(AuditEvent, events, keys=False)
    head.sequence, head.hash = sequence, prev
    row_update(head, ["sequence", "hash"])


@contextmanager
def audit_batch():
    """Append the events of the block to the chain when the block ends, all at once: the
    chain head is locked once (and only then, just before the caller commits, so concurrent
    writers wait on it for less time), the events are inserted in one statement, the head is
    moved once, and each account's active config hash is read once. Must run inside the
    transaction of the changes; an exception in the block marks that transaction for
    rollback, so events and changes still commit or roll back together. Nested batches
    join the outermost one."""
    if getattr(_batch, "events", None) is not None:
        yield
        return
    with transaction.atomic(savepoint=False):
        _batch.events, _batch.config_hashes = [], {}
        try:
            yield
            pending = _batch.events
        finally:
            _batch.events = _batch.config_hashes = None
        # An event appended inside a savepoint that was rolled back records a change that
        # never happened: Django drops that savepoint's on-commit callbacks, and with them
        # the event's marker, so only events whose marker survives are written.
        alive = {id(func) for _, func, _ in transaction.get_connection().run_on_commit}
        events = [event for event, marker in pending if id(marker) in alive]
        if events:
            _chain_link(events)


def _noop() -> None:
    pass


def _config_hash_of(account_id: int) -> str:
    cache = getattr(_batch, "config_hashes", None)
    if cache is not None and account_id in cache:
        return cache[account_id]
    active = config_version_active(account_id=account_id)
    config_hash = active.sha256 if active else ""
    if cache is not None:
        cache[account_id] = config_hash
    return config_hash


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
    records, so the event and the change commit or roll back together. An event about an
    account (payload["account"]) carries that account's active config hash (SPEC R1) unless
    the caller names one, such as the version it is activating. Inside `audit_batch` the
    event is linked and written when the batch ends (its sequence and hash are set then)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_append must run inside the transaction of the change it records")
    if not config_hash and isinstance((payload or {}).get("account"), int):
        config_hash = _config_hash_of(payload["account"])
    event = AuditEvent(
        ts=timezone.now(),
        actor_type=actor.type,
        actor=actor.name,
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        payload=json_safe(payload or {}),
        config_hash=config_hash,
        correlation_id=correlation_id,
    )
    pending = getattr(_batch, "events", None)
    if pending is not None:
        marker = functools.partial(_noop)  # a callable of its own: its identity marks the event
        transaction.on_commit(marker)
        pending.append((event, marker))
    else:
        _chain_link([event])
    return event


def signoff_permission(role: str) -> str:
    return f"compliance.sign_as_{role}"


def signoff_validate(*, account, subject: str, role: str, decision: str, comment: str, user) -> str:
    """Check a sign-off before it is recorded; returns the config hash it will be bound to.
    PermissionDenied when the user may not sign in that role; SignOffRefused otherwise."""
    for field, value, allowed in (
        ("subject", subject, SignOffSubject),
        ("role", role, SignOffRole),
        ("decision", decision, SignOffDecision),
    ):
        if value not in allowed.values:
            raise SignOffRefused(f"{field}: {value!r} is not one of {', '.join(allowed.values)}")
    if not user.has_perm(signoff_permission(role)):
        raise PermissionDenied(f"{user.get_username()} may not sign off as {role}")
    if not comment.strip():
        raise SignOffRefused("comment: a comment is required with every sign-off")
    version = config_version_active(account_id=account.pk)
    if version is None:
        raise SignOffConflict(f"account {account.name} has no active configuration to sign off")
    return version.sha256


def signoff_record(*, account, subject: str, subject_ref: str, role: str, decision: str, comment: str, user) -> SignOff:
    """Record one role's approval or rejection, bound to the account's active config hash,
    audited in the same transaction. Never edits an earlier sign-off: history is kept."""
    config_hash = signoff_validate(
        account=account, subject=subject, role=role, decision=decision, comment=comment, user=user
    )
    with transaction.atomic():
        signoff = SignOff.objects.create(
            account=account,
            subject=subject,
            subject_ref=subject_ref,
            config_hash=config_hash,
            role=role,
            decision=decision,
            comment=comment,
            signed_by=user,
        )
        audit_append(
            actor=Actor.from_user(user),
            action=f"signoff.{decision}",
            obj=signoff,
            config_hash=config_hash,
            payload={
                "account": account.pk,
                "subject": subject,
                "subject_ref": subject_ref,
                "role": role,
                "comment": comment,
            },
        )
    return signoff
