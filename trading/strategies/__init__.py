from trading.strategies.base import REGISTRY, BaseStrategy, Signal, StrategyConfigInvalid, strategy_load
from trading.strategies.ma_crossover import MovingAverageCrossover

__all__ = ["REGISTRY", "BaseStrategy", "MovingAverageCrossover", "Signal", "StrategyConfigInvalid", "strategy_load"]
