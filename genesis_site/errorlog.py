"""The error log (SPEC M7, O2): every error-level log record of every process (web, worker,
beat, embedded scheduler) becomes a categorized ErrorEvent row, so GET /api/v1/logs shows the
whole system's recent errors, not one process's.

Logging often happens inside a transaction that then rolls back (a failing tick, a refused
request), and a row written on that transaction's connection would vanish with it. So the
handler only queues the row; one daemon thread per process writes the queue on its own
database connection (Django connections are per thread), which commits on its own. The queue
is bounded: past its size rows are dropped and counted, never blocking the caller."""

import atexit
import logging
import os
import queue
import socket
import threading
import time
from datetime import UTC, datetime

import structlog
from django.conf import settings
from django.db import close_old_connections, connection

from genesis_site.errors import error_categorize

logger = logging.getLogger(__name__)
QUEUE_SIZE = 1000
BATCH = 100
RETRY_PAUSES = (0.05, 0.2, 1.0, 0.0)  # seconds after each failed attempt (the last: none)
_local = threading.local()  # marks the writer thread: its own errors are never queued


def _qualname(cls: type) -> str:
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _source(record: logging.LogRecord) -> str:
    data = getattr(record, "data", None)  # celery.app.trace logs a failed task with data={"name": ...}
    if isinstance(data, dict) and data.get("name"):
        return f"task:{data['name']}"
    task = getattr(record, "task", None)  # genesis_site.deadletter names the task it recorded
    if isinstance(task, str) and task:
        return f"task:{task}"
    job = getattr(record, "job", None)  # the embedded scheduler names the job that failed
    return f"job:{job}" if job else record.name


def error_event_fields(record: logging.LogRecord) -> dict:
    """The ErrorEvent columns for a log record (read in the logging thread, where the
    record's correlation id is still bound)."""
    exc = record.exc_info[1] if record.exc_info else None
    found = error_categorize(exc)
    severity = "critical" if record.levelno >= logging.CRITICAL else found.severity
    message = record.getMessage()
    if exc is not None and str(exc) and str(exc) not in message:
        message = f"{message}: {exc}"
    correlation_id = getattr(record, "correlation_id", "") or structlog.contextvars.get_contextvars().get(
        "correlation_id", ""
    )
    return {
        "ts": datetime.fromtimestamp(record.created, UTC),
        "level": record.levelname.lower(),
        "category": found.category,
        "severity": severity,
        "source": _source(record)[:200],
        "process": f"{socket.gethostname()}:{os.getpid()}"[:64],
        "message": message[:4000],
        "error_class": _qualname(type(exc))[:200] if exc is not None else "",
        "correlation_id": str(correlation_id)[:64],
        "hint": found.hint[:300],
    }


class _Writer:
    """A queue and the thread that writes it; one per process (a forked child makes its own)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.queue: queue.Queue[dict] = queue.Queue(maxsize=QUEUE_SIZE)
        self.dropped = 0
        self.thread = threading.Thread(target=self._run, name="genesis-errorlog", daemon=True)
        self.thread.start()

    def put(self, row: dict) -> None:
        try:
            self.queue.put_nowait(row)
        except queue.Full:
            self.dropped += 1

    def _run(self) -> None:
        _local.writing = True
        while True:
            batch = [self.queue.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._write(batch)
            finally:
                for _ in batch:
                    self.queue.task_done()

    def _write(self, batch: list[dict]) -> None:
        from genesis_site.models import ErrorEvent

        for attempt, pause in enumerate(RETRY_PAUSES):
            try:
                close_old_connections()
                ErrorEvent.objects.bulk_create([ErrorEvent(**row) for row in batch])
                return
            except Exception:
                # Locked (SQLite: the transaction that logged still holds the write lock) or
                # unreachable: wait a little, then give up and count the rows as dropped.
                if attempt == len(RETRY_PAUSES) - 1:
                    self.dropped += len(batch)
                    logger.warning("error log rows not written", extra={"rows": len(batch)}, exc_info=True)
                    return
                time.sleep(pause)
            finally:
                # Its own connection, closed after each attempt: errors are rare, and an idle
                # connection held by a daemon thread would pin a pool slot (or a test database).
                connection.close()

    def flush(self, timeout: float) -> bool:
        """Wait until every queued row is written (or given up); False on timeout."""
        deadline = time.monotonic() + timeout
        with self.queue.all_tasks_done:
            while self.queue.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.queue.all_tasks_done.wait(left)
        return True


_writer: _Writer | None = None
_writer_lock = threading.Lock()


def _writer_get() -> _Writer:
    global _writer
    with _writer_lock:
        if _writer is None or _writer.pid != os.getpid():
            _writer = _Writer()
        return _writer


def errorlog_flush(timeout: float = 5.0) -> bool:
    """Wait for this process's queued error rows to be written (tests, shutdown)."""
    return _writer.flush(timeout) if _writer is not None and _writer.pid == os.getpid() else True


atexit.register(errorlog_flush, 2.0)


class _Throttle:
    """At most one row per source and error class per window and process: a tick failing
    every 2 s for hours must not write a row every 2 s. The next row stored says how many
    were left out (`suppressed`); the JSON log stream still has every one of them."""

    MAX_KEYS = 1000

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last: dict[tuple, float] = {}
        self.suppressed: dict[tuple, int] = {}

    def admit(self, key: tuple, now: float, window: float) -> int | None:
        """None: drop this record; otherwise the number suppressed since the last one."""
        with self.lock:
            last = self.last.get(key)
            if last is not None and now - last < window:
                self.suppressed[key] = self.suppressed.get(key, 0) + 1
                return None
            if len(self.last) >= self.MAX_KEYS:
                self.last.clear()
            self.last[key] = now
            return self.suppressed.pop(key, 0)


_throttle = _Throttle()


class ErrorLogHandler(logging.Handler):
    """Queues an ErrorEvent for every ERROR and CRITICAL record (GENESIS_ERROR_LOG_DB on),
    throttled per source and error class (GENESIS_ERROR_LOG_THROTTLE_SECONDS)."""

    def __init__(self, level=logging.ERROR):
        super().__init__(level)

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < logging.ERROR or getattr(_local, "writing", False):
            return
        try:
            if not getattr(settings, "GENESIS_ERROR_LOG_DB", True):
                return
            row = error_event_fields(record)
            window = float(getattr(settings, "GENESIS_ERROR_LOG_THROTTLE_SECONDS", 10))
            key = (row["source"], row["error_class"], row["level"])
            suppressed = _throttle.admit(key, time.monotonic(), window)
            if suppressed is not None:
                _writer_get().put({**row, "suppressed": suppressed})
        except Exception:
            self.handleError(record)
