import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.utils import timezone

from compliance.models import AuditEvent
from compliance.services import Actor
from genesis_site.secrets import SecretDecryptError, decrypt, encrypt
from risk import alerts
from risk.alerts import (
    AlertInvalid,
    AlertStateError,
    alert_acknowledge,
    alert_channel_create,
    alert_raise,
    alert_resolve,
    alerts_escalate,
    runbook_path,
)
from risk.channels import pagerduty_payload, slack_payload
from risk.models import Alert, AlertDelivery, AlertType
from risk.tasks import ALERT_DELIVERY_MAX_RETRIES
from tests.genesis_site.factories import UserFactory
from tests.trading.factories import TradingAccountFactory

pytestmark = pytest.mark.django_db

ADMIN = Actor.system("tests")
T0 = timezone.now().replace(microsecond=0)
# The eleven types of SPEC R8, plus the engine-silent (R6), bad-tick (R7) and operator-tilt (R10) alerts.
SPEC_TYPES = {
    "engine_silent",
    "bad_tick",
    "operator_tilt",
    "unknown_order",  # SPEC T5: adopted exchange orders
    "fee_unpriced",  # SPEC T6: a third-currency fee with no price at the fill
    "kill_switch",
    "daily_stop",
    "weekly_stop",
    "max_drawdown",
    "latency_violation",
    "api_error_burst",
    "order_rejection_burst",
    "empty_universe",
    "exception_burst",
    "breaker_trip",
    "validation_failed",
}


@pytest.fixture(autouse=True)
def fernet_key(settings):
    settings.GENESIS_FERNET_KEYS = Fernet.generate_key().decode()
    settings.GENESIS_ALERT_RETRY_BASE_SECONDS = 0.01
    return settings.GENESIS_FERNET_KEYS


@pytest.fixture
def account():
    return TradingAccountFactory(name="main")


@pytest.fixture
def published(monkeypatch):
    events = []
    monkeypatch.setattr(alerts, "account_event_publish", lambda **kw: events.append(kw))
    return events


@pytest.fixture
def webhook_server():
    """A real HTTP endpoint on 127.0.0.1 that answers 500 `failures` times, then `ok_status`,
    and records every request body."""
    state = SimpleNamespace(failures=2, ok_status=202, bodies=[], paths=[])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            state.paths.append(self.path)
            state.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            status = 500 if state.failures > 0 else state.ok_status
            state.failures -= 1
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}"
    yield state
    server.shutdown()
    server.server_close()
    thread.join(5)


def _pagerduty(url, name="pd", **kwargs):
    return alert_channel_create(
        kind="pagerduty", name=name, url=f"{url}/v2/enqueue", routing_key="R0UTINGKEY123", actor=ADMIN, **kwargs
    )


# --- deduplication, escalation, acknowledge, resolve ------------------------------------------


def test_repeat_within_60s_bumps_count_and_later_one_is_new(account, published):
    first = alert_raise(account_id=account.pk, type="api_error_burst", message="5 errors", now=T0)
    again = alert_raise(
        account_id=account.pk, type="api_error_burst", message="6 errors", now=T0 + timedelta(seconds=59)
    )
    assert again.pk == first.pk
    assert (again.count, again.last_seen, again.first_seen) == (2, T0 + timedelta(seconds=59), T0)
    # The window slides with the last sighting; 61 s of quiet ends it.
    later = alert_raise(account_id=account.pk, type="api_error_burst", message="x", now=T0 + timedelta(seconds=121))
    assert later.pk != first.pk and later.count == 1
    other_type = alert_raise(account_id=account.pk, type="breaker_trip", message="x", now=T0 + timedelta(seconds=121))
    assert other_type.pk not in (first.pk, later.pk)
    assert Alert.objects.count() == 3


def test_resolved_alert_is_not_reused(account):
    first = alert_raise(account_id=account.pk, type="daily_stop", message="-3.1 %", now=T0)
    alert_resolve(alert_id=first.pk, actor=ADMIN, comment="new day")
    second = alert_raise(account_id=account.pk, type="daily_stop", message="-3.2 %", now=T0 + timedelta(seconds=5))
    assert second.pk != first.pk


def test_default_severity_and_unknown_type(account):
    assert alert_raise(account_id=account.pk, type="kill_switch", message="halted").severity == "critical"
    assert alert_raise(account_id=account.pk, type="daily_stop", message="x").severity == "warning"
    assert alert_raise(account_id=account.pk, type="breaker_trip", message="x", severity="info").severity == "info"
    with pytest.raises(AlertInvalid, match="unknown alert type"):
        alert_raise(account_id=account.pk, type="disk_full", message="x")
    with pytest.raises(AlertInvalid, match="severity"):
        alert_raise(account_id=account.pk, type="daily_stop", message="x", severity="panic")


