from decimal import Decimal

import numpy as np
import pydantic

from trading.strategies.base import BaseStrategy, Signal, padded, register, rolling


class MeanReversionParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    period: int = pydantic.Field(default=20, ge=5, le=500, description="Bollinger window")
    band_stdevs: float = pydantic.Field(default=2.0, gt=0, le=5)
    rsi_period: int = pydantic.Field(default=14, ge=2, le=200)
    rsi_oversold: float = pydantic.Field(default=30, gt=0, lt=50)
    rsi_exit: float = pydantic.Field(default=55, gt=50, lt=100)


def rsi(closes: np.ndarray, period: int) -> float:
    """Wilder's relative strength index of the last `period` changes (simple average form)."""
    changes = np.diff(closes[-(period + 1) :])
    gains, losses = changes.clip(min=0).mean(), (-changes).clip(min=0).mean()
    if losses == 0:
        return 100.0
    return float(100 - 100 / (1 + gains / losses))


@register
class MeanReversion(BaseStrategy):
    """Bollinger/RSI mean reversion: buy when the close is below the lower band and RSI is
    oversold; exit when the close is back at the middle band or RSI recovers above rsi_exit."""

    kind = "mean_reversion"
    Params = MeanReversionParams

    @property
    def warmup(self) -> int:
        return max(self.params.period, self.params.rsi_period + 1)

    def decide(self, *, symbol: str, closes: np.ndarray, position_qty: Decimal) -> Signal | None:
        p = self.params
        if len(closes) < self.warmup:
            return None
        window = closes[-p.period :]
        middle, stdev = float(window.mean()), float(window.std(ddof=0))
        close, strength = float(closes[-1]), rsi(closes, p.rsi_period)
        if position_qty == 0 and close < middle - p.band_stdevs * stdev and strength < p.rsi_oversold:
            return Signal(
                symbol,
                "buy",
                f"close {close:.2f} below lower band {middle - p.band_stdevs * stdev:.2f}, RSI {strength:.1f}",
            )
        if position_qty > 0 and (close >= middle or strength > p.rsi_exit):
            return Signal(
                symbol, "sell", f"close {close:.2f} back to the middle band {middle:.2f} or RSI {strength:.1f}"
            )
        return None

    def signals(self, closes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p, n = self.params, len(closes)
        if n < self.warmup:
            return np.zeros(n, bool), np.zeros(n, bool)
        skip = self.warmup - p.period  # align the band to the first index RSI also covers
        window = rolling(closes, p.period)[skip:]
        middle, stdev = window.mean(axis=1), window.std(axis=1, ddof=0)
        changes = rolling(np.diff(closes), p.rsi_period)[self.warmup - p.rsi_period - 1 :]
        gains, losses = changes.clip(min=0).mean(axis=1), (-changes).clip(min=0).mean(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            strength = np.where(losses == 0, 100.0, 100 - 100 / (1 + gains / losses))
        close = closes[self.warmup - 1 :]
        entry = (close < middle - p.band_stdevs * stdev) & (strength < p.rsi_oversold)
        exit_ = (close >= middle) | (strength > p.rsi_exit)
        return padded(entry, n, False), padded(exit_, n, False)
