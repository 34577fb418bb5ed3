from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

import numpy as np
import pydantic

from trading.exceptions import TradingError


class StrategyConfigInvalid(TradingError):
    code = "strategy_config_invalid"


@dataclass(frozen=True)
class Signal:
    symbol: str
    side: str  # "buy" enters, "sell" exits the whole position
    reason: str


class BaseStrategy:
    """A strategy turns recent closes and the current position into at most one signal.
    Parameters are validated by the subclass's `Params` schema on construction."""

    kind: ClassVar[str]
    Params: ClassVar[type[pydantic.BaseModel]]

    def __init__(self, params: dict):
        try:
            self.params = self.Params.model_validate(params)
        except pydantic.ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}" for e in exc.errors())
            raise StrategyConfigInvalid(f"{self.kind}: {problems}") from None

    @property
    def warmup(self) -> int:
        """How many closes `decide` needs before it can signal."""
        raise NotImplementedError

    def decide(self, *, symbol: str, closes: np.ndarray, position_qty: Decimal) -> Signal | None:
        raise NotImplementedError

    def signals(self, closes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`decide` over a whole series at once, for backtests: (entry, exit) booleans per
        close, where entry[i] is what `decide` would say flat at closes[: i + 1] and exit[i]
        what it would say long. Must agree with `decide` (tests/trading/test_strategies.py)."""
        raise NotImplementedError


def rolling(closes: np.ndarray, window: int) -> np.ndarray:
    """Windows of `window` closes ending at each index from window - 1 on."""
    return np.lib.stride_tricks.sliding_window_view(closes, window)


def padded(values: np.ndarray, length: int, fill) -> np.ndarray:
    """`values` (one per index from length - len(values) on) front-filled to `length`."""
    out = np.full(length, fill, dtype=values.dtype)
    if len(values):
        out[length - len(values) :] = values
    return out


REGISTRY: dict[str, type[BaseStrategy]] = {}


def register(cls: type[BaseStrategy]) -> type[BaseStrategy]:
    REGISTRY[cls.kind] = cls
    return cls


def strategy_load(kind: str, params: dict) -> BaseStrategy:
    try:
        cls = REGISTRY[kind]
    except KeyError:
        raise StrategyConfigInvalid(f"unknown strategy kind {kind!r}; known: {', '.join(sorted(REGISTRY))}") from None
    return cls(params)
