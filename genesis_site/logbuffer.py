"""This process's recent warnings, for GET /api/v1/logs with level=warning (SPEC O2).

Errors of every process are stored in the database (genesis_site.errorlog); warnings are too
many and too local for that, so each process keeps its last ones in a bounded in-memory ring
(a deque is thread-safe for append). The full history is in the JSON log stream (SPEC M3)."""

import logging
from collections import deque
from datetime import UTC, datetime

RECENT: deque[dict] = deque(maxlen=500)


class RecentLogHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            return  # errors go to the ErrorEvent table, for every process
        try:
            RECENT.append(
                {
                    "ts": datetime.fromtimestamp(record.created, UTC),
                    "level": record.levelname.lower(),
                    "logger": record.name,
                    "message": record.getMessage()[:2000],
                    "correlation_id": str(getattr(record, "correlation_id", "") or ""),
                    "error": record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else "",
                    "category": "",
                    "severity": "",
                    "hint": "",
                    "process": "",
                    "suppressed": 0,
                }
            )
        except Exception:
            self.handleError(record)


def warnings_recent(*, limit: int) -> list[dict]:
    """This process's last warnings, newest first."""
    return list(reversed(RECENT))[:limit]
