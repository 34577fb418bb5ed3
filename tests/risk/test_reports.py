"""SPEC R9: risk reports computed from the database, on demand and on a schedule."""

import json

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from risk import analytics as a
from risk.models import RiskReport
from risk.services.reports import risk_report_compute
from risk.tasks import risk_reports_compute_task
from tests.risk.factories import unpaced_policy
from tests.trading.factories import StrategyFactory, TradingAccountFactory
from trading.models import EquitySnapshot
from trading.services.engine import engine_tick

pytestmark = pytest.mark.django_db


@pytest.fixture
def traded_account():
    account = TradingAccountFactory(name="acct", scenario="sideways", symbols=["BTC/USDT", "ETH/USDT"])
    StrategyFactory(account=account)
    unpaced_policy(account)
    for _ in range(300):
        engine_tick(account_id=account.pk)
    return account


def test_the_report_matches_the_analytics_of_the_stored_equity_curve(traded_account):
    figures = risk_report_compute(account_id=traded_account.pk).figures
    equity = [
        float(e)
        for e in EquitySnapshot.objects.filter(account=traded_account).order_by("ts").values_list("equity", flat=True)
    ]
    assert figures["max_drawdown"] == pytest.approx(a.max_drawdown(equity).max_drawdown)
    returns = np.diff(np.log(equity))  # the report uses log returns of the snapshots
    assert figures["var_historical_95"] == pytest.approx(a.var_historical(returns, 0.95))
    assert figures["var_historical_99"] >= figures["var_historical_95"]
    assert figures["expected_shortfall_95"] >= figures["var_historical_95"]
    assert figures["trades"] > 0 and 0 <= figures["win_rate"] <= 1
    assert set(figures["correlation"]) <= {"BTC/USDT", "ETH/USDT"}


def test_too_little_history_is_said_not_guessed():
    account = TradingAccountFactory()
    figures = risk_report_compute(account_id=account.pk).figures
    assert figures["insufficient_data"] == "0 equity snapshots; at least 11 are needed"
    assert "var_historical_95" not in figures


def test_the_schedule_and_the_command_store_reports(traded_account, capsys):
    risk_reports_compute_task.delay()
    assert RiskReport.objects.get(trigger="schedule").account == traded_account
    call_command("risk_report", "--account", "acct")
    printed = json.loads(capsys.readouterr().out)
    assert printed == RiskReport.objects.get(trigger="on_demand").figures
    with pytest.raises(CommandError, match="unknown account"):
        call_command("risk_report", "--account", "nope")
