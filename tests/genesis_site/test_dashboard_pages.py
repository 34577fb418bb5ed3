"""Every dashboard page renders from the database, for a member only, and its live region
is served alone (with the stream number it was read at) for the page's re-sync."""

import pytest
from django.test import Client

from compliance.services import Actor
from risk.alerts import alert_raise
from risk.services.breakers import breaker_record
from tests.genesis_site.factories import UserFactory
from tests.risk.factories import active_policy
from tests.trading.factories import OrderFactory, StrategyFactory, TradingAccountFactory
from trading.live import account_event_publish
from trading.services.engine import engine_tick

pytestmark = pytest.mark.django_db

PAGES = ["", "orders/", "strategies/", "risk/", "alerts/", "deployments/", "system/"]


@pytest.fixture
def member():
    user = UserFactory(role="viewer")
    account = TradingAccountFactory(members=[user])
    client = Client()
    client.force_login(user)
    return client, account


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_for_a_member_and_is_404_for_others(member, page):
    client, account = member
    active_policy(account)
    StrategyFactory(account=account, name="momentum")
    alert_raise(account_id=account.pk, type="kill_switch", message="test alert")
    engine_tick(account_id=account.pk)
    response = client.get(f"/accounts/{account.pk}/{page}")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'href="/validation/"' in body and 'id="live-root"' in body
    assert response["X-Stream-Seq"].isdigit()
    other = TradingAccountFactory()
    assert client.get(f"/accounts/{other.pk}/{page}").status_code == 404


@pytest.mark.parametrize("page", [p for p in PAGES if p])
def test_the_live_region_is_served_alone_with_the_stream_number(member, page):
    client, account = member
    account_event_publish(account_id=account.pk, event={"type": "alert"})
    account_event_publish(account_id=account.pk, event={"type": "alert"})
    response = client.get(f"/accounts/{account.pk}/{page}?fragment=1")
    assert response.status_code == 200
    assert response["X-Stream-Seq"] == "2"
    assert "<html" not in response.content.decode()


def test_state_json_carries_the_stream_number_not_the_tick_count(member, django_capture_on_commit_callbacks):
    client, account = member
    with django_capture_on_commit_callbacks(execute=True):
        engine_tick(account_id=account.pk)  # publishes one tick event after commit
    account_event_publish(account_id=account.pk, event={"type": "alert"})
    state = client.get(f"/accounts/{account.pk}/state.json").json()
    account.refresh_from_db()
    assert state["seq"] == account.stream_seq == 2
    assert account.tick_seq == 1


def test_orders_filter_and_detail_with_its_audit_events(member):
    client, account = member
    StrategyFactory(account=account, name="momentum")
    for _ in range(40):
        engine_tick(account_id=account.pk)
    sold = OrderFactory(account=account, side="sell", symbol="ETH/USDT")
    page = client.get(f"/accounts/{account.pk}/orders/?side=sell&symbol=ETH/USDT").content.decode()
    assert f'orders/{sold.pk}/"' in page and "1 matching" in page
    order = account.orders.exclude(pk=sold.pk).first()
    if order is not None:  # the engine traded: its order has audit events
        detail = client.get(f"/accounts/{account.pk}/orders/{order.pk}/").content.decode()
        assert order.idempotency_key in detail and "order." in detail
    assert client.get(f"/accounts/{account.pk}/orders/999999/").status_code == 404


def test_a_bad_filter_is_a_400_naming_the_field_not_a_500(member):
    client, account = member
    response = client.get(f"/accounts/{account.pk}/orders/?status=bogus&page=-1")
    assert response.status_code == 400
    body = response.content.decode()
    assert "status:" in body and "page:" in body


def test_risk_page_shows_limits_breakers_versions_and_a_readable_diff(member):
    client, account = member
    active_policy(account)
    active_policy(account, content="max_open_positions: 4\n", reason="tighter")
    breaker_record(account_id=account.pk, source="latency", ok=False)
    body = client.get(f"/accounts/{account.pk}/risk/").content.decode()
    assert "max_open_positions" in body and "v1 → v2" in body.replace("&rarr;", "→")
    assert 'data-breaker="latency"' in body


def test_deployments_list_activations_and_rollbacks_with_who_and_hash(member):
    client, account = member
    first = active_policy(account, reason="initial")
    active_policy(account, content="max_open_positions: 4\n", reason="tighter")
    from risk.services.config import config_version_rollback

    config_version_rollback(account=account, version=1, actor=Actor.system("tests"), reason="back")
    body = client.get(f"/accounts/{account.pk}/deployments/").content.decode()
    assert body.count("<td>rollback</td>") == 1 and body.count("<td>activation</td>") == 2
    assert first.sha256 in body  # the active hash, after the rollback


def test_system_page_shows_measured_figures_or_says_not_measured(member):
    client, account = member
    body = client.get(f"/accounts/{account.pk}/system/").content.decode()
    assert "CPU" in body and "Memory" in body
    assert body.count("not measured yet") >= 2  # no tick yet (error budget), no exchange key (rate limit)
