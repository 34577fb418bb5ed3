from risk.models import ConfigVersion
from risk.policy import RiskPolicy, policy_parse


def config_version_active(*, account_id: int) -> ConfigVersion | None:
    return ConfigVersion.objects.filter(account_id=account_id, is_active=True).first()


def policy_of(version: ConfigVersion | None) -> RiskPolicy:
    """The parsed policy of a version (cached by content); the schema defaults without one."""
    return policy_parse(version.content) if version else RiskPolicy()
