import pytest
from django.test import Client, override_settings

from genesis_site.services import heartbeat_record

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_login():
    response = Client().get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_is_503_until_worker_and_scheduler_heartbeats_are_fresh():
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"]["ok"] and not body["checks"]["worker"]["ok"]
    heartbeat_record(name="worker:w1")
    heartbeat_record(name="scheduler")
    response = Client().get("/readyz")
    assert response.status_code == 200 and response.json()["ready"] is True


def test_metrics_are_served_to_loopback_only_without_a_token():
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 403


@override_settings(METRICS_TOKEN="s3cret-token")
def test_metrics_need_the_bearer_token_when_one_is_configured():
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 403
    ok = Client(REMOTE_ADDR="10.1.2.3").get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert ok.status_code == 200
    assert b"trader_tick_latency_seconds" in ok.content
