"""The embedded scheduler (SPEC §1): the beat schedule's real tasks run inside the server's
event loop, their pushes arrive through the in-memory layer on that loop, and stopping never
deadlocks on a task that is mid-send."""

import asyncio
import json
import time

import pytest
import pytest_asyncio
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import connections

from genesis_site.models import Heartbeat
from genesis_site.scheduler import PeriodicRunner, beat_jobs
from tests.risk.factories import active_policy
from tests.trading.factories import StrategyFactory, TradingAccountFactory
from trading.live import account_group
from trading.models import EquitySnapshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

FAST_SCHEDULE = {
    "tick": {"task": "trading.engine_tick_all", "schedule": 0.05},
    "heartbeat": {"task": "genesis_site.heartbeat_record", "schedule": 0.2},
}


@pytest_asyncio.fixture(autouse=True)
async def close_thread_connections():
    yield
    await database_sync_to_async(connections.close_all)()


@database_sync_to_async
def seeded_account():
    account = TradingAccountFactory()
    StrategyFactory(account=account)
    active_policy(account)
    return account


async def test_ticks_run_in_process_and_push_on_the_servers_loop_then_stop_cleanly():
    account = await seeded_account()
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(account_group(account.pk), channel)

    scheduler = PeriodicRunner(beat_jobs(FAST_SCHEDULE))
    scheduler.start()
    events = [await asyncio.wait_for(layer.receive(channel), timeout=5) for _ in range(3)]
    started = time.monotonic()
    await asyncio.wait_for(scheduler.stop(), timeout=5)
    assert time.monotonic() - started < 5

    seqs = [json.loads(e["text"])["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    snapshots = await database_sync_to_async(EquitySnapshot.objects.filter(account=account).count)()
    assert snapshots >= 3
    names = await database_sync_to_async(lambda: set(Heartbeat.objects.values_list("name", flat=True)))()
    assert "scheduler" in names and any(name.startswith("worker:") for name in names)
    # Stopped means stopped: no tick after stop() returned.
    await asyncio.sleep(0.2)
    assert await database_sync_to_async(EquitySnapshot.objects.filter(account=account).count)() == snapshots
