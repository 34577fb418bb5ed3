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
    "tilt_max_manual_trades_per_hour",
    "tilt_max_loosenings_per_day",
)
LOWER_IS_LOOSER = ("min_seconds_between_trades", "min_seconds_per_symbol", "tilt_force_entry_after_loss_seconds")
WINDOW = timedelta(hours=24)


def policy_loosenings(old: RiskPolicy, new: RiskPolicy) -> list[str]:
    """The limits `new` loosens compared with `old`, as 'key: old -> new'."""
    changed = [k for k in HIGHER_IS_LOOSER if getattr(new, k) > getattr(old, k)]
    changed += [k for k in LOWER_IS_LOOSER if getattr(new, k) < getattr(old, k)]
    loosened = [f"{k}: {getattr(old, k)} -> {getattr(new, k)}" for k in changed]
    if new.pyramiding and not old.pyramiding:
        loosened.append("pyramiding: off -> on")
    if set(new.symbols_allow or ()) - set(old.symbols_allow or ()) or (old.symbols_allow and not new.symbols_allow):
        loosened.append(f"symbols_allow: {list(old.symbols_allow)} -> {list(new.symbols_allow)}")
    if set(old.symbols_deny) - set(new.symbols_deny):
        loosened.append(f"symbols_deny: {list(old.symbols_deny)} -> {list(new.symbols_deny)}")
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


MANUAL_ACTIONS = ("manual.force_entry", "manual.force_exit")


def manual_trade_tilt(*, account_id: int, actor_name: str, side: str, policy: RiskPolicy, now: datetime) -> list[str]:
    """Signs of tilt in a manual trade about to be placed (SPEC R10): a force entry soon after
    a losing exit, and more manual trades in an hour by the same operator than the policy allows."""
    from trading.models import Order  # trading imports risk

    signs = []
    window = timedelta(seconds=policy.tilt_force_entry_after_loss_seconds)
    if side == "buy" and window:
        loss = (
            Order.objects.filter(account_id=account_id, side="sell", status="filled", realized_pnl__lt=0)
            .filter(updated_at__gte=now - window)
            .order_by("-updated_at")
            .values_list("realized_pnl", "symbol")
            .first()
        )
        if loss:
            signs.append(f"force entry within {window.seconds} s of a losing exit ({loss[1]} {loss[0]:.2f})")
    done = AuditEvent.objects.filter(
        action__in=MANUAL_ACTIONS, actor=actor_name, ts__gte=now - timedelta(hours=1), payload__account=account_id
    ).count()
    if done + 1 > policy.tilt_max_manual_trades_per_hour:
        signs.append(f"{done + 1} manual trades in the last hour (limit {policy.tilt_max_manual_trades_per_hour})")
    return signs
