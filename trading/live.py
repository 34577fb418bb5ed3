"""Pushing account events to the dashboards: only server code publishes, after commit."""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


def account_group(account_id: int) -> str:
    return f"account-{account_id}"


def account_event_publish(*, account_id: int, event: dict) -> None:
    """Send `event` to every dashboard of the account. Never raises: a dashboard that misses
    an event re-syncs from the database by sequence number."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(account_group(account_id), {"type": "account.event", "event": event})
    except Exception:
        logger.exception("publish to account group failed", extra={"account": account_id})
