"""Command endpoints beyond permissions: bad input names the field and changes nothing;
manual trades go through the gate and feed the tilt detector; lists, diffs, deployments."""

from decimal import Decimal

import pytest

from compliance.models import AuditEvent
from genesis_site.models import Deployment
from risk.models import Alert
from tests.genesis_site.api_cases import POLICY, client_for
from tests.genesis_site.factories import UserFactory
from tests.risk.factories import active_policy
from tests.trading.factories import StrategyFactory, TradingAccountFactory
from trading.models import Order, Position

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk():
    user = UserFactory(role="admin")
    account = TradingAccountFactory(members=[user])
    StrategyFactory(account=account)
    active_policy(account, content=POLICY)
    Position.objects.create(
        account=account,
        symbol="BTC/USDT",
        quantity=Decimal("0.01"),
        average_cost=Decimal("60000"),
        mark_price=Decimal("61000"),
    )
    return client_for(user), account


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/stops/halt", {}, "reason"),
        ("/api/v1/stops/halt", {"reason": "   "}, "reason"),
        ("/api/v1/stops/halt", {"reason": "x", "account": "abc"}, "account"),
        ("/api/v1/manual/force-entry", {"reason": "x", "symbol": "BTC/USDT", "amount": "abc"}, "amount"),
        ("/api/v1/manual/force-entry", {"reason": "x", "symbol": "btc", "amount": "1"}, "symbol"),
        ("/api/v1/manual/force-entry", {"reason": "x", "symbol": "BTC/USDT", "amount": "-1"}, "amount"),
        ("/api/v1/symbol-locks", {"reason": "x", "symbol": "BTC/USDT", "minutes": 0}, "minutes"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(desk, path, body, field):
    client, account = desk
    events = AuditEvent.objects.count()
    response = client.post(path, body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert field in error["fields"] or error["message"].startswith(field), error
    account.refresh_from_db()
    assert account.stop_level == "none" and AuditEvent.objects.count() == events


@pytest.mark.parametrize("content", ["max_open_positions: [1", "stop_loss_pct: 50\n"], ids=["not yaml", "rule"])
def test_a_policy_that_breaks_its_rules_is_a_422_naming_them_and_changes_nothing(desk, content):
    """A string, as the schema says, but the policy's rules live in the domain: 422, not 400."""
    client, _ = desk
    events = AuditEvent.objects.count()
    response = client.post("/api/v1/config-versions", {"reason": "x", "content": content}, format="json")
    assert response.status_code == 422, response.content
    assert response.json()["error"]["code"] == "config_invalid" and "policy" in response.json()["error"]["fields"]
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(
    ("symbol", "status"), [("NOPE/USDT", 422), ("DOGE/USDT", 409)], ids=["unknown market", "no price yet"]
)
def test_a_market_that_cannot_be_traded_is_refused_naming_the_symbol(desk, symbol, status):
    """An unknown market matches the schema's BASE/QUOTE pattern, so it is a 422 (the markets are
    the exchange's list, not the schema's)."""
    client, _ = desk
    response = client.post(
        "/api/v1/manual/force-entry", {"reason": "x", "symbol": symbol, "amount": "1"}, format="json"
    )
    assert response.status_code == status and "symbol" in response.json()["error"]["fields"], response.json()


def test_a_manual_entry_on_a_halted_account_is_refused_by_the_gate_and_audited(desk):
    client, account = desk
    client.post("/api/v1/stops/halt", {"reason": "stop"}, format="json")
    response = client.post(
        "/api/v1/manual/force-entry", {"reason": "yolo", "symbol": "BTC/USDT", "amount": "0.01"}, format="json"
    )
    assert response.status_code == 409 and response.json()["error"]["code"] == "risk_refused"
    assert not Order.objects.filter(account=account, side="buy").exists()
    refusal = AuditEvent.objects.get(action="risk.refused")
    assert refusal.payload["rule"] == "kill_switch" and refusal.payload["manual"] is True


def test_a_denied_symbol_refuses_entries_but_not_exits(desk):
    client, account = desk
    response = client.put(
        "/api/v1/symbol-lists", {"reason": "no btc", "symbols_allow": [], "symbols_deny": ["BTC/USDT"]}, format="json"
    )
    assert response.status_code == 200 and response.json()["symbols_deny"] == ["BTC/USDT"]
    entry = client.post(
        "/api/v1/manual/force-entry", {"reason": "try", "symbol": "BTC/USDT", "amount": "0.01"}, format="json"
    )
    assert entry.status_code == 409 and "deny list" in entry.json()["error"]["message"]
    exit_ = client.post("/api/v1/manual/force-exit", {"reason": "out", "symbol": "BTC/USDT"}, format="json")
    assert exit_.status_code == 201 and exit_.json()["status"] == "filled"
    assert Position.objects.get(account=account, symbol="BTC/USDT").quantity == 0


def test_a_force_entry_right_after_a_losing_exit_is_tilt(desk):
    client, account = desk
    Position.objects.filter(account=account).update(average_cost=Decimal("70000"))  # exit at a loss
    client.post("/api/v1/manual/force-exit", {"reason": "cut", "symbol": "BTC/USDT"}, format="json")
    assert not Alert.objects.filter(type="operator_tilt").exists()
    response = client.post(
        "/api/v1/manual/force-entry", {"reason": "revenge", "symbol": "BTC/USDT", "amount": "0.01"}, format="json"
    )
    assert response.status_code == 201
    alert = Alert.objects.get(type="operator_tilt")
    assert "losing exit" in alert.message
    assert AuditEvent.objects.filter(action="manual.force_entry").count() == 1


def test_too_many_manual_trades_in_an_hour_is_tilt(desk):
    client, _account = desk
    for i in range(4):
        response = client.post(
            "/api/v1/manual/force-entry",
            {"reason": f"again {i}", "symbol": "BTC/USDT", "amount": "0.001"},
            format="json",
        )
        assert response.status_code == 201, response.content
    alert = Alert.objects.get(type="operator_tilt")
    assert "4 manual trades in the last hour (limit 3)" in alert.message


def test_config_diff_names_the_changed_keys(desk):
    client, _account = desk
    created = client.post(
        "/api/v1/config-versions", {"reason": "fewer", "content": POLICY + "max_open_positions: 4\n"}, format="json"
    ).json()
    diff = client.get(f"/api/v1/config-versions/{created['id']}/diff").json()
    assert {"key": "max_open_positions", "from": 5, "to": 4} in diff["changes"]


def test_an_unhealthy_deployment_rolls_the_configuration_back(desk):
    client, account = desk
    good = client.post("/api/v1/deployments", {"version": "v1"}, format="json").json()
    client.post(f"/api/v1/deployments/{good['id']}/health", {"healthy": True}, format="json")
    client.post(
        "/api/v1/config-versions",
        {"reason": "new", "content": POLICY + "max_open_positions: 4\n", "activate": True},
        format="json",
    )
    bad = client.post("/api/v1/deployments", {"version": "v2"}, format="json").json()
    assert bad["config_version"] == good["config_version"] + 1
    result = client.post(
        f"/api/v1/deployments/{bad['id']}/health", {"healthy": False, "detail": {"readyz": 503}}, format="json"
    ).json()
    assert result["health"] == "rolled_back" and result["rolled_back_to"] == good["config_version"]
    assert account.config_versions.get(is_active=True).version == good["config_version"]
    assert AuditEvent.objects.filter(action="config.rolled_back").exists()
    assert Deployment.objects.get(pk=bad["id"]).health == "rolled_back"


def test_lists_are_paginated_and_filtered(desk):
    client, account = desk
    for i in range(3):
        Order.objects.create(
            account=account, symbol="ETH/USDT", side="buy", amount=Decimal("1"), idempotency_key=f"k{i}"
        )
    body = client.get("/api/v1/orders?limit=2&symbol=ETH/USDT").json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    assert {r["client_order_id"] for r in body["results"]} <= {"k0", "k1", "k2"}
    assert client.get("/api/v1/orders?status=bogus").status_code == 400


def _refused(response, status: int, code: str, words: str) -> None:
    """The one JSON error shape, with the status of its kind and a message naming the rule."""
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code and words in error["message"], error


@pytest.mark.parametrize(
    ("action", "state", "words"),
    [("resume", "active", "is active, not paused"), ("pause", "disabled", "is disabled, not active")],
)
def test_a_strategy_command_its_state_refuses_is_a_409_and_changes_nothing(desk, action, state, words):
    client, account = desk
    strategy = account.strategies.get()
    strategy.state = state
    strategy.save(update_fields=["state"])
    response = client.post(f"/api/v1/strategies/{strategy.pk}/{action}", {"reason": "x"}, format="json")
    _refused(response, 409, "stop_conflict", words)
    strategy.refresh_from_db()
    assert strategy.state == state and not AuditEvent.objects.filter(action__startswith="stop.").exists()


def test_acknowledging_or_resolving_an_alert_twice_is_a_409(desk):
    client, account = desk
    alert = Alert.objects.create(account=account, type="exception_burst", severity="warning", message="x")
    assert client.post(f"/api/v1/alerts/{alert.pk}/acknowledge", {"comment": "on it"}, format="json").status_code == 200
    again = client.post(f"/api/v1/alerts/{alert.pk}/acknowledge", {"comment": "again"}, format="json")
    _refused(again, 409, "alert_state", "only an open alert can be acknowledged")
    assert client.post(f"/api/v1/alerts/{alert.pk}/resolve", {"comment": "fixed"}, format="json").status_code == 200
    again = client.post(f"/api/v1/alerts/{alert.pk}/resolve", {"comment": "again"}, format="json")
    _refused(again, 409, "alert_state", "already resolved")
    alert.refresh_from_db()
    assert (alert.status, alert.resolve_comment) == ("resolved", "fixed")


def test_an_exit_with_no_position_is_a_409_naming_the_symbol(desk):
    client, account = desk
    Position.objects.filter(account=account).delete()
    response = client.post("/api/v1/manual/force-exit", {"reason": "out", "symbol": "BTC/USDT"}, format="json")
    _refused(response, 409, "manual_trade_conflict", "no open BTC/USDT position to exit")
    assert response.json()["error"]["fields"] == {"symbol": ["no open BTC/USDT position to exit"]}
    assert not Order.objects.filter(account=account).exists()


def test_commands_naming_what_does_not_exist_are_a_404(desk):
    client, _ = desk
    for path, body in (
        ("/api/v1/strategies/999999/pause", {"reason": "x"}),
        ("/api/v1/alerts/999999/acknowledge", {"comment": "x"}),
    ):
        response = client.post(path, body, format="json")
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found", response.content
