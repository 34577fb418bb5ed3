"""Probe validators measure the engine in a scratch database in a child process; the real
figures pass the shipped criteria and fail stricter ones."""

import pytest

from risk.policy import default_policy_yaml
from tests.risk.factories import active_policy, unpaced_policy
from tests.trading.factories import TradingAccountFactory
from tests.validation.conftest import make_ctx, with_mode
from validation.validators import REGISTRY

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def _small(loaded, **sections):
    return with_mode(make_ctx(loaded, **sections), ticks=30, samples=20)


def test_stability_soak_measures_rss_and_drift_and_fails_a_tighter_memory_limit(loaded):
    validator = REGISTRY["stability"]()
    result = validator.run(_small(loaded))
    f = result.evidence["figures"]
    assert f["ticks"] == 30 and f["errors"] == 0 and f["rss_end_mb"] > 10
    strict = validator.judge(_small(loaded, stability={"rss_max_mb": 1}), f)
    assert strict.status == "failed" and f"RSS {f['rss_end_mb']} MB exceeds 1 MB" in strict.details


def test_performance_measures_tick_and_api_p99_and_fails_a_tighter_limit(loaded):
    validator = REGISTRY["performance"]()
    result = validator.run(_small(loaded))
    f = result.evidence["figures"]
    # Latency on this shared machine is what it is; the API must answer and figures exist.
    assert "answered" not in result.details and "crashed" not in result.details
    assert f["api_statuses"] == {"200": 20} and f["tick_p99_ms"] > 0 and f["api_status_p99_ms"] > 0
    strict = validator.judge(_small(loaded, thresholds={"latency_p99_ms": 0.001}), f)
    assert strict.status == "failed" and "engine tick p99" in strict.details


def test_load_measures_orders_per_second(loaded):
    validator = REGISTRY["load"]()
    result = validator.run(_small(loaded))
    f = result.evidence["figures"]
    assert f["orders"] == 80 and f["failures"] == 0 and f["orders_per_second"] > 0
    strict = validator.judge(_small(loaded, thresholds={"throughput_ops_per_s": 1e9}), f)
    assert strict.status == "failed" and "orders/s, below" in strict.details


def test_paper_trading_runs_the_suite_with_the_policys_pacing_on_the_candle_clock(loaded):
    validator = REGISTRY["paper_trading"]()
    ctx = with_mode(make_ctx(loaded, paper_trading={"scenarios": ["bull", "crash"]}), ticks=60)
    result = validator.run(ctx)
    scenarios = result.evidence["scenarios"]
    assert result.evidence["clock"] == "candle" and "pacing as configured" in result.details
    assert set(scenarios) == {"bull", "crash"} and all(s["errors"] == 0 for s in scenarios.values())
    for name, s in scenarios.items():
        # 60 simulated minutes at 5 trades an hour: at most 5 entries and their exits (the
        # unpaced probe placed dozens), and the pacing rules refused the rest.
        assert 0 < s["orders"] <= 10, (name, s)
        paced = {"max_trades_per_hour", "min_seconds_between_trades", "min_seconds_per_symbol"}
        assert paced & set(s["refusals"]), (name, s["refusals"])
        assert f"{name}: return {s['return_pct']} %, drawdown {s['max_drawdown_pct']} %" in result.details


def test_paper_trading_judges_the_accounts_policy_passing_a_safe_one_and_failing_a_churning_one(loaded):
    validator = REGISTRY["paper_trading"]()
    sections = {"paper_trading": {"scenarios": ["bull", "crash"], "min_sharpe": 0.0}}
    safe = TradingAccountFactory()  # enters nothing the probe trades: no fee, no loss
    active_policy(safe, content=default_policy_yaml() + "symbols_allow: [SOL/USDT]\n")
    passed = validator.run(with_mode(make_ctx(loaded, account_id=safe.pk, **sections), ticks=40))
    assert passed.status == "passed", passed.details
    for s in passed.evidence["scenarios"].values():
        assert s["orders"] == 0 and s["return_pct"] == 0.0 and set(s["refusals"]) == {"symbol_not_allowed"}
    churning = TradingAccountFactory()  # pacing lifted: every signal trades and pays its fees
    unpaced_policy(churning)
    failed = validator.run(with_mode(make_ctx(loaded, account_id=churning.pk, **sections), ticks=40))
    assert failed.status == "failed"
    # The right reason: dozens of orders whose fees bleed every scenario (seeded, so stable).
    for name, s in failed.evidence["scenarios"].items():
        assert s["orders"] > 20 and s["return_pct"] < 0 and not s["refusals"], (name, s)
        assert f"{name}: Sharpe {s['sharpe']} below 0" in failed.details
    suite = failed.evidence["figures"]["suite_return_pct"]
    assert f"suite return {suite} % below the target 0 %" in failed.details


def test_paper_trading_failure_names_the_scenario_and_its_numbers(loaded):
    validator = REGISTRY["paper_trading"]()
    good = {"return_pct": 1.5, "max_drawdown_pct": 2.0, "sharpe": 0.8, "errors": 0, "error_messages": []}
    bad = {"return_pct": -9.5, "max_drawdown_pct": 12.25, "sharpe": -2.5, "errors": 0, "error_messages": []}
    figures = {
        "ticks": 400,
        "clock": "candle",
        "scenarios": {
            "bull": good | {"orders": 14, "refusals": {"max_trades_per_day": 300}},
            "crash": bad | {"orders": 16, "refusals": {"max_drawdown": 40, "daily_stop": 12}},
        },
    }
    result = validator.judge(make_ctx(loaded), figures)
    assert result.status == "failed"
    problems = result.details.split(" [")[0]
    assert problems == (
        "crash: drawdown 12.25 % beyond the limit 10 %; crash: Sharpe -2.5 below -1; "
        "suite return -8.0 % below the target 0 %"
    )
    assert "crash: return -9.5 %, drawdown 12.25 %, Sharpe -2.5, 16 orders, refused: max_drawdown 40" in result.details
    figures["scenarios"]["crash"] = good | {"orders": 9, "refusals": {}}
    passed = validator.judge(make_ctx(loaded), figures)
    assert passed.status == "passed" and passed.details.startswith("suite return 3.0 % over 2 scenarios")