def test_escalation_after_two_minutes_once(account, published):
    alert = alert_raise(account_id=account.pk, type="latency_violation", message="p99 900 ms", now=T0)
    assert alerts_escalate(now=T0 + timedelta(seconds=119)) == 0
    assert alerts_escalate(now=T0 + timedelta(seconds=121)) == 1
    alert.refresh_from_db()
    assert (alert.severity, alert.escalated_at, alert.status) == ("critical", T0 + timedelta(seconds=121), "open")
    assert alerts_escalate(now=T0 + timedelta(minutes=10)) == 0
    event = AuditEvent.objects.get(action="alert.escalate")
    assert (event.actor, event.object_id, event.payload["type"]) == ("alerts", str(alert.pk), "latency_violation")


def test_acknowledged_alert_is_not_escalated(account):
    alert = alert_raise(account_id=account.pk, type="breaker_trip", message="x", now=T0)
    alert_acknowledge(alert_id=alert.pk, user=UserFactory(), comment="looking")
    assert alerts_escalate(now=T0 + timedelta(minutes=5)) == 0
    alert.refresh_from_db()
    assert alert.escalated_at is None and alert.severity == "warning"


def test_acknowledge_records_who_when_comment_and_is_audited(account, published):
    user = UserFactory(username="olga")
    alert = alert_raise(account_id=account.pk, type="max_drawdown", message="dd 10.4 %")
    before = timezone.now()
    alert_acknowledge(alert_id=alert.pk, user=user, comment="on it, INC-42")
    alert.refresh_from_db()
    assert alert.status == "acknowledged"
    assert alert.acknowledged_by == user and alert.acknowledge_comment == "on it, INC-42"
    assert before <= alert.acknowledged_at <= timezone.now()
    event = AuditEvent.objects.get(action="alert.acknowledge")
    assert (event.actor_type, event.actor, event.object_type, event.object_id) == (
        "user",
        "olga",
        "risk.alert",
        str(alert.pk),
    )
    assert event.payload == {
        "account": account.pk,
        "alert": alert.pk,
        "type": "max_drawdown",
        "comment": "on it, INC-42",
    }
    with pytest.raises(AlertStateError, match="only an open alert"):
        alert_acknowledge(alert_id=alert.pk, user=user, comment="again")


def test_resolve_by_user_or_actor_is_audited(account):
    user = UserFactory(username="rita")
    alert = alert_raise(account_id=account.pk, type="exception_burst", message="x")
    alert_acknowledge(alert_id=alert.pk, user=user, comment="ack")
    alert_resolve(alert_id=alert.pk, user=user, comment="fixed in 1.4.2")
    alert.refresh_from_db()
    assert (alert.status, alert.resolved_by, alert.resolve_comment) == ("resolved", "rita", "fixed in 1.4.2")
    assert alert.resolved_at is not None
    assert AuditEvent.objects.get(action="alert.resolve").payload["comment"] == "fixed in 1.4.2"
    with pytest.raises(AlertStateError, match="already resolved by rita"):
        alert_resolve(alert_id=alert.pk, actor=ADMIN)
    other = alert_raise(account_id=account.pk, type="empty_universe", message="x")
    alert_resolve(alert_id=other.pk, actor=Actor.system("engine"), comment="universe back")
    assert Alert.objects.get(pk=other.pk).resolved_by == "engine"
    with pytest.raises(AlertInvalid):
        alert_resolve(alert_id=other.pk, comment="who?")


