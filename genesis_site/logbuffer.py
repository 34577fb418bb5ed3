"""The recent warnings and errors of this process, for GET /api/v1/logs (SPEC O2).

A bounded in-memory ring (a deque is thread-safe for append): no database write from inside
logging, which may run inside a transaction that rolls back. Each web process serves its own
records; the full history is in the JSON log stream (SPEC M3)."""

import logging
from collections import deque
from datetime import UTC, datetime

RECENT: deque[dict] = deque(maxlen=500)
_SKIP = {"args", "msg", "exc_info", "exc_text", "stack_info", "created", "msecs", "relativeCreated", "levelno"}


class RecentLogHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            RECENT.append(
                {
                    "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
                    "level": record.levelname.lower(),
                    "logger": record.name,
                    "message": record.getMessage()[:2000],
                    "correlation_id": str(getattr(record, "correlation_id", "") or ""),
                    "error": record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else "",
                }
            )
        except Exception:
            self.handleError(record)


def logs_recent(*, level: str = "warning", limit: int = 100) -> list[dict]:
    """Newest first, at or above `level`."""
    floor = logging.getLevelName(level.upper())
    rows = [r for r in reversed(RECENT) if logging.getLevelName(r["level"].upper()) >= floor]
    return rows[:limit]
