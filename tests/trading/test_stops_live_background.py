"""Embedded mode (tasks eager, SPEC §1): a LIVE halt returns once it commits and its cancels
run on the in-process urgent worker's thread, the same task a Celery worker runs in the full
stack. The real ccxt client against the exchange emulator, which holds each cancel's answer."""

import pytest
from django.db import connections

from compliance.models import AuditEvent
from compliance.services import Actor
from genesis_site.scheduler import urgent
from risk.services import trading_halt
from tests.risk.factories import active_policy
from tests.trading.conftest import API_KEY, SECRET
from tests.trading.factories import TradingAccountFactory
from tests.trading.test_stops_live import remote, resting_buy
from trading.models import Order, TradingMode
from trading.services.credentials import credential_store
from trading.services.engine import live_exchange_session

pytestmark = pytest.mark.django_db(transaction=True)
CANCEL_LATENCY = 1.0


@pytest.fixture(autouse=True)
def embedded(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.GENESIS_STOP_BACKGROUND = True
    yield
    urgent.wait_idle(timeout=30)
    connections.close_all()


def test_the_halt_returns_before_the_exchange_answers_and_the_worker_cancels_after(emulator, settings):
    settings.GENESIS_EXCHANGE_URL = emulator.url
    account = TradingAccountFactory(mode=TradingMode.LIVE, exchange_id="binance", symbols=["BTC/USDT"])
    active_policy(account)
    credential_store(account=account, api_key=API_KEY, secret=SECRET, actor=Actor.system("test"))
    orders = [resting_buy(account, live_exchange_session(account_id=account.pk), f"gen-bg-{i}") for i in range(2)]
    emulator.state.inject("latency", path="order", method="DELETE", delay=CANCEL_LATENCY, times=2)

    result = trading_halt(account_id=account.pk, actor=Actor("user", "ops"), reason="incident")

    # Returned before the first cancel could be answered: both orders still rest on the exchange.
    assert (result.cancel_on_exchange, result.cancelled_orders) == (2, 0)
    assert [remote(emulator, o.idempotency_key)["status"] for o in orders] == ["NEW", "NEW"]
    assert AuditEvent.objects.filter(action="stop.halt").exists()
    assert urgent.wait_idle(timeout=30)
    assert [remote(emulator, o.idempotency_key)["status"] for o in orders] == ["CANCELED", "CANCELED"]
    assert list(Order.objects.filter(account=account).values_list("status", flat=True)) == ["cancelled"] * 2
