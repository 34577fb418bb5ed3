"""ChatOps (SPEC O3): signed slash commands, each allowed only to the roles that may do the same
through the API, calling the same services."""

import time
from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from django.test import Client

from genesis_site.chatops import UNAVAILABLE, sign, validation_services
from genesis_site.models import SlackUser
from genesis_site.roles import GRANTS, ROLES
from risk.alerts import alert_raise
from risk.models import Alert
from tests.genesis_site.factories import UserFactory
from tests.risk.factories import active_policy
from tests.trading.factories import StrategyFactory, TradingAccountFactory
from trading.models import Strategy, TradingAccount

pytestmark = pytest.mark.django_db
URL = "/api/v1/chatops/slack"
SECRET = "test-slack-signing-secret"


@pytest.fixture(autouse=True)
def _fresh_replay_cache():
    cache.clear()


def post(text: str, *, user_id="U1", secret=SECRET, timestamp=None, signature=None, headers=True):
    body = urlencode({"command": "/genesis", "text": text, "user_id": user_id, "team_id": "T1"}).encode()
    timestamp = str(int(time.time())) if timestamp is None else timestamp
    signature = signature or sign(secret=secret, timestamp=timestamp, body=body)
    extra = {"HTTP_X_SLACK_SIGNATURE": signature, "HTTP_X_SLACK_REQUEST_TIMESTAMP": timestamp} if headers else {}
    return Client().post(URL, body, content_type="application/x-www-form-urlencoded", **extra)


@pytest.fixture
def world():
    account = TradingAccountFactory(name="desk")
    strategy = StrategyFactory(account=account, name="btc-momentum")
    active_policy(account)
    return account, strategy


def linked(role: str, account, slack_id="U1"):
    user = UserFactory(role=role)
    account.members.add(user)
    SlackUser.objects.create(slack_user_id=slack_id, user=user)
    return user


def test_a_valid_signature_runs_the_command(world):
    account, _ = world
    linked("viewer", account)
    response = post("status")
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral" and "Status of *desk*" in body["text"]
    assert any("PAPER" in f["text"] for f in body["blocks"][1]["fields"])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"secret": "wrong-secret"},
        {"headers": False},
        {"timestamp": str(int(time.time()) - 301)},
        {"timestamp": "not-a-number"},
        {"signature": "v0=" + "0" * 64},
    ],
    ids=["wrong", "missing", "stale", "bad-timestamp", "forged"],
)
def test_wrong_missing_or_stale_signatures_are_refused_and_audited(world, kwargs):
    from compliance.models import AuditEvent

    account, _ = world
    linked("admin", account)
    response = post("halt", **kwargs)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "bad_signature"
    account.refresh_from_db()
    assert account.stop_level == "none"
    assert AuditEvent.objects.filter(action="auth.chatops_refused").exists()


def test_a_replayed_signed_request_is_refused(world):
    account, _ = world
    linked("operator", account)
    timestamp = str(int(time.time()))
    body = urlencode({"command": "/genesis", "text": "halt", "user_id": "U1", "team_id": "T1"}).encode()
    signature = sign(secret=SECRET, timestamp=timestamp, body=body)
    headers = {"HTTP_X_SLACK_SIGNATURE": signature, "HTTP_X_SLACK_REQUEST_TIMESTAMP": timestamp}
    first = Client().post(URL, body, content_type="application/x-www-form-urlencoded", **headers)
    again = Client().post(URL, body, content_type="application/x-www-form-urlencoded", **headers)
    assert first.status_code == 200 and again.status_code == 401
    assert again.json()["error"]["code"] == "replayed"


def test_an_unlinked_slack_user_may_do_nothing(world):
    account, _ = world
    response = post("halt", user_id="U-nobody")
    assert response.status_code == 200 and "not linked" in response.json()["text"]
    account.refresh_from_db()
    assert account.stop_level == "none"


