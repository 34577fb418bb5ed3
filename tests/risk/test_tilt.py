"""SPEC R10: repeated loosening of limits is tilt: alerted, and a second approver is needed."""

from decimal import Decimal

import pytest

from compliance.models import AuditEvent
from compliance.services import Actor
from risk.exceptions import ConfigInvalid
from risk.models import Alert, ConfigVersion
from risk.policy import RiskPolicy, default_policy_yaml
from risk.selectors import config_version_active
from risk.services import config_version_activate, config_version_create
from risk.tilt import policy_loosenings
from tests.risk.factories import TESTER
from tests.trading.factories import TradingAccountFactory

OPS, RISK = Actor("user", "ops"), Actor("user", "risk-manager")


def test_loosenings_are_named_in_both_directions_and_tightenings_are_not():
    old = RiskPolicy()
    looser = RiskPolicy(
        max_position_pct=Decimal("4"), min_seconds_between_trades=60, pyramiding=True, max_pyramid_adds=1
    )
    assert policy_loosenings(old, looser) == [
        "max_position_pct: 3 -> 4",
        "max_pyramid_adds: 0 -> 1",
        "min_seconds_between_trades: 180 -> 60",
        "pyramiding: off -> on",
    ]
    assert policy_loosenings(old, RiskPolicy(max_position_pct=Decimal("2"), min_seconds_per_symbol=1800)) == []


def activate(account, pct: str, actor=OPS, approver=None):
    content = default_policy_yaml().replace("max_position_pct: 3", f"max_position_pct: {pct}")
    version = config_version_create(account=account, content=content, author=None, reason=f"to {pct}", actor=TESTER)
    return config_version_activate(version=version, actor=actor, reason=f"to {pct}", approver=approver)


@pytest.mark.django_db
def test_the_third_loosening_in_a_day_needs_a_second_person():
    account = TradingAccountFactory()
    activate(account, "2")  # first version: nothing to compare
    activate(account, "2.5")  # loosening 1
    activate(account, "1")  # a tightening: never counted, never blocked
    activate(account, "2.8")  # loosening 2
    with pytest.raises(ConfigInvalid, match="approver: operator tilt: ops loosened limits 2 times in 24 h"):
        activate(account, "3")
    assert config_version_active(account_id=account.pk).content.count("max_position_pct: 2.8") == 1
    alert = Alert.objects.get(account=account, type="operator_tilt")
    assert "max_position_pct: 2.8 -> 3" in alert.details["loosened"]
    with pytest.raises(ConfigInvalid, match="second person"):
        activate(account, "3", approver=OPS)  # approving oneself does not count
    activate(account, "3", approver=RISK)
    event = AuditEvent.objects.filter(action="config.activated").order_by("-sequence").first()
    assert event.payload["approver"] == "risk-manager"
    assert event.payload["loosened"] == ["max_position_pct: 2.8 -> 3"]
    assert ConfigVersion.objects.get(account=account, is_active=True).version == 7


@pytest.mark.django_db
def test_another_operator_is_not_held_to_someone_elses_tilt():
    account = TradingAccountFactory()
    activate(account, "1")
    activate(account, "1.5")
    activate(account, "2")
    activate(account, "2.5", actor=Actor("user", "other-operator"))
    assert not Alert.objects.filter(type="operator_tilt").exists()
