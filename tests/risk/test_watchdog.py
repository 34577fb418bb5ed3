"""SPEC R6: the dead man's switch and the engine-silent check, run by the web process."""

import asyncio
from datetime import timedelta

import pytest
import pytest_asyncio
from channels.db import database_sync_to_async
from django.db import connections
from django.test import override_settings
from django.utils import timezone

from compliance.models import AuditEvent
from genesis_site.lifespan import LifespanMiddleware
from genesis_site.models import Heartbeat
from risk.watchdog import watchdog_check
from tests.trading.factories import OrderFactory, TradingAccountFactory
from trading.models import Order


def beat(seconds_ago: float) -> None:
    Heartbeat.objects.update_or_create(
        name="worker:w1", defaults={"beat_at": timezone.now() - timedelta(seconds=seconds_ago)}
    )


@pytest.mark.django_db
def test_open_orders_are_cancelled_when_no_worker_has_beaten_for_over_60_s():
    order = OrderFactory(status="submitted")
    filled = OrderFactory(account=order.account, status="filled", filled_amount=order.amount)
    beat(61)
    report = watchdog_check()
    order.refresh_from_db()
    filled.refresh_from_db()
    assert (report.cancelled_orders, order.status, filled.status) == (1, "cancelled", "filled")
    event = AuditEvent.objects.get(action="order.cancelled")
    assert event.actor == "dead_mans_switch" and "no worker heartbeat for 61 s" in event.payload["reason"]


@pytest.mark.django_db
def test_a_fresh_heartbeat_cancels_nothing():
    order = OrderFactory(status="submitted")
    beat(59)
    assert watchdog_check().cancelled_orders == 0
    order.refresh_from_db()
    assert order.status == "submitted"


@pytest.mark.django_db
@override_settings(GENESIS_TICK_SECONDS=2.0)
def test_an_account_that_has_not_ticked_for_three_intervals_is_silent():
    now = timezone.now()
    silent = TradingAccountFactory(last_tick_at=now - timedelta(seconds=7))
    TradingAccountFactory(last_tick_at=now - timedelta(seconds=5))  # within 3 x 2 s
    TradingAccountFactory(last_tick_at=now - timedelta(seconds=60), stop_level="halt")  # stopped on purpose
    assert watchdog_check(now=now).silent_accounts == [silent.pk]


@pytest_asyncio.fixture
async def close_thread_connections():
    yield
    await database_sync_to_async(connections.close_all)()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_thread_connections")
@override_settings(GENESIS_WATCHDOG=True, GENESIS_EMBEDDED_SCHEDULER=False)
async def test_the_web_process_runs_the_watchdog_in_its_lifespan():
    order = await database_sync_to_async(OrderFactory)(status="submitted")
    await database_sync_to_async(beat)(120)
    sent, inbox = [], asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    app = LifespanMiddleware(app=None)

    async def send(message):
        sent.append(message["type"])

    serving = asyncio.create_task(app({"type": "lifespan"}, inbox.get, send))
    for _ in range(50):
        status = await database_sync_to_async(lambda: Order.objects.get(pk=order.pk).status)()
        if status == "cancelled":
            break
        await asyncio.sleep(0.1)
    await inbox.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(serving, timeout=5)
    assert status == "cancelled"
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
