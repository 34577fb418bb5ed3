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
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from datetime import timedelta
from functools import partial

from asgiref.sync import sync_to_async
from celery import current_app
from django.db import close_old_connections, connections

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


class _DaemonExecutor(Executor):
    """One daemon thread running submitted calls in order. Unlike ThreadPoolExecutor's
    threads it is not joined at interpreter exit: stopping the server does not wait for a
    ten-minute validation run (which is then left running in the database, and abandoned
    runs are expired by their owner, see validation.services)."""

    def __init__(self, thread_name: str):
        self.calls: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._work, name=thread_name, daemon=True)
        self.thread.start()

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        self.calls.put((future, fn, args, kwargs))
        return future

    def _work(self) -> None:
        while True:
            future, fn, args, kwargs = self.calls.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # handed to whoever waits on the future
                future.set_exception(exc)


class BackgroundWorker:
    """Long work started by a request in the embedded mode (a validation run), off the
    request thread: the request returns at once and the work runs on this worker's one
    thread, jobs one after the other, each with its own database connections closed after
    use. While the ASGI server's loop is bound (lifespan startup), a job runs through
    sync_to_async from that loop, so its channel-layer sends land on the loop where the
    in-memory layer's queues live, as the scheduler's jobs do. Unbound (a management
    command, a plain WSGI test client) it runs on the thread directly."""

    def __init__(self, *, thread_name: str = "genesis-background"):
        self.thread_name = thread_name
        self.executor: _DaemonExecutor | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.lock = threading.Lock()

    def bind(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self.loop = loop

    def _executor(self) -> _DaemonExecutor:
        with self.lock:
            if self.executor is None:
                self.executor = _DaemonExecutor(self.thread_name)
            return self.executor

    def submit(self, name: str, func: Callable[[], None]) -> None:
        executor, loop = self._executor(), self.loop
        if loop is not None and loop.is_running() and not loop.is_closed():
            run = sync_to_async(_run_closing, thread_sensitive=False, executor=executor)
            asyncio.run_coroutine_threadsafe(run(name, func), loop)
        else:
            executor.submit(_run_closing, name, func)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every job already on the worker's thread or its queue has ended (jobs run
        one after the other, so a no-op queued now ends after them); False on timeout. A job
        submitted through the bound loop reaches the queue once the loop has started it."""
        try:
            self._executor().submit(lambda: None).result(timeout=timeout)
        except TimeoutError:
            return False
        return True


def _run_closing(name: str, func: Callable[[], None]) -> None:
    """A background job owns its connections: closed (back to the pool) when it ends."""
    try:
        _run_logged(name, func)
    finally:
        connections.close_all()


background = BackgroundWorker()
# The kill switch's cancels have their own thread: never queued behind a validation run.
urgent = BackgroundWorker(thread_name="genesis-urgent")


def task_queue(task, args: tuple, *, worker: BackgroundWorker, in_background: bool) -> None:
    """Start a task without waiting for it. Full stack: a Celery message for a worker (late
    acks: redelivered if the worker dies). Embedded (tasks eager): the same task on `worker`'s
    thread when `in_background`, so the caller returns at once; otherwise eagerly here (unit
    tests, whose data lives in the test's own transaction)."""
    from django.conf import settings

    if settings.CELERY_TASK_ALWAYS_EAGER and in_background:
        worker.submit(f"{task.name} {args}", partial(task.apply, args=args, throw=True))
    else:
        task.delay(*args)
