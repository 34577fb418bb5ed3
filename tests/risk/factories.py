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
