"""The dead-letter table (SPEC M7): a task that fails for good lands there with its arguments
and correlation id; operators retry or discard it from the API or the dashboard."""

import pytest
import structlog
from celery import shared_task
from django.test import Client
from rest_framework.test import APIClient

from compliance.models import AuditEvent
from genesis_site.models import FailedTask, Heartbeat
from tests.genesis_site.factories import UserFactory
from tests.trading.factories import TradingAccountFactory

pytestmark = pytest.mark.django_db
CALLS: list[tuple] = []


class Flaky(ConnectionError):
    pass


@shared_task(name="tests.flaky_send", bind=True, max_retries=2, ignore_result=True)
def flaky_send(self, channel: str, *, attempts_to_fail: int):
    """Fails its first `attempts_to_fail` attempts, retrying (eagerly) up to max_retries."""
    CALLS.append((channel, self.request.retries, structlog.contextvars.get_contextvars().get("correlation_id")))
    if len(CALLS) <= attempts_to_fail:
        # As risk.alert_deliver: in eager mode a returned Retry is applied again at once.
        retry = self.retry(exc=Flaky(f"{channel}: peer reset"), countdown=0, throw=not self.request.is_eager)
        return retry


@pytest.fixture(autouse=True)
def _calls():
    CALLS.clear()
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()


def run_failing(correlation_id="req-abc123"):
    structlog.contextvars.bind_contextvars(correlation_id=correlation_id)
    with pytest.raises(Flaky):  # eager retries propagate the final error whatever `throw` says
        flaky_send.apply(args=["desk"], kwargs={"attempts_to_fail": 99}, throw=False)
    structlog.contextvars.clear_contextvars()


def test_a_task_that_exhausts_its_retries_is_dead_lettered_with_its_arguments_and_correlation_id():
    run_failing()
    assert [c[1] for c in CALLS] == [0, 1, 2]  # the first attempt and two retries
    row = FailedTask.objects.get()
    assert (row.task_name, row.args, row.kwargs) == ("tests.flaky_send", ["desk"], {"attempts_to_fail": 99})
    assert row.correlation_id == "req-abc123"
    assert (row.status, row.retries, row.occurrences) == ("dead", 2, 1)
    assert row.error_class.endswith("test_deadletter.Flaky")
    assert row.exception == "Flaky: desk: peer reset"
    assert (row.category, row.severity) == ("network", "error") and row.hint


def test_a_task_retried_to_success_is_not_dead_lettered():
    flaky_send.apply(args=["desk"], kwargs={"attempts_to_fail": 2}, throw=False)
    assert len(CALLS) == 3 and not FailedTask.objects.exists()


def test_the_same_failure_again_raises_occurrences_instead_of_adding_rows():
    run_failing()
    run_failing(correlation_id="req-second")
    row = FailedTask.objects.get()
    assert (row.occurrences, row.correlation_id) == (2, "req-second")
    with pytest.raises(Flaky):
        flaky_send.apply(args=["other"], kwargs={"attempts_to_fail": 99})
    assert FailedTask.objects.count() == 2  # other arguments, another row


def test_a_failure_in_the_embedded_scheduler_is_dead_lettered():
    # What the embedded scheduler runs for each beat entry: eager, errors propagating (Celery
    # then sends no task_failure; the base task's apply records it).
    from genesis_site.scheduler import run_task_inline

    with pytest.raises(Flaky):
        run_task_inline("tests.flaky_send", ["beat"], {"attempts_to_fail": 99})
    row = FailedTask.objects.get()
    assert (row.args, row.kwargs, row.retries) == (["beat"], {"attempts_to_fail": 99}, 2)


def operator_api():
    client = APIClient()
    client.force_login(UserFactory(role="operator"))
    return client


def test_retry_resends_the_task_with_its_arguments_and_correlation_id(django_capture_on_commit_callbacks):
    run_failing()
    row = FailedTask.objects.get()
    CALLS.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_api().post(
            f"/api/v1/failed-tasks/{row.pk}/retry", {"reason": "peer is back"}, format="json"
        )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "retried"
    assert CALLS[0] == ("desk", 0, "req-abc123")  # same arguments, same correlation id
    row.refresh_from_db()
    assert (row.status, row.reason) == ("retried", "peer is back") and row.acted_by and row.acted_at
    event = AuditEvent.objects.get(action="failed_task.retried")
    assert (event.payload["task"], event.payload["reason"], event.correlation_id) == (
        "tests.flaky_send",
        "peer is back",
        "req-abc123",
    )
    # it failed again: a new dead row, the retried one stays as the record
    assert list(FailedTask.objects.order_by("pk").values_list("status", flat=True)) == ["retried", "dead"]


def test_a_retried_task_that_succeeds_leaves_no_dead_row(django_capture_on_commit_callbacks):
    run_failing()
    row = FailedTask.objects.get()
    row.kwargs = {"attempts_to_fail": 0}  # the cause is gone
    row.save()
    CALLS.clear()
    with django_capture_on_commit_callbacks(execute=True):
        operator_api().post(f"/api/v1/failed-tasks/{row.pk}/retry", {"reason": "fixed"}, format="json")
    assert len(CALLS) == 1
    assert list(FailedTask.objects.values_list("status", flat=True)) == ["retried"]


