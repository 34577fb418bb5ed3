"""Probe validators measure the engine in a scratch database in a child process; the real
figures pass the shipped criteria and fail stricter ones."""

import pytest

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


def test_paper_trading_runs_the_scenario_suite_and_fails_an_unreachable_target(loaded):
    validator = REGISTRY["paper_trading"]()
    ctx = _small(loaded, paper_trading={"scenarios": ["bull", "crash"]})
    result = validator.run(ctx)
    scenarios = result.evidence["scenarios"]
    assert set(scenarios) == {"bull", "crash"} and all(s["errors"] == 0 for s in scenarios.values())
    strict = validator.judge(
        _small(loaded, paper_trading={"min_profit_pct": 1000}), {"ticks": 30, "scenarios": scenarios}
    )
    assert strict.status == "failed" and "below the target 1000 %" in strict.details
