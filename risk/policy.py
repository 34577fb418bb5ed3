"""The risk policy: YAML validated by a schema (SPEC R1)."""

from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import pydantic
import yaml

from risk.exceptions import ConfigInvalid

DEFAULT_POLICY_PATH = Path(__file__).with_name("default_policy.yaml")
Pct = pydantic.condecimal(ge=0, le=100)


class RiskPolicy(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    max_total_exposure_pct: Pct = Decimal("25")
    max_open_positions: int = pydantic.Field(default=5, ge=0)
    max_position_pct: Pct = Decimal("3")
    max_asset_pct: Pct = Decimal("5")
    stop_loss_pct: Pct = Decimal("10")
    take_profit_pct: Pct = Decimal("12")
    daily_stop_pct: Pct = Decimal("3")
    weekly_stop_pct: Pct = Decimal("7")
    max_drawdown_pct: Pct = Decimal("10")
    max_trades_per_day: int = pydantic.Field(default=15, ge=0)
    max_trades_per_hour: int = pydantic.Field(default=5, ge=0)
    max_new_positions_per_hour: int = pydantic.Field(default=3, ge=0)
    min_seconds_between_trades: int = pydantic.Field(default=180, ge=0)
    min_seconds_per_symbol: int = pydantic.Field(default=900, ge=0)
    pyramiding: bool = False


def default_policy_yaml() -> str:
    return DEFAULT_POLICY_PATH.read_text()


@lru_cache(maxsize=64)
def policy_parse(content: str) -> RiskPolicy:
    """Parse and validate policy YAML; ConfigInvalid lists every problem, naming its key."""
    try:
        data = yaml.safe_load(content)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigInvalid([f"not valid YAML{where}: {getattr(exc, 'problem', exc)}"]) from None
    if not isinstance(data, dict):
        raise ConfigInvalid(["the policy must be a YAML mapping of keys to values"])
    try:
        return RiskPolicy.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ConfigInvalid([f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]) from None