def test_discard_closes_it_audited_and_a_second_action_is_a_conflict():
    run_failing()
    row = FailedTask.objects.get()
    api = operator_api()
    response = api.post(f"/api/v1/failed-tasks/{row.pk}/discard", {"reason": "obsolete"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "discarded"
    assert AuditEvent.objects.filter(action="failed_task.discarded", payload__reason="obsolete").count() == 1
    again = api.post(f"/api/v1/failed-tasks/{row.pk}/retry", {"reason": "x"}, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "failed_task_conflict"
    row.refresh_from_db()
    assert row.status == "discarded"


def test_bad_input_is_a_400_or_404_naming_it_and_changes_nothing():
    run_failing()
    row = FailedTask.objects.get()
    api = operator_api()
    response = api.post(f"/api/v1/failed-tasks/{row.pk}/retry", {}, format="json")
    assert response.status_code == 400 and "reason" in response.json()["error"]["fields"]
    assert api.post("/api/v1/failed-tasks/999999/discard", {"reason": "x"}, format="json").status_code == 404
    assert api.get("/api/v1/failed-tasks", {"status": "zombie"}).status_code == 400
    row.refresh_from_db()
    assert row.status == "dead"


def test_a_viewer_reads_the_list_but_may_not_retry_or_discard():
    run_failing()
    row = FailedTask.objects.get()
    api = APIClient()
    api.force_login(UserFactory(role="viewer"))
    listed = api.get("/api/v1/failed-tasks", {"status": "dead", "category": "network"}).json()
    assert [r["id"] for r in listed["results"]] == [row.pk]
    assert listed["results"][0]["correlation_id"] == "req-abc123"
    assert api.get("/api/v1/failed-tasks", {"status": "discarded"}).json()["results"] == []
    for verb in ("retry", "discard"):
        response = api.post(f"/api/v1/failed-tasks/{row.pk}/{verb}", {"reason": "try"}, format="json")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
    row.refresh_from_db()
    assert row.status == "dead" and not AuditEvent.objects.filter(action__startswith="failed_task").exists()


def dashboard_for(role):
    user = UserFactory(role=role)
    account = TradingAccountFactory(members=[user])
    client = Client()
    client.force_login(user)
    return client, account


def test_the_system_page_lists_dead_tasks_with_controls_disabled_for_a_viewer():
    run_failing()
    row = FailedTask.objects.get()
    client, account = dashboard_for("viewer")
    body = client.get(f"/accounts/{account.pk}/system/").content.decode()
    assert f'data-failed-task="{row.pk}"' in body and "tests.flaky_send" in body and "req-abc123" in body
    assert 'data-denied="handle_failed_task"' in body
    assert "may not retry or discard failed tasks" in body
    refused = client.post(f"/accounts/{account.pk}/failed-tasks/{row.pk}/discard", {"reason": "x"})
    assert refused.status_code == 403
    row.refresh_from_db()
    assert row.status == "dead"


def test_an_operator_retries_and_discards_from_the_dashboard(django_capture_on_commit_callbacks):
    run_failing()
    with pytest.raises(Flaky):
        flaky_send.apply(args=["other"], kwargs={"attempts_to_fail": 99})
    first, second = FailedTask.objects.order_by("pk")
    client, account = dashboard_for("operator")
    body = client.get(f"/accounts/{account.pk}/system/").content.decode()
    assert f'data-url="/accounts/{account.pk}/failed-tasks/{first.pk}/retry"' in body
    assert client.post(f"/accounts/{account.pk}/failed-tasks/{first.pk}/discard", {"reason": ""}).status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(
            f"/accounts/{account.pk}/failed-tasks/{first.pk}/retry", {"reason": "again"}, HTTP_ACCEPT="application/json"
        )
    assert done.status_code == 200 and done.json()["ok"]
    discarded = client.post(f"/accounts/{account.pk}/failed-tasks/{second.pk}/discard", {"reason": "stale"})
    assert discarded.status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("retried", "discarded")


def test_heartbeat_tasks_that_succeed_leave_nothing():
    from genesis_site.tasks import heartbeat_record_task

    heartbeat_record_task.apply()
    assert Heartbeat.objects.exists() and not FailedTask.objects.exists()


def test_a_sent_task_carries_the_correlation_id_of_its_sender_in_its_own_header():
    from celery.signals import before_task_publish

    from genesis_site.deadletter import HEADER

    headers: dict = {}
    structlog.contextvars.bind_contextvars(correlation_id="req-9")
    before_task_publish.send(sender="tests.flaky_send", headers=headers)
    # not Celery's own "correlation_id" property, which a worker sets to the task id
    assert headers == {HEADER: "req-9"}
    kept = {HEADER: "from-a-retry"}
    before_task_publish.send(sender="tests.flaky_send", headers=kept)
    assert kept == {HEADER: "from-a-retry"}
