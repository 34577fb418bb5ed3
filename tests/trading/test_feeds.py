"""SPEC T1: every scenario has the property that defines it, whatever the seed."""

from decimal import Decimal

import numpy as np
import pytest

from trading.feeds import BAD_TICK_KINDS, SCENARIOS, ScenarioFeed, UnknownScenario, bad_tick_kind, in_outage

SEEDS = (1, 7, 42, 2024)
SYMBOLS = ("BTC/USDT", "SOL/USDT")


def path(scenario: str, seed: int, symbol: str = "BTC/USDT", length: int = 30_000) -> np.ndarray:
    return ScenarioFeed(scenario, seed).closes(symbol, end=length - 1, length=length)


def max_drawdown(closes: np.ndarray) -> float:
    return float(np.max(1 - closes / np.maximum.accumulate(closes)))


def test_every_scenario_of_the_spec_exists():
    expected = {"bull", "bear", "sideways", "high_volatility", "crash", "flash_crash", "low_liquidity"}
    assert expected | {"bad_ticks", "outage"} == set(SCENARIOS)


def test_the_same_seed_gives_the_same_candles_and_another_seed_does_not():
    a, b, c = ScenarioFeed("bull", 1), ScenarioFeed("bull", 1), ScenarioFeed("bull", 2)
    assert [a.candle("BTC/USDT", i) for i in range(50)] == [b.candle("BTC/USDT", i) for i in range(50)]
    assert a.candle("BTC/USDT", 10) != c.candle("BTC/USDT", 10)


def test_an_unknown_scenario_is_refused_with_the_known_ones():
    with pytest.raises(UnknownScenario, match="known: bad_ticks, bear, bull"):
        ScenarioFeed("moon", 1)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("symbol", SYMBOLS)
def test_bull_trends_up(seed, symbol):
    closes = path("bull", seed, symbol, length=5_000)
    assert closes[-1] > closes[0] * 1.5


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("symbol", SYMBOLS)
def test_bear_falls_at_least_80_percent_peak_to_trough(seed, symbol):
    assert max_drawdown(path("bear", seed, symbol, length=21_000)) >= 0.80


@pytest.mark.parametrize("seed", SEEDS)
def test_sideways_stays_within_ten_percent_of_its_start(seed):
    closes = path("sideways", seed, length=100_000)
    assert np.all(np.abs(closes / closes[0] - 1) < 0.10)


@pytest.mark.parametrize("seed", SEEDS)
def test_high_volatility_moves_at_least_four_times_as_much_as_bull(seed):
    def stdev(name):
        return float(np.std(np.diff(np.log(path(name, seed, length=5_000)))))

    assert stdev("high_volatility") >= 4 * stdev("bull")


@pytest.mark.parametrize("seed", SEEDS)
def test_crash_loses_half_within_one_hour_of_candles(seed):
    closes = path("crash", seed, length=1_000)
    # The largest fall from any close to the lowest of the next 60 one-minute candles.
    windows = np.lib.stride_tricks.sliding_window_view(closes, 61)
    worst = float(np.max(1 - windows.min(axis=1) / windows[:, 0]))
    assert worst >= 0.50


@pytest.mark.parametrize("seed", SEEDS)
def test_flash_crash_falls_hard_then_recovers(seed):
    spec = SCENARIOS["flash_crash"]
    closes = path("flash_crash", seed, length=1_000)
    before = closes[spec.crash_at - 1]
    bottom = closes[spec.crash_at : spec.crash_at + spec.crash_candles].min()
    after = closes[spec.crash_at + spec.crash_candles + spec.recover_candles]
    assert bottom <= before * 0.75
    assert abs(after / before - 1) < 0.02


@pytest.mark.parametrize("seed", SEEDS)
def test_low_liquidity_has_wide_spreads_and_thin_volume(seed):
    thin, normal = ScenarioFeed("low_liquidity", seed), ScenarioFeed("bull", seed)
    for i in range(1, 200, 17):
        ticker, usual = thin.ticker("BTC/USDT", i), normal.ticker("BTC/USDT", i)
        assert ticker.spread_bps >= 100 and usual.spread_bps <= 5
        assert ticker.bid < ticker.last < ticker.ask
        assert ticker.quote_volume * 20 < usual.quote_volume


def test_bad_ticks_cover_every_kind_and_each_is_bad():
    feed = ScenarioFeed("bad_ticks", 7)
    seen = set()
    for i in range(1, 400):
        kind = bad_tick_kind("bad_ticks", i)
        candle = feed.candle("BTC/USDT", i)
        if kind is None:
            assert candle.close > 0 and candle.ts == feed.ts_of(i)
            continue
        seen.add(kind)
        clean = Decimal(f"{feed.closes('BTC/USDT', end=i, length=1)[0]:.2f}")
        checks = {  # lambdas: comparing a NaN close would raise
            "nan": lambda: candle.close.is_nan(),
            "zero": lambda: candle.close == 0,
            "negative": lambda: candle.close < 0,
            "spike_up": lambda: candle.close >= clean * Decimal("1.45"),
            "spike_down": lambda: candle.close <= clean * Decimal("0.55"),
            "out_of_order": lambda: candle.ts <= feed.ts_of(i - 1),
            "stale": lambda: candle.ts <= feed.ts_of(i - 100),
        }
        assert checks[kind](), (i, kind, candle)
    assert seen == set(BAD_TICK_KINDS)


def test_outage_has_gaps_of_consecutive_missing_candles_and_data_around_them():
    feed, spec = ScenarioFeed("outage", 3), SCENARIOS["outage"]
    present = [feed.candle("BTC/USDT", i) is not None for i in range(2 * spec.outage_every)]
    gaps = [i for i, ok in enumerate(present) if not ok]
    assert len(gaps) == 2 * spec.outage_candles
    first = gaps[: spec.outage_candles]
    assert first == list(range(first[0], first[0] + spec.outage_candles))
    assert present[first[0] - 1] and present[first[-1] + 1]
    assert all(in_outage("outage", i) for i in gaps) and feed.ticker("BTC/USDT", gaps[0]) is None


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_candles_are_well_formed_on_the_market_tick(scenario):
    feed = ScenarioFeed(scenario, 5)
    for i in range(1, 300, 13):
        candle = feed.candle("ETH/USDT", i)
        if candle is None or bad_tick_kind(scenario, i):
            continue
        assert candle.low <= min(candle.open, candle.close) <= max(candle.open, candle.close) <= candle.high
        assert candle.close == candle.close.quantize(Decimal("0.01")) and candle.volume > 0
