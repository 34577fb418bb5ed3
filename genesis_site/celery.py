"""The Celery app. Configuration (including the beat schedule) lives in Django settings."""

import os

from celery import Celery
from celery.signals import worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genesis_site.settings.dev")

app = Celery("genesis")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_shutdown.connect
def _prometheus_mark_dead(pid=None, **_kwargs):
    # Live gauges of a dead prefork child must not linger in the multiprocess directory.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())
