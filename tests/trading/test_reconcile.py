"""Reconciliation by client order id, through the real ccxt client against the emulator."""

from decimal import Decimal

import pytest

from compliance.models import AuditEvent
from compliance.services import Actor
from risk.models import Alert
from tests.trading.factories import TradingAccountFactory
from trading.models import Fill, Order, Position
from trading.services.live_orders import order_submit_live
from trading.services.reconcile import reconcile_account

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


@pytest.fixture
def account():
    return TradingAccountFactory(exchange_id="binance", mode="PAPER")


def submit(account, adapter, key, **kwargs):
    defaults = {"symbol": "BTC/USDT", "side": "buy", "amount": Decimal("0.01")}
    return order_submit_live(account=account, exchange=adapter, idempotency_key=key, actor=ACTOR, **(defaults | kwargs))


def order_events(order):
    return list(
        AuditEvent.objects.filter(object_type="trading.order", object_id=str(order.pk))
        .order_by("sequence")
        .values_list("action", flat=True)
    )


def test_a_submit_fills_books_the_fill_and_audits_each_state_once(account, adapter):
    order = submit(account, adapter, "gen-ok")
    assert order.status == "filled" and order.filled_amount == Decimal("0.01")
    assert order.average_price == Decimal("60030") and order.fee == Decimal("0.6003")
    assert Position.objects.get(account=account, symbol="BTC/USDT").quantity == Decimal("0.01")
    assert order_events(order) == ["order.new", "order.submitted", "order.filled"]


def test_a_lost_answer_is_found_by_reconciliation_and_a_retry_places_nothing(account, adapter, emulator):
    emulator.state.inject("drop_response", path="order", method="POST")
    emulator.state.inject("not_found", path="order", method="GET")  # the settle lookup is denied too
    order = submit(account, adapter, "gen-lost")
    assert order.status == "submitted"  # outcome unknown, left to reconciliation
    again = submit(account, adapter, "gen-lost")  # the engine retries the same intent
    assert again.pk == order.pk
    report = reconcile_account(account_id=account.pk, exchange=adapter)
    assert report.updated == ["gen-lost"]
    order.refresh_from_db()
    assert order.status == "filled" and order.filled_amount == Decimal("0.01") and order.exchange_order_id
    assert Fill.objects.filter(order=order).count() == 1
    assert len(emulator.state.orders_with_client_id("gen-lost")) == 1
    assert emulator.state.requests.count(("POST", "order")) == 1
    assert order_events(order) == ["order.new", "order.submitted", "order.filled"]


def test_an_order_is_failed_only_after_three_consecutive_not_found_passes(account, adapter, emulator):
    emulator.state.inject("status", path="order", method="POST", status=503)  # never reached the book
    order = submit(account, adapter, "gen-never")
    assert order.status == "submitted"
    for expected in (1, 2):
        report = reconcile_account(account_id=account.pk, exchange=adapter)
        assert report.missing == {"gen-never": expected} and report.failed == []
        order.refresh_from_db()
        assert order.status == "submitted" and order.reconcile_misses == expected
    report = reconcile_account(account_id=account.pk, exchange=adapter)
    assert report.failed == ["gen-never"]
    order.refresh_from_db()
    assert order.status == "rejected"
    assert "not found on the exchange by client order id in 3 consecutive reconciliation passes" in order.reject_reason
    assert emulator.state.orders_with_client_id("gen-never") == []


def test_an_order_denied_twice_then_found_is_not_failed(account, adapter, emulator):
    emulator.state.inject("drop_response", path="order", method="POST")
    emulator.state.inject("not_found", path="order", method="GET", times=3)  # settle + 2 passes
    order = submit(account, adapter, "gen-shy")
    for _ in range(2):
        reconcile_account(account_id=account.pk, exchange=adapter)
    order.refresh_from_db()
    assert (order.status, order.reconcile_misses) == ("submitted", 2)
    reconcile_account(account_id=account.pk, exchange=adapter, max_misses=3)
    order.refresh_from_db()
    assert (order.status, order.reconcile_misses) == ("filled", 0)


def test_the_miss_threshold_is_configurable(account, adapter, emulator):
    emulator.state.inject("status", path="order", method="POST", status=500)
    submit(account, adapter, "gen-quick")
    assert reconcile_account(account_id=account.pk, exchange=adapter, max_misses=1).failed == ["gen-quick"]


def test_orders_changed_on_the_exchange_meanwhile_are_updated(account, adapter, emulator):
    resting = submit(account, adapter, "gen-rest", order_type="limit", price=Decimal("59000"))
    gone = submit(account, adapter, "gen-gone", order_type="limit", price=Decimal("58000"))
    assert resting.status == gone.status == "submitted"
    emulator.state.price_set("BTCUSDT", Decimal("58990"))  # fills the 59000 bid as maker
    adapter.client.cancel_order(None, "BTC/USDT", {"origClientOrderId": "gen-gone"})  # cancelled elsewhere
    report = reconcile_account(account_id=account.pk, exchange=adapter)
    assert sorted(report.updated) == ["gen-gone", "gen-rest"]
    resting.refresh_from_db()
    gone.refresh_from_db()
    assert resting.status == "filled" and resting.average_price == Decimal("59000")
    assert Fill.objects.get(order=resting).liquidity == "maker"
    assert gone.status == "cancelled"
    assert reconcile_account(account_id=account.pk, exchange=adapter).checked == 0  # nothing open now


def test_unknown_exchange_orders_are_adopted_flagged_and_alerted_once(account, adapter, client):
    client.create_order("ETH/USDT", "limit", "buy", 0.1, 2900, {"newClientOrderId": "manual-1"})
    report = reconcile_account(account_id=account.pk, exchange=adapter)
    assert report.adopted == ["manual-1"]
    order = Order.objects.get(idempotency_key="manual-1")
    assert order.adopted and order.status == "submitted" and order.amount == Decimal("0.1")
    assert order.price == Decimal("2900") and order.account == account
    alert = Alert.objects.get(account=account, type="unknown_order")
    assert "manual-1" in alert.message
    assert AuditEvent.objects.filter(action="order.adopted", object_id=str(order.pk)).count() == 1
    again = reconcile_account(account_id=account.pk, exchange=adapter)
    assert again.adopted == [] and again.checked == 1
    assert Order.objects.filter(adopted=True).count() == 1


def test_an_unreachable_exchange_is_not_a_miss(account, adapter, emulator):
    emulator.state.inject("status", path="order", method="POST", status=503)
    order = submit(account, adapter, "gen-down")
    emulator.state.inject("status", status=503, times=100)
    report = reconcile_account(account_id=account.pk, exchange=adapter)
    assert report.errors and report.missing == {}
    order.refresh_from_db()
    assert order.reconcile_misses == 0
    event = AuditEvent.objects.filter(action="reconcile.pass").latest("sequence")
    assert event.payload["errors"] == report.errors


def test_a_rejected_submit_is_recorded_with_the_reason(account, adapter, emulator):
    order = submit(account, adapter, "gen-poor", amount=Decimal("100"))
    assert order.status == "rejected" and "insufficient funds" in order.reject_reason
    assert emulator.state.requests.count(("POST", "order")) == 1
