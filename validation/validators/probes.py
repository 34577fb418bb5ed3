"""Validators that measure the running engine through probes in a scratch database:
stability (TECH-003), performance (PERF-001), load (PERF-002), paper trading (BIZ-001)."""

from risk.selectors import config_version_active
from validation.probe import ProbeFailed, probe_run
from validation.validators import register
from validation.validators.base import BaseValidator, Context, Result, load_note, machine_load, verdict


def _policy(ctx: Context) -> str | None:
    """The policy under validation: the account's active version, else the default profile."""
    if ctx.account_id is None:
        return None
    version = config_version_active(account_id=ctx.account_id)
    return version.content if version else None


class ProbeValidator(BaseValidator):
    parallel_safe = False  # each measures timings and memory of its own child process
    probe: str

    def params(self, ctx: Context) -> dict:
        raise NotImplementedError

    def judge(self, ctx: Context, figures: dict) -> Result:
        raise NotImplementedError

    def measure(self, ctx: Context) -> Result:
        try:
            figures = probe_run(self.probe, params=self.params(ctx), timeout=ctx.mode.budget_seconds * 2)
        except ProbeFailed as exc:
            return Result("failed", str(exc), {})
        load = machine_load()
        result = self.judge(ctx, figures)
        result.evidence["machine_load"] = load
        result.details += load_note(load)
        return result


@register
class StabilityValidator(ProbeValidator):
    name = "stability"
    check_id = "TECH-003"
    group = "stability"
    description = "Soak: crashes, RSS growth and latency drift of the engine over a scenario"
    probe = "soak"

    def params(self, ctx):
        return {"scenario": ctx.criteria.stability.scenario, "ticks": ctx.mode.ticks, "policy": _policy(ctx)}

    def judge(self, ctx, f):
        s, t = ctx.criteria.stability, ctx.criteria.thresholds
        problems, warnings = [], []
        if f["error_rate_pct"] > t.error_rate_pct:
            problems.append(
                f"{f['errors']} of {f['ticks']} ticks crashed ({f['error_rate_pct']} %): {f['error_messages'][:2]}"
            )
        if f["rss_end_mb"] > min(s.rss_max_mb, t.memory_mb):
            problems.append(f"RSS {f['rss_end_mb']} MB exceeds {min(s.rss_max_mb, t.memory_mb):g} MB")
        if f["rss_growth_pct"] > s.rss_growth_pct:
            problems.append(f"RSS grew {f['rss_growth_pct']} % over the soak (limit {s.rss_growth_pct:g} %)")
        if f["latency_drift_pct"] > s.latency_drift_pct:
            problems.append(f"tick p95 drifted {f['latency_drift_pct']} % (limit {s.latency_drift_pct:g} %)")
        if f["cpu_pct"] > t.cpu_pct:
            warnings.append(f"soak CPU {f['cpu_pct']} % above {t.cpu_pct:g} % (a soak runs flat out)")
        rss = f"RSS {f['rss_start_mb']}→{f['rss_end_mb']} MB"
        ok = f"{f['ticks']} ticks, 0 crashes, {rss}, drift {f['latency_drift_pct']} %"
        return verdict(problems, warnings, ok, {"figures": f})


@register
class PerformanceValidator(ProbeValidator):
    name = "performance"
    check_id = "PERF-001"
    group = "performance"
    description = "Engine tick and API p99 latency against the thresholds"
    probe = "performance"

    def params(self, ctx):
        return {"samples": ctx.mode.samples, "policy": _policy(ctx)}

    def judge(self, ctx, f):
        limit = ctx.criteria.thresholds.latency_p99_ms
        problems = []
        if f["tick_p99_ms"] > limit:
            problems.append(f"engine tick p99 {f['tick_p99_ms']} ms exceeds {limit:g} ms")
        if f["api_status_p99_ms"] > limit:
            problems.append(f"GET /api/v1/status p99 {f['api_status_p99_ms']} ms exceeds {limit:g} ms")
        if set(f["api_statuses"]) != {"200"}:
            problems.append(f"GET /api/v1/status answered {f['api_statuses']}")
        if f["tick_errors"]:
            problems.append(f"{f['tick_errors']} ticks crashed")
        ok = f"tick p99 {f['tick_p99_ms']} ms, API p99 {f['api_status_p99_ms']} ms (limit {limit:g} ms)"
        return verdict(problems, [], ok, {"figures": f})


