"""Pushing validation progress to the dashboards: only server code publishes, after commit."""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)
RUNS_GROUP = "validation-runs"


def run_group(run_id: int) -> str:
    return f"validation-run-{run_id}"


def run_event_publish(*, run_id: int, event: dict) -> None:
    """Send `event` to the run's page and to the run list. Never raises: a page that misses
    an event re-reads the run from the API."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "validation.event", "event": event}
    for group in (run_group(run_id), RUNS_GROUP):
        try:
            async_to_sync(layer.group_send)(group, message)
        except Exception:
            logger.exception("publish to validation group failed", extra={"run": run_id})
