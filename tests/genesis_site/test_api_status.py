from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from compliance.models import AuditEvent
from genesis_site.authentication import bot_tokens_changed
from genesis_site.models import BotToken
from genesis_site.services import bot_token_create
from tests.genesis_site.factories import UserFactory
from tests.risk.factories import active_policy
from tests.trading.factories import StrategyFactory, TradingAccountFactory
from trading.services.engine import engine_tick

pytestmark = pytest.mark.django_db
STATUS = "/api/v1/status"


@pytest.fixture
def member():
    user = UserFactory(role="operator")
    account = TradingAccountFactory(members=[user])
    StrategyFactory(account=account)
    active_policy(account)
    return user, account


def session_client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def bearer_client(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_status_reports_mode_equity_pnl_positions_stop_level_config_and_last_tick(member):
    user, account = member
    for _ in range(40):
        engine_tick(account_id=account.pk)
    response = session_client(user).get(STATUS)
    assert response.status_code == 200
    body = response.json()
    account.refresh_from_db()
    version = account.config_versions.get(is_active=True)
    assert body["account"]["id"] == account.pk and body["mode"] == "PAPER" and body["stop_level"] == "none"
    assert body["config"] == {"version": version.version, "sha256": version.sha256}
    assert body["last_tick_at"] == account.last_tick_at.isoformat()
    assert body["seq"] == account.tick_seq == 40
    snapshot = account.equity_snapshots.latest("ts")
    assert body["equity"] == format(snapshot.equity.normalize(), "f")
    assert set(body["pnl"]) == {"today", "today_pct", "week", "week_pct", "total", "total_pct"}


def test_a_bot_token_authenticates_and_is_stored_only_as_a_hash(member):
    user, account = member
    raw = bot_token_create(name="chatops", user=user, days=30)
    token = BotToken.objects.get(name="chatops")
    assert raw not in (token.key_hash, token.prefix) and token.key_hash == BotToken.hash_key(raw)
    response = bearer_client(raw).get(STATUS)
    assert response.status_code == 200 and response.json()["account"]["id"] == account.pk
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_last_used_at_is_written_at_most_once_a_minute(member):
    """A bot polling several times a second must not write its token row on every request."""
    user, _ = member
    raw = bot_token_create(name="poller", user=user, days=30)
    recent, old = timezone.now() - timedelta(seconds=30), timezone.now() - timedelta(minutes=2)
    BotToken.objects.update(last_used_at=recent)
    assert bearer_client(raw).get(STATUS).status_code == 200
    assert BotToken.objects.get(name="poller").last_used_at == recent
    BotToken.objects.update(last_used_at=old)
    bot_tokens_changed()  # a queryset update sends no signal: the checked token is still held
    assert bearer_client(raw).get(STATUS).status_code == 200
    assert BotToken.objects.get(name="poller").last_used_at > recent


@pytest.mark.parametrize("state", ["expired", "revoked", "wrong"])
def test_expired_revoked_or_wrong_tokens_get_401_json(member, state):
    user, _ = member
    raw = bot_token_create(name="bot", user=user, days=30)
    if state == "expired":
        BotToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    elif state == "revoked":
        call_command("bot_token", "revoke", "bot")
    else:
        raw = raw[:-2] + "xx"
    response = bearer_client(raw).get(STATUS)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_no_credentials_get_401_json():
    response = APIClient().get(STATUS)
    assert response.status_code in (401, 403)
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize(
    ("query", "field_message"),
    [("?account=abc", "A valid integer is required."), ("?account=0", "greater than or equal to 1")],
)
def test_bad_input_gets_400_naming_the_field(member, query, field_message):
    user, _ = member
    response = session_client(user).get(STATUS + query)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field_message in " ".join(error["fields"]["account"])
    assert error["message"].startswith("account:")


def test_an_account_the_user_cannot_see_is_a_404_without_leaking_it(member):
    user, _ = member
    other = TradingAccountFactory()
    response = session_client(user).get(f"{STATUS}?account={other.pk}")
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "not_found", "message": f"Account {other.pk} not found."}


def test_a_user_with_several_accounts_must_choose(member):
    user, _ = member
    TradingAccountFactory(members=[user])
    response = session_client(user).get(STATUS)
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"account": ["Required: you can see several accounts."]}


def test_a_session_post_without_csrf_is_refused(member):
    user, _ = member
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(STATUS, {}, format="json")
    assert response.status_code == 403


def test_unknown_api_paths_answer_json_404(member):
    user, _ = member
    response = session_client(user).get("/api/v1/nope")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_ping_needs_no_credentials_and_reveals_nothing():
    client = APIClient()
    assert client.get("/api/v1/ping").json() == {"status": "ok"}
    assert client.head("/api/v1/ping").status_code == 200


def test_the_openapi_schema_documents_status_for_authenticated_users(member):
    user, _ = member
    assert APIClient().get("/api/schema/").status_code in (401, 403)
    response = session_client(user).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert "/api/v1/status" in schema["paths"] and "/api/v1/ping" in schema["paths"]
    assert session_client(user).get("/api/docs/").status_code == 200


def test_the_schema_documents_the_bearer_scheme(member):
    user, _ = member
    schema = session_client(user).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert schema["components"]["securitySchemes"]["botToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A bot token from `manage.py bot_token create`.",
    }


# With Redis (a cache all processes share) the API keeps a checked token for a few seconds;
# without it every request reads the row. Either way a change is in force at the next request.


def test_a_token_in_use_is_refused_on_the_next_request_once_revoked_and_the_attempt_audited(member):
    user, _ = member
    client = bearer_client(bot_token_create(name="bot", user=user, days=30))
    assert [client.get(STATUS).status_code for _ in range(3)] == [200, 200, 200]
    call_command("bot_token", "revoke", "bot")
    assert client.get(STATUS).status_code == 401
    assert AuditEvent.objects.filter(action="auth.token_failed", payload__why="revoked").count() == 1


def test_a_token_in_use_is_refused_at_once_when_its_user_is_deactivated_or_deleted(member):
    user, _ = member
    client = bearer_client(bot_token_create(name="bot", user=user, days=30))
    assert client.get(STATUS).status_code == 200
    user.is_active = False
    user.save()
    assert client.get(STATUS).status_code == 401
    user.is_active = True
    user.save()
    assert client.get(STATUS).status_code == 200
    user.delete()
    assert client.get(STATUS).status_code == 401


def test_a_role_taken_from_a_token_user_applies_at_the_next_request(member):
    user, account = member
    client = bearer_client(bot_token_create(name="bot", user=user, days=30))
    assert client.get(STATUS).status_code == 200
    user.groups.clear()  # no longer an operator: may not halt
    response = client.post("/api/v1/stops/halt", {"account": account.pk, "reason": "test"}, format="json")
    assert response.status_code == 403
    account.refresh_from_db()
    assert account.stop_level == "none"


def test_a_login_stamp_keeps_checked_tokens_but_any_other_user_change_ends_them(member):
    from django.core.cache import cache

    from genesis_site.authentication import _GENERATION_KEY

    user, _ = member
    client = bearer_client(bot_token_create(name="bot", user=user, days=30))
    assert client.get(STATUS).status_code == 200
    before = cache.get(_GENERATION_KEY)
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    assert cache.get(_GENERATION_KEY) == before
    user.first_name = "Renamed"
    user.save(update_fields=["first_name"])
    if before is not None:  # a shared cache (Redis) carries a new generation to every process
        assert cache.get(_GENERATION_KEY) != before
