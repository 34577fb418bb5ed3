"""Strategy: every registered strategy loads with its default config, every configured
strategy's params are valid, and each produces a decision on real scenario data."""

from decimal import Decimal

from trading.feeds import ScenarioFeed
from trading.models import Strategy
from trading.strategies import REGISTRY as STRATEGIES
from trading.strategies import StrategyConfigInvalid, strategy_load
from validation.validators import register
from validation.validators.base import BaseValidator, Context, Result, verdict


@register
class StrategyValidator(BaseValidator):
    name = "strategy"
    check_id = "STRAT-001"
    group = "trading"
    description = "All registered strategies load; every configured strategy's params are valid"

    def measure(self, ctx: Context) -> Result:
        problems, evidence = [], {"registered": sorted(STRATEGIES), "configured": {}}
        if not STRATEGIES:
            return Result("failed", "no strategy is registered", evidence)
        closes = ScenarioFeed("sideways", 1).closes("BTC/USDT", end=400, length=300)
        for kind in sorted(STRATEGIES):
            try:
                runner = strategy_load(kind, {})
                runner.decide(symbol="BTC/USDT", closes=closes, position_qty=Decimal("0"))
            except Exception as exc:
                problems.append(f"strategy {kind} does not load with defaults: {exc}")
        for strategy in Strategy.objects.exclude(state="disabled").only("pk", "name", "kind", "params"):
            try:
                strategy_load(strategy.kind, strategy.params)
                evidence["configured"][strategy.name] = "ok"
            except StrategyConfigInvalid as exc:
                evidence["configured"][strategy.name] = str(exc)
                problems.append(f"strategy {strategy.name} (id {strategy.pk}): {exc}")
        ok = f"{len(STRATEGIES)} registered and {len(evidence['configured'])} configured strategies load"
        return verdict(problems, [], ok, evidence)
