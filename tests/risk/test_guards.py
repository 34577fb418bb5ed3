"""SPEC R7 and §10: bad ticks are rejected, counted and never traded on."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from risk.guards import tick_rejection
from tests.risk.factories import unpaced_policy
from tests.trading.factories import StrategyFactory, TradingAccountFactory
from trading.feeds import BAD_TICK_KINDS, EPOCH, STEP, bad_tick_kind
from trading.models import Candle, Fill
from trading.services.engine import engine_tick

D = Decimal
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
RECENT = [D("100"), D("101"), D("99"), D("100"), D("102")]


def check(close="100", ts=NOW, previous=NOW - timedelta(minutes=1)):
    return tick_rejection(
        close=D(close),
        ts=ts,
        expected_ts=NOW,
        previous_ts=previous,
        recent_closes=RECENT,
        max_deviation_pct=D("20"),
        stale_seconds=60,
    )


@pytest.mark.parametrize(
    ("kwargs", "kind"),
    [
        ({"close": "NaN"}, "nan"),
        ({"close": "0"}, "non_positive"),
        ({"close": "-1"}, "non_positive"),
        ({"close": "120.01"}, "outlier"),
        ({"close": "79.99"}, "outlier"),
        ({"ts": NOW - timedelta(seconds=61)}, "stale"),
        ({"ts": NOW - timedelta(minutes=1)}, "out_of_order"),
    ],
)
def test_each_kind_of_bad_tick_is_rejected_with_its_reason(kwargs, kind):
    assert check(**kwargs).split(":")[0] == kind


def test_good_ticks_at_the_limits_pass():
    assert check(close="120") is None and check(close="80") is None
    assert check(ts=NOW - timedelta(seconds=59), previous=NOW - timedelta(seconds=60)) is None


def test_the_outlier_reason_names_the_numbers():
    assert check(close="150") == "outlier: close 150 is 50.0 % from the rolling median 100, max 20 %"


@pytest.mark.django_db
def test_on_the_bad_ticks_scenario_no_order_is_ever_placed_on_a_bad_tick():
    account = TradingAccountFactory(scenario="bad_ticks", symbols=["BTC/USDT", "ETH/USDT"])
    StrategyFactory(account=account, params={"fast": 2, "slow": 4, "entry_threshold": 0})
    unpaced_policy(account)
    seen, orders = set(), 0
    for _ in range(350):
        result = engine_tick(account_id=account.pk)
        seen |= {reason.split(":")[0] for reason in result.rejected_ticks.values()}
        assert not {o.symbol for o in result.orders} & set(result.rejected_ticks)
        orders += len(result.orders)
    assert orders > 10  # the strategy traded on the good ticks around the bad ones
    assert seen == {"nan", "non_positive", "outlier", "stale", "out_of_order"}
    cursor = account.feed_cursor
    bad = [i for i in range(cursor + 1, cursor + 351) if bad_tick_kind("bad_ticks", i)]
    assert {bad_tick_kind("bad_ticks", i) for i in bad} == set(BAD_TICK_KINDS)
    stored = set(Candle.objects.filter(ts__in=[EPOCH + STEP * i for i in bad]).values_list("ts", flat=True))
    assert not stored  # rejected ticks are never stored as market data
    for fill in Fill.objects.all():
        assert fill.price.is_finite() and fill.price > 0
