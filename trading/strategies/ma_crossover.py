from decimal import Decimal

import numpy as np
import pydantic

from trading.strategies.base import BaseStrategy, Signal, padded, register, rolling


class MovingAverageCrossoverParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    fast: int = pydantic.Field(default=5, ge=2, le=500)
    slow: int = pydantic.Field(default=20, ge=3, le=2000)
    # The fast average must clear the slow one by this fraction to enter: filters chop.
    entry_threshold: float = pydantic.Field(default=0.0005, ge=0, le=0.1)

    @pydantic.model_validator(mode="after")
    def _fast_below_slow(self):
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be smaller than slow ({self.slow})")
        return self


@register
class MovingAverageCrossover(BaseStrategy):
    """Momentum: long while the fast simple moving average is above the slow one by the
    entry threshold; exit the whole position when it falls below."""

    kind = "ma_crossover"
    Params = MovingAverageCrossoverParams

    @property
    def warmup(self) -> int:
        return self.params.slow

    def decide(self, *, symbol: str, closes: np.ndarray, position_qty: Decimal) -> Signal | None:
        p = self.params
        if len(closes) < p.slow:
            return None
        fast = float(closes[-p.fast :].mean())
        slow = float(closes[-p.slow :].mean())
        if position_qty == 0 and fast > slow * (1 + p.entry_threshold):
            return Signal(symbol, "buy", f"SMA{p.fast} {fast:.2f} above SMA{p.slow} {slow:.2f}")
        if position_qty > 0 and fast < slow:
            return Signal(symbol, "sell", f"SMA{p.fast} {fast:.2f} below SMA{p.slow} {slow:.2f}")
        return None

    def signals(self, closes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p, n = self.params, len(closes)
        if n < p.slow:
            return np.zeros(n, bool), np.zeros(n, bool)
        fast = rolling(closes, p.fast).mean(axis=1)[p.slow - p.fast :]
        slow = rolling(closes, p.slow).mean(axis=1)
        return (
            padded(fast > slow * (1 + p.entry_threshold), n, False),
            padded(fast < slow, n, False),
        )
