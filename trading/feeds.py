"""Market data feeds. The scenario feed is seeded and reproducible: the same scenario, seed,
symbol and index always give the same candle, in every process (SPEC T1)."""

import zlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

import numpy as np

from trading.markets import market_get

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
TIMEFRAME = "1m"
STEP = timedelta(minutes=1)
SCENARIO_LENGTH = 200_000
START_PRICES = {"BTC/USDT": 60_000.0, "ETH/USDT": 3_000.0, "SOL/USDT": 150.0}


@dataclass(frozen=True)
class Candle:
    ts: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@dataclass(frozen=True)
class Scenario:
    drift: float  # mean log return per candle
    volatility: float  # stdev of log return per candle
    crash_at: int | None = None  # candle where a crash starts
    crash_candles: int = 60
    crash_factor: float = 1.0  # price multiple over the crash (0.5 = -50 %)


SCENARIOS: dict[str, Scenario] = {
    "bull": Scenario(drift=0.0003, volatility=0.0015),
    # Sideways prices with a bad tick every 7th candle, cycling through every kind of SPEC T1.
    "bad_ticks": Scenario(drift=0.0, volatility=0.0015),
    "sideways": Scenario(drift=0.0, volatility=0.0015),
    # −50 % in one hour (60 one-minute candles), after a calm start.
    "crash": Scenario(drift=0.0001, volatility=0.0015, crash_at=240, crash_factor=0.5),
}


BAD_TICK_KINDS = ("nan", "zero", "negative", "spike_up", "spike_down", "out_of_order", "stale")


def bad_tick_kind(scenario: str, index: int) -> str | None:
    """The kind of bad tick the scenario injects at `index`, if any. Only the candle is bad:
    the clean path (what strategies see as history) is untouched."""
    if scenario != "bad_ticks" or index % 7 != 3:
        return None
    return BAD_TICK_KINDS[(index // 7) % len(BAD_TICK_KINDS)]


class UnknownScenario(ValueError):
    pass


def _seed_for(seed: int, symbol: str) -> int:
    # zlib.crc32, not hash(): hash() is salted per process and would break reproducibility.
    return (seed << 32) ^ zlib.crc32(symbol.encode())


@lru_cache(maxsize=32)
def _log_returns(scenario: str, seed: int, symbol: str) -> np.ndarray:
    spec = SCENARIOS[scenario]
    rng = np.random.Generator(np.random.PCG64(_seed_for(seed, symbol)))
    returns = rng.normal(spec.drift, spec.volatility, SCENARIO_LENGTH + 1)
    if spec.crash_at is not None:
        end = spec.crash_at + spec.crash_candles
        returns[spec.crash_at : end] = np.log(spec.crash_factor) / spec.crash_candles + rng.normal(
            0, spec.volatility / 2, spec.crash_candles
        )
    return returns


@lru_cache(maxsize=32)
def _closes(scenario: str, seed: int, symbol: str) -> np.ndarray:
    start = START_PRICES.get(symbol, 100.0)
    return start * np.exp(np.cumsum(_log_returns(scenario, seed, symbol)))


class ScenarioFeed:
    """One candle per index; index i is at EPOCH + i minutes. Indexes past the scenario's
    length wrap around (a demo left running for days replays the path)."""

    def __init__(self, scenario: str, seed: int):
        if scenario not in SCENARIOS:
            raise UnknownScenario(f"unknown scenario {scenario!r}; known: {', '.join(sorted(SCENARIOS))}")
        self.scenario, self.seed = scenario, seed
        self.source = f"scenario:{scenario}:{seed}"

    def closes(self, symbol: str, *, end: int, length: int) -> np.ndarray:
        """Closing prices of the `length` candles up to and including index `end` (floats,
        for signal maths only; money uses the Decimal candle)."""
        end = end % SCENARIO_LENGTH
        return _closes(self.scenario, self.seed, symbol)[max(0, end - length + 1) : end + 1]

    def candle(self, symbol: str, index: int) -> Candle:
        market = market_get(symbol)
        closes = _closes(self.scenario, self.seed, symbol)
        i = index % SCENARIO_LENGTH
        close = float(closes[i])
        open_ = float(closes[i - 1]) if i > 0 else close
        wiggle = abs(float(_log_returns(self.scenario, self.seed, symbol)[i + 1])) / 2

        def price(x: float, *, up: bool) -> Decimal:
            return market.round_price(Decimal(f"{x:.8f}"), up=up)

        candle = Candle(
            ts=EPOCH + STEP * index,
            open=price(open_, up=False),
            high=price(max(open_, close) * (1 + wiggle), up=True),
            low=price(min(open_, close) * (1 - wiggle), up=False),
            close=price(close, up=False),
            volume=Decimal(f"{1000 * (1 + wiggle * 100):.4f}"),
        )
        return _corrupt(candle, bad_tick_kind(self.scenario, index))


def _corrupt(candle: Candle, kind: str | None) -> Candle:
    if kind is None:
        return candle
    bad_close = {
        "nan": Decimal("NaN"),
        "zero": Decimal("0"),
        "negative": -candle.close,
        "spike_up": candle.close * Decimal("1.5"),
        "spike_down": candle.close * Decimal("0.5"),
    }
    if kind in bad_close:
        return replace(candle, close=bad_close[kind])
    # out_of_order repeats the previous candle's time; stale is from long ago.
    shift = STEP if kind == "out_of_order" else STEP * 1000
    return replace(candle, ts=candle.ts - shift)
