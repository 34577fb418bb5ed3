"""SPEC T2: strategy lifecycle services, feature flag, risk budget, universe, variants."""

import json
from decimal import Decimal

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from compliance.models import AuditEvent
from compliance.services import Actor
from risk.models import Alert
from risk.services.stops import StopRefused, trading_pause_entries
from tests.risk.factories import unpaced_policy
from tests.trading.factories import StrategyFactory, TradingAccountFactory
from trading.backtest import BacktestResult, significance, variants_compare
from trading.feeds import ScenarioFeed
from trading.models import Order, Strategy, StrategyState
from trading.selectors import strategy_variants_compare
from trading.services.engine import engine_tick
from trading.services.strategies import (
    StrategyChangeRefused,
    strategy_budget_set,
    strategy_create,
    strategy_disable,
    strategy_enable,
    strategy_flag_set,
    strategy_params_set,
    universe_set,
)
from trading.strategies import StrategyConfigInvalid

pytestmark = pytest.mark.django_db
OPS = Actor("user", "ops")
FAST = {"fast": 3, "slow": 8, "entry_threshold": 0}


def account_with_policy(**kwargs):
    account = TradingAccountFactory(**kwargs)
    unpaced_policy(account)
    return account


def run(account, ticks=60):
    for _ in range(ticks):
        engine_tick(account_id=account.pk)


def test_a_strategy_with_a_bad_parameter_is_refused_naming_the_field_and_nothing_is_created():
    account = account_with_policy()
    with pytest.raises(StrategyConfigInvalid, match="ma_crossover: slow: Input should be greater than or equal to 3"):
        strategy_create(account_id=account.pk, name="x", kind="ma_crossover", params={"slow": 1}, actor=OPS, reason="t")
    with pytest.raises(StrategyConfigInvalid, match=r"fast \(5\) must be smaller than slow \(5\)"):
        strategy_create(
            account_id=account.pk, name="x", kind="ma_crossover", params={"fast": 5, "slow": 5}, actor=OPS, reason="t"
        )
    with pytest.raises(StrategyChangeRefused, match="risk_budget: 2 must be a share"):
        strategy_create(
            account_id=account.pk, name="x", kind="breakout", params={}, risk_budget="2", actor=OPS, reason="t"
        )
    with pytest.raises(StrategyChangeRefused, match="tier: 'boss'"):
        strategy_create(account_id=account.pk, name="x", kind="breakout", params={}, tier="boss", actor=OPS, reason="t")
    assert not Strategy.objects.exists() and not AuditEvent.objects.filter(action="strategy.created").exists()


def test_created_and_changed_strategies_are_audited_with_the_reason():
    account = account_with_policy()
    strategy_create(account_id=account.pk, name="mom", kind="ma_crossover", params=FAST, actor=OPS, reason="launch")
    with pytest.raises(StrategyConfigInvalid, match="entry_threshold"):
        strategy_params_set(account_id=account.pk, name="mom", params={"entry_threshold": 5}, actor=OPS, reason="x")
    strategy_params_set(account_id=account.pk, name="mom", params={"fast": 4, "slow": 9}, actor=OPS, reason="tune")
    strategy_budget_set(account_id=account.pk, name="mom", risk_budget="0.05", actor=OPS, reason="more")
    strategy = Strategy.objects.get(name="mom")
    assert strategy.params == {"fast": 4, "slow": 9} and strategy.risk_budget == Decimal("0.05")
    actions = list(AuditEvent.objects.filter(actor="ops").order_by("sequence").values_list("action", "payload__reason"))
    assert actions == [
        ("strategy.created", "launch"),
        ("strategy.params_set", "tune"),
        ("strategy.budget_set", "more"),
    ]
    with pytest.raises(StrategyChangeRefused, match="reason"):
        strategy_params_set(account_id=account.pk, name="mom", params={}, actor=OPS, reason=" ")


def test_a_disabled_strategy_does_not_run_cannot_be_paused_and_comes_back_enabled():
    account = account_with_policy()
    StrategyFactory(account=account, name="mom", params=FAST)
    strategy_disable(account_id=account.pk, name="mom", actor=OPS, reason="broken")
    run(account)
    assert not Order.objects.exists()
    with pytest.raises(StopRefused):
        trading_pause_entries(account_id=account.pk, actor=OPS, reason="x", strategy="mom")
    with pytest.raises(StrategyChangeRefused, match="is disabled, cannot become disabled"):
        strategy_disable(account_id=account.pk, name="mom", actor=OPS, reason="again")
    strategy_enable(account_id=account.pk, name="mom", actor=OPS, reason="fixed")
    assert Strategy.objects.get(name="mom").state == StrategyState.ACTIVE
    with pytest.raises(StrategyChangeRefused, match="is active, cannot become active"):
        strategy_enable(account_id=account.pk, name="mom", actor=OPS, reason="again")
    run(account)
    assert Order.objects.filter(strategy__name="mom").exists()
    assert AuditEvent.objects.filter(action__in=("strategy.disabled", "strategy.active")).count() == 2


def test_the_feature_flag_off_means_the_engine_does_not_run_the_strategy():
    account = account_with_policy()
    StrategyFactory(account=account, name="off", params=FAST)
    strategy_flag_set(account_id=account.pk, name="off", enabled=False, actor=OPS, reason="dark launch")
    run(account)
    assert not Order.objects.exists()
    strategy_flag_set(account_id=account.pk, name="off", enabled=True, actor=OPS, reason="go")
    run(account)
    assert Order.objects.exists()


