"""Market data feeds. The scenario feed is seeded and reproducible: the same scenario, seed,
symbol and index always give the same candle, in every process (SPEC T1)."""

import zlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Protocol

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
class Ticker:
    ts: datetime
    bid: Decimal
    ask: Decimal
    last: Decimal
    base_volume: Decimal

    @property
    def spread_bps(self) -> Decimal:
        mid = (self.bid + self.ask) / 2
        return (self.ask - self.bid) / mid * 10_000 if mid > 0 else Decimal("Infinity")

    @property
    def quote_volume(self) -> Decimal:
        return self.base_volume * self.last


@dataclass(frozen=True)
class Scenario:
    drift: float  # mean log return per candle
    volatility: float  # stdev of log return per candle
    crash_at: int | None = None  # candle where a crash (or a long bear leg) starts
    crash_candles: int = 60
    crash_factor: float = 1.0  # price multiple over the crash (0.5 = -50 %)
    recover_candles: int = 0  # a flash crash climbs back to its start over these candles
    mean_reversion: float = 0.0  # pull of the log price back to the start, per candle
    spread_bps: float = 2.0  # bid/ask spread of the ticker
    volume_scale: float = 1.0
    outage_every: int = 0  # one outage (no data at all) per this many candles
    outage_candles: int = 0


SCENARIOS: dict[str, Scenario] = {
    "bull": Scenario(drift=0.0003, volatility=0.0015),
    # -85 % over two weeks of one-minute candles after a short calm start: peak to trough
    # always exceeds the spec's -80 %, whatever the seed.
    "bear": Scenario(drift=-0.00002, volatility=0.0015, crash_at=120, crash_candles=20_000, crash_factor=0.15),
    # Sideways prices with a bad tick every 7th candle, cycling through every kind of SPEC T1.
    "bad_ticks": Scenario(drift=0.0, volatility=0.0015),
    # An Ornstein-Uhlenbeck log price: it wanders around its start and always comes back.
    "sideways": Scenario(drift=0.0, volatility=0.0015, mean_reversion=0.01),
    "high_volatility": Scenario(drift=0.0, volatility=0.008, spread_bps=10.0, volume_scale=3.0),
    # −51 % in one hour (60 one-minute candles), after a calm start: at least the spec's −50 %.
    "crash": Scenario(drift=0.0001, volatility=0.0015, crash_at=240, crash_candles=60, crash_factor=0.49),
    # −30 % in five minutes, back to the pre-crash price within the following half hour.
    "flash_crash": Scenario(
        drift=0.0, volatility=0.0015, crash_at=240, crash_candles=5, crash_factor=0.7, recover_candles=30
    ),
    # Wide spreads and thin volume: the universe's filters should drop every symbol.
    "low_liquidity": Scenario(drift=0.0, volatility=0.002, spread_bps=150.0, volume_scale=0.01),
    # The exchange goes dark for 15 minutes every 4 hours: the feed returns no candle.
    "outage": Scenario(drift=0.0001, volatility=0.0015, outage_every=240, outage_candles=15),
}


BAD_TICK_KINDS = ("nan", "zero", "negative", "spike_up", "spike_down", "out_of_order", "stale")


