"""What the schema refuses, the API refuses (SPEC §10, §11), and refusals carry one status rule:
400 breaks the schema, 404 names nothing, 409 conflicts with the state, 422 breaks a domain rule."""

import pytest

from compliance.models import AuditEvent
from tests.genesis_site.api_cases import POLICY, client_for
from tests.genesis_site.factories import UserFactory
from tests.risk.factories import active_policy
from tests.trading.factories import TradingAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk():
    user = UserFactory(role="admin")
    account = TradingAccountFactory(members=[user])
    active_policy(account, content=POLICY)
    return client_for(user), account


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/stops/halt", {"reason": 0}, "reason"),
        ("/api/v1/stops/flatten", {"reason": True}, "reason"),
        ("/api/v1/deployments", {"reason": "x", "version": 0}, "version"),
        ("/api/v1/manual/force-entry", {"reason": "x", "symbol": "BTC/USDT", "amount": 1}, "amount"),
        ("/api/v1/manual/force-entry", {"reason": "x", "symbol": "BTC/USDT", "amount": "1e3"}, "amount"),
    ],
)
def test_a_number_where_the_schema_says_string_is_a_400_and_changes_nothing(desk, path, body, field):
    client, account = desk
    events = AuditEvent.objects.count()
    response = client.post(path, {"account": account.pk, **body}, format="json")
    assert response.status_code == 400 and field in response.json()["error"]["fields"], response.json()
    account.refresh_from_db()
    assert account.stop_level == "none" and AuditEvent.objects.count() == events


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("/api/v1/orders?until=", "until"),
        ("/api/v1/fills?since=", "since"),
        ("/api/v1/audit-events?until=", "until"),
        ("/api/v1/config-versions?is_active=null&is_active=null", "is_active"),
        ("/api/v1/positions?open=unknown", "open"),
        ("/api/v1/symbol-locks?active=", "active"),
        ("/api/v1/logs?level=", "level"),
        ("/api/v1/performance?by=", "by"),
        ("/api/v1/profit?period=", "period"),
    ],
)
def test_an_empty_or_null_typed_parameter_is_a_400_naming_it(desk, query, field):
    client, _ = desk
    response = client.get(query)
    assert response.status_code == 400 and field in response.json()["error"]["fields"], response.json()


def test_empty_free_text_filters_and_real_booleans_still_filter(desk):
    client, _ = desk
    assert client.get("/api/v1/orders?symbol=").status_code == 200
    assert client.get("/api/v1/config-versions?is_active=true").json()["results"][0]["is_active"] is True
    assert client.get("/api/v1/audit-events?after_sequence=0").status_code == 200


def test_state_refusals_are_409_and_missing_things_404_in_the_one_error_shape(desk):
    client, _ = desk
    assert client.post("/api/v1/stops/halt", {"reason": "drill"}, format="json").status_code == 200
    again = client.post("/api/v1/stops/pause-entries", {"reason": "again"}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "stop_conflict", again.json()
    unlocked = client.post("/api/v1/symbol-locks/release", {"reason": "x", "symbol": "BTC/USDT"}, format="json")
    assert unlocked.status_code == 409 and "not locked" in unlocked.json()["error"]["message"]
    missing = client.post("/api/v1/config-versions/rollback", {"reason": "x", "version": 99}, format="json")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "config_version_not_found"
    active = client.post("/api/v1/config-versions/rollback", {"reason": "x", "version": 1}, format="json")
    assert active.status_code == 409 and "already the active version" in active.json()["error"]["message"]
    unknown = client.post("/api/v1/symbol-locks", {"reason": "x", "symbol": "NOPE/USDT", "minutes": 5}, format="json")
    assert unknown.status_code == 422 and "symbol" in unknown.json()["error"]["fields"]