def test_the_risk_budget_sizes_entries_and_a_zero_budget_places_none():
    small, large, zero = (account_with_policy() for _ in range(3))
    for account, budget in ((small, "0.01"), (large, "0.02"), (zero, "0")):
        StrategyFactory(account=account, params=FAST, risk_budget=Decimal(budget))
        run(account, 40)
    first = {a: Order.objects.filter(account=a, side="buy").order_by("pk").first() for a in (small, large)}
    ratio = first[large].amount * first[large].average_price / (first[small].amount * first[small].average_price)
    assert Decimal("1.95") < ratio < Decimal("2.05")
    assert not Order.objects.filter(account=zero).exists()


def test_an_empty_universe_raises_an_alert_and_blocks_entries():
    account = account_with_policy(scenario="low_liquidity", symbols=["BTC/USDT", "ETH/USDT"])
    StrategyFactory(account=account, params=FAST)
    universe_set(
        account_id=account.pk,
        members={"BTC/USDT": "hunter", "ETH/USDT": "hunter"},
        min_quote_volume="100000",
        max_spread_bps="50",
        actor=OPS,
        reason="liquid only",
    )
    run(account)
    assert not Order.objects.exists()
    alert = Alert.objects.get(account=account, type="empty_universe")
    assert "spread" in alert.details["excluded"]["BTC/USDT"]


def test_the_universe_lets_a_strategy_enter_only_symbols_of_its_tier():
    account = account_with_policy(symbols=["BTC/USDT", "ETH/USDT"])
    StrategyFactory(account=account, params=FAST, tier="hunter")
    universe_set(
        account_id=account.pk,
        members={"BTC/USDT": "hunter", "ETH/USDT": "sniper"},
        min_quote_volume="0",
        max_spread_bps="50",
        actor=OPS,
        reason="tiers",
    )
    run(account)
    assert set(Order.objects.values_list("symbol", flat=True)) == {"BTC/USDT"}
    assert not Alert.objects.filter(type="empty_universe").exists()


def test_a_bad_universe_is_refused_naming_what_is_wrong():
    account = account_with_policy()
    for members, volume, spread, message in (
        ({"FOO/USDT": "hunter"}, "0", "50", "members: unknown market"),
        ({"ETH/USDT": "hunter"}, "0", "50", "members: ETH/USDT is not traded"),
        ({"BTC/USDT": "boss"}, "0", "50", "members: tier 'boss'"),
        ({"BTC/USDT": "hunter"}, "-1", "50", "min_quote_volume"),
        ({"BTC/USDT": "hunter"}, "0", "abc", "not a number"),
    ):
        with pytest.raises(StrategyChangeRefused, match=message):
            universe_set(
                account_id=account.pk,
                members=members,
                min_quote_volume=volume,
                max_spread_bps=spread,
                actor=OPS,
                reason="x",
            )


def result(name, returns):
    return BacktestResult(name, {}, 100, Decimal("1"), 0.0, 0.0, 0.0, Decimal("0"), list(returns))


def test_the_significance_test_separates_a_real_difference_from_noise():
    rng = np.random.default_rng(1)
    base = result("base", rng.normal(0.000, 0.01, 200))
    better = result("better", rng.normal(0.004, 0.01, 200))
    same = result("same", rng.normal(0.000, 0.01, 200))
    assert significance(better, base).p_value < 0.01
    assert significance(same, base).p_value > 0.05
    assert significance(result("few", [0.1]), base).note.startswith("too few trades")


def test_variants_side_by_side_report_return_sharpe_drawdown_and_the_test():
    feed = ScenarioFeed("sideways", 3)
    report = variants_compare(
        feed=feed,
        symbol="BTC/USDT",
        kind="ma_crossover",
        variants={"base": {"fast": 5, "slow": 20}, "twin": {"fast": 5, "slow": 20}, "slow": {"fast": 10, "slow": 60}},
        start=100,
        candles=5_000,
    )
    base, twin, slow = report.results
    assert base.trades > 10 and base.final_equity == twin.final_equity
    assert report.tests[0].mean_difference == 0 and report.tests[0].p_value > 0.9
    assert slow.trades < base.trades and 0 <= slow.max_drawdown_pct <= 100
    row = report.as_rows()[2]
    assert {"return_pct", "sharpe", "max_drawdown_pct", "p_value", "welch_t"} <= set(row) and row["vs"] == "base"


def test_the_compare_command_runs_variants_of_an_account_strategy_and_refuses_bad_ones(capsys):
    account = TradingAccountFactory(scenario="sideways", feed_cursor=3_000)
    StrategyFactory(account=account, name="mom", params={"fast": 5, "slow": 20})
    call_command(
        "strategy_compare", account.name, "mom", "--variant", 'slow40={"slow": 40}', "--candles", "2000", "--json"
    )
    rows = json.loads(capsys.readouterr().out)
    assert [r["variant"] for r in rows] == ["mom", "slow40"] and rows[1]["params"] == {"fast": 5, "slow": 40}
    with pytest.raises(CommandError, match="slow: Input should be greater than or equal to 3"):
        call_command("strategy_compare", account.name, "mom", "--variant", 'bad={"slow": 1}')
    with pytest.raises(CommandError, match="invalid JSON"):
        call_command("strategy_compare", account.name, "mom", "--variant", "bad={slow")
    with pytest.raises(CommandError, match="no strategy 'nope'"):
        call_command("strategy_compare", account.name, "nope")
    assert strategy_variants_compare(account_id=account.pk, strategy="mom", overrides={}, candles=50).candles == 50
