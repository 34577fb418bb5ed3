"""Retention (SPEC C5): purge expired records per policy, archiving them first, auditing each
purge, and restore an archive exactly. The audit chain is never selected, purged or restored.

Archive format: `<record_type>-<UTC timestamp>.jsonl.gz`, gzip-compressed JSON lines, one
`{"table": "<app_label.model>", "fields": {<attname>: <value>}}` per row, tables in deletion
order (children first). Decimals are strings with all their digits, datetimes ISO 8601 in UTC
with microseconds. A sibling `<name>.sha256` holds the file's SHA-256 in `sha256sum` format,
and the Purge row and its audit event record it too.
"""

import gzip
import hashlib
import json
import logging
import os
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import ProtectedError, QuerySet, RestrictedError
from django.utils import timezone

from compliance.exceptions import ArchiveInvalid, RetentionConflict, RetentionError
from compliance.models import Purge, RecordType, RetentionPolicy
from compliance.services import Actor, audit_append
from trading.models import ORDER_TRANSITIONS, Candle, EquitySnapshot, Fill, Order, Position

logger = logging.getLogger(__name__)
SYSTEM = Actor.system("retention")
# Rows per IN (...) list: SQLite caps the number of query parameters.
BATCH = 500
# Final states are those with no way out: an order that can still change is never purged.
FINAL_ORDER_STATUSES = [status for status, next_states in ORDER_TRANSITIONS.items() if not next_states]


# --- What each record type purges ----------------------------------------------------------


def _orders(cutoff: datetime) -> list[QuerySet]:
    orders = Order.objects.filter(status__in=FINAL_ORDER_STATUSES, updated_at__lt=cutoff)
    # Fills first (Fill.order is PROTECT), and only fills of purged orders: never of a kept one.
    return [Fill.objects.filter(order__in=orders), orders]


def _positions(cutoff: datetime) -> list[QuerySet]:
    return [Position.objects.filter(quantity=0, updated_at__lt=cutoff)]


def _metrics(cutoff: datetime) -> list[QuerySet]:
    return [EquitySnapshot.objects.filter(ts__lt=cutoff), Candle.objects.filter(ts__lt=cutoff)]


def _error_logs(cutoff: datetime) -> list[QuerySet]:
    from genesis_site.models import ErrorEvent

    return [ErrorEvent.objects.filter(ts__lt=cutoff)]


@dataclass(frozen=True)
class RecordHandler:
    """`select(cutoff)` returns the expired rows per table, in deletion order (children first)."""

    select: Callable[[datetime], list[QuerySet]] | None
    skip_reason: str = ""


HANDLERS: dict[str, RecordHandler] = {
    RecordType.ORDERS: RecordHandler(_orders),
    RecordType.POSITIONS: RecordHandler(_positions),
    RecordType.METRICS: RecordHandler(_metrics),
    RecordType.ERROR_LOGS: RecordHandler(_error_logs),
}


def _restorable_models() -> list[type[models.Model]]:
    """Every model retention may purge, parents before children (the reverse of deletion).
    Only these may be restored: an archive can never write to any other table."""
    now = timezone.now()  # the querysets are lazy: only their models are read
    return [qs.model for h in HANDLERS.values() if h.select for qs in reversed(h.select(now))]


# --- Outcomes --------------------------------------------------------------------------------

PURGED, WOULD_PURGE, NOTHING_EXPIRED, SKIPPED, NOT_PURGED = (
    "purged",
    "would_purge",
    "nothing_expired",
    "skipped",
    "not_purged",
)


@dataclass(frozen=True)
class RetentionOutcome:
    record_type: str
    status: str  # one of PURGED, WOULD_PURGE, NOTHING_EXPIRED, SKIPPED, NOT_PURGED
    cutoff: datetime | None = None
    rows: dict[str, int] = field(default_factory=dict)
    archive_path: str = ""
    archive_sha256: str = ""
    reason: str = ""


