from compliance.services import Actor
from risk.policy import default_policy_yaml
from risk.services import config_version_activate, config_version_create

TESTER = Actor.system("tests")


def active_policy(account, content: str | None = None, reason: str = "test policy"):
    """Create and activate a policy version through the services, as production does."""
    version = config_version_create(
        account=account, content=content or default_policy_yaml(), author=None, reason=reason, actor=TESTER
    )
    return config_version_activate(version=version, actor=TESTER, reason=reason)


# The conservative profile paces trades in wall-clock time (180 s between trades, 900 s per
# symbol); tests that need many trades in a few hundred fast ticks use this profile.
UNPACED = (
    "max_trades_per_day: 100000\nmax_trades_per_hour: 100000\nmax_new_positions_per_hour: 100000\n"
    "min_seconds_between_trades: 0\nmin_seconds_per_symbol: 0\n"
)


def unpaced_policy(account):
    return active_policy(account, content=default_policy_yaml() + UNPACED, reason="unpaced test policy")
