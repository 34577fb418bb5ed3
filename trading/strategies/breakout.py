from decimal import Decimal

import numpy as np
import pydantic

from trading.strategies.base import BaseStrategy, Signal, padded, register, rolling


class BreakoutParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    entry_period: int = pydantic.Field(default=20, ge=2, le=1000, description="channel for entries")
    exit_period: int = pydantic.Field(default=10, ge=2, le=1000, description="channel for exits")

    @pydantic.model_validator(mode="after")
    def _exit_not_longer(self):
        if self.exit_period > self.entry_period:
            raise ValueError(f"exit_period ({self.exit_period}) must not exceed entry_period ({self.entry_period})")
        return self


@register
class Breakout(BaseStrategy):
    """Donchian breakout: buy when the close exceeds the highest close of the previous
    `entry_period` candles; exit when it falls below the lowest of the previous `exit_period`."""

    kind = "breakout"
    Params = BreakoutParams

    @property
    def warmup(self) -> int:
        return self.params.entry_period + 1

    def decide(self, *, symbol: str, closes: np.ndarray, position_qty: Decimal) -> Signal | None:
        p = self.params
        if len(closes) < self.warmup:
            return None
        close = float(closes[-1])
        high = float(closes[-(p.entry_period + 1) : -1].max())
        low = float(closes[-(p.exit_period + 1) : -1].min())
        if position_qty == 0 and close > high:
            return Signal(symbol, "buy", f"close {close:.2f} broke the {p.entry_period}-candle high {high:.2f}")
        if position_qty > 0 and close < low:
            return Signal(symbol, "sell", f"close {close:.2f} broke the {p.exit_period}-candle low {low:.2f}")
        return None

    def signals(self, closes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p, n = self.params, len(closes)
        if n < self.warmup:
            return np.zeros(n, bool), np.zeros(n, bool)
        # The channel of the candles before each close, excluding it.
        high = rolling(closes[:-1], p.entry_period).max(axis=1)
        low = rolling(closes[:-1], p.exit_period).min(axis=1)[p.entry_period - p.exit_period :]
        current = closes[p.entry_period :]
        return padded(current > high, n, False), padded(current < low, n, False)
