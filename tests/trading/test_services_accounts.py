import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from compliance.models import AuditEvent
from compliance.services import Actor
from tests.risk.factories import active_policy
from tests.trading.factories import TradingAccountFactory
from trading.models import TradingMode
from trading.services.accounts import ModeChangeRefused, account_mode_set

pytestmark = pytest.mark.django_db
OPS = Actor("user", "ops")


def test_a_mode_change_is_audited_with_its_reason_and_config_hash():
    account = TradingAccountFactory()
    version = active_policy(account)
    account_mode_set(account_id=account.pk, mode=TradingMode.DRY_RUN, actor=OPS, reason="observe only")
    account.refresh_from_db()
    assert account.mode == TradingMode.DRY_RUN
    event = AuditEvent.objects.get(action="account.mode_changed")
    assert event.payload == {"from": "PAPER", "to": "DRY_RUN", "reason": "observe only"}
    assert (event.actor, event.config_hash) == ("ops", version.sha256)


def test_live_is_refused_with_every_reason_and_nothing_changes():
    account = TradingAccountFactory(read_only=True)
    version = active_policy(account)
    with pytest.raises(ModeChangeRefused) as caught:
        account_mode_set(account_id=account.pk, mode=TradingMode.LIVE, actor=OPS, reason="go")
    message = str(caught.value)
    assert f"no GO decision exists for configuration v1 ({version.sha256[:12]})" in message
    assert "no exchange credentials" in message and "read-only" in message
    account.refresh_from_db()
    assert account.mode == TradingMode.PAPER
    assert not AuditEvent.objects.filter(action="account.mode_changed").exists()


@pytest.mark.parametrize(("mode", "reason", "message"), [("MOON", "r", "mode: 'MOON'"), ("PAPER", " ", "reason:")])
def test_bad_input_is_refused_naming_the_field(mode, reason, message):
    account = TradingAccountFactory()
    with pytest.raises(ModeChangeRefused, match=message):
        account_mode_set(account_id=account.pk, mode=mode, actor=OPS, reason=reason)


def test_the_command_uses_the_service_and_reports_refusals(capsys):
    account = TradingAccountFactory(name="acct")
    active_policy(account)
    call_command("account_mode", "acct", "DRY_RUN", "--reason", "maintenance")
    assert "acct: DRY_RUN" in capsys.readouterr().out
    with pytest.raises(CommandError, match="LIVE refused"):
        call_command("account_mode", "acct", "LIVE", "--reason", "go")
    with pytest.raises(CommandError, match="unknown account 'nope'"):
        call_command("account_mode", "nope", "PAPER", "--reason", "x")
