"""Operator tilt (SPEC R10): repeated loosening of risk limits.

A loosening is an activation (or rollback) whose policy is more permissive than the one it
replaces in any limit. More loosenings by one operator within a day than the policy allows
is tilt: it raises an alert, and each further loosening needs a second person to approve."""

from datetime import datetime, timedelta

from compliance.models import AuditEvent
from risk.policy import RiskPolicy

# Limits where a higher value is more permissive; for these two, a lower value is.
HIGHER_IS_LOOSER = (
    "max_total_exposure_pct",
    "max_open_positions",
    "max_position_pct",
    "max_asset_pct",
    "stop_loss_pct",
    "daily_stop_pct",
    "weekly_stop_pct",
    "max_drawdown_pct",
    "max_trades_per_day",
    "max_trades_per_hour",
    "max_new_positions_per_hour",
    "max_spread_pct",
    "max_slippage_pct",
    "stale_data_seconds",
    "bad_tick_deviation_pct",
    "max_pyramid_adds",
)
LOWER_IS_LOOSER = ("min_seconds_between_trades", "min_seconds_per_symbol")
WINDOW = timedelta(hours=24)


def policy_loosenings(old: RiskPolicy, new: RiskPolicy) -> list[str]:
    """The limits `new` loosens compared with `old`, as 'key: old -> new'."""
    changed = [k for k in HIGHER_IS_LOOSER if getattr(new, k) > getattr(old, k)]
    changed += [k for k in LOWER_IS_LOOSER if getattr(new, k) < getattr(old, k)]
    loosened = [f"{k}: {getattr(old, k)} -> {getattr(new, k)}" for k in changed]
    if new.pyramiding and not old.pyramiding:
        loosened.append("pyramiding: off -> on")
    if new.sizing.max_size_pct > old.sizing.max_size_pct:
        loosened.append(f"sizing.max_size_pct: {old.sizing.max_size_pct} -> {new.sizing.max_size_pct}")
    return loosened


def recent_loosenings(*, account_id: int, actor_name: str, now: datetime) -> int:
    """How many loosening activations `actor_name` made on the account in the last 24 h."""
    return (
        AuditEvent.objects.filter(
            action__in=("config.activated", "config.rolled_back"),
            actor=actor_name,
            ts__gte=now - WINDOW,
            payload__account=account_id,
        )
        .exclude(payload__loosened=[])
        .filter(payload__has_key="loosened")
        .count()
    )
