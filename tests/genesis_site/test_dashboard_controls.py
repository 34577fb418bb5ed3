"""Every dashboard control × every role: a role with the permission changes the database
through the service; a role without it gets 403 with the reason and nothing changes. Bad input
is a 400 naming the field, never a 500."""

import pytest
from django.test import Client

from genesis_site.roles import GRANTS, ROLES
from risk.alerts import alert_raise
from risk.models import Alert, ConfigVersion
from risk.services.config import config_version_create
from tests.genesis_site.factories import UserFactory
from tests.risk.factories import TESTER, active_policy
from tests.trading.factories import StrategyFactory, TradingAccountFactory
from trading.models import StopLevel, Strategy, TradingAccount

pytestmark = pytest.mark.django_db
JSON = {"HTTP_ACCEPT": "application/json"}


def _stop_level(account):
    return TradingAccount.objects.get(pk=account.pk).stop_level


def _strategy_state(account):
    return Strategy.objects.get(account=account, name="momentum").state


def _alert_status(account):
    return Alert.objects.get(account=account).status


def _active_version(account):
    return ConfigVersion.objects.get(account=account, is_active=True).version


def _setup(control, account):
    """(url, form data, read the state the control changes, the state it should set)."""
    base = f"/accounts/{account.pk}"
    reason = {"reason": "test"}
    if control in ("pause_entries", "halt", "flatten"):
        url = {"pause_entries": "pause-entries"}.get(control, control)
        return f"{base}/controls/{url}", reason, _stop_level, control
    if control == "release":
        TradingAccount.objects.filter(pk=account.pk).update(stop_level=StopLevel.HALT)
        return f"{base}/controls/release", reason, _stop_level, StopLevel.NONE
    if control in ("strategy_pause", "strategy_resume"):
        state = "active" if control == "strategy_pause" else "paused"
        strategy = StrategyFactory(account=account, name="momentum", state=state)
        verb = control.split("_")[1]
        after = "paused" if state == "active" else "active"
        return f"{base}/strategies/{strategy.pk}/{verb}", reason, _strategy_state, after
    if control in ("acknowledge", "resolve"):
        alert = alert_raise(account_id=account.pk, type="kill_switch", message="test")
        status = "acknowledged" if control == "acknowledge" else "resolved"
        return f"{base}/alerts/{alert.pk}/{control}", {"comment": "seen"}, _alert_status, status
    active_policy(account, reason="v1")
    if control == "activate":
        content = "max_open_positions: 4\n"
        config_version_create(account=account, content=content, author=None, reason="v2", actor=TESTER)
        return f"{base}/config/2/activate", reason, _active_version, 2
    active_policy(account, content="max_open_positions: 4\n", reason="v2")
    return f"{base}/config/1/rollback", reason, _active_version, 1


PERMISSION = {
    "pause_entries": "pause_entries",
    "halt": "halt",
    "flatten": "flatten",
    "release": "release",
    "strategy_pause": "pause_strategy",
    "strategy_resume": "pause_strategy",
    "acknowledge": "acknowledge_alert",
    "resolve": "acknowledge_alert",
    "activate": "activate_config",
    "rollback": "rollback_config",
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("control", list(PERMISSION))
def test_control_by_role(control, role):
    user = UserFactory(role=role)
    account = TradingAccountFactory(members=[user])
    url, data, read, expected = _setup(control, account)
    before = read(account)
    client = Client()
    client.force_login(user)
    response = client.post(url, data, **JSON)
    if PERMISSION[control] in GRANTS[role]:
        assert response.status_code == 200, response.content
        assert response.json()["ok"] is True
        assert read(account) == expected
    else:
        assert response.status_code == 403
        assert "may not" in response.json()["message"]
        assert read(account) == before


def test_a_control_page_shows_disabled_buttons_with_the_reason_for_a_viewer():
    user = UserFactory(role="viewer")
    account = TradingAccountFactory(members=[user])
    client = Client()
    client.force_login(user)
    body = client.get(f"/accounts/{account.pk}/").content.decode()
    assert body.count('data-denied="') == 4  # pause entries, halt, flatten, release
    assert "may not halt trading: it needs the permission trading.halt_trading" in body
    assert "data-control" not in body.replace("data-control-", "")


def test_a_missing_reason_is_a_400_naming_the_field_and_changes_nothing():
    user = UserFactory(role="admin")
    account = TradingAccountFactory(members=[user])
    client = Client()
    client.force_login(user)
    response = client.post(f"/accounts/{account.pk}/controls/halt", {"reason": "  "}, **JSON)
    assert response.status_code == 400 and response.json()["message"].startswith("reason:")
    assert _stop_level(account) == StopLevel.NONE


@pytest.mark.parametrize(
    "path, data, message",
    [
        ("controls/release", {"reason": "x"}, "is not stopped"),
        ("controls/pause-entries", {"reason": "x", "symbol": "NOPE/USDT", "minutes": "5"}, "unknown market"),
        ("controls/pause-entries", {"reason": "x", "symbol": "BTC/USDT"}, "minutes:"),
        ("controls/pause-entries", {"reason": "x", "minutes": "abc"}, "minutes:"),
        ("config/1/rollback", {"reason": "x"}, "already the active version"),
    ],
)
def test_a_refusal_by_the_service_is_a_400_with_its_message(path, data, message):
    user = UserFactory(role="admin")
    account = TradingAccountFactory(members=[user])
    active_policy(account)
    client = Client()
    client.force_login(user)
    response = client.post(f"/accounts/{account.pk}/{path}", data, **JSON)
    assert response.status_code == 400 and message in response.json()["message"]
    assert _stop_level(account) == StopLevel.NONE


def test_controls_on_another_accounts_objects_are_404():
    user = UserFactory(role="admin")
    account = TradingAccountFactory(members=[user])
    other = TradingAccountFactory(members=[user])
    alert = alert_raise(account_id=other.pk, type="kill_switch", message="elsewhere")
    client = Client()
    client.force_login(user)
    response = client.post(f"/accounts/{account.pk}/alerts/{alert.pk}/acknowledge", {"comment": ""}, **JSON)
    assert response.status_code == 404
    assert Alert.objects.get(pk=alert.pk).status == "open"
    stranger = TradingAccountFactory()
    assert client.post(f"/accounts/{stranger.pk}/controls/halt", {"reason": "x"}, **JSON).status_code == 404


def test_a_plain_form_post_redirects_back_with_the_result_and_get_is_refused():
    user = UserFactory(role="admin")
    account = TradingAccountFactory(members=[user])
    client = Client()
    client.force_login(user)
    response = client.post(
        f"/accounts/{account.pk}/controls/halt", {"reason": "drill", "next": f"/accounts/{account.pk}/risk/"}
    )
    assert response.status_code == 302 and response["Location"] == f"/accounts/{account.pk}/risk/"
    assert "Trading halted" in client.get(response["Location"]).content.decode()
    assert client.get(f"/accounts/{account.pk}/controls/release").status_code == 405


def test_a_control_post_without_csrf_is_refused():
    user = UserFactory(role="admin")
    account = TradingAccountFactory(members=[user])
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(f"/accounts/{account.pk}/controls/halt", {"reason": "x"}).status_code == 403
    assert _stop_level(account) == StopLevel.NONE
