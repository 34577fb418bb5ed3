"""SPEC T2: the built-in strategies' signals on constructed price paths, and their
schema-validated parameters (a bad one is refused naming the field)."""

from decimal import Decimal

import numpy as np
import pytest

from tests.risk.factories import unpaced_policy
from tests.trading.factories import StrategyFactory, TradingAccountFactory
from trading.feeds import ScenarioFeed
from trading.models import Order
from trading.services.engine import engine_tick
from trading.strategies import REGISTRY, StrategyConfigInvalid, strategy_load
from trading.strategies.mean_reversion import rsi

FLAT = np.full(30, 100.0)


def test_the_registry_holds_the_three_built_ins_and_each_loads_with_its_defaults():
    assert set(REGISTRY) == {"ma_crossover", "mean_reversion", "breakout"}
    for kind in REGISTRY:
        assert strategy_load(kind, {}).warmup > 0


@pytest.mark.parametrize(
    ("kind", "params", "field"),
    [
        ("mean_reversion", {"period": 2}, "period"),
        ("mean_reversion", {"rsi_oversold": 70}, "rsi_oversold"),
        ("breakout", {"entry_period": 5, "exit_period": 10}, "exit_period (10) must not exceed entry_period (5)"),
        ("breakout", {"lookback": 3}, "lookback"),
        ("ma_crossover", {"fast": 30, "slow": 20}, "fast (30) must be smaller than slow (20)"),
    ],
)
def test_a_bad_parameter_is_refused_naming_the_field(kind, params, field):
    with pytest.raises(StrategyConfigInvalid, match=field.replace("(", r"\(").replace(")", r"\)")):
        strategy_load(kind, params)


def test_rsi_by_hand():
    assert rsi(np.array([1.0, 2.0, 3.0]), 2) == 100.0
    # changes +2, -1: average gain 1.0, average loss 0.5 -> RS 2 -> RSI 66.67
    assert rsi(np.array([10.0, 12.0, 11.0]), 2) == pytest.approx(66.6667, abs=1e-3)


def test_mean_reversion_buys_a_sharp_oversold_dip_and_exits_at_the_middle_band():
    s = strategy_load("mean_reversion", {"period": 20, "rsi_period": 5})
    dip = np.concatenate([FLAT, [99.0, 97.0, 95.0, 92.0]])
    buy = s.decide(symbol="X", closes=dip, position_qty=Decimal("0"))
    assert buy.side == "buy" and "below lower band" in buy.reason
    assert s.decide(symbol="X", closes=FLAT, position_qty=Decimal("0")) is None  # nothing to revert
    recovered = np.concatenate([dip, [101.0]])
    assert s.decide(symbol="X", closes=recovered, position_qty=Decimal("1")).side == "sell"


def test_breakout_enters_above_the_channel_and_exits_below_the_exit_channel():
    s = strategy_load("breakout", {"entry_period": 10, "exit_period": 5})
    assert s.decide(symbol="X", closes=np.append(FLAT, 100.5), position_qty=Decimal("0")).side == "buy"
    assert s.decide(symbol="X", closes=np.append(FLAT, 100.0), position_qty=Decimal("0")) is None  # no new high
    assert s.decide(symbol="X", closes=np.append(FLAT, 99.5), position_qty=Decimal("1")).side == "sell"
    assert s.decide(symbol="X", closes=FLAT[:5], position_qty=Decimal("0")) is None  # still warming up


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["mean_reversion", "breakout"])
def test_each_new_strategy_trades_through_the_engine(kind):
    account = TradingAccountFactory(scenario="sideways")
    StrategyFactory(account=account, kind=kind, params={})
    unpaced_policy(account)
    for _ in range(400):
        engine_tick(account_id=account.pk)
    assert Order.objects.filter(account=account, strategy__kind=kind, status="filled").exists()


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("ma_crossover", {"fast": 5, "slow": 20}),
        ("ma_crossover", {"fast": 3, "slow": 8, "entry_threshold": 0}),
        ("mean_reversion", {}),
        ("mean_reversion", {"period": 10, "band_stdevs": 1.0, "rsi_period": 5}),
        ("breakout", {}),
        ("breakout", {"entry_period": 5, "exit_period": 5}),
    ],
)
@pytest.mark.parametrize("scenario", ["sideways", "high_volatility", "bull"])
def test_vectorized_signals_agree_with_decide_on_every_candle(kind, params, scenario):
    """The backtester uses `signals`, the engine `decide`: they must never disagree."""
    from decimal import Decimal

    from trading.feeds import ScenarioFeed
    from trading.strategies import strategy_load

    closes = ScenarioFeed(scenario, 3).closes("BTC/USDT", end=1500, length=1501)
    runner = strategy_load(kind, params)
    entries, exits = runner.signals(closes)
    for i in range(len(closes)):
        window = closes[: i + 1]
        assert (runner.decide(symbol="X", closes=window, position_qty=Decimal(0)) is not None) == entries[i], i
        assert (runner.decide(symbol="X", closes=window, position_qty=Decimal(1)) is not None) == exits[i], i
    assert entries.any() and exits.any()


def test_a_backtest_skips_only_buys_the_exchange_would_reject(monkeypatch):
    """Past the point where the bull scenario's price outgrows the balance, every entry is
    below the minimum amount; skipping those attempts changes nothing in the result."""
    import trading.backtest as bt

    feed = ScenarioFeed("bull", 1)
    skipped = []

    def counted(market, spend, close):
        answer = unaffordable(market, spend, close)
        skipped.append(answer)
        return answer

    unaffordable = bt._unaffordable
    monkeypatch.setattr(bt, "_unaffordable", counted)
    fast = bt.backtest(feed=feed, symbol="BTC/USDT", kind="ma_crossover", params={}, start=300, candles=100_000)
    assert any(skipped) and not all(skipped)
    monkeypatch.setattr(bt, "_unaffordable", lambda market, spend, close: False)
    slow = bt.backtest(feed=feed, symbol="BTC/USDT", kind="ma_crossover", params={}, start=300, candles=100_000)
    assert (fast.final_equity, fast.trades, fast.fees, fast.trade_returns) == (
        slow.final_equity,
        slow.trades,
        slow.fees,
        slow.trade_returns,
    )
    assert fast.sharpe == slow.sharpe and fast.max_drawdown_pct == slow.max_drawdown_pct
