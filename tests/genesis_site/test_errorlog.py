"""The error log (SPEC M7, O2): error records of any process are stored as categorized
ErrorEvent rows, on a connection of their own, and read back by GET /api/v1/logs."""

import logging

import pytest
import structlog
from celery import shared_task
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from genesis_site import errorlog
from genesis_site.errorlog import errorlog_flush
from genesis_site.models import ErrorEvent, FailedTask, Heartbeat
from tests.genesis_site.factories import UserFactory
from trading.exceptions import ExchangeUnavailable

# The writer thread commits on its own connection, outside any test transaction.
pytestmark = pytest.mark.django_db(transaction=True)
logger = logging.getLogger("trading.services.live_orders")


@pytest.fixture(autouse=True)
def error_log_on(settings, monkeypatch):
    settings.GENESIS_ERROR_LOG_DB = True
    monkeypatch.setattr(errorlog, "_throttle", errorlog._Throttle())  # no window left over from another test
    structlog.contextvars.clear_contextvars()
    yield
    errorlog_flush()
    structlog.contextvars.clear_contextvars()


def admin_api():
    client = APIClient()
    client.force_login(UserFactory(role="admin"))
    return client


@shared_task(name="tests.submit_order", ignore_result=True)
def submit_order(symbol: str) -> None:
    raise ExchangeUnavailable(f"binance: 503 for {symbol}")


def test_a_worker_error_is_stored_categorized_and_read_through_the_logs_api():
    from tests.genesis_site.test_deadletter import Flaky, flaky_send

    structlog.contextvars.bind_contextvars(correlation_id="req-7f3a")
    # as in a worker: Celery handles the failure (logs it, sends task_failure) instead of raising
    submit_order.apply(args=["BTC/USDT"], throw=False)
    with pytest.raises(Flaky):  # as in the embedded scheduler: the eager error propagates
        flaky_send.apply(args=["desk"], kwargs={"attempts_to_fail": 99})
    try:
        raise ExchangeUnavailable("binance: 503 from POST /api/v3/order")
    except ExchangeUnavailable:
        logger.exception("order submission failed")
    structlog.contextvars.clear_contextvars()
    assert errorlog_flush()

    rows = admin_api().get("/api/v1/logs", {"level": "error"}).json()
    exchange = next(r for r in rows if r["logger"] == "trading.services.live_orders")
    assert exchange["message"] == "order submission failed: binance: 503 from POST /api/v3/order"
    assert (exchange["category"], exchange["severity"], exchange["level"]) == ("exchange", "error", "error")
    assert exchange["error"] == "trading.exceptions.ExchangeUnavailable"
    assert exchange["correlation_id"] == "req-7f3a" and exchange["hint"] and exchange["process"]
    worker = [r for r in rows if r["logger"] == "task:tests.submit_order"]
    assert [(r["category"], r["correlation_id"]) for r in worker] == [("exchange", "req-7f3a")]  # Celery's line
    eager = [r for r in rows if r["logger"] == "task:tests.flaky_send"]
    assert [(r["message"], r["category"]) for r in eager] == [("task dead-lettered: desk: peer reset", "network")]
    assert FailedTask.objects.filter(task_name__in=["tests.submit_order", "tests.flaky_send"]).count() == 2


def test_an_error_logged_inside_a_transaction_that_rolls_back_is_kept():
    with pytest.raises(RuntimeError), transaction.atomic():
        Heartbeat.objects.create(name="doomed", beat_at=timezone.now())
        logger.error("logged, then the transaction rolled back")
        raise RuntimeError("roll back")
    assert errorlog_flush()
    assert not Heartbeat.objects.filter(name="doomed").exists()
    assert ErrorEvent.objects.filter(message="logged, then the transaction rolled back").count() == 1


def test_warnings_stay_in_the_process_and_levels_filter():
    logger.warning("slow fill")
    logger.critical("breaker stuck open")
    assert errorlog_flush()
    assert list(ErrorEvent.objects.values_list("level", "severity")) == [("critical", "critical")]
    api = admin_api()
    assert [r["message"] for r in api.get("/api/v1/logs", {"level": "critical"}).json()] == ["breaker stuck open"]
    warnings = [r["message"] for r in api.get("/api/v1/logs").json()]
    assert warnings.index("breaker stuck open") < warnings.index("slow fill")  # newest first
    assert api.get("/api/v1/logs", {"level": "debug"}).status_code == 400


def test_only_admins_and_risk_managers_read_the_logs():
    client = APIClient()
    client.force_login(UserFactory(role="viewer"))
    assert client.get("/api/v1/logs").status_code == 403


def test_the_writer_is_off_when_disabled(settings):
    settings.GENESIS_ERROR_LOG_DB = False
    logger.error("not stored")
    assert errorlog_flush()
    assert not ErrorEvent.objects.exists()


def test_repeats_of_one_error_are_throttled_and_counted_on_the_next_row(settings):
    settings.GENESIS_ERROR_LOG_THROTTLE_SECONDS = 60
    for n in range(5):
        logger.error("tick failed %s", n)
    other = logging.getLogger("risk.alerts")
    other.error("webhook refused")  # another source: its own window
    assert errorlog_flush()
    assert list(ErrorEvent.objects.order_by("pk").values_list("message", "suppressed")) == [
        ("tick failed 0", 0),
        ("webhook refused", 0),
    ]
    settings.GENESIS_ERROR_LOG_THROTTLE_SECONDS = 0  # the window is over
    logger.error("tick failed 5")
    assert errorlog_flush()
    assert ErrorEvent.objects.order_by("pk").values_list("message", "suppressed").last() == ("tick failed 5", 4)
    body = admin_api().get("/api/v1/logs", {"level": "error", "limit": 1}).json()
    assert (body[0]["message"], body[0]["suppressed"]) == ("tick failed 5", 4)
