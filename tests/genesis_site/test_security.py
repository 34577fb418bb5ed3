"""SPEC S3: login lockout, token guessing throttled and audited, session rotation, CSRF."""

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from compliance.models import AuditEvent
from genesis_site.services import bot_token_create
from tests.genesis_site.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()


def test_wrong_passwords_lock_the_account_at_five_even_for_the_right_password():
    user = UserFactory()
    for attempt in range(1, 21):
        response = Client(REMOTE_ADDR=f"203.0.113.{attempt}").post(
            "/login/", {"username": user.username, "password": f"wrong-{attempt}"}
        )
        assert response.status_code == (200 if attempt < 5 else 429), attempt
    locked = Client(REMOTE_ADDR="203.0.113.200").post("/login/", {"username": user.username, "password": PASSWORD})
    assert locked.status_code == 429 and "_auth_user_id" not in locked.client.session
    failures = AuditEvent.objects.filter(action="auth.login_failed")
    assert failures.count() == 21
    assert all(e.payload["ip"].startswith("203.0.113.") for e in failures)
    assert not any("wrong-" in str(e.payload) or PASSWORD in str(e.payload) for e in failures)


def test_four_failures_then_the_right_password_logs_in_and_resets_the_count():
    user = UserFactory()
    client = Client()
    for _ in range(4):
        client.post("/login/", {"username": user.username, "password": "nope"})
    assert client.post("/login/", {"username": user.username, "password": PASSWORD}).status_code == 302


def test_the_session_key_changes_at_login():
    user = UserFactory()
    client = Client()
    client.get("/login/")
    client.session.save()
    before = client.session.session_key
    client.post("/login/", {"username": user.username, "password": PASSWORD})
    assert client.session.session_key and client.session.session_key != before


def test_token_guessing_gets_429_and_every_failure_is_audited_without_the_token():
    guesses = [f"guess-{i:04d}-secretish" for i in range(15)]
    codes = []
    for raw in guesses:
        client = APIClient(REMOTE_ADDR="198.51.100.9")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        codes.append(client.get("/api/v1/status").status_code)
    assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}
    events = AuditEvent.objects.filter(action="auth.token_failed")
    assert events.count() == 15 and {e.payload["ip"] for e in events} == {"198.51.100.9"}
    assert not any("guess-" in str(e.payload) for e in events)


def test_a_good_token_from_another_ip_still_works_while_one_ip_is_throttled():
    user = UserFactory(role="viewer")
    raw = bot_token_create(name="ok", user=user, days=1)
    for _ in range(10):
        bad = APIClient(REMOTE_ADDR="198.51.100.9")
        bad.credentials(HTTP_AUTHORIZATION="Bearer nope")
        bad.get("/api/v1/accounts")
    good = APIClient(REMOTE_ADDR="192.0.2.1")
    good.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert good.get("/api/v1/accounts").status_code == 200


def test_a_session_write_without_csrf_is_refused_and_changes_nothing():
    from tests.trading.factories import TradingAccountFactory

    user = UserFactory(role="admin")
    account = TradingAccountFactory(members=[user])
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/api/v1/stops/halt", {"reason": "csrf"}, format="json")
    assert response.status_code == 403
    account.refresh_from_db()
    assert account.stop_level == "none"