def test_dashboard_gets_new_escalated_acknowledged_and_resolved(account, published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        alert = alert_raise(account_id=account.pk, type="kill_switch", message="halted", now=T0)
        alert_raise(account_id=account.pk, type="kill_switch", message="halted", now=T0 + timedelta(seconds=1))
        alerts_escalate(now=T0 + timedelta(minutes=3))
        alert_acknowledge(alert_id=alert.pk, user=UserFactory(), comment="")
        alert_resolve(alert_id=alert.pk, actor=ADMIN)
    assert [e["account_id"] for e in published] == [account.pk] * 4
    assert [(e["event"]["type"], e["event"]["change"]) for e in published] == [
        ("alert", "raised"),
        ("alert", "escalated"),
        ("alert", "acknowledged"),
        ("alert", "resolved"),
    ]
    first = published[0]["event"]["alert"]
    assert (first["id"], first["type"], first["severity"], first["runbook"]) == (
        alert.pk,
        "kill_switch",
        "critical",
        "deploy/runbooks/kill-switch.md",
    )


# --- runbooks ----------------------------------------------------------------------------------


def test_every_alert_type_has_a_runbook_on_disk():
    assert set(AlertType.values) == SPEC_TYPES
    for alert_type in SPEC_TYPES:
        text = runbook_path(alert_type).read_text()
        for section in ("## Symptoms", "## Checks", "## Remedies", "## Escalation"):
            assert section in text, (alert_type, section)


# --- payloads ----------------------------------------------------------------------------------


def test_slack_payload_shape(account):
    alert = alert_raise(account_id=account.pk, type="daily_stop", message="P&L today -3.2 %", now=T0)
    body = slack_payload(alert, "trigger", runbook_url="https://runbooks.example/daily-stop.md")
    text = "[WARNING] daily_stop on account main: P&L today -3.2 %"
    context = f"<https://runbooks.example/daily-stop.md|Runbook> | alert #{alert.pk} | seen 1x since {T0:%H:%M:%S} UTC"
    assert body == {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
        ],
    }
    alert_acknowledge(alert_id=alert.pk, user=UserFactory(username="olga"), comment="checking")
    alert.refresh_from_db()
    acked = slack_payload(alert, "acknowledge", runbook_url="x")
    assert acked["text"] == "Acknowledged by olga: daily_stop on account main"
    assert acked["blocks"][0]["text"]["text"] == "Acknowledged by olga: daily_stop on account main\n> checking"


def test_pagerduty_payload_shape(account):
    alert = alert_raise(
        account_id=account.pk, type="max_drawdown", message="dd 10.4 %", details={"dd_pct": "10.4"}, now=T0
    )
    body = pagerduty_payload(alert, "trigger", routing_key="RK", runbook_url="https://rb/drawdown-limit.md")
    assert body == {
        "routing_key": "RK",
        "event_action": "trigger",
        "dedup_key": f"genesis-alert-{alert.pk}",
        "payload": {
            "summary": "[CRITICAL] max_drawdown on account main: dd 10.4 %",
            "severity": "critical",
            "source": "genesis/main",
            "component": "max_drawdown",
            "custom_details": {
                "alert_id": alert.pk,
                "account": "main",
                "count": 1,
                "first_seen": T0.isoformat(),
                "last_seen": T0.isoformat(),
                "escalated": False,
                "details": {"dd_pct": "10.4"},
            },
        },
        "links": [{"href": "https://rb/drawdown-limit.md", "text": "Runbook: max_drawdown"}],
    }
    for action in ("acknowledge", "resolve"):
        assert pagerduty_payload(alert, action, routing_key="RK", runbook_url="x") == {
            "routing_key": "RK",
            "event_action": action,
            "dedup_key": f"genesis-alert-{alert.pk}",
        }


# --- delivery to a real HTTP endpoint ----------------------------------------------------------


def test_pagerduty_delivery_retries_until_accepted(account, webhook_server, django_capture_on_commit_callbacks):
    _pagerduty(webhook_server.url)
    with django_capture_on_commit_callbacks(execute=True):
        alert = alert_raise(account_id=account.pk, type="max_drawdown", message="dd 10.4 %")
    assert len(webhook_server.bodies) == 3  # 500, 500, 202
    assert webhook_server.paths == ["/v2/enqueue"] * 3
    body = webhook_server.bodies[-1]
    assert body["routing_key"] == "R0UTINGKEY123"
    assert body["dedup_key"] == f"genesis-alert-{alert.pk}"
    assert body["event_action"] == "trigger"
    assert body["links"] == [{"href": "deploy/runbooks/drawdown-limit.md", "text": "Runbook: max_drawdown"}]
    delivery = AlertDelivery.objects.get(alert=alert)
    assert (delivery.status, delivery.attempts, delivery.last_error, delivery.event) == ("sent", 3, "", "trigger")
    assert delivery.sent_at is not None


def test_delivery_gives_up_after_max_retries(account, webhook_server, django_capture_on_commit_callbacks):
    webhook_server.failures = 100
    alert_channel_create(kind="slack", name="ops", url=f"{webhook_server.url}/hooks/T0/B0/secret", actor=ADMIN)
    with django_capture_on_commit_callbacks(execute=True):
        alert_raise(account_id=account.pk, type="breaker_trip", message="latency breaker open")
    delivery = AlertDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed", ALERT_DELIVERY_MAX_RETRIES + 1)
    assert delivery.last_error.startswith("HTTP 500")
    assert "secret" not in delivery.last_error
    assert webhook_server.bodies[0]["text"].startswith("[WARNING] breaker_trip on account main")


