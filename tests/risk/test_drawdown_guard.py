"""SPEC R6: the kill switch engages by itself on a drawdown from the *peak* equity."""

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from compliance.models import AuditEvent
from risk.models import Alert
from tests.risk.factories import active_policy
from tests.trading.factories import StrategyFactory, TradingAccountFactory
from trading.models import EquitySnapshot, Order, StopLevel
from trading.services.engine import engine_tick

pytestmark = pytest.mark.django_db


def account_at(cash: str, peak: str | None):
    account = TradingAccountFactory(cash_balance=Decimal(cash), peak_equity=Decimal(peak) if peak else None)
    StrategyFactory(account=account)
    active_policy(account)  # max drawdown 10 %
    return account


def test_a_drawdown_from_the_peak_halts_even_above_the_starting_balance():
    account = account_at(cash="103000", peak="115000")  # +3 % on the start, -10.43 % from the peak
    engine_tick(account_id=account.pk)
    account.refresh_from_db()
    assert account.stop_level == StopLevel.HALT
    assert account.stop_reason.startswith("automatic: drawdown 10.43 % from peak 115000.00")
    event = AuditEvent.objects.get(action="stop.halt")
    assert event.actor == "drawdown_guard"
    for _ in range(60):
        engine_tick(account_id=account.pk)
    assert not Order.objects.exists()


def test_just_inside_the_limit_keeps_trading_and_the_peak_ratchets_up():
    account = account_at(cash="103000", peak="114400")  # -9.97 % from the peak
    engine_tick(account_id=account.pk)
    account.refresh_from_db()
    assert account.stop_level == StopLevel.NONE and account.peak_equity == Decimal("114400")
    rising = account_at(cash="100000", peak=None)
    engine_tick(account_id=rising.pk)
    rising.refresh_from_db()
    assert rising.peak_equity == Decimal("100000")


def test_a_breached_daily_stop_refuses_entries_for_the_day():
    account = account_at(cash="106000", peak="110000")  # -3.64 % today, -3.64 % from peak
    day_start = datetime.combine(timezone.now().date(), time.min, tzinfo=timezone.now().tzinfo)
    EquitySnapshot.objects.create(
        account=account,
        ts=day_start - timedelta(minutes=1),
        equity=Decimal("110000"),
        cash=Decimal("110000"),
        positions_value=0,
        realized_pnl=0,
        unrealized_pnl=0,
    )
    for _ in range(80):
        engine_tick(account_id=account.pk)
    assert not Order.objects.exists()
    refusal = AuditEvent.objects.filter(action="risk.refused").first()
    assert refusal.payload["rule"] == "daily_stop"
    assert "P&L today -3.64 % breaches the daily stop -3 %" in refusal.payload["message"]
    alert = Alert.objects.get(account=account, type="daily_stop")
    assert alert.count >= 1 and alert.severity == "warning"
