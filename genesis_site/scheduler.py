"""Periodic jobs inside the ASGI server's event loop.

Two users: the embedded mode runs celery beat's schedule in-process on the same task code
(SPEC §1), and every web process runs the watchdog of SPEC R6, which must live outside the
worker it watches. Each job's function runs on the runner's one thread through
sync_to_async, so jobs never overlap each other (SQLite has one writer) and never block the
request thread; async_to_sync inside them (channel layer sends) then runs on the server's
own loop, where the in-memory layer's queues live.
"""

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial

from asgiref.sync import sync_to_async
from celery import current_app
from django.db import close_old_connections

logger = logging.getLogger(__name__)
Job = tuple[str, float, Callable[[], None]]


def _interval_seconds(schedule) -> float:
    if isinstance(schedule, timedelta):
        return schedule.total_seconds()
    if isinstance(schedule, int | float):
        return float(schedule)
    raise TypeError(f"the embedded scheduler supports interval schedules only, not {schedule!r}")


def run_task_inline(name: str, args=(), kwargs=None) -> None:
    """Run one registered Celery task eagerly."""
    current_app.tasks[name].apply(args=args, kwargs=kwargs or {}, throw=True)


def beat_jobs(schedule: dict) -> list[Job]:
    """celery beat's schedule as jobs calling the same tasks."""
    current_app.loader.import_default_modules()  # registers the autodiscovered tasks
    return [
        (
            entry["task"],
            _interval_seconds(entry["schedule"]),
            partial(run_task_inline, entry["task"], entry.get("args", ())),
        )
        for entry in schedule.values()
    ]


def _run_logged(name: str, func: Callable[[], None]) -> None:
    close_old_connections()
    try:
        func()
    except Exception:
        logger.exception("periodic job failed", extra={"job": name})
    finally:
        close_old_connections()


class PeriodicRunner:
    def __init__(self, jobs: list[Job], *, thread_name: str = "genesis-periodic"):
        self.jobs = jobs
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
        self.tasks: list[asyncio.Task] = []
        self.stopping = asyncio.Event()

    def start(self) -> None:
        for name, interval, func in self.jobs:
            self.tasks.append(asyncio.create_task(self._loop(name, interval, func)))
        logger.info("periodic jobs started", extra={"jobs": [job[0] for job in self.jobs]})

    async def _loop(self, name: str, interval: float, func: Callable[[], None]) -> None:
        run = sync_to_async(_run_logged, thread_sensitive=False, executor=self.executor)
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while not self.stopping.is_set():
            await run(name, func)
            # Fixed-rate schedule: a slow run delays the next one but does not shift the grid.
            next_at = max(next_at + interval, loop.time())
            try:
                await asyncio.wait_for(self.stopping.wait(), timeout=next_at - loop.time())
            except TimeoutError:
                pass

    async def stop(self) -> None:
        """Let the running job finish, then stop. The loop must keep turning meanwhile: a
        job's async_to_sync (a channel-layer send) runs on this loop, so blocking it here
        (or cancelling the await while the thread still runs) would deadlock or orphan it."""
        self.stopping.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.executor.shutdown(wait=False)
        logger.info("periodic jobs stopped")
