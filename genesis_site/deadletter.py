"""The dead-letter table (SPEC M7): Celery tasks that failed for good, and what operators do
with them. Celery's task_failure signal fires only for a final failure (a retry that is still
allowed fires task_retry instead), in a worker and in eager mode alike, so connecting it
(genesis_site.celery) catches both the full stack and the embedded scheduler."""

import hashlib
import json
import logging
import uuid

import structlog
from celery import current_app
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from compliance.services import Actor, audit_append
from genesis_site.domain_errors import Conflict
from genesis_site.errors import error_categorize
from genesis_site.models import FailedTask, FailedTaskStatus

logger = logging.getLogger(__name__)


class FailedTaskConflict(Conflict):
    """The failed task is not (or no longer) dead, or its task is not known to this process."""

    code = "failed_task_conflict"


def _json(value):
    # Celery's serializer is JSON, so arguments already are; eager calls may pass anything.
    return json.loads(json.dumps(value, default=str))


def _fingerprint(task_name: str, args, kwargs, error_class: str) -> str:
    canonical = json.dumps([task_name, args, kwargs, error_class], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


# The message header carrying our correlation id. Not "correlation_id": Celery already has a
# message property of that name, set to the task id.
HEADER = "genesis_correlation_id"


def request_correlation_id(request) -> str:
    """The correlation id a task was sent with (a message header, which a worker exposes as a
    request attribute; in eager mode it stays in the request's `headers`), empty when none."""
    found = getattr(request, HEADER, None) or (getattr(request, "headers", None) or {}).get(HEADER)
    return str(found or "")


def failed_task_record(
    *, task_name: str, task_id: str, args, kwargs, exception: BaseException, retries: int, correlation_id: str
) -> FailedTask:
    """Dead-letter a final task failure. The same failure again (same task, arguments and
    error class) while its row is still dead raises that row's `occurrences`: a tick failing
    every 2 s is one row, not 1,800 an hour. Runs outside any transaction of the task (tasks
    are never run inside one), so the row is committed whatever the task rolled back."""
    args, kwargs = _json(list(args or ())), _json(dict(kwargs or {}))
    found = error_categorize(exception)
    error_class = f"{type(exception).__module__}.{type(exception).__qualname__}"
    fields = {
        "task_id": task_id or "",
        "correlation_id": (correlation_id or task_id or "")[:64],
        "exception": f"{type(exception).__name__}: {exception}"[:4000],
        "retries": retries,
        "failed_at": timezone.now(),
    }
    fingerprint = _fingerprint(task_name, args, kwargs, error_class)
    for _ in range(2):  # a racing worker may insert the dead row between our update and insert
        with transaction.atomic():
            dead = FailedTask.objects.filter(fingerprint=fingerprint, status=FailedTaskStatus.DEAD)
            if dead.update(occurrences=F("occurrences") + 1, **fields):
                return dead.get()
            try:
                with transaction.atomic():
                    return FailedTask.objects.create(
                        task_name=task_name,
                        args=args,
                        kwargs=kwargs,
                        fingerprint=fingerprint,
                        error_class=error_class[:200],
                        category=found.category,
                        severity=found.severity,
                        hint=found.hint,
                        first_failed_at=fields["failed_at"],
                        **fields,
                    )
            except IntegrityError:
                continue
    raise RuntimeError(f"could not dead-letter {task_name}")  # pragma: no cover - two lost races


_MARK = "_genesis_dead_lettered"  # set on an exception once it is recorded


def _record_once(
    *, task, task_id: str, args, kwargs, exception: BaseException, retries: int, correlation_id: str, eager: bool
):
    if getattr(exception, _MARK, False):
        return  # an eager retry chain re-raises the same error through each of its levels
    try:
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()  # the failure may have broken it
        row = failed_task_record(
            task_name=task.name,
            task_id=task_id or "",
            args=args,
            kwargs=kwargs,
            exception=exception,
            retries=retries,
            correlation_id=correlation_id or structlog.contextvars.get_contextvars().get("correlation_id", ""),
        )
    except Exception:
        logger.exception("could not dead-letter a failed task", extra={"task": task.name, "task_id": task_id})
        return
    try:
        setattr(exception, _MARK, True)
    except AttributeError:  # pragma: no cover - exceptions with __slots__
        pass
    # A worker's failure is already logged as an error by Celery; an eager one that propagates
    # is not (Celery re-raises before logging), so this line is its error record.
    log = logger.error if eager else logger.warning
    log(
        "task dead-lettered",
        extra={"task": task.name, "failed_task": row.pk, "occurrences": row.occurrences},
        exc_info=exception if eager else None,
    )


def on_task_failure(sender=None, task_id=None, exception=None, args=None, kwargs=None, **_):
    """celery.signals.task_failure receiver (connected in genesis_site.celery): a worker's
    final failure, or an eager one whose errors do not propagate."""
    if sender is None or exception is None:
        return
    request = getattr(sender, "request", None)
    _record_once(
        task=sender,
        task_id=task_id or "",
        args=args,
        kwargs=kwargs,
        exception=exception,
        retries=int(getattr(request, "retries", 0) or 0),
        correlation_id=request_correlation_id(request),
        eager=False,
    )


def on_eager_failure(task, exception: BaseException, *, args, kwargs, options: dict) -> None:
    """An eagerly applied task raised (genesis_site.celery.GenesisTask.apply): with errors
    propagating, Celery sends no task_failure, and whatever escapes apply is final (eager
    retries are applied inside it)."""
    _record_once(
        task=task,
        task_id=options.get("task_id") or "",
        args=args,
        kwargs=kwargs,
        exception=exception,
        retries=int(options.get("retries") or 0),
        correlation_id=str((options.get("headers") or {}).get(HEADER) or ""),
        eager=True,
    )


def _dead_for_update(failed_task_id: int) -> FailedTask:
    """Lock the row and check it is still dead: two operators acting at once, or a retry
    and a discard, cannot both succeed (the second waits on the lock, then sees the status)."""
    row = FailedTask.objects.select_for_update().filter(pk=failed_task_id).first()
    if row is None:
        raise FailedTask.DoesNotExist(f"Failed task {failed_task_id} not found.")
    if row.status != FailedTaskStatus.DEAD:
        raise FailedTaskConflict(f"status: failed task {row.pk} is already {row.status} (by {row.acted_by})")
    return row


def _close(row: FailedTask, *, status: str, actor: Actor, reason: str) -> None:
    row.status, row.acted_by, row.acted_at, row.reason = status, actor.name, timezone.now(), reason
    row.save(update_fields=["status", "acted_by", "acted_at", "reason", "retry_task_id"])
    audit_append(
        actor=actor,
        action=f"failed_task.{status}",
        obj=row,
        payload={"task": row.task_name, "args": row.args, "kwargs": row.kwargs, "reason": reason},
        correlation_id=row.correlation_id,
    )


def failed_task_retry(*, failed_task_id: int, actor: Actor, reason: str) -> FailedTask:
    """Send a dead task again, with its arguments and correlation id, once the row is marked
    retried (audited). Should it fail again, that failure is a new dead row."""
    with transaction.atomic():
        row = _dead_for_update(failed_task_id)
        current_app.loader.import_default_modules()  # a web process may not have imported every app's tasks
        task = current_app.tasks.get(row.task_name)
        if task is None:
            raise FailedTaskConflict(f"task_name: {row.task_name} is not a registered task; discard it instead")
        row.retry_task_id = uuid.uuid4().hex
        _close(row, status=FailedTaskStatus.RETRIED, actor=actor, reason=reason)
        send = {"task_id": row.retry_task_id, "headers": {HEADER: row.correlation_id}}
        # After commit: the task must find the row already retried. robust: in eager mode a
        # second failure is dead-lettered and logged, not raised into the operator's request.
        transaction.on_commit(lambda: task.apply_async(row.args, row.kwargs, **send), robust=True)
    return row


def failed_task_discard(*, failed_task_id: int, actor: Actor, reason: str) -> FailedTask:
    """Give up on a dead task for good (audited); the row stays as the record."""
    with transaction.atomic():
        row = _dead_for_update(failed_task_id)
        _close(row, status=FailedTaskStatus.DISCARDED, actor=actor, reason=reason)
    return row
