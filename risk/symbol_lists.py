"""Symbol allow/deny lists (SPEC O2) live in the risk policy, so a change is a new immutable
configuration version: validated, diffable, audited, tilt-checked and rolled back like any
other; the pre-trade gate enforces them (risk.gate._check_symbol_lists)."""

import yaml

from compliance.services import Actor
from risk.models import ConfigVersion
from risk.policy import default_policy_yaml
from risk.selectors import config_version_active
from risk.services.config import config_version_activate, config_version_create


def symbol_lists_set(*, account, allow: list[str], deny: list[str], user, actor: Actor, reason: str) -> ConfigVersion:
    """Create and activate a version of the active policy with these lists."""
    active = config_version_active(account_id=account.pk)
    data = yaml.safe_load(active.content if active else default_policy_yaml()) or {}
    data["symbols_allow"], data["symbols_deny"] = sorted(set(allow)), sorted(set(deny))
    content = yaml.safe_dump(data, sort_keys=False)
    version = config_version_create(account=account, content=content, author=user, reason=reason, actor=actor)
    return config_version_activate(version=version, actor=actor, reason=reason)
