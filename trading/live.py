"""Pushing account events to the dashboards: only server code publishes, after commit.

Every event carries the account's stream sequence number (`TradingAccount.stream_seq`),
taken from the database when the event is sent. A dashboard that sees a gap in the numbers,
or reconnects, re-reads its state from the database instead of trusting the stream: the state
endpoint reads the number *before* the data, so state and stream can only overlap, never
leave a hole."""

import logging
from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models import F

logger = logging.getLogger(__name__)


def account_group(account_id: int) -> str:
    return f"account-{account_id}"


def stream_seq_next(*, account_id: int) -> int:
    """Take the account's next stream sequence number (a conditional update, so two
    publishers never take the same number)."""
    from trading.models import TradingAccount

    with transaction.atomic():
        TradingAccount.objects.filter(pk=account_id).update(stream_seq=F("stream_seq") + 1)
        return TradingAccount.objects.values_list("stream_seq", flat=True).get(pk=account_id)


def stream_seq_current(*, account_id: int) -> int:
    from trading.models import TradingAccount

    return TradingAccount.objects.values_list("stream_seq", flat=True).get(pk=account_id)


def account_event_publish(*, account_id: int, event: dict) -> int | None:
    """Send `event` to every dashboard of the account, stamped with the next stream sequence
    number; returns it. Never raises: a dashboard that misses an event re-syncs from the
    database by sequence number."""
    layer = get_channel_layer()
    if layer is None:
        return None
    try:
        seq = stream_seq_next(account_id=account_id)
        async_to_sync(layer.group_send)(
            account_group(account_id), {"type": "account.event", "event": {**event, "seq": seq}}
        )
    except Exception:
        logger.exception("publish to account group failed", extra={"account": account_id})
        return None
    return seq


def account_changed(*, account_id: int, kind: str, **detail) -> None:
    """Tell the account's dashboards, once the current transaction commits, that `kind` of
    state changed (stop level, strategy, config, breaker...). Pages re-read their state from
    the database on such an event; the event itself carries only what changed."""
    event = {"type": kind, **detail}
    transaction.on_commit(partial(account_event_publish, account_id=account_id, event=event))