def test_client_error_is_not_retried(account, webhook_server, django_capture_on_commit_callbacks):
    webhook_server.failures, webhook_server.ok_status = 0, 400
    _pagerduty(webhook_server.url)
    with django_capture_on_commit_callbacks(execute=True):
        alert_raise(account_id=account.pk, type="kill_switch", message="halted")
    delivery = AlertDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("failed", 1, "HTTP 400: ")


def test_severity_threshold_escalation_and_acknowledge_reach_pagerduty(
    account, webhook_server, django_capture_on_commit_callbacks
):
    webhook_server.failures = 0
    _pagerduty(webhook_server.url, min_severity="critical")
    other = TradingAccountFactory()
    alert_channel_create(
        kind="slack", name="other", url=f"{webhook_server.url}/slack", actor=ADMIN, account_id=other.pk
    )
    with django_capture_on_commit_callbacks(execute=True):
        alert = alert_raise(account_id=account.pk, type="order_rejection_burst", message="12 rejects", now=T0)
    assert webhook_server.bodies == []  # warning is below the pager's threshold; other account's channel
    with django_capture_on_commit_callbacks(execute=True):
        alerts_escalate(now=T0 + timedelta(minutes=2, seconds=1))
        alert_acknowledge(alert_id=alert.pk, user=UserFactory(), comment="ack")
        alert_resolve(alert_id=alert.pk, actor=ADMIN, comment="done")
    assert [b["event_action"] for b in webhook_server.bodies] == ["trigger", "acknowledge", "resolve"]
    assert webhook_server.bodies[0]["payload"]["severity"] == "critical"
    assert webhook_server.bodies[0]["payload"]["custom_details"]["escalated"] is True
    assert {b["dedup_key"] for b in webhook_server.bodies} == {f"genesis-alert-{alert.pk}"}
    assert set(AlertDelivery.objects.values_list("status", flat=True)) == {"sent"}


def test_nothing_is_sent_when_the_change_rolls_back(account, webhook_server, django_capture_on_commit_callbacks):
    from django.db import transaction

    _pagerduty(webhook_server.url)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            alert_raise(account_id=account.pk, type="kill_switch", message="halted")
            raise RuntimeError("caller failed")
    assert callbacks == [] and webhook_server.bodies == []
    assert not AlertDelivery.objects.exists() and not Alert.objects.exists()


# --- secrets -----------------------------------------------------------------------------------


def test_channel_secrets_are_stored_encrypted(account):
    url = "https://events.pagerduty.example/v2/enqueue?token=PLAINTEXT-URL-SECRET"
    channel = alert_channel_create(
        kind="pagerduty", name="pager", url=url, routing_key="PLAINTEXT-ROUTING-KEY", actor=ADMIN
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM risk_alertchannel WHERE id = %s", [channel.pk])
        raw = " ".join(str(value) for value in cursor.fetchone())
    assert "PLAINTEXT-URL-SECRET" not in raw and "PLAINTEXT-ROUTING-KEY" not in raw
    assert decrypt(channel.url_encrypted) == url
    assert decrypt(channel.routing_key_encrypted) == "PLAINTEXT-ROUTING-KEY"
    assert str(channel) == "pagerduty: pager"
    audit = AuditEvent.objects.get(action="alert_channel.create")
    assert "PLAINTEXT" not in json.dumps(audit.payload)


def test_tampered_or_foreign_token_raises(settings):
    token = encrypt("https://hooks.example/secret")
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(SecretDecryptError):
        decrypt(tampered)
    with pytest.raises(SecretDecryptError):
        decrypt("not a token")
    settings.GENESIS_FERNET_KEYS = Fernet.generate_key().decode()
    with pytest.raises(SecretDecryptError):
        decrypt(token)


def test_key_rotation_keeps_old_tokens_readable(settings, fernet_key):
    old_token = encrypt("https://hooks.example/a")
    settings.GENESIS_FERNET_KEYS = f"{Fernet.generate_key().decode()},{fernet_key}"
    assert decrypt(old_token) == "https://hooks.example/a"


def test_dev_key_file_and_no_default_in_production(settings, tmp_path, monkeypatch):
    settings.GENESIS_FERNET_KEYS = None
    settings.VAR_DIR = tmp_path
    monkeypatch.delenv("GENESIS_FERNET_KEYS", raising=False)
    token = encrypt("x")
    assert (tmp_path / "fernet_key").stat().st_mode & 0o777 == 0o600
    assert decrypt(token) == "x"
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "genesis_site.settings.prod")
    with pytest.raises(ImproperlyConfigured, match="GENESIS_FERNET_KEYS"):
        encrypt("x")