@dataclass(frozen=True)
class RestoreOutcome:
    archive_path: str
    archive_sha256: str
    rows: dict[str, int]


# --- Apply -----------------------------------------------------------------------------------


def retention_apply(*, dry_run: bool = False) -> list[RetentionOutcome]:
    """Purge every record type whose policy is enabled, one record type at a time.

    For each, the expired rows are first written to a compressed, checksummed archive that is
    fsynced; only then, in one transaction, exactly the archived rows are deleted, a Purge row
    is created and `retention.purged` is audited. If archiving fails, nothing of that record
    type is deleted and the error propagates (later record types wait for the next run); if
    the rows changed meanwhile, nothing is deleted for that record type and it is reported as
    NOT_PURGED (the next run retries). A dry run only counts and writes nothing."""
    now = timezone.now()
    policies = {policy.record_type: policy for policy in RetentionPolicy.objects.all()}
    return [
        _apply_one(record_type, handler, policies.get(record_type), now=now, dry_run=dry_run)
        for record_type, handler in HANDLERS.items()
    ]


def _apply_one(
    record_type: str, handler: RecordHandler, policy: RetentionPolicy | None, *, now: datetime, dry_run: bool
) -> RetentionOutcome:
    if handler.select is None:
        return RetentionOutcome(record_type, SKIPPED, reason=handler.skip_reason)
    if policy is None or not policy.enabled:
        return RetentionOutcome(record_type, SKIPPED, reason="no policy" if policy is None else "policy disabled")
    cutoff = now - timedelta(days=policy.keep_days)
    selection = handler.select(cutoff)
    counts = {_label(qs.model): qs.count() for qs in selection}
    if not any(counts.values()):
        return RetentionOutcome(record_type, NOTHING_EXPIRED, cutoff, counts)
    if dry_run:
        return RetentionOutcome(record_type, WOULD_PURGE, cutoff, counts)
    return _purge(record_type, cutoff, selection, now=now)


def _purge(record_type: str, cutoff: datetime, selection: list[QuerySet], *, now: datetime) -> RetentionOutcome:
    path = _archive_dir() / f"{record_type}-{now.astimezone(UTC):%Y%m%dT%H%M%S.%fZ}.jsonl.gz"
    archived = _archive_write(path, selection)  # raises before anything is deleted
    sha256 = _checksum_write(path)
    try:
        purge = _purge_commit(record_type, cutoff, selection, archived, path=path, sha256=sha256)
    except RetentionError as exc:
        # Raised inside the transaction, so it rolled back: the archive describes rows that are
        # still in the database. (Any other error, e.g. a connection lost during COMMIT, may
        # have committed, so the archive is kept then.)
        _archive_discard(path)
        logger.warning("retention %s not purged: %s", record_type, exc)
        return RetentionOutcome(record_type, NOT_PURGED, cutoff, reason=str(exc))
    return RetentionOutcome(record_type, PURGED, cutoff, purge.rows, str(path), sha256)


def _purge_commit(
    record_type: str, cutoff: datetime, selection: list[QuerySet], archived: dict[str, list], *, path: Path, sha256: str
) -> Purge:
    with transaction.atomic():
        # Parents are locked first: once an order is locked no fill can be added to it.
        for qs in reversed(selection):
            _lock_archived(qs, archived[_label(qs.model)])
        for qs in selection:
            _delete_archived(qs.model, archived[_label(qs.model)])
        rows = {label: len(pks) for label, pks in archived.items()}
        purge = Purge.objects.create(
            record_type=record_type, cutoff=cutoff, rows=rows, archive_path=str(path), archive_sha256=sha256
        )
        audit_append(
            actor=SYSTEM,
            action="retention.purged",
            obj=purge,
            payload={
                "record_type": record_type,
                "cutoff": cutoff,
                "rows": rows,
                "archive_path": str(path),
                "archive_sha256": sha256,
            },
        )
    return purge


