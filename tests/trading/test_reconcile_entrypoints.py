"""The reconciliation command and task, and the standalone emulator entry point."""

import subprocess
import sys
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from compliance.models import AuditEvent
from compliance.services import Actor
from tests.trading.conftest import API_KEY, SECRET
from tests.trading.factories import TradingAccountFactory
from trading.exchanges.live import binance_client
from trading.models import Order
from trading.services.credentials import credential_store
from trading.tasks import reconcile_task


@pytest.mark.django_db
def test_the_command_runs_one_audited_pass_through_stored_credentials(emulator, capsys):
    account = TradingAccountFactory(name="live-1")
    credential_store(account=account, api_key=API_KEY, secret=SECRET, actor=Actor.system("test"))
    client = binance_client(api_key=API_KEY, secret=SECRET, base_url=emulator.url)
    client.create_order("BTC/USDT", "limit", "buy", 0.01, 50000, {"newClientOrderId": "outside-1"})
    with override_settings(GENESIS_EXCHANGE_URL=emulator.url):
        call_command("reconcile_orders", "live-1")
    assert "live-1: checked 0, updated 0, failed 0, adopted 1, errors 0" in capsys.readouterr().out
    assert Order.objects.get(idempotency_key="outside-1").adopted
    assert AuditEvent.objects.filter(action="reconcile.pass").count() == 1


@pytest.mark.django_db
def test_the_command_refuses_an_account_without_credentials():
    TradingAccountFactory(name="bare")
    with pytest.raises(CommandError, match="has no exchange credentials"):
        call_command("reconcile_orders", "bare")
    with pytest.raises(CommandError, match="--max-misses must be at least 1"):
        call_command("reconcile_orders", "bare", "--max-misses", "0")


@pytest.mark.django_db
def test_the_task_reconciles_by_account_id(emulator):
    account = TradingAccountFactory(mode="LIVE")
    credential_store(account=account, api_key=API_KEY, secret=SECRET, actor=Actor.system("test"))
    with override_settings(GENESIS_EXCHANGE_URL=emulator.url):
        reconcile_task(account.pk)
    event = AuditEvent.objects.get(action="reconcile.pass")
    assert event.payload["account"] == account.pk and event.actor == "reconciler"


def test_the_emulator_runs_standalone():
    proc = subprocess.Popen(
        [sys.executable, "-m", "trading.exchanges.emulator", "--port", "0", "--price", "BTCUSDT=60000"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        url = line.split(" at ")[1].split("/api/v3")[0]
        client = binance_client(base_url=url, timeout_ms=2000)
        assert client.fetch_ticker("BTC/USDT")["last"] == 60000.0
        assert Decimal(client.fetch_ticker("BTC/USDT")["info"]["lastPrice"]) == Decimal("60000")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
