"""The engine-tick error budget (SPEC M7): outcomes counted per account and hour, the budget
and burn rates computed from them exactly, shown on the system page, the API and /metrics."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from genesis_site.errorbudget import budget_remaining, burn_rate, error_budget, error_budget_export, tick_outcome_record
from genesis_site.models import TickOutcome
from tests.genesis_site.factories import UserFactory
from tests.risk.factories import active_policy
from tests.trading.factories import StrategyFactory, TradingAccountFactory
from trading.models import TradingAccount
from trading.services.engine import engine_tick

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)
D = Decimal


def record(account, *, ok: int = 0, failed: int = 0, at=NOW) -> None:
    TickOutcome.objects.update_or_create(
        account=account, hour=at.replace(minute=0, second=0, microsecond=0), defaults={"ok": ok, "failed": failed}
    )


def test_one_failed_tick_in_2000_is_99_95_percent_with_half_the_budget_left():
    account = TradingAccountFactory()
    record(account, ok=1999, failed=1, at=NOW - timedelta(days=3))
    budget = error_budget(now=NOW)
    assert (budget.ticks, budget.failed) == (2000, 1)
    assert budget.success_ratio == D("0.9995")
    assert budget.remaining == D("0.5")  # 2 failures allowed (0.1 % of 2000), 1 spent
    assert [(b.hours, b.ticks, b.rate) for b in budget.burn] == [(1, 0, None), (6, 0, None)]


def test_burn_rates_are_the_failure_rate_over_the_allowed_rate_per_window():
    account = TradingAccountFactory()
    record(account, ok=990, failed=10, at=NOW)  # this hour: 1 % failing = 10x the allowed 0.1 %
    record(account, ok=4000, failed=0, at=NOW - timedelta(hours=3))
    record(account, ok=5000, failed=0, at=NOW - timedelta(hours=6))  # outside the 6 h window
    budget = error_budget(now=NOW)
    one, six = budget.burn
    assert (one.ticks, one.failed, one.rate) == (1000, 10, D("10"))
    assert (six.ticks, six.failed, six.rate) == (5000, 10, D("2"))  # 0.2 % failing
    assert budget.success_ratio == D("9990") / D("10000")
    assert budget.remaining == D("0")  # 10 allowed in 10,000 ticks, 10 spent


def test_the_window_is_30_days_of_hour_rows_and_overspending_goes_negative():
    account = TradingAccountFactory()
    record(account, ok=1000, failed=3, at=NOW - timedelta(days=29, hours=23))  # the oldest hour inside
    record(account, ok=10**6, failed=10**6, at=NOW - timedelta(days=30))  # one hour too old
    budget = error_budget(now=NOW)
    assert (budget.ticks, budget.failed) == (1003, 3)
    assert budget.remaining == 1 - D(3) / (D(1003) * D("0.001"))
    assert budget.remaining < 0


def test_accounts_are_summed_or_taken_alone():
    first, second = TradingAccountFactory(), TradingAccountFactory()
    record(first, ok=500, failed=0)
    record(second, ok=499, failed=1)
    assert error_budget(now=NOW).ticks == 1000
    assert error_budget(now=NOW, account_id=first.pk).failed == 0
    assert error_budget(now=NOW, account_id=second.pk).success_ratio == D("0.998")


def test_without_ticks_the_budget_is_whole_and_the_ratio_unknown():
    budget = error_budget(now=NOW)
    assert (budget.ticks, budget.success_ratio, budget.remaining) == (0, None, D(1))


@given(ticks=st.integers(1, 10**7), data=st.data())
def test_remaining_and_burn_agree_over_the_whole_window(ticks, data):
    # Over the SLO window itself, burning at rate r leaves 1 - r of the budget.
    failed = data.draw(st.integers(0, ticks))
    slo = D("0.999")
    assert budget_remaining(ticks=ticks, failed=failed, slo=slo) == 1 - burn_rate(ticks=ticks, failed=failed, slo=slo)


def test_outcomes_are_upserted_per_account_and_hour():
    account = TradingAccountFactory()
    for ok in (True, True, False):
        tick_outcome_record(account_id=account.pk, ok=ok, at=NOW)
    tick_outcome_record(account_id=account.pk, ok=True, at=NOW + timedelta(hours=1))
    rows = list(TickOutcome.objects.order_by("hour").values_list("ok", "failed"))
    assert rows == [(2, 1), (1, 0)]


def test_a_failed_tick_is_counted_although_its_transaction_rolled_back():
    account = TradingAccountFactory()
    StrategyFactory(account=account)
    active_policy(account)
    assert engine_tick(account_id=account.pk) is not None
    TradingAccount.objects.filter(pk=account.pk).update(scenario="no-such-scenario")
    cursor = TradingAccount.objects.get(pk=account.pk).feed_cursor
    with pytest.raises(ValueError, match="unknown scenario"):
        engine_tick(account_id=account.pk)
    assert TradingAccount.objects.get(pk=account.pk).feed_cursor == cursor  # the tick rolled back
    assert list(TickOutcome.objects.filter(account=account).values_list("ok", "failed")) == [(1, 1)]


def test_the_budget_is_on_the_system_page_the_api_and_metrics():
    account = TradingAccountFactory()
    user = UserFactory(role="viewer")
    account.members.add(user)
    record(account, ok=1999, failed=1, at=datetime.now(UTC))
    client = Client()
    client.force_login(user)
    body = client.get(f"/accounts/{account.pk}/system/").content.decode()
    assert "99.95 % of 2000 ticks ok (1 failed)" in body
    assert "50 % left" in body
    assert "0.5×" in body  # this hour's burn rate

    api = APIClient()
    api.force_login(user)
    data = api.get("/api/v1/error-budget", {"account": account.pk}).json()
    assert (data["slo"], data["success_ratio"], data["budget_remaining"]) == ("0.999", "0.9995", "0.5")
    assert data["burn_rates"][0] == {"window_hours": 1, "ticks": 2000, "failed": 1, "burn_rate": "0.5"}
    assert api.get("/api/v1/error-budget", {"account": "x"}).status_code == 400

    error_budget_export()
    assert REGISTRY.get_sample_value("trader_error_budget_remaining_ratio") == 0.5
    assert REGISTRY.get_sample_value("trader_error_budget_burn_rate", {"window": "1h"}) == 0.5
