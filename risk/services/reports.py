"""Risk reports (SPEC R9): the analytics of risk.analytics fed from the database."""

import itertools
from decimal import Decimal
from statistics import median

import numpy as np

from risk import analytics as a
from risk.models import RiskReport
from trading.feeds import TIMEFRAME, ScenarioFeed
from trading.models import Candle, EquitySnapshot, Order, Position, TradingAccount

CENT = Decimal("0.01")
SECONDS_PER_YEAR = 365 * 24 * 3600
MIN_RETURNS = 10


def _money(fraction: float, equity: Decimal) -> str:
    return str((Decimal(f"{fraction:.10f}") * equity).quantize(CENT))


def _equity_figures(equity: list[float], times: list, current: Decimal) -> dict:
    returns = np.diff(np.log(equity))
    step = median((b - a_).total_seconds() for a_, b in itertools.pairwise(times)) or 1.0
    per_year = max(1, int(SECONDS_PER_YEAR / step))
    dd = a.max_drawdown(equity)
    figures = {
        "returns": len(returns),
        "periods_per_year": per_year,
        "max_drawdown": dd.max_drawdown,
        "recovery_periods": dd.recovery_periods,
        "sharpe": a.sharpe(returns, periods_per_year=per_year),
        "sortino": a.sortino(returns, periods_per_year=per_year),
    }
    for level, name in ((0.95, "95"), (0.99, "99")):
        hist, es = a.var_historical(returns, level), a.expected_shortfall(returns, level)
        mc = a.var_monte_carlo(returns, level, seed=0)
        figures |= {
            f"var_historical_{name}": hist,
            f"var_monte_carlo_{name}": mc,
            f"expected_shortfall_{name}": es,
            f"var_historical_{name}_money": _money(hist, current),
            f"var_monte_carlo_{name}_money": _money(mc, current),
            f"expected_shortfall_{name}_money": _money(es, current),
        }
    return figures


def _correlations(account: TradingAccount) -> dict:
    held = list(Position.objects.filter(account=account, quantity__gt=0, dust=False).values_list("symbol", flat=True))
    source = ScenarioFeed(account.scenario, account.scenario_seed).source
    series = {}
    for symbol in held:
        closes = list(
            Candle.objects.filter(source=source, symbol=symbol, timeframe=TIMEFRAME)
            .order_by("-ts")
            .values_list("close", flat=True)[:200]
        )
        if len(closes) >= 3:
            series[symbol] = np.diff(np.log([float(c) for c in reversed(closes)]))
    if len(series) < 2:
        return {s: {s: 1.0} for s in series}
    length = min(len(v) for v in series.values())
    return a.correlation_matrix({s: list(v[-length:]) for s, v in series.items()})


def risk_report_compute(*, account_id: int, trigger: str = "on_demand", window: int = 2000) -> RiskReport:
    """Compute and store the account's risk figures over its last `window` equity snapshots
    and all its exits. With too little history the report says so instead of guessing."""
    account = TradingAccount.objects.get(pk=account_id)
    rows = list(EquitySnapshot.objects.filter(account=account).order_by("-ts").values_list("ts", "equity")[:window])
    rows.reverse()
    pnls = [
        float(p)
        for p in Order.objects.filter(account=account, side="sell", status="filled").values_list(
            "realized_pnl", flat=True
        )
    ]
    figures: dict = {
        "trades": len(pnls),
        "win_rate": a.win_rate(pnls),
        "profit_factor": a.profit_factor(pnls),
        "correlation": _correlations(account),
    }
    if len(rows) > MIN_RETURNS:
        figures |= _equity_figures([float(e) for _, e in rows], [t for t, _ in rows], rows[-1][1])
    else:
        figures["insufficient_data"] = f"{len(rows)} equity snapshots; at least {MIN_RETURNS + 1} are needed"
    if figures["profit_factor"] == float("inf"):
        figures["profit_factor"] = None  # no losing trade yet: JSON has no infinity
    if figures.get("sortino") == float("inf"):
        figures["sortino"] = None
    return RiskReport.objects.create(account=account, trigger=trigger, figures=figures)
