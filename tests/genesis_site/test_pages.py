import json

import pytest
from django.test import Client

from tests.genesis_site.factories import PASSWORD, UserFactory
from tests.trading.factories import TradingAccountFactory

pytestmark = pytest.mark.django_db


def test_pages_need_a_login():
    response = Client().get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert Client().get("/admin/").status_code == 302


def test_login_rotates_the_session_and_lands_on_the_members_overview():
    user = UserFactory()
    account = TradingAccountFactory(members=[user])
    client = Client()
    client.get("/login/")
    before = client.session.session_key
    response = client.post("/login/", {"username": user.username, "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == f"/accounts/{account.pk}/"
    assert client.session.session_key != before
    page = response.content.decode()
    assert 'id="initial-state"' in page and "/static/vendor/uplot/uPlot.iife.min.js" in page


def test_wrong_password_does_not_log_in():
    user = UserFactory()
    response = Client().post("/login/", {"username": user.username, "password": "nope"})
    assert response.status_code == 200 and "did not match" in response.content.decode()


def test_another_accounts_overview_and_state_are_404():
    user = UserFactory()
    TradingAccountFactory(members=[user])
    other = TradingAccountFactory()
    client = Client()
    client.force_login(user)
    assert client.get(f"/accounts/{other.pk}/").status_code == 404
    assert client.get(f"/accounts/{other.pk}/state.json", HTTP_ACCEPT="application/json").status_code == 404


def test_state_json_has_what_the_overview_renders():
    user = UserFactory()
    account = TradingAccountFactory(members=[user])
    client = Client()
    client.force_login(user)
    state = json.loads(client.get(f"/accounts/{account.pk}/state.json").content)
    assert {"seq", "equity", "pnl", "positions", "orders", "curve", "prices", "config", "mode"} <= set(state)


def test_admin_shows_the_audit_trail_read_only():
    admin_user = UserFactory(username="root")
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    client = Client()
    client.force_login(admin_user)
    assert client.get("/admin/compliance/auditevent/").status_code == 200
    assert client.get("/admin/compliance/auditevent/add/").status_code == 403
