"""Variants of a strategy side by side on the paper exchange (SPEC T2), and the replay speed
of SPEC §9 (candles per second per strategy).

Each variant trades its own paper book over the same candles of the same feed, with the
paper exchange's slippage, fees and limits and the engine's position arithmetic. The
comparison reports return, Sharpe, maximum drawdown and, against the first variant, a
significance test on per-trade returns: Welch's t and a bootstrap p-value (Efron and
Tibshirani's test of equal means, both samples shifted to the pooled mean), seeded so that
a report can be reproduced.
"""

import math
from dataclasses import dataclass, field
from decimal import Decimal
from statistics import median

import numpy as np

from risk.guards import tick_rejection
from trading.exceptions import OrderRejected
from trading.exchanges.paper import PaperExchange
from trading.feeds import Feed
from trading.markets import market_get
from trading.positions import PositionState, cash_delta, position_apply_fill
from trading.strategies import strategy_load

MINUTES_PER_YEAR = 525_600
BOOTSTRAP_SAMPLES = 4_000
GUARD_DEVIATION_PCT = Decimal("20")


@dataclass
class BacktestResult:
    name: str
    params: dict
    candles: int
    final_equity: Decimal
    total_return_pct: float
    sharpe: float  # annualized from per-candle equity returns (one-minute candles)
    max_drawdown_pct: float
    fees: Decimal
    trade_returns: list[float] = field(default_factory=list)  # per closed trade, net of fees

    @property
    def trades(self) -> int:
        return len(self.trade_returns)


@dataclass(frozen=True)
class Significance:
    versus: str
    mean_difference: float  # of per-trade returns, this variant minus the baseline
    welch_t: float | None
    welch_df: float | None
    p_value: float | None  # two-sided, bootstrap
    note: str = ""


def _trade_ok(feed: Feed, symbol: str, index: int, recent: np.ndarray):
    """The candle to trade at `index`, or None if the feed has none or the market data
    guards would reject it (the engine's rule: never trade on a bad tick)."""
    candle = feed.candle(symbol, index)
    if candle is None or len(recent) < 2:
        return None
    reason = tick_rejection(
        close=candle.close,
        ts=candle.ts,
        expected_ts=feed.ts_of(index),
        previous_ts=feed.ts_of(index - 1),
        # The median of the previous closes, taken in float: one Decimal instead of twenty.
        recent_closes=[Decimal(f"{median(recent[-21:-1].tolist()):.8f}")],
        max_deviation_pct=GUARD_DEVIATION_PCT,
        stale_seconds=0,
    )
    return None if reason else candle


def _unaffordable(market, spend: Decimal, close: float) -> bool:
    """Whether a buy of `spend` at about `close` is sure to be below the market's minimum
    amount, so the paper exchange would reject it (a run where the price has outgrown the
    balance). Estimated in float and halved against its rounding: a buy that could fill is
    never skipped."""
    return close > 0 and float(spend) / close < float(market.min_amount) / 2


def _paper_trade(exchange, market, side, state, cash, budget, last):
    """One market order on the paper exchange: (new state, cash change, fee, trade return
    if it closed a position), or None if the exchange rejected it."""
    if side == "buy":
        price = exchange.quote_price(market=market, side="buy", last_price=last)
        amount = market.floor_amount(cash * budget / price)
    else:
        amount = state.quantity
    try:
        fill = exchange.execute_market(market=market, side=side, amount=amount, last_price=last, available_quote=cash)
    except OrderRejected:
        return None
    after = position_apply_fill(state, side=side, amount=fill.amount, price=fill.price, fee=fill.fee)
    trade_return = None
    if side == "sell":
        trade_return = float((after.realized_pnl - state.realized_pnl) / (state.quantity * state.average_cost))
    return after, cash_delta(side=side, amount=fill.amount, price=fill.price, fee=fill.fee), fill.fee, trade_return


def backtest(
    *,
    feed: Feed,
    symbol: str,
    kind: str,
    params: dict,
    start: int,
    candles: int,
    name: str = "",
    balance: Decimal = Decimal("10000"),
    budget: Decimal = Decimal("0.5"),
    exchange: PaperExchange | None = None,
) -> BacktestResult:
    """Run one strategy over `candles` candles from index `start`, all in memory. Entries
    use `budget` of equity; exits sell the whole position. Money stays Decimal; the equity
    curve used for the statistics is float."""
    runner, market, exchange = strategy_load(kind, params), market_get(symbol), exchange or PaperExchange()
    history = max(runner.warmup, 21)
    series = feed.closes(symbol, end=start + candles - 1, length=candles + history)
    offset = len(series) - candles  # series[offset + n] is the close of candle start + n
    entries, exits = (np.flatnonzero(s[offset:]) for s in runner.signals(series))
    state, cash, fees = PositionState(), balance, Decimal("0")
    closes = series[offset:]
    equity = np.empty(candles)
    trade_returns: list[float] = []
    n = 0
    # Event-driven: jump to the next candle where the strategy would act in the current
    # state (flat: an entry, long: an exit); between events equity is marked vectorized.
    while n < candles:
        events = exits if state.quantity else entries
        k = int(np.searchsorted(events, n))
        at = int(events[k]) if k < len(events) else candles
        equity[n:at] = float(cash) + float(state.quantity) * closes[n:at]
        if at >= candles:
            break
        recent = series[offset + at - 20 : offset + at + 1]
        if not state.quantity and _unaffordable(market, cash * budget, float(closes[at])):
            candle = None  # no buy the exchange would fill: neither candle, guard nor order
        else:
            candle = _trade_ok(feed, symbol, start + at, recent)
        if candle is not None:
            side = "sell" if state.quantity else "buy"
            filled = _paper_trade(exchange, market, side, state, cash, budget, candle.close)
            if filled is not None:
                state, delta, fee, trade_return = filled
                cash, fees = cash + delta, fees + fee
                if trade_return is not None:
                    trade_returns.append(trade_return)
        equity[at] = float(cash) + float(state.quantity) * closes[at]
        n = at + 1
    last = feed.candle(symbol, start + candles - 1)
    mark = last.close if last is not None and last.close.is_finite() and last.close > 0 else state.average_cost
    final = cash + state.quantity * mark
    return BacktestResult(
        name=name or kind,
        params=params,
        candles=candles,
        final_equity=final,
        total_return_pct=float((final - balance) / balance * 100),
        sharpe=_sharpe(equity),
        max_drawdown_pct=float(np.max(1 - equity / np.maximum.accumulate(equity)) * 100) if candles else 0.0,
        fees=fees,
        trade_returns=trade_returns,
    )


