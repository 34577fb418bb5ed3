"""Pushing account events to the dashboards: only server code publishes, after commit.

Every event carries the account's stream sequence number (`TradingAccount.stream_seq`),
taken from the database when the event is sent. A dashboard that sees a gap in the numbers,
or reconnects, re-reads its state from the database instead of trusting the stream: the state
endpoint reads the number *before* the data, so state and stream can only overlap, never
leave a hole."""

import asyncio
import json
import logging
import os
import threading
from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction

logger = logging.getLogger(__name__)


def account_group(account_id: int) -> str:
    return f"account-{account_id}"


def stream_seq_next(*, account_id: int) -> int:
    """Take the account's next stream sequence number. One statement (an increment that
    returns its result), so two publishers never take the same number and a push costs one
    round trip to the database."""
    from trading.models import TradingAccount

    table = connection.ops.quote_name(TradingAccount._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET stream_seq = stream_seq + 1 WHERE id = %s RETURNING stream_seq",  # noqa: S608 # nosec B608
            [account_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise TradingAccount.DoesNotExist(f"no trading account {account_id}")
    return row[0]


def stream_seq_current(*, account_id: int) -> int:
    from trading.models import TradingAccount

    return TradingAccount.objects.values_list("stream_seq", flat=True).get(pk=account_id)


_publisher: tuple[int, asyncio.AbstractEventLoop] | None = None
_publisher_lock = threading.Lock()


def _publisher_loop() -> asyncio.AbstractEventLoop:
    """One long-lived event loop per process for sending to a Redis layer, which keeps one
    connection per loop: without it every event from sync code (a worker's tick) would open
    and close a Redis connection. Made again in a forked child, whose copy has no thread."""
    global _publisher
    with _publisher_lock:
        if _publisher is None or _publisher[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="genesis-live-publisher", daemon=True).start()
            _publisher = (os.getpid(), loop)
        return _publisher[1]


def _group_send(layer, group: str, message: dict) -> None:
    if isinstance(layer, InMemoryChannelLayer):
        # Its queues belong to the server's own loop (embedded mode, SPEC §1): async_to_sync
        # from the server's worker thread sends on that loop.
        async_to_sync(layer.group_send)(group, message)
        return
    asyncio.run_coroutine_threadsafe(layer.group_send(group, message), _publisher_loop()).result(timeout=5)


def account_event_publish(*, account_id: int, event: dict, seq: int | None = None) -> int | None:
    """Send `event` to every dashboard of the account, stamped with the next stream sequence
    number (or `seq`, one the caller took in the transaction it publishes, as the engine
    tick does under its row lock); returns it. Never raises: a dashboard that misses an
    event re-syncs from the database by sequence number."""
    layer = get_channel_layer()
    if layer is None:
        return None
    try:
        seq = seq if seq is not None else stream_seq_next(account_id=account_id)
        # Encoded once here, not once per dashboard by each consumer.
        text = json.dumps({**event, "seq": seq}, cls=DjangoJSONEncoder, separators=(",", ":"))
        _group_send(layer, account_group(account_id), {"type": "account.event", "text": text})
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
