from trading.strategies.base import REGISTRY, BaseStrategy, Signal, StrategyConfigInvalid, strategy_load
from trading.strategies.breakout import Breakout
from trading.strategies.ma_crossover import MovingAverageCrossover
from trading.strategies.mean_reversion import MeanReversion

__all__ = [
    "REGISTRY",
    "BaseStrategy",
    "Breakout",
    "MeanReversion",
    "MovingAverageCrossover",
    "Signal",
    "StrategyConfigInvalid",
    "strategy_load",
]
