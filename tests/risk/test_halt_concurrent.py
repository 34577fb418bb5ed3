"""SPEC R6/§10: the kill switch against an engine ticking at the same time, on PostgreSQL.
The tick and the halt take the same account row lock, so once the halt commits no order
follows it in the audit chain."""

import threading
import time

import pytest
from django.db import connection

from compliance.models import AuditEvent
from compliance.selectors import audit_chain_verify
from compliance.services import Actor
from risk.services import trading_halt
from tests.risk.factories import unpaced_policy
from tests.trading.factories import OrderFactory, StrategyFactory, TradingAccountFactory
from trading.models import Order
from trading.services.engine import engine_tick

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_no_order_after_the_halt_while_the_engine_keeps_ticking():
    account = TradingAccountFactory(scenario="sideways", symbols=["BTC/USDT", "ETH/USDT", "SOL/USDT"])
    for symbol in account.symbols:
        StrategyFactory(account=account, symbols=[symbol], params={"fast": 2, "slow": 3, "entry_threshold": 0})
    unpaced_policy(account)
    open_order = OrderFactory(account=account, status="submitted")
    stop, ticks = threading.Event(), []

    def run_engine():
        try:
            while not stop.is_set():
                result = engine_tick(account_id=account.pk)
                ticks.append(result is not None)
        finally:
            connection.close()

    engine = threading.Thread(target=run_engine)
    engine.start()
    while Order.objects.filter(status="filled").count() < 5:  # trading is under way
        time.sleep(0.01)
    trading_halt(account_id=account.pk, actor=Actor("user", "ops"), reason="incident")
    at_halt, deadline = len(ticks), time.monotonic() + 30
    while len(ticks) < at_halt + 5 and time.monotonic() < deadline:  # the engine keeps ticking after the halt
        time.sleep(0.01)
    stop.set()
    engine.join(timeout=30)

    halt = AuditEvent.objects.get(action="stop.halt")
    assert not AuditEvent.objects.filter(action="order.new", sequence__gt=halt.sequence).exists()
    assert AuditEvent.objects.filter(action="order.new", sequence__lt=halt.sequence).count() >= 5
    open_order.refresh_from_db()
    assert open_order.status == "cancelled"
    assert at_halt >= 1 and len(ticks) >= at_halt + 5  # the engine really ran, before and after the halt
    assert audit_chain_verify().ok
