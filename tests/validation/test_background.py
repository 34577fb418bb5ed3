"""Embedded mode (SPEC §1, V1, V6): a run started over the API returns at once and executes on
the in-process background worker, pushing per-check progress over the channel layer on the
server's loop; one run at a time per account; an abandoned run no longer blocks."""

import asyncio
import threading
import time
from datetime import timedelta

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth.models import Group, Permission
from django.db import connections
from django.test import Client
from django.utils import timezone

from genesis_site.scheduler import background
from tests.genesis_site.factories import UserFactory
from tests.risk.factories import active_policy
from tests.trading.factories import TradingAccountFactory
from validation.live import RUNS_GROUP
from validation.models import ValidationRun
from validation.validators import REGISTRY
from validation.validators.base import BaseValidator, Result

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]
RUNS = "/api/v1/validation-runs/"
RELEASE = threading.Event()


class GateValidator(BaseValidator):
    """Measures nothing until the test releases it: proves where and when a check runs."""

    name = "test_gate"
    check_id = "TEST-001"
    group = "test"
    description = "waits for the test"

    def measure(self, ctx):
        entered = threading.current_thread().name
        if not RELEASE.wait(timeout=20):
            return Result("failed", "never released")
        return Result("passed", f"released on {entered}", {"thread": entered})


@pytest_asyncio.fixture(autouse=True)
async def embedded(settings):
    """What the lifespan does in the embedded mode: the background worker bound to the
    server's loop (here the test's), runs started in the background."""
    settings.GENESIS_VALIDATION_BACKGROUND = True
    settings.CELERY_TASK_ALWAYS_EAGER = True
    REGISTRY[GateValidator.name] = GateValidator
    RELEASE.clear()
    background.bind(asyncio.get_running_loop())
    yield
    RELEASE.set()
    background.bind(None)
    del REGISTRY[GateValidator.name]
    await database_sync_to_async(connections.close_all)()


@database_sync_to_async
def operator_client():
    account = TradingAccountFactory()
    active_policy(account)
    user = UserFactory(role="operator")
    account.members.add(user)
    # Transactional tests flush the rows the permission migration created; grant again what
    # validation/migrations/0003 grants operators.
    perms = Permission.objects.filter(
        content_type__app_label="validation", codename__in=["start_validation", "view_validationrun"]
    )
    Group.objects.get(name="operator").permissions.add(*perms)
    client = Client()
    client.force_login(user)
    return client, account


def _post(client, account):
    """POST from a thread of its own, as a request thread; its connections closed after."""
    try:
        payload = {"mode": "quick", "only": ["test_gate"], "account": account.pk}
        return client.post(RUNS, payload, content_type="application/json")
    finally:
        connections.close_all()


async def _events_until(layer, channel, done, timeout=20.0):
    events, deadline = [], time.monotonic() + timeout
    while not done(events):
        message = await asyncio.wait_for(layer.receive(channel), timeout=max(0.1, deadline - time.monotonic()))
        events.append(message["event"])
    return events


async def test_an_api_start_returns_at_once_runs_in_the_background_and_pushes_progress():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(RUNS_GROUP, channel)
    client, account = await operator_client()

    # Inside the request the check would wait 20 s for a release that has not happened yet.
    started = time.monotonic()
    response = await asyncio.wait_for(sync_to_async(_post, thread_sensitive=False)(client, account), timeout=10)
    answered = time.monotonic() - started
    assert response.status_code == 202, response.content
    run_id = response.json()["id"]
    assert response["Location"] == f"{RUNS}{run_id}/" and answered < 5

    # The check is now measuring on the background thread, the run is not final.
    events = await _events_until(layer, channel, lambda ev: ("check_started", "test_gate") in _kinds(ev))
    run = await ValidationRun.objects.aget(pk=run_id)
    assert run.status == "running" and run.decision == ""

    # A second start for the same account is refused, naming the running run; nothing recorded.
    second = await sync_to_async(_post, thread_sensitive=False)(client, account)
    assert second.status_code == 409, second.content
    error = second.json()["error"]
    assert error["code"] == "validation_run_in_progress" and f"validation run {run_id} " in error["message"]
    assert await ValidationRun.objects.acount() == 1

    RELEASE.set()
    events += await _events_until(layer, channel, lambda ev: any(e["type"] == "run" and e.get("decision") for e in ev))
    check = next(e for e in events if e["type"] == "check")
    assert (check["name"], check["status"]) == ("test_gate", "passed")
    assert "genesis-background" in check["details"]  # measured on the worker's thread, not the request's
    assert events[-1] == {"type": "run", "run": run_id, "status": "finished", "decision": "GO", "score": 100.0}
    assert await _worker_idle()

    deadline = time.monotonic() + 10
    while (run := await ValidationRun.objects.aget(pk=run_id)).status != "finished":
        assert time.monotonic() < deadline, f"run still {run.status}"
        await asyncio.sleep(0.05)
    assert run.decision == "GO" and run.finished_at is not None

    # Finished: the account may start the next run.
    RELEASE.clear()
    third = await sync_to_async(_post, thread_sensitive=False)(client, account)
    assert third.status_code == 202, third.content
    RELEASE.set()
    await _events_until(
        layer, channel, lambda ev: any(e.get("run") == third.json()["id"] and e.get("decision") for e in ev)
    )


async def test_a_run_abandoned_past_twice_its_budget_no_longer_blocks_its_account():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(RUNS_GROUP, channel)
    client, account = await operator_client()
    stale = await ValidationRun.objects.acreate(
        mode="quick",
        trigger="api",
        account=account,
        status="running",
        checks_planned=["test_gate"],
        started_at=timezone.now() - timedelta(seconds=121),  # quick's budget is 60 s
    )
    RELEASE.set()
    response = await sync_to_async(_post, thread_sensitive=False)(client, account)
    assert response.status_code == 202, response.content
    run_id = response.json()["id"]
    # Wait for the run's events and the worker's end, not by reading the table meanwhile.
    await _events_until(layer, channel, lambda ev: any(e.get("run") == run_id and e.get("decision") for e in ev))
    assert await _worker_idle()
    await stale.arefresh_from_db()
    assert (stale.status, stale.decision) == ("error", "NO_GO") and stale.error.startswith("abandoned")
    assert (await ValidationRun.objects.aget(pk=run_id)).status == "finished"


async def _worker_idle() -> bool:
    """The background worker has ended its jobs. Read the tables only then: the test's
    in-memory SQLite (shared cache) refuses a read or write that overlaps the worker's at once
    ("table is locked"), where the embedded server's WAL file database lets them go together."""
    return await sync_to_async(background.wait_idle, thread_sensitive=False)(10)


def _kinds(events):
    return [(e["type"], e.get("name")) for e in events]