def _lock_archived(qs: QuerySet, pks: list) -> None:
    """Lock the archived rows that still match the selection. A row updated, reopened or
    deleted since it was archived no longer matches, and then nothing is deleted: the delete
    is of exactly the archived rows, in exactly their archived state."""
    for chunk in _chunks(pks):
        found = list(qs.filter(pk__in=chunk).select_for_update().values_list("pk", flat=True))
        if len(found) != len(chunk):
            changed = len(chunk) - len(found)
            raise RetentionConflict(f"{changed} archived {_label(qs.model)} rows changed since they were archived")


def _delete_archived(model: type[models.Model], pks: list) -> None:
    label = _label(model)
    for chunk in _chunks(pks):
        try:
            _, deleted = model.objects.filter(pk__in=chunk).delete()
        except (ProtectedError, RestrictedError) as exc:
            # e.g. a fill added to an archived order before it was locked
            raise RetentionConflict(f"{label} rows are referenced by rows not archived: {exc.args[0]}") from None
        cascaded = sorted(name for name, count in deleted.items() if count and name != model._meta.label)
        if cascaded:
            raise RetentionError(f"deleting {label} rows would also delete unarchived {', '.join(cascaded)} rows")
        if deleted.get(model._meta.label, 0) != len(chunk):
            raise RetentionConflict(f"{label} rows vanished between lock and delete")


# --- Archive files ---------------------------------------------------------------------------


