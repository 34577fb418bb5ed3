import pytest
from django.db import IntegrityError, transaction

from compliance.models import AuditEvent
from compliance.services import Actor
from risk.exceptions import ConfigInvalid
from risk.models import ConfigVersion
from risk.selectors import config_version_active
from risk.services import config_version_activate, config_version_create
from tests.risk.factories import TESTER, active_policy
from tests.trading.factories import TradingAccountFactory

pytestmark = pytest.mark.django_db


def test_versions_are_numbered_hashed_and_parented():
    account = TradingAccountFactory()
    v1 = active_policy(account)
    v2 = config_version_create(
        account=account, content="max_open_positions: 2\n", author=None, reason="tighter", actor=TESTER
    )
    assert (v1.version, v2.version, v2.parent_id) == (1, 2, v1.pk)
    assert len(v2.sha256) == 64 and v2.sha256 != v1.sha256
    assert config_version_active(account_id=account.pk) == v1  # created, not yet active


def test_rollback_makes_the_earlier_hash_active_and_is_audited():
    account = TradingAccountFactory()
    v1 = active_policy(account)
    v2 = active_policy(account, content="max_open_positions: 2\n", reason="tighter")
    assert config_version_active(account_id=account.pk).sha256 == v2.sha256
    config_version_activate(version=v1, actor=Actor.system("ops"), reason="v2 too tight", action="config.rolled_back")
    assert config_version_active(account_id=account.pk).sha256 == v1.sha256
    assert ConfigVersion.objects.filter(account=account, is_active=True).count() == 1
    event = AuditEvent.objects.filter(action="config.rolled_back").get()
    assert event.config_hash == v1.sha256 and event.payload["previous_version"] == 2


def test_an_invalid_policy_is_refused_and_nothing_is_stored():
    account = TradingAccountFactory()
    with pytest.raises(ConfigInvalid):
        config_version_create(
            account=account, content="max_open_positions: lots\n", author=None, reason="x", actor=TESTER
        )
    with pytest.raises(ConfigInvalid, match="reason"):
        config_version_create(account=account, content="max_open_positions: 3\n", author=None, reason=" ", actor=TESTER)
    assert not ConfigVersion.objects.exists() and not AuditEvent.objects.exists()


def test_the_database_allows_only_one_active_version_per_account():
    account = TradingAccountFactory()
    v1 = active_policy(account)
    v2 = config_version_create(account=account, content="pyramiding: false\n", author=None, reason="r", actor=TESTER)
    with pytest.raises(IntegrityError), transaction.atomic():
        ConfigVersion.objects.filter(pk=v2.pk).update(is_active=True)
    assert v1.is_active


def test_warnings_are_stored_with_the_version_and_errors_are_all_listed():
    account = TradingAccountFactory()
    version = config_version_create(
        account=account, content="max_total_exposure_pct: 60\n", author=None, reason="aggressive test", actor=TESTER
    )
    assert "max_total_exposure_pct: exposure cap 60 % is above 50 %" in version.warnings
    with pytest.raises(ConfigInvalid) as caught:
        config_version_create(
            account=account, content="stop_loss_pct: 20\nmax_spread_pct: 11\n", author=None, reason="", actor=TESTER
        )
    assert caught.value.errors == [
        "stop_loss_pct: stop loss 20 % is not below take profit 12 %",
        "max_spread_pct: 11 % exceeds the 10 % limit",
        "reason: a reason is required for every configuration version",
    ]
