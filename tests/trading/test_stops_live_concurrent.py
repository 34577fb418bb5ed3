"""SPEC R6/§10 on PostgreSQL: a LIVE order committed before a halt and sent while the halt
commits never reaches the exchange (the send's check waits on the halt's account row lock)."""

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, transaction

from compliance.models import AuditEvent
from compliance.selectors import audit_chain_verify
from compliance.services import Actor
from risk.services.stops import trading_halt_locked
from tests.risk.factories import active_policy
from tests.trading.conftest import FAST_RETRY
from tests.trading.factories import TradingAccountFactory
from trading.exchanges.live import LiveExchange
from trading.models import TradingAccount, TradingMode
from trading.services.live_orders import order_prepare_live, order_send_live

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ENGINE = Actor.system("engine")


def test_a_send_racing_the_halt_waits_for_its_commit_and_is_refused(emulator, client):
    account = TradingAccountFactory(mode=TradingMode.LIVE, exchange_id="binance", symbols=["BTC/USDT"])
    active_policy(account)
    adapter = LiveExchange(client=client, retry=FAST_RETRY, account_id=account.pk)
    with transaction.atomic():  # a tick decided and committed it before the halt
        order, _ = order_prepare_live(
            account=account,
            symbol="BTC/USDT",
            side="buy",
            amount=Decimal("0.001"),
            idempotency_key="race-1",
            actor=ENGINE,
        )
    outcome = []

    def send():
        try:
            outcome.append(order_send_live(order=order, exchange=adapter, actor=ENGINE))
        finally:
            connection.close()

    sender = threading.Thread(target=send)
    with transaction.atomic():
        locked = TradingAccount.objects.select_for_update().get(pk=account.pk)
        trading_halt_locked(locked, Actor("user", "ops"), "incident")
        sender.start()
        time.sleep(0.3)
        waiting = sender.is_alive()  # on the account row the halt holds
    sender.join(timeout=10)

    assert waiting
    (sent,) = outcome
    assert sent.status == "cancelled" and sent.reject_reason == "not sent: halt: no orders reach the exchange"
    assert emulator.state.orders_with_client_id("race-1") == []
    assert emulator.state.requests.count(("POST", "order")) == 0
    halt = AuditEvent.objects.get(action="stop.halt")
    assert AuditEvent.objects.get(action="order.cancelled").sequence > halt.sequence
    assert audit_chain_verify().ok