def _archive_dir() -> Path:
    directory = Path(getattr(settings, "GENESIS_ARCHIVE_DIR", settings.VAR_DIR / "archive"))
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _archive_write(path: Path, selection: list[QuerySet]) -> dict[str, list]:
    """Write the selected rows to `path` (temp file, fsync, rename); the archived pks per table."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "xb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as out:
                archived = {_label(qs.model): _archive_rows(out, qs) for qs in selection}
            raw.flush()
            os.fsync(raw.fileno())
        tmp.replace(path)
        _fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        path.unlink(missing_ok=True)
        raise
    return archived


def _archive_rows(out: IO[bytes], qs: QuerySet) -> list:
    model = qs.model
    names = [f.attname for f in model._meta.concrete_fields]
    pk_at = names.index(model._meta.pk.attname)
    pks = []
    for values in qs.order_by("pk").values_list(*names).iterator(chunk_size=BATCH):
        record = {"table": _label(model), "fields": dict(zip(names, values, strict=True))}
        out.write(json.dumps(record, default=_encode, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
        pks.append(values[pk_at])
    return pks


def _encode(value):
    # Lossless or nothing: a type without an exact text form fails the archive, before any delete.
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} has no lossless archive form")


def _checksum_write(path: Path) -> str:
    sha256 = _sha256(path)
    sidecar = _sidecar(path)
    try:
        with open(sidecar, "w") as f:
            f.write(f"{sha256}  {path.name}\n")  # sha256sum -c reads this
            f.flush()
            os.fsync(f.fileno())
        _fsync_dir(path.parent)
    except BaseException:
        _archive_discard(path)
        raise
    return sha256


def _archive_discard(path: Path) -> None:
    path.unlink(missing_ok=True)
    _sidecar(path).unlink(missing_ok=True)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _fsync_dir(directory: Path) -> None:
    # The rename itself must be durable, not only the file's content.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _chunks(items: list, size: int = BATCH) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _label(model: type[models.Model]) -> str:
    return model._meta.label_lower


# --- Restore ---------------------------------------------------------------------------------


def archive_verify(*, path: Path) -> str:
    """The archive's SHA-256, once it matches both its `.sha256` file and the checksum the
    purge that wrote it recorded. ArchiveInvalid, naming the file, otherwise."""
    if not path.is_file():
        raise ArchiveInvalid(f"{path}: no such archive file")
    sidecar = _sidecar(path)
    if not sidecar.is_file():
        raise ArchiveInvalid(f"{path}: checksum file {sidecar.name} is missing, the archive cannot be verified")
    expected = (sidecar.read_text(errors="replace").split() or [""])[0]
    actual = _sha256(path)
    if actual != expected:
        raise ArchiveInvalid(f"{path}: checksum mismatch (file {actual}, {sidecar.name} {expected}): refusing it")
    # Whoever rewrote both files cannot rewrite the checksum recorded by the audited purge.
    recorded = Purge.objects.filter(archive_path__endswith=path.name).exclude(archive_sha256=actual).first()
    if recorded is not None:
        raise ArchiveInvalid(f"{path}: checksum differs from the one purge #{recorded.pk} recorded: refusing it")
    return actual


def retention_restore(*, path: Path, actor: Actor = SYSTEM) -> RestoreOutcome:
    """Re-insert an archive's rows exactly (same primary keys and field values, parents
    before children) in one transaction, audited as `retention.restored`, after verifying
    its checksum. Refuses, changing nothing, an archive that does not verify, names a table
    retention does not purge, or holds rows already in the database.
    Restored rows are still expired: disable the policy first if they must stay."""
    path = Path(path)
    sha256 = archive_verify(path=path)
    rows = _archive_read(path)
    counts = {_label(model): len(model_rows) for model, model_rows in rows.items()}
    try:
        with transaction.atomic():
            for model in _restorable_models():
                if rows.get(model):
                    _insert_exactly(model, rows[model])
            audit_append(
                actor=actor,
                action="retention.restored",
                obj=Purge.objects.filter(archive_sha256=sha256).first(),
                payload={"archive_path": str(path), "archive_sha256": sha256, "rows": counts},
            )
    except (RetentionConflict, IntegrityError) as exc:
        raise RetentionConflict(f"{path}: nothing restored: {exc}") from None
    return RestoreOutcome(archive_path=str(path), archive_sha256=sha256, rows=counts)


def _archive_read(path: Path) -> dict[type[models.Model], list[dict]]:
    allowed = {_label(model): model for model in _restorable_models()}
    rows: dict[type[models.Model], list[dict]] = defaultdict(list)
    try:
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                record = json.loads(line)
                model = allowed.get(record["table"]) if isinstance(record, dict) else None
                if model is None:
                    raise ArchiveInvalid(f"{path}: line {number}: not a row of a table retention purges")
                rows[model].append(_decode(model, record.get("fields"), where=f"{path}: line {number}"))
    except (OSError, EOFError, UnicodeDecodeError, ValueError, KeyError) as exc:
        raise ArchiveInvalid(f"{path}: unreadable archive ({exc})") from None
    return rows


def _decode(model: type[models.Model], raw, *, where: str) -> dict:
    fields = model._meta.concrete_fields
    names = {f.attname for f in fields}
    if not isinstance(raw, dict) or set(raw) != names:
        raise ArchiveInvalid(f"{where}: fields do not match {_label(model)}")
    try:
        return {f.attname: f.to_python(raw[f.attname]) for f in fields}
    except ValidationError as exc:
        raise ArchiveInvalid(f"{where}: {'; '.join(exc.messages)}") from None


def _insert_exactly(model: type[models.Model], rows: list[dict]) -> None:
    label = _label(model)
    for chunk in _chunks([row[model._meta.pk.attname] for row in rows]):
        present = model.objects.filter(pk__in=chunk).count()
        if present:
            raise RetentionConflict(f"{present} {label} rows of the archive are already in the database")
    model.objects.bulk_create([model(**row) for row in rows], batch_size=BATCH)
    # bulk_create stamps auto_now fields with the current time; bulk_update writes the
    # archived values back (it does not run pre_save).
    stamped = [f.attname for f in model._meta.concrete_fields if getattr(f, "auto_now", False)]
    stamped += [f.attname for f in model._meta.concrete_fields if getattr(f, "auto_now_add", False)]
    if stamped:
        model.objects.bulk_update([model(**row) for row in rows], stamped, batch_size=BATCH)
