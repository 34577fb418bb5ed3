"""SPEC §10 exchange-fault and restart cases, through the real ccxt client and the emulator:
no order lost or doubled, every order resolved by client order id within three passes."""

import random
from decimal import Decimal

import pytest

from compliance.services import Actor
from tests.trading.conftest import FAST_RETRY
from tests.trading.factories import TradingAccountFactory
from trading.exchanges.live import LiveExchange
from trading.models import OPEN_ORDER_STATUSES, Fill, Order
from trading.services.live_orders import order_submit_live
from trading.services.reconcile import reconcile_account

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
ACTOR = Actor.system("test")
# Emulator order status -> ours.
EXPECTED = {"FILLED": "filled", "CANCELED": "cancelled", "NEW": "submitted", "EXPIRED": "expired"}


def inject_for(emulator, key: str, kind: str) -> None:
    inject = emulator.state.inject
    if kind == "drop":
        inject("drop_response", path="order", method="POST", client_order_id=key)
    elif kind == "timeout":
        inject("timeout", path="order", method="POST", client_order_id=key, delay=0.3)
    elif kind == "429":
        inject("status", path="order", method="POST", client_order_id=key, status=429)
    elif kind == "5xx":
        inject("status", path="order", method="POST", client_order_id=key, status=503)
    elif kind == "drop+denied":
        # The answer is lost, then the exchange denies the order three times: at the submit's
        # own lookup and in the first two reconciliation passes.
        inject("drop_response", path="order", method="POST", client_order_id=key)
        inject("not_found", path="order", method="GET", client_order_id=key, times=3)


def test_exchange_faults_lose_nothing_and_double_nothing(client, emulator):
    client.timeout = 200
    adapter = LiveExchange(client=client, retry=FAST_RETRY)
    account = TradingAccountFactory()
    rng = random.Random(7)
    kinds = ["none"] * 24 + ["drop"] * 4 + ["timeout"] * 2 + ["429"] * 2 + ["5xx"] * 2 + ["drop+denied"] * 6
    rng.shuffle(kinds)
    for i, kind in enumerate(kinds):
        key = f"gen-fault-{i}"
        inject_for(emulator, key, kind)
        order_submit_live(
            account=account,
            exchange=adapter,
            symbol="BTC/USDT",
            side="buy",
            amount=Decimal("0.001"),
            idempotency_key=key,
            actor=ACTOR,
        )
        order_submit_live(  # the engine's retry of the same intent: always a no-op
            account=account,
            exchange=adapter,
            symbol="BTC/USDT",
            side="buy",
            amount=Decimal("0.001"),
            idempotency_key=key,
            actor=ACTOR,
        )
    for _ in range(3):
        reconcile_account(account_id=account.pk, exchange=adapter, max_misses=3)

    assert not Order.objects.filter(account=account, status__in=OPEN_ORDER_STATUSES).exists()
    for i, kind in enumerate(kinds):
        key = f"gen-fault-{i}"
        remote = emulator.state.orders_with_client_id(key)
        order = Order.objects.get(idempotency_key=key)
        assert len(remote) <= 1, f"{key} ({kind}) doubled on the exchange"
        if remote:  # on the exchange: never failed locally, and matching it
            assert order.status == EXPECTED[remote[0]["status"]], (key, kind)
            assert order.exchange_order_id == str(remote[0]["orderId"])
            assert Fill.objects.filter(order=order).count() == len(remote[0]["fills"])
        else:  # never reached the exchange: failed after three not-found passes
            assert kind in ("timeout", "5xx"), (key, kind)
            assert order.status == "rejected" and "3 consecutive reconciliation passes" in order.reject_reason


def test_restart_with_open_orders_changed_meanwhile_matches_the_exchange(client, emulator):
    account = TradingAccountFactory()
    before = LiveExchange(client=client, retry=FAST_RETRY)
    for i in range(50):
        order_submit_live(
            account=account,
            exchange=before,
            symbol="BTC/USDT",
            side="buy",
            amount=Decimal("0.01"),
            order_type="limit",
            price=Decimal("50000") + i,
            idempotency_key=f"gen-open-{i}",
            actor=ACTOR,
        )
    assert Order.objects.filter(account=account, status="submitted").count() == 50
    # While we are down: ten fill, ten are cancelled elsewhere, three orders appear from outside.
    emulator.state.price_set("BTCUSDT", Decimal("50040"))  # fills the bids at 50040..50049
    for i in range(10):
        client.cancel_order(None, "BTC/USDT", {"origClientOrderId": f"gen-open-{i}"})
    for i in range(3):
        client.create_order("BTC/USDT", "limit", "buy", 0.01, 40000, {"newClientOrderId": f"outside-{i}"})

    after = LiveExchange(client=client, retry=FAST_RETRY)  # a fresh process after the restart
    report = reconcile_account(account_id=account.pk, exchange=after)
    assert len(report.updated) == 20 and sorted(report.adopted) == ["outside-0", "outside-1", "outside-2"]
    matched = 0
    for order in Order.objects.filter(account=account):
        (remote,) = emulator.state.orders_with_client_id(order.idempotency_key)
        assert order.status == EXPECTED[remote["status"]], order.idempotency_key
        assert order.filled_amount == remote["executedQty"]
        matched += 1
    assert matched == 53
    assert Order.objects.filter(account=account, adopted=True).count() == 3
    assert reconcile_account(account_id=account.pk, exchange=after).updated == []  # a second pass changes nothing
