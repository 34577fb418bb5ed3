"""The risk policy: YAML validated by a schema, then by sanity checks (SPEC R1, R2).

The schema checks types and keys; every value rule is a sanity check, so that a policy with
several problems is refused with all of them listed at once, each naming its key and numbers.
Warnings do not refuse a version; they are stored with it and shown.
"""

import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

import pydantic
import yaml

from risk.exceptions import ConfigInvalid

_SYMBOL = re.compile(r"^[A-Z0-9._-]{1,15}/[A-Z0-9._:-]{1,16}$")
DEFAULT_POLICY_PATH = Path(__file__).with_name("default_policy.yaml")
BREAKER_SOURCES = ("exchange_status", "api_error_burst", "consecutive_api_errors", "order_rejection_burst", "latency")
# Keys of earlier policy formats: refused with what to use instead.
DEPRECATED_KEYS = {
    "stop_loss": "renamed to stop_loss_pct",
    "take_profit": "renamed to take_profit_pct",
    "max_positions": "renamed to max_open_positions",
    "max_leverage": "leverage is not supported on spot accounts; remove it",
}


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class Sizing(_Strict):
    method: Literal["fixed", "volatility", "kelly"] = "fixed"
    min_order_usd: Decimal = Decimal("10")
    max_order_usd: Decimal = Decimal("10000")
    min_size_pct: Decimal = Decimal("0.5")
    max_size_pct: Decimal = Decimal("3")
    kelly_fraction: Decimal = Decimal("0.25")
    # volatility: a position is scaled down when the symbol's per-candle volatility exceeds this.
    target_volatility_pct: Decimal = Decimal("0.2")
    # kelly: fewer closed trades than this fall back to the minimum size.
    kelly_min_trades: int = 20


class Breaker(_Strict):
    failure_threshold: int = 5
    recovery_seconds: int = 60
    half_open_probes: int = 1


class RiskPolicy(_Strict):
    max_total_exposure_pct: Decimal = Decimal("25")
    max_open_positions: int = 5
    max_position_pct: Decimal = Decimal("3")
    max_asset_pct: Decimal = Decimal("5")
    stop_loss_pct: Decimal = Decimal("10")
    take_profit_pct: Decimal = Decimal("12")
    trailing_stop_pct: Decimal = Decimal("0")
    daily_stop_pct: Decimal = Decimal("3")
    weekly_stop_pct: Decimal = Decimal("7")
    max_drawdown_pct: Decimal = Decimal("10")
    max_trades_per_day: int = 15
    max_trades_per_hour: int = 5
    max_new_positions_per_hour: int = 3
    min_seconds_between_trades: int = 180
    min_seconds_per_symbol: int = 900
    pyramiding: bool = False
    max_pyramid_adds: int = 0
    pyramid_add_scale: Decimal = Decimal("0")
    max_spread_pct: Decimal = Decimal("0.5")
    max_slippage_pct: Decimal = Decimal("0.5")
    stale_data_seconds: int = 60
    bad_tick_deviation_pct: Decimal = Decimal("20")
    # Operator tilt (R10): loosenings one operator may make per day before a second approver is needed.
    tilt_max_loosenings_per_day: int = 2
    # ... a manual force entry this soon after a losing exit is tilt, and so are more manual
    # trades per hour by one operator than this.
    tilt_force_entry_after_loss_seconds: int = 900
    tilt_max_manual_trades_per_hour: int = 3
    # Symbol lists (SPEC O2): entries only in `symbols_allow` when it is not empty, never in
    # `symbols_deny`. Exits are always allowed, so a denied symbol can still be left.
    symbols_allow: tuple[str, ...] = ()
    symbols_deny: tuple[str, ...] = ()
    sizing: Sizing = Sizing()
    circuit_breakers: dict[Literal[BREAKER_SOURCES], Breaker] | None = None  # type: ignore[valid-type]


@dataclass
class PolicyCheck:
    policy: RiskPolicy | None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


PERCENT_FIELDS = (
    "max_total_exposure_pct",
    "max_position_pct",
    "max_asset_pct",
    "stop_loss_pct",
    "take_profit_pct",
    "trailing_stop_pct",
    "daily_stop_pct",
    "weekly_stop_pct",
    "max_drawdown_pct",
    "max_spread_pct",
    "max_slippage_pct",
    "pyramid_add_scale",
)
COUNT_FIELDS = (
    "max_open_positions",
    "max_trades_per_day",
    "max_trades_per_hour",
    "max_new_positions_per_hour",
    "min_seconds_between_trades",
    "min_seconds_per_symbol",
    "max_pyramid_adds",
    "stale_data_seconds",
    "tilt_force_entry_after_loss_seconds",
    "tilt_max_manual_trades_per_hour",
)


def _ranges(p: RiskPolicy) -> list[str]:
    errors = []
    for name in PERCENT_FIELDS:
        value = getattr(p, name)
        if value < 0:
            errors.append(f"{name}: {value} is negative; percentages must be zero or more")
        elif value > 100:
            errors.append(f"{name}: {value} % is more than 100 %")
    errors += [f"{name}: {getattr(p, name)} is negative" for name in COUNT_FIELDS if getattr(p, name) < 0]
    s = p.sizing
    for name in ("min_order_usd", "max_order_usd", "min_size_pct", "max_size_pct", "kelly_fraction"):
        if getattr(s, name) < 0:
            errors.append(f"sizing.{name}: {getattr(s, name)} is negative")
    for name in ("symbols_allow", "symbols_deny"):
        errors += [f"{name}: {symbol!r} is not BASE/QUOTE" for symbol in getattr(p, name) if not _SYMBOL.match(symbol)]
    if both := sorted(set(p.symbols_allow) & set(p.symbols_deny)):
        errors.append(f"symbols_deny: {', '.join(both)} both allowed and denied")
    return errors