@register
class LoadValidator(ProbeValidator):
    name = "load"
    check_id = "PERF-002"
    group = "performance"
    description = "Sustained paper orders per second, persisted with audit, against the throughput threshold"
    probe = "load"

    def params(self, ctx):
        return {"orders": ctx.mode.samples * 4}

    def judge(self, ctx, f):
        t = ctx.criteria.thresholds
        problems = []
        if f["orders_per_second"] < t.throughput_ops_per_s:
            problems.append(f"{f['orders_per_second']} orders/s, below {t.throughput_ops_per_s:g}/s")
        if f["error_rate_pct"] > t.error_rate_pct:
            problems.append(f"{f['failures']} of {f['orders']} orders failed")
        ok = f"{f['orders_per_second']} orders/s sustained over {f['orders']} orders, p99 {f['order_p99_ms']} ms"
        return verdict(problems, [], ok, {"figures": f})


@register
class PaperTradingValidator(ProbeValidator):
    name = "paper_trading"
    check_id = "BIZ-001"
    group = "trading"
    description = "Scenario suite on paper: profit, max drawdown and Sharpe against targets"
    probe = "paper_trading"

    def params(self, ctx):
        return {"scenarios": ctx.criteria.paper_trading.scenarios, "ticks": ctx.mode.ticks, "policy": _policy(ctx)}

    def judge(self, ctx, f):
        """Each scenario ran with the policy as configured, its pacing applied on the candle
        clock; the details give every scenario's figures, so a failure says why in numbers."""
        c = ctx.criteria.paper_trading
        problems = []
        total = round(sum(s["return_pct"] for s in f["scenarios"].values()), 4)
        for name, s in f["scenarios"].items():
            if s["errors"]:
                problems.append(f"{name}: {s['errors']} ticks crashed: {s['error_messages'][:1]}")
            if s["max_drawdown_pct"] > c.max_drawdown_pct:
                problems.append(f"{name}: drawdown {s['max_drawdown_pct']} % beyond the limit {c.max_drawdown_pct:g} %")
            if s["sharpe"] < c.min_sharpe:
                problems.append(f"{name}: Sharpe {s['sharpe']} below {c.min_sharpe:g}")
        if total < c.min_profit_pct:
            problems.append(f"suite return {total} % below the target {c.min_profit_pct:g} %")
        figures = {"suite_return_pct": total, **{f"{n}_return_pct": s["return_pct"] for n, s in f["scenarios"].items()}}
        ok = f"suite return {total} % over {len(f['scenarios'])} scenarios, drawdowns within {c.max_drawdown_pct:g} %"
        evidence = {"figures": figures, "scenarios": f["scenarios"], "ticks": f["ticks"], "clock": f.get("clock")}
        result = verdict(problems, [], ok, evidence)
        result.details += f" [{_scenario_lines(f)}]"
        return result


def _scenario_lines(f: dict) -> str:
    """One line per scenario: its figures, orders and the gate's most frequent refusals."""
    lines = []
    for name, s in f["scenarios"].items():
        refused = ", ".join(f"{rule} {n}" for rule, n in list(s.get("refusals", {}).items())[:3]) or "none"
        lines.append(
            f"{name}: return {s['return_pct']} %, drawdown {s['max_drawdown_pct']} %, Sharpe {s['sharpe']}, "
            f"{s['orders']} orders, refused: {refused}"
        )
    clock = "candle clock, pacing as configured" if f.get("clock") == "candle" else "wall clock"
    return f"{f['ticks']} ticks per scenario on the {clock}; " + "; ".join(lines)
