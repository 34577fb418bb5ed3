"""The validation API (SPEC O2, V6) and the validation page: the same services, permissions
per role, one error shape."""

import pytest
from django.test import Client

from compliance.models import AuditEvent
from tests.genesis_site.factories import UserFactory
from tests.risk.factories import active_policy
from tests.trading.factories import TradingAccountFactory
from validation.models import GoLiveDecision, ValidationRun

pytestmark = pytest.mark.django_db
RUNS = "/api/v1/validation-runs/"


def client_for(role, account=None):
    user = UserFactory(role=role)
    if account is not None:
        account.members.add(user)
    client = Client()
    client.force_login(user)
    return client, user


@pytest.fixture
def account():
    account = TradingAccountFactory()
    active_policy(account)
    return account


def test_an_operator_starts_a_run_and_reads_it_back(account, django_capture_on_commit_callbacks):
    client, user = client_for("operator", account)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            RUNS, {"mode": "quick", "only": ["risk_limits"], "account": account.pk}, content_type="application/json"
        )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["checks_planned"] == ["risk_limits"] and body["account"] == account.pk
    run = ValidationRun.objects.get(pk=body["id"])
    # Queued after commit; the test settings run it inline (no background thread), so it has run by now.
    assert (run.status, run.decision) == ("finished", "GO")
    assert (run.started_by, run.trigger, run.account) == (user, "dashboard", account)
    detail = client.get(f"{RUNS}{run.pk}/").json()
    assert detail["results"][0]["check_id"] == "BIZ-002" and detail["results"][0]["status"] == "passed"
    assert client.get(RUNS).json()["results"][0]["id"] == run.pk
    trend = client.get("/api/v1/validation-checks/risk_limits/trend").json()
    assert trend[0]["run"] == run.pk and trend[0]["passed"] == 1


def test_a_viewer_reads_runs_but_may_not_start_one(account):
    client, _ = client_for("viewer", account)
    assert client.get(RUNS).status_code == 200
    response = client.post(RUNS, {"mode": "quick"}, content_type="application/json")
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
    assert not ValidationRun.objects.exists()


def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(account):
    client, _ = client_for("operator", account)
    response = client.post(RUNS, {"mode": "fast"}, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["fields"] == {
        "mode": ['"fast" is not a valid choice.']
    }
    response = client.post(RUNS, {"mode": "quick", "only": ["nope"]}, content_type="application/json")
    assert response.status_code == 400
    # The schema's enum of validators and groups: refused by the serializer, naming the item.
    assert response.json()["error"]["fields"] == {"only.0": ['"nope" is not a valid choice.']}
    other = TradingAccountFactory()
    assert client.post(RUNS, {"mode": "quick", "account": other.pk}, content_type="application/json").status_code == 404
    assert not ValidationRun.objects.exists()


def test_anonymous_gets_401_or_403():
    assert Client().get(RUNS).status_code in (401, 403)
    assert Client().get("/api/v1/golive?account=1").status_code in (401, 403)


def test_golive_decide_read_and_override_by_role(account):
    operator, _ = client_for("operator", account)
    assert operator.get(f"/api/v1/golive?account={account.pk}").status_code == 404
    response = operator.post("/api/v1/golive", {"account": account.pk}, content_type="application/json")
    assert response.status_code == 201 and response.json()["decision"] == "NO_GO"
    decision_id = response.json()["id"]
    current = operator.get(f"/api/v1/golive?account={account.pk}").json()
    assert current["id"] == decision_id and "no finished validation run" in current["blocking_issues"][0]
    url = f"/api/v1/golive/{decision_id}/override"
    payload = {"decision": "GO", "reason": "emergency approval by the board, minutes 2026-11-23"}
    assert operator.post(url, payload, content_type="application/json").status_code == 403
    admin, admin_user = client_for("admin", account)
    short = admin.post(url, {"decision": "GO", "reason": "ok"}, content_type="application/json")
    assert short.status_code == 400 and "reason" in short.json()["error"]["fields"]
    done = admin.post(url, payload, content_type="application/json")
    assert done.status_code == 201 and done.json()["overrides"] == decision_id
    assert GoLiveDecision.objects.count() == 2
    assert AuditEvent.objects.get(action="golive.overridden").actor == admin_user.username


def test_the_validation_page_lists_runs_and_offers_the_start_button(account, django_capture_on_commit_callbacks):
    client, _ = client_for("operator", account)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(RUNS, {"mode": "quick", "only": ["strategy"]}, content_type="application/json")
    page = client.get("/validation/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="start-run"' in html and "vendor/uplot/uPlot.iife.min.js" in html and "js/validation.js" in html
    run = ValidationRun.objects.get()
    assert f'data-run="{run.pk}"' in html
    report = client.get(f"/validation/runs/{run.pk}/report.html")
    assert report.status_code == 200 and b"STRAT-001" in report.content


def test_a_viewer_sees_the_page_without_the_start_button(account):
    client, _ = client_for("viewer", account)
    html = client.get("/validation/").content.decode()
    assert 'id="start-run"' not in html and "You may read runs but not start them" in html