def _contradictions(p: RiskPolicy) -> list[str]:
    errors = []
    if p.pyramiding and p.max_pyramid_adds == 0:
        errors.append("pyramiding: on, but max_pyramid_adds is 0, so no add could ever be made")
    if not p.pyramiding and (p.max_pyramid_adds or p.pyramid_add_scale):
        errors.append(
            f"max_pyramid_adds: pyramid limits set (adds {p.max_pyramid_adds}, scale {p.pyramid_add_scale}) "
            "while pyramiding is off"
        )
    if p.pyramiding:
        largest = p.sizing.max_size_pct * (1 + p.max_pyramid_adds * p.pyramid_add_scale)
        if largest > p.max_position_pct:
            errors.append(
                f"sizing: max_size_pct {p.sizing.max_size_pct} % with {p.max_pyramid_adds} adds of "
                f"{p.pyramid_add_scale} grows a position to {largest} %, above max_position_pct {p.max_position_pct} %"
            )
    return errors


def _unsafe_values(p: RiskPolicy) -> list[str]:
    checks = [
        (
            p.stop_loss_pct >= p.take_profit_pct > 0,
            f"stop_loss_pct: stop loss {p.stop_loss_pct} % is not below take profit {p.take_profit_pct} %",
        ),
        (
            p.max_position_pct > p.max_total_exposure_pct,
            f"max_position_pct: {p.max_position_pct} % exceeds the total cap max_total_exposure_pct "
            f"{p.max_total_exposure_pct} %",
        ),
        (
            p.max_open_positions * p.max_position_pct > p.max_total_exposure_pct,
            f"max_open_positions: {p.max_open_positions} positions x {p.max_position_pct} % = "
            f"{p.max_open_positions * p.max_position_pct} % exceeds max_total_exposure_pct "
            f"{p.max_total_exposure_pct} %",
        ),
        (
            p.daily_stop_pct >= p.weekly_stop_pct > 0,
            f"daily_stop_pct: daily stop {p.daily_stop_pct} % is not below weekly stop {p.weekly_stop_pct} %",
        ),
        (
            p.sizing.min_order_usd > p.sizing.max_order_usd,
            f"sizing.min_order_usd: {p.sizing.min_order_usd} exceeds sizing.max_order_usd {p.sizing.max_order_usd}",
        ),
        (
            p.sizing.min_size_pct > p.sizing.max_size_pct,
            f"sizing.min_size_pct: {p.sizing.min_size_pct} % exceeds sizing.max_size_pct {p.sizing.max_size_pct} %",
        ),
        (p.max_spread_pct > 10, f"max_spread_pct: {p.max_spread_pct} % exceeds the 10 % limit"),
        (p.max_slippage_pct > 5, f"max_slippage_pct: {p.max_slippage_pct} % exceeds the 5 % limit"),
    ]
    return [message for failed, message in checks if failed]


def _warnings(p: RiskPolicy) -> list[str]:
    warnings = []
    if p.max_total_exposure_pct > 50:
        warnings.append(f"max_total_exposure_pct: exposure cap {p.max_total_exposure_pct} % is above 50 %")
    if p.circuit_breakers is None:
        warnings.append("circuit_breakers: no circuit breaker configuration; built-in defaults apply")
    if p.stale_data_seconds > 300:
        warnings.append(
            f"stale_data_seconds: {p.stale_data_seconds} s lets prices older than the 5 min limit be traded on"
        )
    return warnings


def _load(content: str) -> tuple[dict | None, list[str]]:
    try:
        data = yaml.safe_load(content)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return None, [f"not valid YAML{where}: {getattr(exc, 'problem', exc)}"]
    if not isinstance(data, dict):
        return None, ["the policy must be a YAML mapping of keys to values"]
    return data, []


def policy_check(content: str) -> PolicyCheck:
    """Every schema error, deprecated key and sanity problem at once, and the warnings."""
    data, errors = _load(content)
    if data is None:
        return PolicyCheck(None, errors)
    errors = [f"{key}: deprecated key, {hint}" for key, hint in DEPRECATED_KEYS.items() if key in data]
    errors += [
        f"{key}: unknown key" for key in data if key not in DEPRECATED_KEYS and key not in RiskPolicy.model_fields
    ]
    # Known keys only, so the value checks below still run and every problem is listed at once.
    data = {k: v for k, v in data.items() if k in RiskPolicy.model_fields}
    try:
        policy = RiskPolicy.model_validate(data)
    except pydantic.ValidationError as exc:
        errors += [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        return PolicyCheck(None, errors)
    errors += _ranges(policy) + _contradictions(policy) + _unsafe_values(policy)
    return PolicyCheck(policy, errors, _warnings(policy))


def default_policy_yaml() -> str:
    return DEFAULT_POLICY_PATH.read_text()


@lru_cache(maxsize=64)
def policy_parse(content: str) -> RiskPolicy:
    """The validated policy; ConfigInvalid lists every problem, each naming its key."""
    check = policy_check(content)
    if check.errors:
        raise ConfigInvalid(check.errors)
    return check.policy