def _stop(account):
    return TradingAccount.objects.get(pk=account.pk).stop_level


def _strategy(strategy):
    return Strategy.objects.get(pk=strategy.pk).state


def _halt(account, strategy):
    TradingAccount.objects.filter(pk=account.pk).update(stop_level="pause_entries", stop_reason="t")


def _pause_strategy(account, strategy):
    Strategy.objects.filter(pk=strategy.pk).update(state="paused")


def _alert(account, strategy):
    return alert_raise(account_id=account.pk, type="breaker_trip", message="t").pk


# (text, action, setup, observe)
COMMANDS = [
    ("pause market is wild", "pause_entries", None, lambda a, s: _stop(a)),
    ("resume all clear", "release", _halt, lambda a, s: _stop(a)),
    ("halt", "halt", None, lambda a, s: _stop(a)),
    ("flatten", "flatten", None, lambda a, s: _stop(a)),
    ("pause strategy btc-momentum", "pause_strategy", None, lambda a, s: _strategy(s)),
    ("resume strategy btc-momentum", "pause_strategy", _pause_strategy, lambda a, s: _strategy(s)),
    ("ack {alert} looking", "acknowledge_alert", _alert, lambda a, s: Alert.objects.get(account=a).status),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("text", "action", "setup", "observe"), COMMANDS, ids=[c[0] for c in COMMANDS])
def test_chatops_permission_matrix(world, role, text, action, setup, observe):
    account, strategy = world
    linked(role, account)
    extra = setup(account, strategy) if setup else None
    before = observe(account, strategy)
    response = post(text.format(alert=extra))
    assert response.status_code == 200
    after = observe(account, strategy)
    reply = response.json()["text"]
    if action in GRANTS[role]:
        assert after != before, reply
        assert response.json()["response_type"] == "in_channel"
    else:
        assert after == before
        assert "may not" in reply and response.json()["response_type"] == "ephemeral"


def test_a_halt_through_chatops_is_audited_as_the_linked_user(world):
    from compliance.models import AuditEvent

    account, _ = world
    user = linked("operator", account)
    post("halt spreads blew out")
    event = AuditEvent.objects.get(action="stop.halt")
    assert event.actor == user.username and event.payload["reason"] == "spreads blew out"


def test_profit_daily_answers(world):
    account, _ = world
    linked("viewer", account)
    assert "No equity history" in post("profit daily").json()["text"]


@pytest.mark.skipif(validation_services() is not None, reason="this build has the validation framework")
def test_without_the_validation_framework_validate_and_golive_say_so(world):
    account, _ = world
    linked("admin", account)
    assert post("validate quick").json()["text"] == UNAVAILABLE
    cache.clear()
    assert post("golive").json()["text"] == UNAVAILABLE


@pytest.mark.skipif(validation_services() is None, reason="the validation framework is not in this build")
@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_validate_quick_starts_a_run_for_roles_that_may(world, role):
    from validation.models import ValidationRun

    account, _ = world
    linked(role, account)
    reply = post("validate quick").json()["text"]
    may = role == "operator"
    assert ValidationRun.objects.filter(trigger="chatops", mode="quick").exists() == may, reply
    assert ("started" in reply) == may


def test_unknown_commands_get_the_usage(world):
    account, _ = world
    linked("viewer", account)
    assert post("explode").json()["text"].startswith("Usage:")


@pytest.mark.skipif(validation_services() is None, reason="the validation framework is not in this build")
@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_golive_records_a_decision_for_roles_that_may(world, role):
    from validation.models import GoLiveDecision

    account, _ = world
    linked(role, account)
    reply = post("golive").json()["text"]
    may = role == "operator"
    assert GoLiveDecision.objects.filter(account=account).exists() == may, reply
    if may:
        decision = GoLiveDecision.objects.get(account=account)
        assert f"*{decision.decision}*" in reply
    else:
        assert "may not" in reply
