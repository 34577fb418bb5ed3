"""The embedded scheduler: celery beat's schedule, run in-process on the same task code.

Each entry is an asyncio task in the server's loop. The task function runs in one dedicated
thread through sync_to_async, so the tasks never overlap each other (SQLite has one writer)
and never block the request thread; async_to_sync inside them (channel layer sends) then
runs on the server's own loop, where the in-memory layer's queues live.
"""

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from asgiref.sync import sync_to_async
from celery import current_app
from django.db import close_old_connections

logger = logging.getLogger(__name__)


def _interval_seconds(schedule) -> float:
    if isinstance(schedule, timedelta):
        return schedule.total_seconds()
    if isinstance(schedule, int | float):
        return float(schedule)
    raise TypeError(f"embedded scheduler supports interval schedules only, not {schedule!r}")


def run_task_inline(name: str, args=(), kwargs=None) -> None:
    """Run one registered Celery task eagerly, logging (not raising) its failure."""
    close_old_connections()
    try:
        current_app.tasks[name].apply(args=args, kwargs=kwargs or {}, throw=True)
    except Exception:
        logger.exception("embedded task failed", extra={"task": name})
    finally:
        close_old_connections()


class EmbeddedScheduler:
    def __init__(self, schedule: dict):
        current_app.loader.import_default_modules()  # registers the autodiscovered tasks
        self.entries = [
            (entry["task"], _interval_seconds(entry["schedule"]), entry.get("args", ())) for entry in schedule.values()
        ]
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="genesis-scheduler")
        self.tasks: list[asyncio.Task] = []
        self.stopping = asyncio.Event()

    def start(self) -> None:
        for name, interval, args in self.entries:
            self.tasks.append(asyncio.create_task(self._loop(name, interval, args)))
        logger.info("embedded scheduler started", extra={"entries": [e[0] for e in self.entries]})

    async def _loop(self, name: str, interval: float, args) -> None:
        run = sync_to_async(run_task_inline, thread_sensitive=False, executor=self.executor)
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while not self.stopping.is_set():
            await run(name, args)
            # Fixed-rate schedule: a slow run delays the next one but does not shift the grid.
            next_at = max(next_at + interval, loop.time())
            try:
                await asyncio.wait_for(self.stopping.wait(), timeout=next_at - loop.time())
            except TimeoutError:
                pass

    async def stop(self) -> None:
        """Let the running task finish, then stop. The loop must keep turning meanwhile: a
        task's async_to_sync (a channel-layer send) runs on this loop, so blocking it here
        (or cancelling the await while the thread still runs) would deadlock or orphan it."""
        self.stopping.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.executor.shutdown(wait=False)
        logger.info("embedded scheduler stopped")
