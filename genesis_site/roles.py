"""Roles are Django groups (SPEC S1); `legal` signs go-live decisions (SPEC C2).

Dangerous actions are permissions of their own. `ACTIONS` maps each action to its permission,
and `GRANTS` says which role holds which; migrations 0004 and 0006 apply GRANTS. The dashboard, the
API and ChatOps all ask `user_may(user, action)`, and the services behind them are only
reached through a check of the same permission."""

ROLES = ("viewer", "operator", "risk_manager", "compliance_officer", "legal", "admin")

ACTIONS = {
    "pause_entries": "trading.pause_entries",
    "halt": "trading.halt_trading",
    "flatten": "trading.flatten_positions",
    "release": "trading.release_stop",
    "force_trade": "trading.force_trade",
    "change_mode": "trading.change_mode",
    "pause_strategy": "trading.pause_strategy",
    "acknowledge_alert": "risk.acknowledge_alert",
    "activate_config": "risk.activate_config",
    "rollback_config": "risk.rollback_config",
    "handle_failed_task": "genesis_site.handle_failed_task",
}

_OPERATOR = ["pause_entries", "halt", "pause_strategy", "acknowledge_alert", "force_trade", "handle_failed_task"]
_RISK_MANAGER = [*_OPERATOR, "flatten", "release", "activate_config", "rollback_config"]

GRANTS = {
    "viewer": [],
    "operator": _OPERATOR,
    "risk_manager": _RISK_MANAGER,
    "compliance_officer": [],
    "legal": [],
    "admin": list(ACTIONS),
}


def user_may(user, action: str) -> bool:
    """Whether `user` may perform `action` (a key of ACTIONS)."""
    return bool(user and user.is_authenticated and user.has_perm(ACTIONS[action]))
