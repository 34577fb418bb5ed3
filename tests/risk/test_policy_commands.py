"""SPEC R1: activation, rollback and diff, through the services and `manage.py risk_policy`."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from compliance.models import AuditEvent
from risk.exceptions import ConfigInvalid
from risk.models import ConfigVersion
from risk.policy import default_policy_yaml
from risk.selectors import config_version_active, config_version_diff
from risk.services import config_version_rollback
from tests.risk.factories import TESTER, active_policy, unpaced_policy
from tests.trading.factories import StrategyFactory, TradingAccountFactory
from trading.models import Order
from trading.services.engine import engine_tick

pytestmark = pytest.mark.django_db


@pytest.fixture
def account():
    account = TradingAccountFactory(name="acct")
    StrategyFactory(account=account)
    return account


def test_after_rollback_the_active_hash_is_the_earlier_one_and_the_next_orders_carry_it(account):
    v1 = unpaced_policy(account)
    active_policy(account, content=default_policy_yaml() + "max_open_positions: 0\n", reason="freeze")
    config_version_rollback(account=account, version=v1.version, actor=TESTER, reason="freeze was a mistake")
    assert config_version_active(account_id=account.pk).sha256 == v1.sha256
    rollback_seq = AuditEvent.objects.get(action="config.rolled_back").sequence
    for _ in range(200):
        engine_tick(account_id=account.pk)
        if Order.objects.exists():
            break
    order_events = AuditEvent.objects.filter(object_type="trading.order", sequence__gt=rollback_seq)
    assert order_events.exists()
    assert set(order_events.values_list("config_hash", flat=True)) == {v1.sha256}


def test_rollback_refuses_unknown_active_or_unexplained_targets(account):
    v1 = active_policy(account)
    with pytest.raises(ConfigInvalid, match="has no version 9"):
        config_version_rollback(account=account, version=9, actor=TESTER, reason="x")
    with pytest.raises(ConfigInvalid, match="already the active version"):
        config_version_rollback(account=account, version=v1.version, actor=TESTER, reason="x")


def test_the_diff_lists_changed_values_and_the_yaml_difference(account):
    v1 = active_policy(account)
    v2 = active_policy(
        account,
        content=default_policy_yaml().replace("max_position_pct: 3", "max_position_pct: 2") + "trailing_stop_pct: 4\n",
        reason="tighter",
    )
    diff = config_version_diff(v1, v2)
    assert diff["changes"] == [
        {"key": "max_position_pct", "from": "3", "to": "2"},
        {"key": "trailing_stop_pct", "from": "0", "to": "4"},
    ]
    assert "-max_position_pct: 3\n" in diff["unified"] and "+trailing_stop_pct: 4\n" in diff["unified"]


def test_the_command_validates_activates_diffs_and_rolls_back(account, tmp_path, capsys):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(default_policy_yaml())
    bad.write_text("stop_loss_pct: 20\nmax_spread_pct: 11\n")
    call_command("risk_policy", "validate", str(good))
    assert "valid" in capsys.readouterr().out
    with pytest.raises(CommandError) as caught:
        call_command("risk_policy", "validate", str(bad))
    assert "stop loss 20 % is not below take profit 12 %" in str(caught.value)
    assert "max_spread_pct: 11 % exceeds the 10 % limit" in str(caught.value)
    call_command("risk_policy", "activate", str(good), "--account", "acct", "--reason", "initial")
    good.write_text(default_policy_yaml().replace("max_open_positions: 5", "max_open_positions: 4"))
    call_command("risk_policy", "activate", str(good), "--account", "acct", "--reason", "fewer")
    capsys.readouterr()
    call_command("risk_policy", "diff", "1", "2", "--account", "acct")
    assert "max_open_positions: 5 -> 4" in capsys.readouterr().out
    call_command("risk_policy", "rollback", "1", "--account", "acct", "--reason", "back")
    assert ConfigVersion.objects.get(account=account, is_active=True).version == 1
    with pytest.raises(CommandError, match="cannot read"):
        call_command("risk_policy", "validate", str(tmp_path / "missing.yaml"))
    with pytest.raises(CommandError, match="unknown account"):
        call_command("risk_policy", "rollback", "1", "--account", "nope", "--reason", "x")
