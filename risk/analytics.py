"""Risk analytics (SPEC R9): pure functions over return series and equity curves.

Returns are fractional per period (0.01 = +1 %). Statistics are ratios computed in float64;
anything expressed in money is converted to Decimal by the caller at the edge. VaR and
expected shortfall are reported as positive loss fractions.
"""

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

STANDARD_NORMAL = NormalDist()


def _series(returns) -> np.ndarray:
    r = np.asarray(returns, dtype=float)
    if r.ndim != 1 or r.size < 2 or not np.isfinite(r).all():
        raise ValueError("returns must be a finite 1-D series of at least two values")
    return r


def var_historical(returns, confidence: float) -> float:
    """Loss not exceeded with `confidence`: minus the (1 - confidence) empirical quantile."""
    return float(-np.quantile(_series(returns), 1 - confidence, method="lower"))


def expected_shortfall(returns, confidence: float) -> float:
    """Mean loss in the tail at and beyond the historical VaR."""
    r = _series(returns)
    cutoff = np.quantile(r, 1 - confidence, method="lower")
    return float(-r[r <= cutoff].mean())


def var_parametric(mean: float, stdev: float, confidence: float) -> float:
    """Gaussian VaR: -(mean + z(1 - confidence) * stdev)."""
    return -(mean + STANDARD_NORMAL.inv_cdf(1 - confidence) * stdev)


def expected_shortfall_parametric(mean: float, stdev: float, confidence: float) -> float:
    z = STANDARD_NORMAL.inv_cdf(1 - confidence)
    return -mean + stdev * STANDARD_NORMAL.pdf(z) / (1 - confidence)


def var_monte_carlo(returns, confidence: float, *, simulations: int = 100_000, seed: int = 0) -> float:
    """VaR of returns simulated from a normal fitted to `returns`; the seed makes it reproducible."""
    r = _series(returns)
    rng = np.random.Generator(np.random.PCG64(seed))
    simulated = rng.normal(r.mean(), r.std(ddof=1), simulations)
    return float(-np.quantile(simulated, 1 - confidence))


@dataclass(frozen=True)
class Drawdown:
    max_drawdown: float  # fraction of the peak, 0.25 = -25 %
    peak_index: int
    trough_index: int
    recovery_index: int | None  # first index back at or above the peak; None if not yet
    recovery_periods: int | None


def max_drawdown(equity) -> Drawdown:
    """Deepest fall from a running peak, and how long it took to get back to that peak."""
    e = np.asarray(equity, dtype=float)
    if e.size == 0 or (e <= 0).any():
        raise ValueError("equity must be a non-empty series of positive values")
    peaks = np.maximum.accumulate(e)
    depth = (peaks - e) / peaks
    trough = int(depth.argmax())
    if depth[trough] == 0:
        return Drawdown(0.0, 0, 0, 0, 0)
    peak = int(np.flatnonzero(e[: trough + 1] == peaks[trough])[0])
    after = np.flatnonzero(e[trough:] >= e[peak])
    recovery = int(trough + after[0]) if after.size else None
    return Drawdown(float(depth[trough]), peak, trough, recovery, recovery - trough if recovery is not None else None)


def sharpe(returns, *, periods_per_year: int, risk_free: float = 0.0) -> float:
    r = _series(returns) - risk_free / periods_per_year
    stdev = r.std(ddof=1)
    return float(r.mean() / stdev * np.sqrt(periods_per_year)) if stdev > 0 else 0.0


def sortino(returns, *, periods_per_year: int, target: float = 0.0) -> float:
    r = _series(returns) - target
    downside = np.sqrt(np.mean(np.minimum(r, 0.0) ** 2))
    return float(r.mean() / downside * np.sqrt(periods_per_year)) if downside > 0 else float("inf")


def win_rate(trade_pnls) -> float:
    p = np.asarray(trade_pnls, dtype=float)
    return float((p > 0).sum() / p.size) if p.size else 0.0


def profit_factor(trade_pnls) -> float:
    p = np.asarray(trade_pnls, dtype=float)
    gains, losses = p[p > 0].sum(), -p[p < 0].sum()
    if losses == 0:
        return float("inf") if gains > 0 else 0.0
    return float(gains / losses)


def correlation_matrix(returns_by_asset: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """Pearson correlations of the held assets' return series (aligned, same length)."""
    names = sorted(returns_by_asset)
    if len(names) < 2:
        return {n: {n: 1.0} for n in names}
    matrix = np.corrcoef(np.vstack([_series(returns_by_asset[n]) for n in names]))
    return {a: {b: float(matrix[i, j]) for j, b in enumerate(names)} for i, a in enumerate(names)}