def bad_tick_kind(scenario: str, index: int) -> str | None:
    """The kind of bad tick the scenario injects at `index`, if any. Only the candle is bad:
    the clean path (what strategies see as history) is untouched."""
    if scenario != "bad_ticks" or index % 7 != 3:
        return None
    return BAD_TICK_KINDS[(index // 7) % len(BAD_TICK_KINDS)]


def in_outage(scenario: str, index: int) -> bool:
    """Whether the exchange is down (no data at all) at `index` in this scenario."""
    spec = SCENARIOS[scenario]
    return bool(spec.outage_every) and index % spec.outage_every >= spec.outage_every - spec.outage_candles


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
    if spec.mean_reversion:
        returns = _mean_reverting(returns, spec.mean_reversion)
    if spec.crash_at is not None:
        _force_move(returns, rng, spec, start=spec.crash_at, candles=spec.crash_candles, factor=spec.crash_factor)
    if spec.recover_candles:
        start = spec.crash_at + spec.crash_candles
        _force_move(returns, rng, spec, start=start, candles=spec.recover_candles, factor=1 / spec.crash_factor)
    return returns


def _mean_reverting(shocks: np.ndarray, pull: float) -> np.ndarray:
    """Log returns of an Ornstein-Uhlenbeck path driven by `shocks`, starting at zero."""
    path = np.empty_like(shocks)
    level = 0.0
    for i, shock in enumerate(shocks.tolist()):
        level = level * (1 - pull) + shock
        path[i] = level
    return np.diff(path, prepend=0.0)


def _force_move(returns: np.ndarray, rng, spec: Scenario, *, start: int, candles: int, factor: float) -> None:
    """Make the price move by exactly `factor` over `candles` from `start`, with a little
    noise on the way (centred, so it cannot weaken the move)."""
    noise = rng.normal(0, spec.volatility / 2, candles)
    returns[start : start + candles] = np.log(factor) / candles + noise - noise.mean()


@lru_cache(maxsize=32)
def _closes(scenario: str, seed: int, symbol: str) -> np.ndarray:
    start = START_PRICES.get(symbol, 100.0)
    return start * np.exp(np.cumsum(_log_returns(scenario, seed, symbol)))


class Feed(Protocol):
    """What the engine reads market data through (SPEC T1): scenario, replay and live feeds.
    Index i is the i-th candle of the feed; `candle` is None when the feed has no data for it
    (an exchange outage, the end of a file)."""

    source: str

    def ts_of(self, index: int) -> datetime: ...

    def candle(self, symbol: str, index: int) -> Candle | None: ...

    def ticker(self, symbol: str, index: int) -> Ticker | None: ...

    def closes(self, symbol: str, *, end: int, length: int) -> np.ndarray: ...


class ScenarioFeed:
    """One candle per index; index i is at EPOCH + i minutes. Indexes past the scenario's
    length wrap around (a demo left running for days replays the path)."""

    def __init__(self, scenario: str, seed: int):
        if scenario not in SCENARIOS:
            raise UnknownScenario(f"unknown scenario {scenario!r}; known: {', '.join(sorted(SCENARIOS))}")
        self.scenario, self.seed = scenario, seed
        self.spec = SCENARIOS[scenario]
        self.source = f"scenario:{scenario}:{seed}"

    def ts_of(self, index: int) -> datetime:
        return EPOCH + STEP * index

    def closes(self, symbol: str, *, end: int, length: int) -> np.ndarray:
        """Closing prices of the `length` candles up to and including index `end` (floats,
        for signal maths only; money uses the Decimal candle)."""
        end = end % SCENARIO_LENGTH
        return _closes(self.scenario, self.seed, symbol)[max(0, end - length + 1) : end + 1]

    def candle(self, symbol: str, index: int) -> Candle | None:
        if in_outage(self.scenario, index):
            return None
        market = market_get(symbol)
        closes = _closes(self.scenario, self.seed, symbol)
        i = index % SCENARIO_LENGTH
        close = float(closes[i])
        open_ = float(closes[i - 1]) if i > 0 else close
        wiggle = abs(float(_log_returns(self.scenario, self.seed, symbol)[i + 1])) / 2

        def price(x: float, *, up: bool) -> Decimal:
            return market.round_price(Decimal(f"{x:.8f}"), up=up)

        candle = Candle(
            ts=self.ts_of(index),
            open=price(open_, up=False),
            high=price(max(open_, close) * (1 + wiggle), up=True),
            low=price(min(open_, close) * (1 - wiggle), up=False),
            close=price(close, up=False),
            volume=Decimal(f"{1000 * self.spec.volume_scale * (1 + wiggle * 100):.4f}"),
        )
        return _corrupt(candle, bad_tick_kind(self.scenario, index))

    def ticker(self, symbol: str, index: int) -> Ticker | None:
        """Best bid and ask around the candle's close, `spread_bps` apart."""
        candle = self.candle(symbol, index)
        if candle is None:
            return None
        market = market_get(symbol)
        half = candle.close * Decimal(str(self.spec.spread_bps)) / 20_000
        return Ticker(
            ts=candle.ts,
            bid=market.round_price(candle.close - half, up=False),
            ask=market.round_price(candle.close + half, up=True),
            last=candle.close,
            base_volume=candle.volume,
        )


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
