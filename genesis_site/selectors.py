from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from genesis_site.models import Heartbeat


def heartbeats_fresh(*, prefix: str) -> tuple[bool, str | None]:
    """Whether a heartbeat whose name starts with `prefix` is younger than the stale limit."""
    latest = Heartbeat.objects.filter(name__startswith=prefix).order_by("-beat_at").first()
    if latest is None:
        return False, None
    limit = timedelta(seconds=settings.GENESIS_HEARTBEAT_STALE_SECONDS)
    return timezone.now() - latest.beat_at <= limit, latest.beat_at.isoformat()


LEVELS = ("warning", "error", "critical")


def logs_recent(*, level: str = "warning", limit: int = 100) -> list[dict]:
    """Recent log records at or above `level`, newest first: errors of every process from the
    ErrorEvent table, plus (for level=warning) this process's warnings."""
    from genesis_site.logbuffer import warnings_recent
    from genesis_site.models import ErrorEvent

    levels = LEVELS[LEVELS.index(level) :]
    rows = [
        {**row, "error": row.pop("error_class"), "logger": row.pop("source")}
        for row in ErrorEvent.objects.filter(level__in=levels).values(
            "ts",
            "level",
            "category",
            "severity",
            "source",
            "process",
            "message",
            "error_class",
            "correlation_id",
            "hint",
            "suppressed",
        )[:limit]
    ]
    if level == "warning":
        rows = sorted([*rows, *warnings_recent(limit=limit)], key=lambda r: r["ts"], reverse=True)[:limit]
    return rows