def _sharpe(equity: np.ndarray) -> float:
    if len(equity) < 3:
        return 0.0
    returns = np.diff(equity) / equity[:-1]
    deviation = float(np.std(returns, ddof=1))
    return float(np.mean(returns)) / deviation * math.sqrt(MINUTES_PER_YEAR) if deviation > 0 else 0.0


def welch(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Welch's t statistic of mean(a) - mean(b) and its Welch-Satterthwaite degrees of freedom."""
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    if va + vb == 0:
        return (math.inf if np.mean(a) != np.mean(b) else 0.0), float(len(a) + len(b) - 2)
    t = (np.mean(a) - np.mean(b)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if va and vb else len(a) + len(b) - 2
    return float(t), float(df)


def significance(variant: BacktestResult, baseline: BacktestResult, *, seed: int = 0) -> Significance:
    """Is the variant's mean per-trade return different from the baseline's? Two-sided
    bootstrap p-value of Welch's t under the null of equal means."""
    a, b = np.array(variant.trade_returns), np.array(baseline.trade_returns)
    difference = float(a.mean() - b.mean()) if len(a) and len(b) else 0.0
    if len(a) < 2 or len(b) < 2:
        return Significance(baseline.name, difference, None, None, None, "too few trades for a test (need 2 each)")
    t, df = welch(a, b)
    pooled = np.concatenate([a, b]).mean()
    rng = np.random.default_rng(seed)
    sa = rng.choice(a - a.mean() + pooled, size=(BOOTSTRAP_SAMPLES, len(a)))
    sb = rng.choice(b - b.mean() + pooled, size=(BOOTSTRAP_SAMPLES, len(b)))
    spread = np.sqrt(sa.var(axis=1, ddof=1) / len(a) + sb.var(axis=1, ddof=1) / len(b))
    with np.errstate(divide="ignore", invalid="ignore"):
        t_star = (sa.mean(axis=1) - sb.mean(axis=1)) / spread
    t_star = np.nan_to_num(t_star, nan=0.0)
    p = float((np.sum(np.abs(t_star) >= abs(t)) + 1) / (BOOTSTRAP_SAMPLES + 1))
    return Significance(baseline.name, difference, t, df, p)


@dataclass
class Comparison:
    symbol: str
    start: int
    candles: int
    results: list[BacktestResult]
    tests: list[Significance]  # one per variant after the first, against the first

    def as_rows(self) -> list[dict]:
        tests = {t_i + 1: t for t_i, t in enumerate(self.tests)}
        rows = []
        for i, r in enumerate(self.results):
            test = tests.get(i)
            rows.append(
                {
                    "variant": r.name,
                    "params": r.params,
                    "trades": r.trades,
                    "final_equity": r.final_equity.quantize(Decimal("0.01")),
                    "return_pct": round(r.total_return_pct, 2),
                    "sharpe": round(r.sharpe, 2),
                    "max_drawdown_pct": round(r.max_drawdown_pct, 2),
                    "fees": r.fees.quantize(Decimal("0.01")),
                    "vs": test.versus if test else "",
                    "mean_trade_diff": round(test.mean_difference, 6) if test else None,
                    "welch_t": None if not test or test.welch_t is None else round(test.welch_t, 3),
                    "p_value": None if not test or test.p_value is None else round(test.p_value, 4),
                    "note": test.note if test else "baseline",
                }
            )
        return rows


def variants_compare(
    *, feed: Feed, symbol: str, kind: str, variants: dict[str, dict], start: int, candles: int, seed: int = 0
) -> Comparison:
    """Run every variant over the same candles; the first is the baseline of the tests.
    A bad parameter in any variant is refused (StrategyConfigInvalid naming the field)
    before anything runs."""
    for params in variants.values():
        strategy_load(kind, params)
    results = [
        backtest(feed=feed, symbol=symbol, kind=kind, params=params, start=start, candles=candles, name=name)
        for name, params in variants.items()
    ]
    tests = [significance(r, results[0], seed=seed) for r in results[1:]]
    return Comparison(symbol=symbol, start=start, candles=candles, results=results, tests=tests)
