"""Conditions the risk layer detects raise their alerts (SPEC R4-R8)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from compliance.services import Actor
from genesis_site.models import Heartbeat
from risk.models import Alert
from risk.services import breaker_record, trading_halt
from risk.watchdog import watchdog_check
from tests.risk.factories import active_policy, unpaced_policy
from tests.trading.factories import OrderFactory, StrategyFactory, TradingAccountFactory
from trading.services.engine import engine_tick

pytestmark = pytest.mark.django_db


def alerts(account):
    return list(Alert.objects.filter(account=account).values_list("type", "count"))


def test_the_kill_switch_raises_a_critical_alert_linked_to_its_runbook():
    account = TradingAccountFactory()
    trading_halt(account_id=account.pk, actor=Actor("user", "ops"), reason="exchange incident")
    alert = Alert.objects.get(account=account)
    assert (alert.type, alert.severity) == ("kill_switch", "critical")
    assert "halt by ops: exchange incident" in alert.message


def test_a_breaker_trip_raises_an_alert():
    account = TradingAccountFactory()
    active_policy(account)
    for _ in range(5):
        breaker_record(account_id=account.pk, source="consecutive_api_errors", ok=False)
    assert alerts(account) == [("breaker_trip", 1)]


def test_rejected_ticks_raise_a_deduplicated_bad_tick_alert():
    account = TradingAccountFactory(scenario="bad_ticks")
    unpaced_policy(account)
    for _ in range(14):  # two bad candles (indexes 66 and 73) within the dedup window
        engine_tick(account_id=account.pk)
    assert alerts(account) == [("bad_tick", 2)]


def test_the_watchdog_raises_engine_silent():
    account = TradingAccountFactory(last_tick_at=timezone.now() - timedelta(minutes=5))
    OrderFactory(account=account, status="submitted")
    Heartbeat.objects.create(name="worker:w1", beat_at=timezone.now() - timedelta(minutes=5))
    watchdog_check()
    assert alerts(account) == [("engine_silent", 2)]  # orders cancelled, then the account is silent


def test_the_automatic_halt_raises_the_kill_switch_alert():
    account = TradingAccountFactory(cash_balance=103000, peak_equity=115000)
    StrategyFactory(account=account)
    active_policy(account)
    engine_tick(account_id=account.pk)
    assert ("kill_switch", 1) in alerts(account)
