"""The Celery app. Configuration (including the beat schedule) lives in Django settings."""

import os

import structlog
from celery import Celery, Task
from celery.signals import before_task_publish, setup_logging, task_failure, task_prerun, worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genesis_site.settings.dev")


class GenesisTask(Task):
    """The base of every task. In a worker, a final failure reaches the dead-letter table
    through the task_failure signal below. Eager execution with errors propagating (the
    embedded scheduler, CELERY_TASK_EAGER_PROPAGATES) re-raises before Celery sends that
    signal, so `apply` dead-letters the error itself on its way out."""

    def apply(self, args=None, kwargs=None, *positional, **options):
        try:
            return super().apply(args, kwargs, *positional, **options)
        except Exception as exc:
            from genesis_site.deadletter import on_eager_failure

            on_eager_failure(self, exc, args=args, kwargs=kwargs, options=options)
            raise


app = Celery("genesis", task_cls=GenesisTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _keep_django_logging(**_kwargs):
    # Django's LOGGING (JSON lines, the error-log table) configures the root logger. With no
    # receiver here, a worker or beat would replace the root's handlers with Celery's own, and
    # their errors would never reach the ErrorEvent table.
    return None


@worker_process_shutdown.connect
def _prometheus_mark_dead(pid=None, **_kwargs):
    # Live gauges of a dead prefork child must not linger in the multiprocess directory.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())


@before_task_publish.connect
def _correlation_id_send(headers=None, **_kwargs):
    # The correlation id of the request (or task) that sends a task follows it (SPEC M3).
    from genesis_site.deadletter import HEADER

    correlation_id = structlog.contextvars.get_contextvars().get("correlation_id")
    if headers is not None and correlation_id and not headers.get(HEADER):
        headers[HEADER] = correlation_id


@task_prerun.connect
def _correlation_id_bind(task=None, **_kwargs):
    from genesis_site.deadletter import request_correlation_id

    if task is None:
        return
    if not task.request.is_eager:
        structlog.contextvars.clear_contextvars()  # nothing of the worker's previous task
    correlation_id = request_correlation_id(task.request)
    if correlation_id:
        structlog.contextvars.bind_contextvars(correlation_id=correlation_id)


@task_failure.connect
def _dead_letter(**kwargs):
    # A final failure (retries exhausted, or none allowed) lands in the dead-letter table (SPEC M7).
    from genesis_site.deadletter import on_task_failure

    on_task_failure(**kwargs)
