import pytest
from django.test import Client

from compliance.models import AuditEvent
from compliance.selectors import audit_chain_verify
from tests.genesis_site.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def test_a_login_and_a_logout_are_audited_with_the_ip():
    user = UserFactory()
    client = Client(REMOTE_ADDR="192.0.2.10")
    client.post("/login/", {"username": user.username, "password": PASSWORD})
    client.post("/logout/")
    login, logout = AuditEvent.objects.order_by("sequence")
    assert (login.action, login.actor, login.payload) == ("auth.login", user.username, {"ip": "192.0.2.10"})
    assert (logout.action, logout.actor) == ("auth.logout", user.username)
    assert audit_chain_verify().ok


def test_a_failed_login_is_audited_without_the_password():
    user = UserFactory()
    Client(REMOTE_ADDR="198.51.100.7").post("/login/", {"username": user.username, "password": "hunter2-wrong"})
    event = AuditEvent.objects.get()
    assert event.action == "auth.login_failed"
    assert event.payload == {"username": user.username, "ip": "198.51.100.7"}
    assert "hunter2" not in str(event.payload) and "hunter2" not in event.hash
